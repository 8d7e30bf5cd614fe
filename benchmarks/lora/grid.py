"""Grid of the LoRA suite (``bench_lora.py``), chosen by the same profile names as the matvec grid.

``LOWRANK_BENCH_BACKENDS`` narrows the backends and ``LOWRANK_BENCH_DTYPES`` replaces
this suite's dtypes when given (see ``factorize_grid.py``). The merged forward W'x is
timed once per (shape, batch, backend, dtype) and the unmerged W₀x + s·B(Ax) at every
rank, in one pytest-benchmark group; merging (and its merge → unmerge drift) is timed
per (shape, rank, dtype, precision). Nothing here times anything.

The functions take the user's selection (:class:`benchmarks.harness.selection.Selection`) without
importing its class: the grids sit below the harness, which imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.engine.dtypes import CUDA_EXTRA_DTYPES as HALF
from benchmarks.engine.dtypes import dtypes_on


@dataclass(frozen=True)
class LoraProfile:
    """Shapes, ranks and batches of the LoRA forward and merge benchmarks."""

    shapes: tuple[tuple[int, int], ...]
    ranks: tuple[int, ...]
    batches: tuple[int, ...]
    dtypes: tuple[str, ...]
    merge_shapes: tuple[tuple[int, int], ...]
    merge_ranks: tuple[int, ...]
    # CPU BLAS has no fast half-precision GEMM (a 4096×64×4096 bfloat16 product takes
    # seconds on 2 cores), so half-precision merges on the CPU are timed up to this size.
    cpu_half_merge_max_dim: int
    # Forward cells left out to keep the profile's wall time in budget: (d, k, batch).
    skip: tuple[tuple[int, int, int], ...] = ()




# -- LoRA cases -----------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class LoraCase:
    """One timed LoRA operation.

    ``op="forward"``: ``variant`` is ``"merged"`` (W'x, ``rank`` None: its time does not
    depend on r) or ``"unmerged"`` (W₀x + s·B(Ax)). ``op="merge"``: ``variant`` is
    ``"float32-accumulate"`` (half precision formed in float32, rounded once) or
    ``"native"`` (every step in the weight's dtype); ``batch`` is None.
    """

    op: str
    d: int
    k: int
    backend: str
    dtype: str
    batch: int | None
    variant: str
    rank: int | None

    @property
    def id(self) -> str:
        """e.g. ``forward-numpy-float32-d4096-k4096-r0016-n001-unmerged``."""
        r = "rNONE" if self.rank is None else f"r{self.rank:04d}"
        n = "" if self.batch is None else f"-n{self.batch:03d}"
        return f"{self.op}-{self.backend}-{self.dtype}-d{self.d:04d}-k{self.k:04d}-{r}{n}-{self.variant}"

    @property
    def group(self) -> str:
        n = "" if self.batch is None else f"-n{self.batch:03d}"
        return f"lora-{self.op}-{self.backend}-{self.dtype}-d{self.d:04d}-k{self.k:04d}{n}"


def lora_dtypes(backend: str, selection, prof: LoraProfile, explicit_dtypes: bool) -> tuple[str, ...]:
    """Forward dtypes: the profile's (the selection's when ``explicit_dtypes``), plus half precision on CUDA only."""
    return dtypes_on(backend, selection.dtypes if explicit_dtypes else prof.dtypes)


def lora_forward_cases(selection, explicit_dtypes: bool = False) -> list[LoraCase]:
    """Merged once and unmerged at every rank, per (shape, backend, dtype, batch)."""
    prof = selection.profile.lora
    cases = []
    for d, k in prof.shapes:
        for backend in selection.backends:
            for dtype in lora_dtypes(backend, selection, prof, explicit_dtypes):
                for n in prof.batches:
                    if (d, k, n) in prof.skip:
                        continue
                    cases.append(LoraCase("forward", d, k, backend, dtype, n, "merged", None))
                    cases.extend(
                        LoraCase("forward", d, k, backend, dtype, n, "unmerged", r) for r in prof.ranks if r < min(d, k)
                    )
    return cases


def lora_merge_cases(selection) -> list[LoraCase]:
    """Merges in float32 on every backend, and in float16/bfloat16 (both precisions) on torch."""
    prof = selection.profile.lora
    cases = []
    for d, k in prof.merge_shapes:
        for backend in selection.backends:
            dtypes = ("float32",) if backend == "numpy" else ("float32",) + HALF
            for dtype in dtypes:
                if dtype in HALF and backend == "torch-cpu" and max(d, k) > prof.cpu_half_merge_max_dim:
                    continue
                variants = ("float32-accumulate", "native") if dtype in HALF else ("native",)
                for r in prof.merge_ranks:
                    if r < min(d, k):
                        cases.extend(LoraCase("merge", d, k, backend, dtype, None, v, r) for v in variants)
    return cases
