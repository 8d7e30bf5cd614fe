"""Which dtypes a backend times, decided once for every suite.

Half precision is timed on CUDA only: CPU BLAS has no fast float16/bfloat16 GEMV or GEMM,
so such a CPU timing would measure a conversion loop, not the idea.
"""

from __future__ import annotations

from lowrank.backends import NUMPY_DTYPES, TORCH_DTYPES

CUDA_EXTRA_DTYPES = ("float16", "bfloat16")


def dtypes_on(backend: str, chosen, half: str = "cuda") -> tuple[str, ...]:
    """The dtypes of ``chosen`` that ``backend`` times, in order.

    ``half="cuda"``: float16 and bfloat16 on CUDA only, where they are always added;
    ``half="never"``: no half precision anywhere (no LAPACK or cuSOLVER half SVD).
    """
    if half not in ("cuda", "never"):
        raise ValueError(f"half={half!r}; accepted: 'cuda', 'never'")
    allowed = NUMPY_DTYPES if backend == "numpy" else TORCH_DTYPES
    keep_half = half == "cuda" and backend == "torch-cuda"
    dtypes = [dt for dt in chosen if dt in allowed and (keep_half or dt not in CUDA_EXTRA_DTYPES)]
    if keep_half:
        dtypes += [dt for dt in CUDA_EXTRA_DTYPES if dt not in dtypes]
    return tuple(dtypes)
