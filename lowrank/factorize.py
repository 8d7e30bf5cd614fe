"""Factorizations W ≈ B @ A: exact truncated SVD, randomized SVD, LoRA's training init."""

from __future__ import annotations

import numpy as np

from .backends import FACTORIZATION_DTYPES, Backend
from .errors import LowRankValueError
from .lora import initial_factors
from .operator import LowRankOperator
from .validation import as_float_matrix, check_choice, check_int, check_matrix, check_rank
from .weighted import DEFAULT_RIDGE, whitened_svd

METHODS = ("svd", "randomized", "lora", "whitened")
SPLITS = ("balanced", "left", "right")
LORA_INITS = ("kaiming", "gaussian")
DEFAULT_OVERSAMPLING = 10
DEFAULT_POWER_ITERATIONS = 2


def factorize(
    W,
    rank: int,
    method: str = "svd",
    *,
    backend: str | None = None,
    split: str | None = None,
    oversampling: int | None = None,
    power_iterations: int | None = None,
    init: str | None = None,
    seed: int | np.random.Generator | None = None,
    gram=None,
    ridge: float | None = None,
) -> LowRankOperator:
    """Factorize W (d×k) into B (d×r) and A (r×k) so that W ≈ B @ A.

    Parameters
    ----------
    W : numpy.ndarray or torch.Tensor, shape (d, k)
        Finite floating or integer matrix. float16/bfloat16 tensors are factorized in
        float32 (LAPACK and cuSOLVER have no half-precision SVD) and the factors cast
        back. Integer matrices are converted as ``numpy.linalg.svd`` does: a numpy array
        to float64, a torch tensor to ``torch.get_default_dtype()`` (float32 unless
        changed); the factors have that dtype. Booleans and complex numbers are refused.
    rank : int
        r, with 1 <= r <= min(d, k).
    method : {"svd", "randomized", "lora", "whitened"}, default "svd"
        ``"svd"``: exact truncated SVD, the Eckart–Young optimum.
        ``"randomized"``: randomized SVD (Halko, Martinsson & Tropp 2011), much faster
        than ``"svd"`` for r << min(d, k), within a few percent of the optimum on
        decaying spectra.
        ``"lora"``: LoRA's training initialisation, B = 0 and A random, so B @ A = 0
        and the error is ‖W‖ (the starting point of fine-tuning, not an approximation).
        ``"whitened"``: the best rank-r factors for the layer's inputs, minimising the output
        error ‖(W − BA)X‖_F given ``gram`` = X Xᵀ (SVD-LLM's truncation-aware whitening; see
        :mod:`lowrank.weighted`): the weighted Eckart–Young optimum.
    backend : {"numpy", "torch-cpu", "torch-cuda"}, optional
        Must match W's own backend when given; inferred from W otherwise.
    split : {"balanced", "left", "right"}, default "balanced"
        Where the singular values go: B = U√Σ, A = √ΣVᵀ (balanced), B = UΣ, A = Vᵀ
        (left) or B = U, A = ΣVᵀ (right). Only for the SVD methods.
    oversampling : int >= 0, default 10
        ``"randomized"`` only: extra sample columns p; the sketch has r + p columns.
    power_iterations : int >= 0, default 2
        ``"randomized"`` only: q passes of (W Wᵀ) applied to the sketch, with a
        re-orthonormalization after every product; more passes sharpen slowly decaying
        spectra. Each pass costs two products with W; 0 (no passes) is allowed.
    init : {"kaiming", "gaussian"}, default "kaiming"
        ``"lora"`` only: A ~ U(-1/√k, 1/√k) as PEFT's Kaiming-uniform(a=√5), or
        A ~ N(0, (1/r)²) as PEFT's Gaussian option.
    seed : int or numpy.random.Generator, optional
        Randomness of ``"randomized"`` and ``"lora"``; the same seed gives the same
        factors on every backend (draws come from numpy and are converted).
    gram : array-like (k, k)
        ``"whitened"`` only, and required there: the Gram matrix X @ X.T of the layer's
        inputs X (k×n), symmetric positive semi-definite (numpy array or torch tensor).
    ridge : float >= 0, default 1e-6
        ``"whitened"`` only: G + ridge·tr(G)/k·I is whitened, so a singular G (an input
        direction never excited) works; 0 asks for the exact objective and refuses a singular G.

    Returns
    -------
    LowRankOperator

    Examples
    --------
    >>> import numpy as np, lowrank
    >>> W = np.random.default_rng(0).integers(0, 10, size=(6, 6))   # integers: factorized in float64
    >>> f = lowrank.factorize(W, rank=5)
    >>> f.B.shape, f.A.shape, f.dtype
    ((6, 5), (5, 6), 'float64')
    """
    W, be = as_float_matrix(W, "W", backend)
    r = check_rank(rank, tuple(W.shape))
    check_choice(method, "method", METHODS)

    randomized_only = {"oversampling": oversampling, "power_iterations": power_iterations}
    svd_only = {"split": split}
    lora_only = {"init": init}
    whitened_only = {"gram": gram, "ridge": ridge}
    misplaced = {
        "svd": {**randomized_only, **lora_only, **whitened_only},
        "randomized": {**lora_only, **whitened_only},
        "lora": {**randomized_only, **svd_only, **whitened_only},
        "whitened": {**randomized_only, **lora_only, **svd_only},
    }[method]
    for name, value in misplaced.items():
        if value is not None:
            shown = repr(value) if isinstance(value, (bool, int, float, str)) else f"<{type(value).__name__}>"
            raise LowRankValueError(f"{name}={shown} does not apply to method={method!r}; leave it out")

    if method == "lora":
        init = check_choice(init or "kaiming", "init", LORA_INITS)
        return _lora_init(be, W, r, init, seed)
    if method == "whitened":
        B, A, sigma = whitened_svd(be, W, r, gram, DEFAULT_RIDGE if ridge is None else ridge, be.dtype_name(W))
        return LowRankOperator(B, A, "whitened", sigma[:r])
    split = check_choice(split or "balanced", "split", SPLITS)
    work_dtype = be.dtype_name(W)
    Wf = W if work_dtype in FACTORIZATION_DTYPES else be.asarray(W, "float32")
    if method == "svd":
        U, s, Vt = be.svd(Wf)
    else:
        p = check_int(DEFAULT_OVERSAMPLING if oversampling is None else oversampling, "oversampling", minimum=0)
        q = check_int(
            DEFAULT_POWER_ITERATIONS if power_iterations is None else power_iterations, "power_iterations", minimum=0
        )
        U, s, Vt = randomized_svd(be, Wf, r, p, q, np.random.default_rng(seed))
    return _split(be, U[:, :r], s[:r], Vt[:r], split, method, work_dtype)


