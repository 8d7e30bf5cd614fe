"""Approximation error, measured and optimal (Eckart–Young–Mirsky).

For W with singular values σ₁ ≥ σ₂ ≥ …, no rank-r matrix is closer to W than the
truncated SVD W_r, and

* ‖W − W_r‖_F = √(Σ_{i>r} σ_i²)
* ‖W − W_r‖₂ = σ_{r+1}

Errors here are relative to ‖W‖ in the same norm unless ``relative=False``, and
are computed in float64 whatever the factors' dtype, so that a float32 or
bfloat16 factorization is measured, not the rounding of the measurement.
"""

from __future__ import annotations

import numpy as np

from .errors import LowRankValueError
from .operator import LowRankOperator
from .validation import as_float_matrix, check_choice, check_int, check_rank
from .weighted import check_gram, output_norm, weighted_singular_values

NORMS = ("fro", "spectral")


def eckart_young_error(singular_values, rank: int, norm: str = "fro", *, relative: bool = True) -> float:
    """The smallest possible error of a rank-``rank`` approximation, from the singular values.

    Parameters
    ----------
    singular_values : array-like, descending
        All singular values of W (min(d, k) of them).
    rank : int
        0 <= rank <= len(singular_values); rank 0 gives ‖W‖ (relative error 1).
    norm : {"fro", "spectral"}
    relative : bool, default True
        Divide by ‖W‖ in the same norm.

    >>> eckart_young_error([3.0, 4.0 / 3, 0.0], 1, relative=False)
    1.3333333333333333
    """
    check_choice(norm, "norm", NORMS)
    s = np.sort(np.asarray(singular_values, dtype=np.float64))[::-1]
    rank = check_int(rank, "rank", minimum=0, maximum=s.size)
    if norm == "fro":
        err, total = float(np.sqrt(np.sum(s[rank:] ** 2))), float(np.sqrt(np.sum(s**2)))
    else:
        err, total = (float(s[rank]) if rank < s.size else 0.0), float(s[0])
    if not relative:
        return err
    return err / total if total > 0 else 0.0


def optimal_error(W, rank: int, norm: str = "fro", *, relative: bool = True) -> float:
    """Eckart–Young optimum for W at ``rank``, from an SVD of W (float64)."""
    W, be = as_float_matrix(W)
    r = check_rank(rank, tuple(W.shape))
    return eckart_young_error(be.svdvals(W), r, norm, relative=relative)


def relative_error(W, f: LowRankOperator, norm: str = "fro") -> float:
    """‖W − B@A‖ / ‖W‖ in the Frobenius (``"fro"``) or spectral norm."""
    W, be = as_float_matrix(W)
    check_choice(norm, "norm", NORMS)
    _check_operator(f, W, be)
    W64 = be.asarray(W, "float64")
    residual = W64 - be.asarray(f.B, "float64") @ be.asarray(f.A, "float64")
    total = be.norm(W64, norm)
    return be.norm(residual, norm) / total if total > 0 else be.norm(residual, norm)


def error_ratio(W, f: LowRankOperator, norm: str = "fro") -> float:
    """Measured error divided by the Eckart–Young optimum at f's rank (1.0 is optimal).

    Returns ``inf`` when the optimum is 0 (W has rank <= r) and the error is not,
    and 1.0 when both are 0.
    """
    measured = relative_error(W, f, norm)
    best = optimal_error(W, f.rank, norm)
    if best == 0.0:
        return 1.0 if measured == 0.0 else float("inf")
    return measured / best


def output_error(W, f: LowRankOperator, x) -> float:
    """‖W@x − f.apply(x)‖ / ‖W@x‖ on given inputs x of shape (k,) or (k, n)."""
    W, be = as_float_matrix(W)
    _check_operator(f, W, be)
    exact = be.asarray(W, "float64") @ be.asarray(x, "float64")
    approx = be.asarray(f.apply(x), "float64")
    exact, approx = exact.reshape(exact.shape[0], -1), approx.reshape(approx.shape[0], -1)
    total = be.norm(exact, "fro")
    diff = be.norm(exact - approx, "fro")
    return diff / total if total > 0 else diff


def weighted_error(W, f: LowRankOperator, gram) -> float:
    """The output error on the inputs behind ``gram`` = X Xᵀ: ‖(W − B@A)X‖_F / ‖WX‖_F.

    Computed from G alone, ‖EX‖_F² = tr(E G Eᵀ) with E = W − B@A (float64), so the
    activations need not be kept. The weighted Eckart–Young optimum is
    :func:`optimal_weighted_error`; ``factorize(W, r, "whitened", gram=G)`` attains it.
    """
    W, be = as_float_matrix(W)
    _check_operator(f, W, be)
    G = check_gram(gram, W.shape[1])
    W64 = np.asarray(be.to_numpy(W), dtype=np.float64)
    E = W64 - np.asarray(be.to_numpy(f.B), dtype=np.float64) @ np.asarray(be.to_numpy(f.A), dtype=np.float64)
    err, total = output_norm(E, G), output_norm(W64, G)
    return err / total if total > 0 else err


def optimal_weighted_error(W, rank: int, gram, *, relative: bool = True) -> float:
    """The smallest output error of any rank-``rank`` B@A on the inputs behind ``gram``: Eckart–Young on W S.

    With G = X Xᵀ = S Sᵀ, ‖(W − BA)X‖_F = ‖(W − BA)S‖_F ≥ √(Σ_{i>r} σ_i(WS)²), with
    equality for the whitened SVD. Relative to ‖WX‖_F = ‖WS‖_F unless ``relative=False``.
    A singular G is fine here (no inverse is needed).
    """
    W, be = as_float_matrix(W)
    r = check_rank(rank, tuple(W.shape))
    G = check_gram(gram, W.shape[1])
    s = weighted_singular_values(np.asarray(be.to_numpy(W), dtype=np.float64), G)
    return eckart_young_error(s, r, "fro", relative=relative)


def _check_operator(f, W, be) -> None:
    if not isinstance(f, LowRankOperator):
        raise LowRankValueError(f"f must be a LowRankOperator (from lowrank.factorize); got {type(f).__name__}")
    if f.shape != tuple(W.shape):
        raise LowRankValueError(f"f has shape {f.shape} but W has shape {tuple(W.shape)}")
    if f.backend != be.name:
        raise LowRankValueError(
            f"f lives on backend {f.backend!r} but W on {be.name!r}; move f with f.to({be.name!r})"
        )
