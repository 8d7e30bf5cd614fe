"""Grid of the factorization suite (``bench_factorize.py``), chosen by the same profile names as the matvec grid.

``LOWRANK_BENCH_PROFILE`` (or ``--lowrank-profile``) picks ``quick``, ``default`` or
``full`` for every suite at once. ``LOWRANK_BENCH_BACKENDS`` narrows the backends
and ``LOWRANK_BENCH_DTYPES`` replaces this suite's dtypes when given (callers pass
``explicit_dtypes``; the matvec-only variables ``..._SHAPES``, ``..._RANKS``,
``..._BATCHES`` and ``..._CACHE`` do not apply here). Nothing here times anything.

Every (shape, spectrum, rank, backend, dtype) cell is factorized by our
``randomized`` method and by its peer on that backend (``torch.svd_lowrank`` on
torch, scikit-learn's ``randomized_svd`` on numpy) at each (oversampling p, power
iterations q) of the profile — the full knob sweep at the profile's sweep rank, a
short one at the other ranks — so a report can draw time–accuracy curves; the exact
SVD is timed once per (shape, spectrum, backend, dtype), at the sweep rank (its time
does not depend on r).

The functions take the user's selection (:class:`benchmarks.harness.selection.Selection`) without
importing its class: the grids sit below the harness, which imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.engine.dtypes import dtypes_on

SPECTRA = ("power-law", "exponential", "gaussian", "exact-rank")
OURS = "randomized"
EXACT = "svd"
TORCH_PEER = "torch_svd_lowrank"
SKLEARN_PEER = "sklearn_randomized_svd"
FACTORIZE_METHODS = (EXACT, OURS, TORCH_PEER, SKLEARN_PEER)
# The randomized peer that runs on each backend's arrays.
PEER_OF_BACKEND = {"numpy": SKLEARN_PEER, "torch-cpu": TORCH_PEER, "torch-cuda": TORCH_PEER}


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
    budget_s: float  # seconds of timed calls per case and process (at least one call)
    max_rounds: int
    # Shapes with max(d, k) above this are swept on large_spectra only (None: every shape on all).
    all_spectra_max_dim: int | None = None
    large_spectra: tuple[str, ...] = ()

    def policy(self, base):
        """The run's timing (:class:`benchmarks.engine.timing.Policy`) for this suite's calls, which take
        milliseconds to seconds: the profile's warm-up, then at least one round within this grid's budget."""
        from dataclasses import replace

        return replace(base, min_rounds=1, budget_s=self.budget_s, max_rounds=self.max_rounds)

    def spectra_for(self, d: int, k: int) -> tuple[str, ...]:
        if self.all_spectra_max_dim is None or max(d, k) <= self.all_spectra_max_dim:
            return self.spectra
        return tuple(s for s in self.spectra if s in self.large_spectra)




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


def factorize_dtypes(backend: str, selection, prof: FactorizeProfile, explicit_dtypes: bool) -> tuple[str, ...]:
    """The profile's dtypes, or the selection's when ``explicit_dtypes``; half precision is not
    factorized (LAPACK and cuSOLVER have no half SVD: it would time an upcast to float32)."""
    return dtypes_on(backend, selection.dtypes if explicit_dtypes else prof.dtypes, half="never")


def factorize_cases(selection, explicit_dtypes: bool = False) -> list[FactorizeCase]:
    """Every factorization case of the selection's profile, ordered so that cases sharing a matrix run together."""
    prof = selection.profile.factorize
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
