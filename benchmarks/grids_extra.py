"""Grids of the factorization and LoRA suites, chosen by the same profile names as the matvec grid.

``LOWRANK_BENCH_PROFILE`` (or ``--lowrank-profile``) picks ``quick``, ``default`` or
``full`` for every suite at once. ``LOWRANK_BENCH_BACKENDS`` narrows the backends
and ``LOWRANK_BENCH_DTYPES`` replaces these suites' dtypes when given (callers pass
``explicit_dtypes``; the matvec-only variables ``..._SHAPES``, ``..._RANKS``,
``..._BATCHES`` and ``..._CACHE`` do not apply here). Nothing here times anything.

Factorization: every (shape, spectrum, rank, backend, dtype) cell is factorized
by our ``randomized`` method and by its peer on that backend (``torch.svd_lowrank``
on torch, scikit-learn's ``randomized_svd`` on numpy) at each (oversampling p,
power iterations q) of the profile — the full knob sweep at the profile's sweep
rank, a short one at the other ranks — so a report can draw time–accuracy curves;
the exact SVD is timed once per (shape, spectrum, backend, dtype), at the sweep
rank (its time does not depend on r).

LoRA: the merged forward W'x is timed once per (shape, batch, backend, dtype) and
the unmerged W₀x + s·B(Ax) at every rank, in one pytest-benchmark group; merging
(and its merge → unmerge drift) is timed per (shape, rank, dtype, precision).
"""

from __future__ import annotations

from dataclasses import dataclass

from lowrank.backends import NUMPY_DTYPES, TORCH_DTYPES

from .grid import Selection

SPECTRA = ("power-law", "exponential", "gaussian", "exact-rank")
OURS = "randomized"
EXACT = "svd"
TORCH_PEER = "torch_svd_lowrank"
SKLEARN_PEER = "sklearn_randomized_svd"
FACTORIZE_METHODS = (EXACT, OURS, TORCH_PEER, SKLEARN_PEER)
# The randomized peer that runs on each backend's arrays.
PEER_OF_BACKEND = {"numpy": SKLEARN_PEER, "torch-cpu": TORCH_PEER, "torch-cuda": TORCH_PEER}
HALF = ("float16", "bfloat16")


@dataclass(frozen=True)
class FactorizeProfile:
    """Which factorizations a profile times, and how long it may spend on each."""

    shapes: tuple[tuple[int, int], ...]
    ranks: tuple[int, ...]
    sweep_rank: int  # the rank that gets the full knob sweep (and the exact SVD)
    spectra: tuple[str, ...]
    dtypes: tuple[str, ...]
    sweep_knobs: tuple[tuple[int, int], ...]  # (oversampling p, power iterations q)
    rank_knobs: tuple[tuple[int, int], ...]  # at the other ranks
    exact_max_dim: int  # exact SVD only when max(d, k) <= this ...
    exact_all_spectra_max_dim: int  # ... and for every spectrum only up to this (else power-law only)
    budget_s: float  # seconds of timed calls per case (at least one call)
    max_rounds: int
    # Shapes with max(d, k) above this are swept on large_spectra only (None: every shape on all).
    all_spectra_max_dim: int | None = None
    large_spectra: tuple[str, ...] = ()

    def spectra_for(self, d: int, k: int) -> tuple[str, ...]:
        if self.all_spectra_max_dim is None or max(d, k) <= self.all_spectra_max_dim:
            return self.spectra
        return tuple(s for s in self.spectra if s in self.large_spectra)


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


_SWEEP = ((10, 0), (5, 1), (10, 1), (20, 1), (40, 1), (0, 2), (5, 2), (10, 2), (20, 2), (10, 4))

