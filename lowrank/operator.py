"""The factored operator: W ≈ B @ A, applied as ``B @ (A @ x)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backends import ITEMSIZE, Backend, get_backend, infer_backend
from .errors import LowRankValueError
from .validation import check_same_array_kind


class FactorPair:
    """What a pair of factors B (d×r), A (r×k) says about itself; shared by the operator and LoRA adapters.

    Subclasses hold ``B``, ``A`` and the resolved ``_backend``.
    """

    B: Any
    A: Any
    _backend: Backend

    @property
    def shape(self) -> tuple[int, int]:
        """(d, k), the shape of the matrix B @ A."""
        return (int(self.B.shape[0]), int(self.A.shape[1]))

    @property
    def rank(self) -> int:
        """r, the inner dimension of B @ A."""
        return int(self.A.shape[0])

    @property
    def backend(self) -> str:
        """Name of the backend the factors live on (``"numpy"``, ``"torch-cpu"``, ``"torch-cuda"``)."""
        return self._backend.name

    @property
    def dtype(self) -> str:
        """dtype of the factors as a string, e.g. ``"float32"``."""
        return self._backend.dtype_name(self.A)

    @property
    def num_params(self) -> int:
        """Number of stored values, r·(d + k)."""
        d, k = self.shape
        return self.rank * (d + k)

    @property
    def nbytes(self) -> int:
        """Bytes held by the two factors."""
        return self.num_params * ITEMSIZE[self.dtype]


@dataclass(frozen=True, eq=False)
class LowRankOperator(FactorPair):
    """A d×k linear map stored as two factors, B (d×r) and A (r×k).

    Build one with :func:`lowrank.factorize` (or :func:`lowrank.from_svd`); the
    constructor only checks that the factors fit together.

    Attributes
    ----------
    B, A : arrays of one backend and dtype
        The factors, written the LoRA way: W ≈ B @ A. They are held in the layout the
        product runs fastest in (:meth:`lowrank.backends.Backend.factor_layout`: B
        column-major, A row-major), copied into it at construction when given otherwise;
        their values and shapes are the ones given.
    method : str
        How the factors were obtained (``"svd"``, ``"randomized"``, ``"lora"``, ``"given"``).
    singular_values : numpy.ndarray or None
        The r singular values the factors keep, when the method computed them.

    Examples
    --------
    >>> import numpy as np, lowrank
    >>> W = lowrank.generators.exact_rank(8, 6, rank=2, seed=0)
    >>> f = lowrank.factorize(W, rank=2)
    >>> f.shape, f.rank, f.num_params
    ((8, 6), 2, 28)
    >>> x = np.ones(6)
    >>> bool(np.allclose(f.apply(x), W @ x))
    True
    """

    B: Any
    A: Any
    method: str = "given"
    singular_values: np.ndarray | None = field(default=None, repr=False)
    # Cached at construction so that apply() pays for no lookups beyond two matmuls.
    _backend: Backend = field(init=False, repr=False)
    _array_type: type = field(init=False, repr=False)
    _native_dtype: Any = field(init=False, repr=False)
    _product: Any = field(init=False, repr=False)

    def __post_init__(self):
        backend = infer_backend(self.B)
        for name, factor in (("B", self.B), ("A", self.A)):
            if factor.ndim != 2:
                raise LowRankValueError(f"{name} must be 2-D; got shape {tuple(factor.shape)}")
        check_same_array_kind(self.A, "A", backend, backend.dtype_name(self.B))
        if self.B.shape[1] != self.A.shape[0]:
            raise LowRankValueError(
                f"B is {tuple(self.B.shape)} and A is {tuple(self.A.shape)}: "
                "B's columns must equal A's rows (the rank)"
            )
        B, A = backend.factor_layout(self.B, self.A)
        object.__setattr__(self, "B", B)
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "_product", backend.factored_product)
        object.__setattr__(self, "_backend", backend)
        object.__setattr__(self, "_array_type", type(self.A))
        object.__setattr__(self, "_native_dtype", self.A.dtype)

    def __repr__(self) -> str:
        d, k = self.shape
        return (
            f"LowRankOperator(shape=({d}, {k}), rank={self.rank}, dtype={self.dtype!r}, "
            f"backend={self.backend!r}, method={self.method!r})"
        )

    # -- use ----------------------------------------------------------------------------
    def apply(self, x, bias=None):
        """Compute ``B @ (A @ x) (+ bias)`` without forming the d×k matrix.

        Parameters
        ----------
        x : array of shape (k,) or (k, n)
            Same backend and dtype as the factors.
        bias : array of shape (d,), optional
            Added to every output column.

        Returns
        -------
        array of shape (d,) or (d, n)
        """
        # Fast path: identity tests only (builtin numpy and torch dtypes are singletons),
        # then the two products. Anything unusual (another type, dtype, a 0-d or rank-3
        # input, a shape the backend rejects) goes to _check_input, which raises a precise
        # error or, for an equal but non-identical dtype, lets the call proceed. (np.dot
        # would take a 0-d x as a scalar.)
        if type(x) is not self._array_type or x.dtype is not self._native_dtype or not 0 < x.ndim < 3:
            self._check_input(x)
        try:
            y = self._product(self.B, self.A, x)
        except (ValueError, RuntimeError):
            self._check_input(x)
            raise
        if bias is not None:
            y = self._add_bias(y, bias)
        return y

    def __matmul__(self, x):
        return self.apply(x)

    def to_dense(self):
        """The d×k matrix B @ A, on the factors' backend and dtype."""
        return self.B @ self.A

    def to(self, backend: str | None = None, dtype: str | None = None) -> "LowRankOperator":
        """A copy of this operator on another backend and/or dtype."""
        target = get_backend(backend) if backend is not None else self._backend
        dtype = dtype or self.dtype
        return LowRankOperator(
            target.asarray(self.B, dtype), target.asarray(self.A, dtype), self.method, self.singular_values
        )

    # -- checks (slow path only) ---------------------------------------------------------
    def _check_input(self, x) -> None:
        check_same_array_kind(x, "x", self._backend, self.dtype)
        k = self.shape[1]
        if x.ndim not in (1, 2) or x.shape[0] != k:
            raise LowRankValueError(f"x has shape {tuple(x.shape)}; expected ({k},) or ({k}, n)")

    def _add_bias(self, y, bias):
        d = self.shape[0]
        check_same_array_kind(bias, "bias", self._backend, self.dtype)
        if tuple(bias.shape) != (d,):
            raise LowRankValueError(f"bias has shape {tuple(bias.shape)}; expected ({d},)")
        return y + (bias if y.ndim == 1 else bias[:, None])
