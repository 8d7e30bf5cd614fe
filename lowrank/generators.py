"""Seeded test matrices for any shape, dtype and backend.

Every generator draws from ``numpy.random.default_rng(seed)`` in float64 and
converts at the end, so one seed gives the same matrix (up to the dtype's
rounding) on numpy, torch CPU and torch CUDA.

Matrices with a prescribed spectrum are built as W = U·diag(σ)·Vᵀ, so their
singular values, and hence the Eckart–Young optimum at every rank, are known
without an SVD of W (which takes minutes at 8192² on a laptop). See
:class:`SyntheticMatrix`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .backends import get_backend
from .errors import LowRankValueError
from .metrics import eckart_young_error
from .validation import check_choice, check_int, check_rank

MIXINGS = ("auto", "haar", "householder")
# Below this many multiply-adds (about 2048³) a Haar-random U and V from QR are cheap;
# above it, a few Householder reflections give orthonormal U, V in O(d·k) work.
_HAAR_LIMIT = 2048**3
_REFLECTIONS = 4


def _convert(W: np.ndarray, dtype: str, backend: str):
    return get_backend(backend).asarray(W, dtype)


def _shape(d, k) -> tuple[int, int]:
    return check_int(d, "d", minimum=1), check_int(k, "k", minimum=1)


def gaussian(d: int, k: int, *, seed=0, dtype: str = "float64", backend: str = "numpy"):
    """W with i.i.d. N(0, 1/k) entries (so ‖W x‖ ≈ ‖x‖ for random x); flat spectrum."""
    d, k = _shape(d, k)
    W = np.random.default_rng(seed).standard_normal((d, k)) / np.sqrt(k)
    return _convert(W, dtype, backend)


def exact_rank(d: int, k: int, rank: int, *, seed=0, dtype: str = "float64", backend: str = "numpy"):
    """W = G₁ @ G₂ with Gaussian G₁ (d×q), G₂ (q×k): rank exactly q with probability 1."""
    d, k = _shape(d, k)
    q = check_rank(rank, (d, k))
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((d, q)) @ rng.standard_normal((q, k))
    return _convert(W, dtype, backend)


def random_integers(
    d: int, k: int, low: int = 0, high: int = 10, *, seed=0, dtype: str = "float64", backend: str = "numpy"
):
    """Integers drawn uniformly from [low, high) stored as floats (the tutorial's 0–9 matrix)."""
    d, k = _shape(d, k)
    low = check_int(low, "low", minimum=-(2**31))
    high = check_int(high, "high", minimum=low + 1)
    W = np.random.default_rng(seed).integers(low, high, size=(d, k)).astype(np.float64)
    return _convert(W, dtype, backend)


def power_law_spectrum(n: int, exponent: float = 1.0, scale: float = 1.0) -> np.ndarray:
    """σ_i = scale · i^(−exponent) for i = 1..n (1/i by default)."""
    n = check_int(n, "n", minimum=1)
    if not exponent >= 0:
        raise LowRankValueError(f"exponent={exponent!r} must be >= 0")
    return scale * np.arange(1, n + 1, dtype=np.float64) ** (-float(exponent))


def exponential_spectrum(n: int, rate: float = 0.1, scale: float = 1.0) -> np.ndarray:
    """σ_i = scale · exp(−rate · (i − 1)) for i = 1..n."""
    n = check_int(n, "n", minimum=1)
    if not rate >= 0:
        raise LowRankValueError(f"rate={rate!r} must be >= 0")
    return scale * np.exp(-float(rate) * np.arange(n, dtype=np.float64))


@dataclass(frozen=True, eq=False)
class SyntheticMatrix:
    """W = U·diag(σ)·Vᵀ with U, V orthonormal and σ chosen by the caller.

    Build with :meth:`build`. ``W`` is float64 numpy; convert with :meth:`matrix`.
    Because σ, U and V are known, :meth:`optimal_error` and :meth:`svd_factors` need
    no SVD of W.
    """

    W: np.ndarray = field(repr=False)
    singular_values: np.ndarray = field(repr=False)
    mixing: str
    _left: np.ndarray = field(repr=False)  # Haar U (d×m), or Householder vectors (m_refl×d)
    _right: np.ndarray = field(repr=False)  # Haar V (k×m), or Householder vectors (m_refl×k)

    @classmethod
    def build(cls, d: int, k: int, singular_values, *, seed=0, mixing: str = "auto") -> "SyntheticMatrix":
        """A d×k matrix whose singular values are ``singular_values`` (padded with zeros).

        Parameters
        ----------
        singular_values : array-like of non-negative floats, at most min(d, k) of them
            Sorted into descending order.
        mixing : {"auto", "haar", "householder"}
            How U and V are drawn: ``"haar"`` from the QR of a Gaussian (uniformly random,
            O(d·k·min(d,k)) work), ``"householder"`` as a product of four random
            reflections (dense but structured, O(d·k) work, for large timing operands).
            ``"auto"`` uses Haar up to about 2048³ multiply-adds.
        """
        d, k = _shape(d, k)
        check_choice(mixing, "mixing", MIXINGS)
        m = min(d, k)
        s = np.asarray(singular_values, dtype=np.float64).ravel()
        if s.size > m or s.size == 0:
            raise LowRankValueError(
                f"got {s.size} singular values for a {d}x{k} matrix; accepted: 1 to min(d, k) = {m}"
            )
        if not np.all(np.isfinite(s)) or np.any(s < 0):
            raise LowRankValueError("singular_values must be finite and non-negative")
        s = np.concatenate([np.sort(s)[::-1], np.zeros(m - s.size)])
        rng = np.random.default_rng(seed)
        if mixing == "auto":
            mixing = "haar" if d * k * m <= _HAAR_LIMIT else "householder"
        if mixing == "haar":
            U = _haar(rng, d, m)
            V = _haar(rng, k, m)
            W = (U * s) @ V.T
            return cls(W, s, mixing, U, V)
        left = _unit_rows(rng, _REFLECTIONS, d)
        right = _unit_rows(rng, _REFLECTIONS, k)
        W = np.zeros((d, k))
        W[np.arange(m), np.arange(m)] = s
        # W = H₁…H₄ · Σ · (G₁…G₄)ᵀ; each reflection I − 2vvᵀ costs one rank-1 update.
        for g in right[::-1]:  # Σ·Vᵀ = Σ·G₄·G₃·G₂·G₁ for V = G₁…G₄ (each G is symmetric)
            W -= 2.0 * np.outer(W @ g, g)
        for h in left[::-1]:
            W -= 2.0 * np.outer(h, h @ W)
        return cls(W, s, mixing, left, right)

    @property
    def shape(self) -> tuple[int, int]:
        return self.W.shape

    def matrix(self, dtype: str = "float64", backend: str = "numpy"):
        """W on ``backend`` in ``dtype``."""
        return _convert(self.W, dtype, backend)

    def optimal_error(self, rank: int, norm: str = "fro", *, relative: bool = True) -> float:
        """Eckart–Young optimum at ``rank`` from the known σ (relative to ‖W‖ by default)."""
        return eckart_young_error(self.singular_values, check_rank(rank, self.shape), norm, relative=relative)

    def svd_factors(self, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The exact truncated SVD (U_r, σ_r, V_rᵀ) as float64 numpy arrays."""
        r = check_rank(rank, self.shape)
        s = self.singular_values[:r]
        if self.mixing == "haar":
            return self._left[:, :r].copy(), s.copy(), self._right[:, :r].T.copy()
        d, k = self.shape
        return _reflect_identity(self._left, d, r), s.copy(), _reflect_identity(self._right, k, r).T.copy()


def _haar(rng, n: int, m: int) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((n, m)))
    return Q * np.sign(np.diag(R))  # sign fix makes Q Haar-distributed


def _unit_rows(rng, count: int, n: int) -> np.ndarray:
    v = rng.standard_normal((count, n))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _reflect_identity(vectors: np.ndarray, n: int, r: int) -> np.ndarray:
    """First r columns of H₁…H_m, i.e. H₁(…(H_m E_r))."""
    E = np.zeros((n, r))
    E[np.arange(r), np.arange(r)] = 1.0
    for v in vectors[::-1]:
        E -= 2.0 * np.outer(v, v @ E)
    return E


def with_spectrum(
    d: int, k: int, singular_values, *, seed=0, dtype: str = "float64", backend: str = "numpy", mixing: str = "auto"
):
    """W (d×k) with the given singular values; see :class:`SyntheticMatrix` to keep σ, U, V."""
    return SyntheticMatrix.build(d, k, singular_values, seed=seed, mixing=mixing).matrix(dtype, backend)


def power_law(d: int, k: int, exponent: float = 1.0, *, seed=0, dtype="float64", backend="numpy", mixing="auto"):
    """W with σ_i = i^(−exponent), the slowly decaying spectrum of many trained weights."""
    s = power_law_spectrum(min(_shape(d, k)), exponent)
    return with_spectrum(d, k, s, seed=seed, dtype=dtype, backend=backend, mixing=mixing)


def exponential(d: int, k: int, rate: float = 0.1, *, seed=0, dtype="float64", backend="numpy", mixing="auto"):
    """W with σ_i = exp(−rate·(i − 1)), a fast decay where low rank is nearly exact."""
    s = exponential_spectrum(min(_shape(d, k)), rate)
    return with_spectrum(d, k, s, seed=seed, dtype=dtype, backend=backend, mixing=mixing)