FACTORIZE_PROFILES: dict[str, FactorizeProfile] = {
    "quick": FactorizeProfile(
        shapes=((384, 256),),
        ranks=(16,),
        sweep_rank=16,
        spectra=("power-law", "exact-rank"),
        dtypes=("float32",),
        sweep_knobs=((10, 0), (10, 2)),
        rank_knobs=(),
        exact_max_dim=512,
        exact_all_spectra_max_dim=512,
        budget_s=0.02,
        max_rounds=3,
    ),
    "default": FactorizeProfile(
        # Kept to a few minutes on 2 cores: the 4096x1024 shape, the rank-256 cells and every
        # spectrum at 4096² are in "full".
        shapes=((1024, 1024), (4096, 4096)),
        ranks=(16, 64),
        sweep_rank=64,
        spectra=SPECTRA,
        dtypes=("float32",),
        sweep_knobs=((10, 0), (10, 1), (40, 1), (0, 2), (10, 2), (20, 2), (10, 4)),
        rank_knobs=((10, 1), (10, 2)),
        exact_max_dim=4096,
        exact_all_spectra_max_dim=1024,
        budget_s=0.4,
        max_rounds=7,
        # 4096² on the decaying and the flat spectrum (the easy and the hard case for a
        # randomized SVD): every spectrum there cost 100 s per backend; all four are at 1024².
        all_spectra_max_dim=1024,
        large_spectra=("power-law", "gaussian"),
    ),
    "full": FactorizeProfile(
        shapes=((1024, 1024), (4096, 4096), (4096, 1024), (1024, 4096), (4096, 11008), (8192, 8192)),
        ranks=(16, 64, 256, 1024),
        sweep_rank=64,
        spectra=SPECTRA,
        dtypes=("float32", "float64"),
        sweep_knobs=_SWEEP + ((80, 1), (40, 2), (10, 3), (10, 6)),
        rank_knobs=((10, 1), (10, 2), (10, 4)),
        exact_max_dim=4096,  # an exact SVD of 8192² takes minutes on 2 cores
        exact_all_spectra_max_dim=4096,
        budget_s=2.0,
        max_rounds=15,
    ),
}

LORA_PROFILES: dict[str, LoraProfile] = {
    "quick": LoraProfile(
        shapes=((512, 512),),
        ranks=(16,),
        batches=(1, 32),
        dtypes=("float32",),
        merge_shapes=((256, 256),),
        merge_ranks=(16,),
        cpu_half_merge_max_dim=256,
    ),
    "default": LoraProfile(
        shapes=((1024, 1024), (4096, 4096), (4096, 11008)),
        ranks=(8, 16, 64, 256),
        batches=(1, 32, 512),
        dtypes=("float32",),
        merge_shapes=((1024, 1024), (4096, 4096)),
        merge_ranks=(16, 64),
        cpu_half_merge_max_dim=1024,
    ),
    "full": LoraProfile(
        shapes=((1024, 1024), (4096, 4096), (4096, 11008), (11008, 4096), (8192, 8192)),
        ranks=(4, 8, 16, 64, 256, 1024),
        batches=(1, 8, 32, 128, 512),
        dtypes=("float32",),
        merge_shapes=((1024, 1024), (4096, 4096), (4096, 11008)),
        merge_ranks=(16, 64, 256),
        cpu_half_merge_max_dim=1024,
    ),
}


# -- factorization cases --------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class FactorizeCase:
    """One timed factorization; ``oversampling``/``power_iterations`` are None for the exact SVD."""

    d: int
    k: int
    spectrum: str
    rank: int
    backend: str
    dtype: str
    method: str
    oversampling: int | None = None
    power_iterations: int | None = None

    @property
    def id(self) -> str:
        """e.g. ``numpy-float32-d4096-k4096-r0064-power-law-randomized-p010-q2``."""
        knobs = "" if self.oversampling is None else f"-p{self.oversampling:03d}-q{self.power_iterations}"
        return (
            f"{self.backend}-{self.dtype}-d{self.d:04d}-k{self.k:04d}-r{self.rank:04d}-{self.spectrum}-"
            f"{self.method}{knobs}"
        )

    @property
    def group(self) -> str:
        """Every method and backend on one matrix and rank: pytest-benchmark's table compares them."""
        return f"factorize-{self.dtype}-d{self.d:04d}-k{self.k:04d}-r{self.rank:04d}-{self.spectrum}"


