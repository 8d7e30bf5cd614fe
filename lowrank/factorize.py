"""Factorizations W ≈ B @ A: exact truncated SVD, randomized SVD, LoRA's training init."""

from __future__ import annotations

import math

import numpy as np

from .backends import FACTORIZATION_DTYPES, Backend
from .errors import LowRankValueError
from .operator import LowRankOperator
from .validation import check_choice, check_int, check_matrix, check_rank

METHODS = ("svd", "randomized", "lora")
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
    split: str = "balanced",
    oversampling: int | None = None,
    power_iterations: int | None = None,
    init: str | None = None,
    seed: int | np.random.Generator | None = None,
) -> LowRankOperator:
    """Factorize W (d×k) into B (d×r) and A (r×k) so that W ≈ B @ A.

    Parameters
    ----------
    W : numpy.ndarray or torch.Tensor, shape (d, k)
        Finite floating matrix. float16/bfloat16 tensors are factorized in float32
        (LAPACK and cuSOLVER have no half-precision SVD) and the factors cast back.
    rank : int
        r, with 1 <= r <= min(d, k).
    method : {"svd", "randomized", "lora"}, default "svd"
        ``"svd"``: exact truncated SVD, the Eckart–Young optimum.
        ``"randomized"``: randomized SVD (Halko, Martinsson & Tropp 2011), much faster
        than ``"svd"`` for r << min(d, k), within a few percent of the optimum on
        decaying spectra.
        ``"lora"``: LoRA's training initialisation, B = 0 and A random, so B @ A = 0
        and the error is ‖W‖ (the starting point of fine-tuning, not an approximation).
    backend : {"numpy", "torch-cpu", "torch-cuda"}, optional
        Must match W's own backend when given; inferred from W otherwise.
    split : {"balanced", "left", "right"}, default "balanced"
        Where the singular values go: B = U√Σ, A = √ΣVᵀ (balanced), B = UΣ, A = Vᵀ
        (left) or B = U, A = ΣVᵀ (right). Only for the SVD methods.
    oversampling : int >= 0, default 10
        ``"randomized"`` only: extra sample columns p; the sketch has r + p columns.
    power_iterations : int >= 0, default 2
        ``"randomized"`` only: q passes of (W Wᵀ) applied to the sketch, each followed by
        a QR re-orthonormalization; more passes sharpen slowly decaying spectra.
    init : {"kaiming", "gaussian"}, default "kaiming"
        ``"lora"`` only: A ~ U(-1/√k, 1/√k) as PEFT's Kaiming-uniform(a=√5), or
        A ~ N(0, (1/r)²) as PEFT's Gaussian option.
    seed : int or numpy.random.Generator, optional
        Randomness of ``"randomized"`` and ``"lora"``; the same seed gives the same
        factors on every backend (draws come from numpy and are converted).

    Returns
    -------
    LowRankOperator

    Examples
    --------
    >>> import numpy as np, lowrank
    >>> W = np.random.default_rng(0).integers(0, 10, size=(6, 6)).astype(float)
    >>> f = lowrank.factorize(W, rank=5)
    >>> f.B.shape, f.A.shape
    ((6, 5), (5, 6))
    """
    be = check_matrix(W, "W", backend)
    r = check_rank(rank, tuple(W.shape))
    check_choice(method, "method", METHODS)

    randomized_only = {"oversampling": oversampling, "power_iterations": power_iterations}
    svd_only = {"split": split if split != "balanced" else None}
    lora_only = {"init": init}
    misplaced = {
        "svd": {**randomized_only, **lora_only},
        "randomized": lora_only,
        "lora": {**randomized_only, **svd_only},
    }[method]
    for name, value in misplaced.items():
        if value is not None:
            raise LowRankValueError(f"{name}={value!r} does not apply to method={method!r}; leave it out")

    if method == "lora":
        init = check_choice(init or "kaiming", "init", LORA_INITS)
        return _lora_init(be, W, r, init, seed)
    check_choice(split, "split", SPLITS)
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
    """Randomized range finder + small SVD; returns thin ``(U, s, Vt)`` with ``rank`` or more terms.

    Halko, Martinsson & Tropp (2011), algorithms 4.4 and 5.1: Y = W Ω with Ω Gaussian
    k×(r+p); q subspace iterations with a QR after every product (without it the
    columns of Y collapse onto the top singular vector in floating point); then the SVD
    of the small (r+p)×k matrix QᵀW. Callers truncate to ``rank``: comparing a rank
    r+p result with the rank-r optimum would be unfair to the optimum.
    """
    d, k = W.shape
    width = min(rank + oversampling, d, k)
    dtype = be.dtype_name(W)
    omega = be.asarray(rng.standard_normal((k, width)), dtype)
    Q = be.qr_q(W @ omega)
    for _ in range(power_iterations):
        Z = be.qr_q(W.T @ Q)
        Q = be.qr_q(W @ Z)
    Ub, s, Vt = be.svd(Q.T @ W)
    return Q @ Ub, s, Vt


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
    # (the full U of a tall matrix can be much larger than B).
    return LowRankOperator(_compact(B), _compact(A), method, sigma)


def _compact(x):
    return x.copy() if isinstance(x, np.ndarray) else x.contiguous().clone()


def _lora_init(be: Backend, W, r: int, init: str, seed) -> LowRankOperator:
    d, k = W.shape
    dtype = be.dtype_name(W)
    rng = np.random.default_rng(seed)
    if init == "kaiming":
        # PEFT: nn.init.kaiming_uniform_(A, a=sqrt(5)) -> bound = sqrt(6 / ((1 + 5) * fan_in)) = 1/sqrt(k)
        bound = 1.0 / math.sqrt(k)
        A = rng.uniform(-bound, bound, size=(r, k))
    else:
        A = rng.normal(0.0, 1.0 / r, size=(r, k))
    return LowRankOperator(be.zeros((d, r), dtype), be.asarray(A, dtype), "lora", None)

