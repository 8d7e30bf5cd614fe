"""Seeded, cached matrices of known spectrum for the factorization suite, the timed calls, and their quality.

Every matrix is a :class:`lowrank.generators.SyntheticMatrix` W = U·diag(σ)·Vᵀ, so
the Eckart–Young optimum at every rank comes from σ and no SVD of W is ever
computed outside the exact-SVD benchmark itself. The Gaussian test matrices
(Ω) of the randomized methods are rotation invariant, so the quality of every
randomized method depends on σ alone, not on how U and V were drawn.

Spectra (m = min(d, k), r the benchmarked rank):

``power-law``   σ_i = 1/i, the slow decay of many trained weights (the same matrix as
                the matvec suite's operands for that shape).
``exponential`` σ_i = 10^(−3(i−1)/r): σ_{r+1} = 10⁻³·σ₁ at every r, the same
                difficulty at every rank and above float32 round-off.
``gaussian``    the Marchenko–Pastur quantiles of a d×k Gaussian matrix: the flat,
                hard case (what a random, untrained weight looks like).
``exact-rank``  σ_i = 1/i for i <= r, 0 after: W has rank exactly r, the optimum is
                0 and any method should recover W to round-off.

The caches must only be appended to: changing a seed or a spectrum changes every
recorded error (the numpy asv habit).
"""

from __future__ import annotations

import functools
import importlib.util
import sys

import numpy as np

import lowrank
from benchmarks.engine.operand_cache import shared
from benchmarks.factorize.grid import EXACT, OURS, SKLEARN_PEER, SPECTRA, TORCH_PEER, FactorizeCase
from benchmarks.matvec.operands import SEED
from lowrank import generators
from lowrank.backends import get_backend

MATRIX_SEED = SEED  # the matvec suite's seed: its power-law operands are these matrices
SKETCH_SEED = 7  # Ω of every randomized method (ours, torch.svd_lowrank, scikit-learn)
RANK_DEPENDENT = ("exponential", "exact-rank")
# scikit-learn's default "auto" skips normalization for n_iter <= 2, and its sketch then
# collapses in float32 (error 1.18× the optimum at 4096², r = 64, q = 2; 28× on the
# exponential spectrum): the sweep compares algorithms, so it asks for LU at every q.
SKLEARN_NORMALIZER = "LU"
_MP_GRID = 200_001
# Rows per chunk when measuring ‖W − B·A‖: about 64 MiB of float64 temporaries.
_CHUNK_ELEMENTS = 2**23


# -- spectra and matrices -------------------------------------------------------------------------
def marchenko_pastur_singular_values(d: int, k: int) -> np.ndarray:
    """The m = min(d, k) singular values a d×k matrix of i.i.d. N(0, 1/max(d, k)) entries has in
    the large-size limit: quantiles (i − ½)/m of the Marchenko–Pastur law, descending.

    With y = m / max(d, k), s² has density √((b − x)(x − a)) / (2π·y·x) on [a, b],
    a = (1 − √y)², b = (1 + √y)²; in s that is √((b − s²)(s² − a)) / (π·y·s), finite
    at s = 0 when y = 1 (the quarter circle √(4 − s²)/π).
    """
    m, n = min(d, k), max(d, k)
    y = m / n
    a, b = (1 - np.sqrt(y)) ** 2, (1 + np.sqrt(y)) ** 2
    s = np.linspace(np.sqrt(a), np.sqrt(b), _MP_GRID)
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.sqrt(np.clip((b - s**2) * (s**2 - a), 0, None)) / (np.pi * y * s)
    density[~np.isfinite(density)] = 0.0
    cdf = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(s))])
    cdf /= cdf[-1]
    targets = (np.arange(m, 0, -1) - 0.5) / m
    return np.interp(targets, cdf, s)


def spectrum_values(spectrum: str, d: int, k: int, rank: int | None) -> np.ndarray:
    """σ for a d×k matrix of the named spectrum (``rank`` only for the rank-dependent ones)."""
    m = min(d, k)
    if spectrum == "power-law":
        return generators.power_law_spectrum(m)
    if spectrum == "gaussian":
        return marchenko_pastur_singular_values(d, k)
    if spectrum == "exponential":
        return 10.0 ** (-3.0 * np.arange(m) / rank)
    if spectrum == "exact-rank":
        return np.concatenate([generators.power_law_spectrum(rank), np.zeros(m - rank)])
    raise ValueError(f"spectrum={spectrum!r} is not known; accepted: {', '.join(map(repr, SPECTRA))}")


def rank_key(spectrum: str, rank: int) -> int | None:
    """The rank a matrix depends on (None for spectra that are the same at every rank)."""
    return rank if spectrum in RANK_DEPENDENT else None


@functools.lru_cache(maxsize=2)
def synthetic(spectrum: str, d: int, k: int, key: int | None) -> generators.SyntheticMatrix:
    return generators.SyntheticMatrix.build(d, k, spectrum_values(spectrum, d, k, key), seed=MATRIX_SEED)


@functools.lru_cache(maxsize=4)
def _matrix(spectrum: str, d: int, k: int, key: int | None, dtype: str, backend: str):
    # W through the run's operand cache: a counted worker (under valgrind) loads what was built natively.
    W = shared(f"factorize-{spectrum}-{d}x{k}-{key}-{MATRIX_SEED}", lambda: {"W": synthetic(spectrum, d, k, key).W})["W"]
    return get_backend(backend).asarray(W, dtype)


def matrix_for(case: FactorizeCase):
    """W for the case, on its backend and dtype (built once per spectrum, shape and rank key)."""
    return _matrix(case.spectrum, case.d, case.k, rank_key(case.spectrum, case.rank), case.dtype, case.backend)