def factorize_dtypes(backend: str, selection: Selection, prof: FactorizeProfile, explicit_dtypes: bool) -> tuple[str, ...]:
    """The profile's dtypes, or the selection's when ``explicit_dtypes``; half precision is not
    factorized (LAPACK and cuSOLVER have no half SVD: it would time an upcast to float32)."""
    chosen = selection.dtypes if explicit_dtypes else prof.dtypes
    allowed = NUMPY_DTYPES if backend == "numpy" else TORCH_DTYPES
    return tuple(dt for dt in chosen if dt in allowed and dt not in HALF)


def factorize_cases(selection: Selection, explicit_dtypes: bool = False) -> list[FactorizeCase]:
    """Every factorization case of the selection's profile, ordered so that cases sharing a matrix run together."""
    prof = FACTORIZE_PROFILES[selection.profile.name]
    cases = []
    for d, k in prof.shapes:
        m = min(d, k)
        for spectrum in prof.spectra_for(d, k):
            for rank in prof.ranks:
                if rank >= m:
                    continue
                for backend in selection.backends:
                    for dtype in factorize_dtypes(backend, selection, prof, explicit_dtypes):
                        knobs = prof.sweep_knobs if rank == prof.sweep_rank else prof.rank_knobs
                        if rank == prof.sweep_rank and _exact_wanted(prof, d, k, spectrum):
                            cases.append(FactorizeCase(d, k, spectrum, rank, backend, dtype, EXACT))
                        for method in (OURS, PEER_OF_BACKEND[backend]):
                            cases.extend(FactorizeCase(d, k, spectrum, rank, backend, dtype, method, p, q) for p, q in knobs)
    return cases


def _exact_wanted(prof: FactorizeProfile, d: int, k: int, spectrum: str) -> bool:
    big = max(d, k)
    return big <= prof.exact_max_dim and (big <= prof.exact_all_spectra_max_dim or spectrum == "power-law")


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


def lora_dtypes(backend: str, selection: Selection, prof: LoraProfile, explicit_dtypes: bool) -> tuple[str, ...]:
    """Forward dtypes: the profile's (the selection's when ``explicit_dtypes``), plus half precision on CUDA only."""
    chosen = selection.dtypes if explicit_dtypes else prof.dtypes
    allowed = NUMPY_DTYPES if backend == "numpy" else TORCH_DTYPES
    dtypes = [dt for dt in chosen if dt in allowed and (backend == "torch-cuda" or dt not in HALF)]
    if backend == "torch-cuda":
        dtypes += [dt for dt in HALF if dt not in dtypes]
    return tuple(dtypes)


def lora_forward_cases(selection: Selection, explicit_dtypes: bool = False) -> list[LoraCase]:
    """Merged once and unmerged at every rank, per (shape, backend, dtype, batch)."""
    prof = LORA_PROFILES[selection.profile.name]
    cases = []
    for d, k in prof.shapes:
        for backend in selection.backends:
            for dtype in lora_dtypes(backend, selection, prof, explicit_dtypes):
                for n in prof.batches:
                    cases.append(LoraCase("forward", d, k, backend, dtype, n, "merged", None))
                    cases.extend(
                        LoraCase("forward", d, k, backend, dtype, n, "unmerged", r) for r in prof.ranks if r < min(d, k)
                    )
    return cases


def lora_merge_cases(selection: Selection) -> list[LoraCase]:
    """Merges in float32 on every backend, and in float16/bfloat16 (both precisions) on torch."""
    prof = LORA_PROFILES[selection.profile.name]
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

