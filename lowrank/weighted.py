"""Data-aware factorization: the best rank-r B@A for the inputs a layer actually sees.

What matters for a layer in a model is its output error on its inputs X (k×n, one column
per token), ‖(W − BA)X‖_F. With the Gram matrix G = XXᵀ = SSᵀ that is ‖(W − BA)S‖_F, so
Eckart–Young applied to WS gives the optimum in closed form (the whitened SVD of
SVD-LLM): WS = UΣVᵀ, B = U_r√Σ_r, A = √Σ_r V_rᵀ S⁻¹, and the error is √(Σ_{i>r} σ_i(WS)²).

S comes from the eigendecomposition G = QΛQᵀ: S = QΛ^½ and S⁻¹ = Λ^-½Qᵀ. A singular G
(an input direction the data never excites) has no S⁻¹: the factorization works with
G + ε·I, ε = ``ridge`` × tr(G)/k (default ridge 1e-6, relative to G's mean eigenvalue),
which changes the objective by that much and makes the unexcited directions count a
little, as plain SVD counts all. ``ridge=0`` asks for the exact objective and refuses a G
whose smallest eigenvalue is below 1e-12 of its largest. The k×k work runs in float64 on
the host (G is small next to W); the factors come back on W's backend and dtype.
"""

from __future__ import annotations

import numpy as np

from .backends import Backend
from .errors import LowRankValueError
from .validation import check_nonnegative

DEFAULT_RIDGE = 1e-6
# Relative eigenvalue below which G is singular (for ridge=0), and the slack allowed on a
# negative eigenvalue before G is "not positive semi-definite" (round-off of XXᵀ).
SINGULAR_RCOND = 1e-12
PSD_SLACK = 1e-8


def output_norm(M, G) -> float:
    """‖M X‖_F from the Gram matrix G = X Xᵀ alone: √tr(M G Mᵀ), computed as √Σ (M @ G) ∘ M (one
    BLAS product; a three-operand einsum loops in C, orders of magnitude slower at a model's sizes)."""
    M = np.asarray(M, dtype=np.float64)
    return float(np.sqrt(max(float(np.sum((M @ np.asarray(G, dtype=np.float64)) * M)), 0.0)))


def check_gram(gram, k: int, name: str = "gram") -> np.ndarray:
    """``gram`` as a float64 k×k symmetric positive semi-definite numpy array, or a clear error."""
    if gram is None:
        raise LowRankValueError(f"{name} is required: the Gram matrix X @ X.T (k×k) of the layer's inputs X (k×n)")
    try:
        G = np.asarray(gram.detach().cpu().numpy() if hasattr(gram, "detach") else gram, dtype=np.float64)
    except (TypeError, ValueError):
        raise LowRankValueError(f"{name} must be a real k×k matrix (numpy array or torch tensor); got "
                                f"{type(gram).__name__}") from None
    if G.shape != (k, k):
        raise LowRankValueError(f"{name} has shape {G.shape}; W is d×k with k = {k}, so {name} must be {k}×{k}")
    if not np.all(np.isfinite(G)):
        raise LowRankValueError(f"{name} holds NaN or infinite values; accepted: finite values")
    scale = max(float(np.abs(G).max()), np.finfo(np.float64).tiny)
    if not np.allclose(G, G.T, rtol=1e-10, atol=1e-12 * scale):
        raise LowRankValueError(f"{name} is not symmetric (|G − Gᵀ| up to {np.abs(G - G.T).max():.3g}); a Gram "
                                "matrix X @ X.T is")
    return (G + G.T) / 2


def _eigen(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """G's eigenvalues (round-off negatives set to 0) and eigenvectors; refuses a G that is not PSD or is zero."""
    lam, Q = np.linalg.eigh(G)
    scale = float(np.abs(lam).max())
    if lam.min() < -PSD_SLACK * scale:
        raise LowRankValueError(f"gram is not positive semi-definite (eigenvalue {lam.min():.3g}, largest in size "
                                f"{scale:.3g}); a Gram matrix X @ X.T is")
    if lam.max() <= 0:
        raise LowRankValueError("gram is zero: the inputs carry no energy, so every factorization is as good")
    return np.clip(lam, 0.0, None), Q


def _ridged(lam: np.ndarray, G: np.ndarray, ridge) -> np.ndarray:
    ridge = check_nonnegative(ridge, "ridge", f"default {DEFAULT_RIDGE:g}")
    return lam + ridge * float(np.trace(G)) / G.shape[0]


def whitening(G: np.ndarray, ridge: float = DEFAULT_RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """``(S, S_inv)`` with S Sᵀ = G + ridge·tr(G)/k·I, from G's eigendecomposition (float64)."""
    lam, Q = _eigen(G)
    lam = _ridged(lam, G, ridge)
    if lam.min() <= SINGULAR_RCOND * lam.max():
        raise LowRankValueError("gram is singular (an input direction carries no energy) and ridge=0 asks for the "
                                f"exact objective; pass ridge > 0 (default {DEFAULT_RIDGE:g}, relative to tr(G)/k)")
    root = np.sqrt(lam)
    return Q * root, (Q / root).T


def whitened_svd(be: Backend, W, rank: int, gram, ridge: float, out_dtype: str):
    """The factors ``(B, A, sigma)`` of the whitened truncated SVD (see the module docstring)."""
    G = check_gram(gram, W.shape[1])
    S, S_inv = whitening(G, ridge)
    W64 = np.asarray(be.to_numpy(W), dtype=np.float64)
    U, s, Vt = np.linalg.svd(W64 @ S, full_matrices=False)
    root = np.sqrt(s[:rank])
    B = U[:, :rank] * root
    A = (root[:, None] * Vt[:rank]) @ S_inv
    return be.asarray(np.ascontiguousarray(B), out_dtype), be.asarray(np.ascontiguousarray(A), out_dtype), s


def weighted_singular_values(W64: np.ndarray, G: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """σ(WS) with S Sᵀ = G (+ ``ridge``·tr(G)/k·I), descending: the weighted Eckart–Young optimum is made of them.

    No inverse is needed here, so a singular G is fine with ``ridge=0``.
    """
    lam, Q = _eigen(G)
    S = Q * np.sqrt(_ridged(lam, G, ridge))
    return np.linalg.svd(W64 @ S, compute_uv=False)


ASVD_ALPHA = 0.5  # ASVD's (Yuan et al. 2023) exponent on the inputs' mean magnitude


def asvd_gram(mean_abs, alpha: float = ASVD_ALPHA) -> np.ndarray:
    """The diagonal matrix diag(s)² with s_j = mean|x_j|^α: ASVD's activation-scaled SVD as a whitened SVD.

    ASVD factors W·diag(s) by truncated SVD and un-scales A by diag(s)⁻¹. That is exactly the
    whitened SVD (:func:`whitened_svd`) with G = diag(s²), whose S is diag(s), so the peer shares
    this module's factorization and planners: ``factorize(W, r, "whitened", gram=asvd_gram(m))``.
    At full rank it reproduces W (A's un-scaling undoes the scaling). A channel that never
    fires (s_j = 0) gets the ridge of :func:`whitening`.
    """
    a = check_nonnegative(alpha, "alpha", f"ASVD's default {ASVD_ALPHA:g}")
    m = np.asarray(mean_abs, dtype=np.float64)
    if m.ndim != 1 or not np.all(np.isfinite(m)) or np.any(m < 0):
        raise LowRankValueError("mean_abs must be a 1-D array of finite values >= 0 (the mean |x_j| of each input)")
    return np.diag(m ** (2 * a))