def from_svd(U, s, Vt, rank: int | None = None, *, split: str = "balanced", method: str = "svd") -> LowRankOperator:
    """Build the operator B @ A from known SVD factors (for example of a synthetic matrix).

    ``U`` (d×m), ``s`` (m,) descending and ``Vt`` (m×k) are arrays of one backend;
    the first ``rank`` components are kept (all of them when ``rank`` is None).
    """
    be = check_matrix(U, "U")
    m = U.shape[1]
    r = m if rank is None else check_rank(rank, (U.shape[0], m))
    check_choice(split, "split", SPLITS)
    return _split(be, U[:, :r], s[:r], Vt[:r], split, method, be.dtype_name(U))


def randomized_svd(be: Backend, W, rank: int, oversampling: int, power_iterations: int, rng: np.random.Generator):
    """Randomized range finder + small SVD; returns thin ``(U, s, Vt)`` with exactly ``rank`` terms.

    Halko, Martinsson & Tropp (2011), algorithms 4.4 and 5.1: Y = W Ω with Ω Gaussian
    k×(r+p); q subspace iterations with a re-orthonormalization after every product
    (without it the columns of Y collapse onto the top singular vector in floating
    point); then the SVD of the small (r+p)×k matrix QᵀW, truncated to ``rank`` (a
    rank r+p result compared with the rank-r optimum would be unfair to the optimum).

    The matrix is sketched in its tall orientation (a wide W is factorized as Wᵀ, as
    ``torch.svd_lowrank`` and scikit-learn do), so the final SVD is of an
    (r+p)×min(d, k) matrix.

    For float32, the small linear algebra goes through the (r+p)×(r+p) Gram matrix of
    each block, accumulated in float64 on the block's backend: each re-orthonormalization
    is a Cholesky QR (Q = Y·R⁻¹ with RᵀR = YᵀY) instead of a Householder QR, and the
    final SVD comes from the symmetric eigenproblem of (QᵀW)(QᵀW)ᵀ instead of an SVD of
    the (r+p)×k block. Both are BLAS-3 products plus (r+p)³ work (on 2 CPU cores at
    4096², r = 64, p = 10, q = 2: 125 ms instead of 175 ms with numpy, 150 instead of
    155 ms with torch, whose QR is faster) and as accurate as the float32 data
    while the block's condition number stays below :data:`GRAM_MAX_COND`. That is checked
    every time (Cholesky failure or a large ratio of R's diagonal entries; the eigenvalues
    for the final SVD), and a block above it — a spectrum that decays fast within the
    sketch, a matrix of rank below r + p — takes the Householder QR / LAPACK SVD route,
    as float64 always does.

    Parameters
    ----------
    be : Backend
        The backend of ``W``.
    W : array of shape (d, k), float32 or float64 (half precision: see :func:`factorize`)
    rank : int
        Number of terms returned, 1 <= rank <= min(d, k).
    oversampling, power_iterations : int >= 0
        p and q above.
    rng : numpy.random.Generator
        Source of Ω (drawn in float64 and converted, so a seed gives the same Ω on every backend).
    """
    d, k = W.shape
    if d < k:
        U, s, Vt = randomized_svd(be, W.T, rank, oversampling, power_iterations, rng)
        return Vt.T, s, U.T
    width = min(rank + oversampling, k)
    dtype = be.dtype_name(W)
    omega = be.asarray(rng.standard_normal((k, width)), dtype)
    Q = _orthonormal_basis(be, W @ omega, dtype)
    for _ in range(power_iterations):
        Z = _orthonormal_basis(be, W.T @ Q, dtype)
        Q = _orthonormal_basis(be, W @ Z, dtype)
    return _small_svd(be, Q, Q.T @ W, rank, dtype)