def synthetic_for(case: FactorizeCase) -> generators.SyntheticMatrix:
    return synthetic(case.spectrum, case.d, case.k, rank_key(case.spectrum, case.rank))


# -- the calls that are timed ---------------------------------------------------------------------
def peer_unavailable(method: str) -> str | None:
    """Why a peer method cannot run here (None when it can)."""
    if method == SKLEARN_PEER and importlib.util.find_spec("sklearn") is None:
        return ("scikit-learn is not installed: pip install 'lowrank-bench[peers]' (or scikit-learn) "
                "to time its randomized_svd")
    return None


def sketch_width(case: FactorizeCase) -> int | None:
    """r + p capped at min(d, k): the columns of the sketch (None for the exact SVD)."""
    if case.oversampling is None:
        return None
    return min(case.rank + case.oversampling, case.d, case.k)


def make_call(case: FactorizeCase, W):
    """The closure that is timed: one factorization of W, synchronized on CUDA before returning."""
    r, p, q = case.rank, case.oversampling, case.power_iterations
    be = get_backend(case.backend)
    if case.method == EXACT:
        def run():
            return lowrank.factorize(W, r, "svd")
    elif case.method == OURS:
        def run():
            return lowrank.factorize(W, r, "randomized", oversampling=p, power_iterations=q, seed=SKETCH_SEED)
    elif case.method == TORCH_PEER:
        torch = sys.modules["torch"]
        width = sketch_width(case)

        def run():
            torch.manual_seed(SKETCH_SEED)
            return torch.svd_lowrank(W, q=width, niter=q)
    elif case.method == SKLEARN_PEER:
        from sklearn.utils.extmath import randomized_svd

        def run():
            return randomized_svd(W, r, n_oversamples=p, n_iter=q, power_iteration_normalizer=SKLEARN_NORMALIZER,
                                  random_state=SKETCH_SEED)
    else:
        raise ValueError(f"method={case.method!r} is not known")
    if case.backend != "torch-cuda":
        return run
    sync = be.synchronize

    def synced():
        out = run()
        sync()
        return out

    return synced


def peer_options(case: FactorizeCase) -> str | None:
    """The peer's call, spelled out, so a reader knows what was compared."""
    if case.method == TORCH_PEER:
        return f"torch.svd_lowrank(W, q={sketch_width(case)}, niter={case.power_iterations})"
    if case.method == SKLEARN_PEER:
        return (f"sklearn.utils.extmath.randomized_svd(W, {case.rank}, n_oversamples={case.oversampling}, "
                f"n_iter={case.power_iterations}, power_iteration_normalizer={SKLEARN_NORMALIZER!r})")
    if case.method == OURS:
        return (f"lowrank.factorize(W, {case.rank}, 'randomized', oversampling={case.oversampling}, "
                f"power_iterations={case.power_iterations})")
    return f"lowrank.factorize(W, {case.rank}, 'svd')"


def model_cost(case: FactorizeCase) -> tuple[int | None, int | None]:
    """(products with W, their FLOPs) of a randomized method: 2q + 2 products of W or Wᵀ with
    an (r+p)-column block, 2·d·k·(r+p) FLOPs each. None for the exact SVD."""
    width = sketch_width(case)
    if width is None:
        return None, None
    passes = 2 * case.power_iterations + 2
    return passes, passes * 2 * case.d * case.k * width


# -- quality, outside the timed call ----------------------------------------------------------------
def _np64(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x.astype(np.float64, copy=False)
    return x.detach().cpu().double().numpy()


def truncated_factors(case: FactorizeCase, result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, A, σ̂) of rank exactly r in float64 from whatever the method returned.

    A peer's rank-(r+p) output is truncated first: comparing it with the rank-r
    optimum would be unfair to the optimum.
    """
    r = case.rank
    if case.method in (EXACT, OURS):
        return _np64(result.B), _np64(result.A), np.asarray(result.singular_values, dtype=np.float64)
    if case.method == TORCH_PEER:
        U, S, V = (_np64(t) for t in result)
        return U[:, :r] * S[:r], V[:, :r].T, S[:r]
    U, S, Vt = (_np64(t) for t in result)
    return U[:, :r] * S[:r], Vt[:r], S[:r]


def residual_fro(W: np.ndarray, B: np.ndarray, A: np.ndarray) -> float:
    """‖W − B·A‖_F in float64, a block of rows at a time (no d×k temporary)."""
    rows = max(1, _CHUNK_ELEMENTS // max(W.shape[1], 1))
    total = 0.0
    for i in range(0, W.shape[0], rows):
        R = W[i:i + rows] - B[i:i + rows] @ A
        total += float(np.einsum("ij,ij->", R, R))
    return float(np.sqrt(total))


def quality(case: FactorizeCase, result) -> dict:
    """Relative Frobenius error, its Eckart–Young optimum and their ratio; error of the top r σ."""
    sm = synthetic_for(case)
    B, A, s_hat = truncated_factors(case, result)
    err = residual_fro(sm.W, B, A) / float(np.linalg.norm(sm.singular_values))
    opt = sm.optimal_error(case.rank)
    sigma = sm.singular_values[: case.rank]
    return {
        "rel_error_fro": err,
        "optimal_error_fro": opt,
        "error_ratio_fro": err / opt if opt > 0 else None,
        "sigma_rel_error_max": float(np.max(np.abs(np.sort(s_hat)[::-1] - sigma) / sigma)),
        "matrix_rank": case.rank if case.spectrum == "exact-rank" else min(case.d, case.k),
    }