# Largest condition number of an (r+p)-column block that the Gram route handles, per
# working dtype. The float64 Gram matrix carries relative errors of about eps64·κ²,
# below float32's own rounding (eps32) while κ < sqrt(eps32/eps64) ≈ 2.3e4; 1e4 leaves
# a margin. float64 data has no such headroom, so it always takes the QR/SVD route.
# (Y·R⁻¹ itself is formed in float32 and loses about eps32·κ of orthogonality, which the
# intermediate bases of the power iteration tolerate: they only need to span the sketch.)
GRAM_MAX_COND = {"float32": 1e4}


def _gram64(be: Backend, Y):
    """(Y in float64, YᵀY): the small Gram matrix accumulated in float64, on Y's backend."""
    Y64 = be.asarray(Y, "float64")
    return Y64, Y64.T @ Y64


def _well_conditioned(be: Backend, eigenvalues, dtype: str) -> bool:
    """True when a Gram matrix's eigenvalues certify κ <= GRAM_MAX_COND[dtype]."""
    limit = GRAM_MAX_COND.get(dtype)
    lam = be.to_numpy(eigenvalues)
    lo, hi = float(lam.min()), float(lam.max())
    return limit is not None and lo > 0 and hi <= limit**2 * lo


def _orthonormal_basis(be: Backend, Y, dtype: str):
    """An orthonormal basis of Y's columns: Y·R⁻¹ with RᵀR = YᵀY (Cholesky QR), else a Householder QR."""
    if dtype in GRAM_MAX_COND:
        _, G = _gram64(be, Y)
        L = be.cholesky(G)
        if L is not None:
            diag = be.to_numpy(L.diagonal())
            # max/min of R's diagonal bounds κ(Y) from below: a cheap guard against the
            # blocks that are clearly too ill-conditioned (rank below the sketch width).
            if diag.min() > 0 and diag.max() <= GRAM_MAX_COND[dtype] * diag.min():
                return Y @ be.asarray(be.inv(L).T, dtype)
    return be.qr_q(Y)


def _small_svd(be: Backend, Q, Bm, rank: int, dtype: str):
    """Top ``rank`` SVD terms of Q @ Bm, Q orthonormal (m×l) and Bm small (l×k)."""
    if dtype in GRAM_MAX_COND:
        # Bm = U Σ Vt  <=>  Bm Bmᵀ = U Σ² Uᵀ and Vt = Σ⁻¹ Uᵀ Bm (formed in float64).
        BmT64, G = _gram64(be, Bm.T)
        lam, V = be.eigh(G)
        top = list(range(G.shape[0] - 1, G.shape[0] - 1 - rank, -1))  # descending; torch has no [::-1]
        lam, V = lam[top], V[:, top]
        if _well_conditioned(be, lam, dtype):
            s = lam**0.5
            Vt = (V / s).T @ BmT64.T
            return Q @ be.asarray(V, dtype), be.asarray(s, dtype), be.asarray(Vt, dtype)
    Ub, s, Vt = be.svd(Bm)
    return Q @ Ub[:, :rank], s[:rank], Vt[:rank]


def _split(be: Backend, U, s, Vt, split: str, method: str, out_dtype: str) -> LowRankOperator:
    if split == "balanced":
        root = s**0.5
        B, A = U * root, root[:, None] * Vt
    elif split == "left":
        B, A = U * s, Vt
    else:
        B, A = U, s[:, None] * Vt
    sigma = np.asarray(be.to_numpy(s), dtype=np.float64)
    if be.dtype_name(B) != out_dtype:
        B, A = be.asarray(B, out_dtype), be.asarray(A, out_dtype)
    # Slicing leaves views of the full SVD; copy so the operator owns compact factors
    # (the full U of a tall matrix can be much larger than B), in the operator's layout.
    return LowRankOperator(*be.factor_layout(B, A, copy=True), method, sigma)


def _lora_init(be: Backend, W, r: int, init: str, seed) -> LowRankOperator:
    B, A = initial_factors(be, W.shape[0], W.shape[1], r, init, seed, be.dtype_name(W))
    return LowRankOperator(B, A, "lora", None)

