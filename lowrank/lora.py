"""LoRA adapters at inference: the unmerged forward, merging into W₀ and back.

A LoRA-adapted layer computes ``y = W₀ x + s · B (A x)`` with B (d×r), A (r×k) and
the scaling s = α/r (α/√r for rsLoRA, Kalajdzievski 2023). It can run that way
("unmerged": three small products and an add on top of the base product) or with
the update folded into the weight once, W' = W₀ + s·B·A ("merged": one product, no
overhead, but W₀ is gone until the update is subtracted again).

Unmerged costs 2·r·(d + k)·n extra FLOPs on top of the base 2·d·k·n, a fraction
r·(d + k)/(d·k) (:func:`flop_overhead`: 0.78% at r = 16, d = k = 4096); what it
costs in time is a benchmark question (``benchmarks/bench_lora.py``).

Merging and unmerging in floating point are not exact inverses: W₀ comes back
within about two roundings of the merged values, 2·u·|W'| elementwise, with u the
dtype's unit roundoff (:func:`unit_roundoff`). By default the update and the sum
are computed in float32 for half-precision weights and rounded once (as PEFT does
on CPU); ``upcast=False`` keeps every step in the weight's dtype.

Arrays are numpy arrays or torch tensors (CPU or CUDA); all arrays of one call must
share backend and dtype. Importing this module does not import torch.

>>> import numpy as np, lowrank
>>> rng = np.random.default_rng(0)
>>> W0, B, A = rng.standard_normal((6, 5)), rng.standard_normal((6, 2)), rng.standard_normal((2, 5))
>>> s = lowrank.lora_scaling(alpha=4, rank=2)
>>> x = rng.standard_normal(5)
>>> Wm = lowrank.lora.merge(W0, B, A, s)
>>> bool(np.allclose(lowrank.lora.forward(W0, B, A, x, s), Wm @ x))
True
>>> float(np.abs(lowrank.lora.unmerge(Wm, B, A, s) - W0).max()) < 1e-15
True
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backends import Backend, get_backend
from .errors import LowRankTypeError, LowRankValueError
from .operator import FactorPair
from .validation import check_choice, check_int, check_matrix, check_same_array_kind

LORA_INITS = ("kaiming", "gaussian")
# Unit roundoff u = 2^-p (p = stored significand bits + 1): the largest relative error of one rounding.
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}
_HALF = ("float16", "bfloat16")


# -- scalars -------------------------------------------------------------------------------------
def lora_scaling(alpha, rank: int, *, rslora: bool = False) -> float:
    """The LoRA scaling s: α/r, or α/√r with ``rslora=True`` (rank-stabilized LoRA).

    Parameters
    ----------
    alpha : real number
        LoRA's α (``lora_alpha`` in PEFT), finite.
    rank : int >= 1
        r.
    rslora : bool, default False

    >>> lora_scaling(16, 16), lora_scaling(16, 64, rslora=True)
    (1.0, 2.0)
    """
    a = _check_real(alpha, "alpha")
    r = check_int(rank, "rank", minimum=1)
    if not isinstance(rslora, bool):
        raise LowRankTypeError(f"rslora={rslora!r} must be True or False")
    return a / math.sqrt(r) if rslora else a / r


def flop_overhead(d: int, k: int, rank: int) -> float:
    """Extra FLOPs of the unmerged forward over the merged one: r·(d + k) / (d·k).

    The same for every batch size: both sides scale with n.

    >>> round(flop_overhead(4096, 4096, 16), 5)
    0.00781
    """
    d, k = check_int(d, "d", minimum=1), check_int(k, "k", minimum=1)
    r = check_int(rank, "rank", minimum=1)
    return r * (d + k) / (d * k)


def unit_roundoff(dtype: str) -> float:
    """u for ``dtype`` ("float64", "float32", "float16", "bfloat16"): 2^-53, 2^-24, 2^-11, 2^-8."""
    return UNIT_ROUNDOFF[check_choice(dtype, "dtype", tuple(UNIT_ROUNDOFF))]


# -- functions on arrays -------------------------------------------------------------------------
def forward(W0, B, A, x, scaling: float = 1.0):
    """The unmerged LoRA forward ``W₀ @ x + scaling · B @ (A @ x)``.

    Parameters
    ----------
    W0 : array (d, k)
    B, A : arrays (d, r) and (r, k), same backend and dtype as W0
    x : array (k,) or (k, n), same backend and dtype
    scaling : real number, default 1.0
        s; see :func:`lora_scaling`.

    Returns
    -------
    array (d,) or (d, n)

    Notes
    -----
    The scaling multiplies the r×n intermediate, the smallest array of the chain.
    """
    be, s = _check_update(W0, B, A, scaling)
    _check_x(x, be, be.dtype_name(W0), W0.shape[1])
    return _forward(W0, B, A, x, s, be.matmul)


def delta(B, A, scaling: float = 1.0, *, upcast: bool = True):
    """The update ΔW = scaling · B @ A (d×k) in B's dtype.

    ``upcast=True`` (default) computes it in float32 for float16/bfloat16 factors and
    rounds once at the end; ``upcast=False`` computes in the factors' dtype.
    """
    be, dtype = _check_factors(B, A)
    s = _check_real(scaling, "scaling")
    _check_upcast(upcast)
    return _delta(be, B, A, s, dtype, upcast)


def merge(W0, B, A, scaling: float = 1.0, *, upcast: bool = True):
    """The merged weight W' = W₀ + scaling · B @ A, a new array (W₀ is not modified).

    Parameters
    ----------
    W0 : array (d, k)
    B, A : arrays (d, r) and (r, k), same backend and dtype as W0
    scaling : real number, default 1.0
    upcast : bool, default True
        For float16/bfloat16: form the update and the sum in float32 and round once
        (the accurate choice, and PEFT's on CPU); False keeps every step in the
        weight's dtype (two roundings more). No effect for float32/float64.

    Returns
    -------
    array (d, k), same backend and dtype as W0

    See Also
    --------
    unmerge : the inverse, up to rounding (within 2·u·|W'| elementwise).
    """
    return _merge_or_unmerge(W0, B, A, scaling, upcast, sign=1.0)


def unmerge(W, B, A, scaling: float = 1.0, *, upcast: bool = True):
    """W₀ back from a merged weight: W − scaling · B @ A (a new array).

    Uses exactly the update :func:`merge` added (same ``scaling`` and ``upcast``), so
    ``unmerge(merge(W0, ...), ...)`` differs from W₀ only by the rounding of the two
    sums: at most 2·u·|W'| elementwise (u = :func:`unit_roundoff` of the dtype).
    """
    return _merge_or_unmerge(W, B, A, scaling, upcast, sign=-1.0)


def roundtrip_drift(W0, B, A, scaling: float = 1.0, *, upcast: bool = True) -> dict:
    """How far W₀ moves when merged and unmerged: max |unmerge(merge(W₀)) − W₀| and its bound.

    Returns a dict of floats: ``drift_max_abs``; ``w0_max_abs``, ``merged_max_abs``
    (max |W'|); ``unit_roundoff``; and ``drift_bound_ratio``, the largest elementwise
    |drift| / (u·|W'|), which rounding analysis bounds by 2 (0 when nothing moved).
    """
    be, _ = _check_update(W0, B, A, scaling)
    merged = merge(W0, B, A, scaling, upcast=upcast)
    back = unmerge(merged, B, A, scaling, upcast=upcast)
    w0, wm, wb = (np.asarray(be.to_numpy(a), dtype=np.float64) for a in (W0, merged, back))
    drift = np.abs(wb - w0)
    u = unit_roundoff(be.dtype_name(W0))
    scale = u * np.abs(wm)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(drift > 0, drift / np.where(scale > 0, scale, np.finfo(np.float64).tiny), 0.0)
    return {
        "drift_max_abs": float(drift.max()),
        "w0_max_abs": float(np.abs(w0).max()),
        "merged_max_abs": float(np.abs(wm).max()),
        "unit_roundoff": u,
        "drift_bound_ratio": float(ratio.max()),
    }


# -- the adapter object --------------------------------------------------------------------------


def initial_factors(be: Backend, d: int, k: int, r: int, init: str, seed, dtype: str):
    """LoRA's training start, as PEFT draws it: ``(B, A)`` with B = 0 (d×r) and A random (r×k), so B @ A = 0.

    ``init="kaiming"``: A ~ U(−1/√k, 1/√k) (PEFT's ``kaiming_uniform_(A, a=√5)``: bound
    √(6 / ((1 + 5)·fan_in)) = 1/√k); ``"gaussian"``: A ~ N(0, (1/r)²). Draws come from
    ``numpy.random.default_rng(seed)`` on every backend, so backends agree. Used by
    :meth:`LoRAAdapter.init` and by ``factorize(W, r, "lora")``.
    """
    rng = np.random.default_rng(seed)
    if init == "kaiming":
        bound = 1.0 / math.sqrt(k)
        A = rng.uniform(-bound, bound, size=(r, k))
    else:
        A = rng.normal(0.0, 1.0 / r, size=(r, k))
    return be.zeros((d, r), dtype), be.asarray(A, dtype)


@dataclass(frozen=True, eq=False)
class LoRAAdapter(FactorPair):
    """A LoRA update ΔW = scaling · B @ A for a d×k weight W₀.

    Attributes
    ----------
    B : array (d, r)
    A : array (r, k), same backend and dtype as B
        Held in the layout the factored product runs fastest in (B column-major, A
        row-major; :meth:`lowrank.backends.Backend.factor_layout`), copied into it when
        given otherwise.
    scaling : float
        s = α/r (or α/√r); see :func:`lora_scaling`.

    Examples
    --------
    >>> import numpy as np, lowrank
    >>> W0 = lowrank.generators.gaussian(8, 6, seed=0)
    >>> ad = lowrank.LoRAAdapter.init(8, 6, rank=2, alpha=4, seed=0, dtype="float64")  # B = 0: ΔW = 0
    >>> ad.shape, ad.rank, ad.scaling
    ((8, 6), 2, 2.0)
    >>> bool(np.array_equal(ad.forward(W0, np.ones(6)), W0 @ np.ones(6)))
    True
    """

    B: Any
    A: Any
    scaling: float = 1.0
    # Checked once here, so that forward() pays for a type test and three products only.
    _backend: Backend = field(init=False, repr=False)
    _array_type: type = field(init=False, repr=False)
    _native_dtype: Any = field(init=False, repr=False)

    def __post_init__(self):
        be, _ = _check_factors(self.B, self.A)
        B, A = be.factor_layout(self.B, self.A)
        object.__setattr__(self, "B", B)
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "scaling", _check_real(self.scaling, "scaling"))
        object.__setattr__(self, "_backend", be)
        object.__setattr__(self, "_array_type", type(self.A))
        object.__setattr__(self, "_native_dtype", self.A.dtype)

    @classmethod
    def init(
        cls,
        d: int,
        k: int,
        rank: int,
        *,
        alpha: float | None = None,
        rslora: bool = False,
        init: str = "kaiming",
        seed=None,
        dtype: str = "float32",
        backend: str = "numpy",
    ) -> "LoRAAdapter":
        """A fresh adapter as PEFT initializes one: B = 0 and A random, so ΔW = 0.

        ``init="kaiming"``: A ~ U(−1/√k, 1/√k) (PEFT's Kaiming-uniform with a = √5);
        ``"gaussian"``: A ~ N(0, (1/r)²). ``alpha`` defaults to r (scaling 1).
        Draws come from ``numpy.random.default_rng(seed)`` on every backend.
        """
        d, k = check_int(d, "d", minimum=1), check_int(k, "k", minimum=1)
        r = check_int(rank, "rank", minimum=1, maximum=min(d, k))
        check_choice(init, "init", LORA_INITS)
        be = get_backend(backend)
        be.check_dtype(dtype)
        B, A = initial_factors(be, d, k, r, init, seed, dtype)
        return cls(B, A, lora_scaling(r if alpha is None else alpha, r, rslora=rslora))

    def delta(self, *, upcast: bool = True):
        """ΔW = scaling · B @ A (d×k); see :func:`delta`."""
        return delta(self.B, self.A, self.scaling, upcast=upcast)

    def forward(self, W0, x):
        """Unmerged ``W₀ @ x + scaling · B @ (A @ x)``; see :func:`forward`.

        Made for hot loops: the factors were checked when the adapter was built, and
        W₀ and x get a type, dtype and shape test (anything unusual takes the slow
        path of :func:`forward`, which raises a precise error).
        """
        t, dt = self._array_type, self._native_dtype
        if (
            type(W0) is not t or type(x) is not t or W0.dtype != dt or x.dtype != dt or not 0 < x.ndim < 3
            or W0.shape[0] != self.B.shape[0] or W0.shape[1] != self.A.shape[1]
        ):
            return forward(W0, self.B, self.A, x, self.scaling)
        try:
            return _forward(W0, self.B, self.A, x, self.scaling, self._backend.matmul)
        except (ValueError, RuntimeError):
            _check_x(x, self._backend, self.dtype, self.A.shape[1])
            raise

    def merge(self, W0, *, upcast: bool = True):
        """W₀ + scaling · B @ A; see :func:`merge`."""
        return merge(W0, self.B, self.A, self.scaling, upcast=upcast)

    def unmerge(self, W, *, upcast: bool = True):
        """W − scaling · B @ A; see :func:`unmerge`."""
        return unmerge(W, self.B, self.A, self.scaling, upcast=upcast)

    def __repr__(self) -> str:
        d, k = self.shape
        return (
            f"LoRAAdapter(shape=({d}, {k}), rank={self.rank}, scaling={self.scaling!r}, "
            f"dtype={self.dtype!r}, backend={self.backend!r})"
        )


# -- internals -----------------------------------------------------------------------------------
def _forward(W0, B, A, x, s: float, matmul):
    y = W0 @ x
    y += matmul(B, matmul(A, x) * s)
    return y


def _delta(be: Backend, B, A, s: float, dtype: str, upcast: bool):
    if upcast and dtype in _HALF:
        return be.asarray(_scaled_product(be.asarray(B, "float32"), be.asarray(A, "float32"), s), dtype)
    return _scaled_product(B, A, s)


def _scaled_product(B, A, s: float):
    # In place on the fresh product: one d×k temporary instead of two. Negating s is
    # exact, so merge (+s) and unmerge (−s) add exactly opposite updates.
    update = B @ A
    update *= s
    return update


def _merge_or_unmerge(W, B, A, scaling, upcast, sign: float):
    be, s = _check_update(W, B, A, scaling)
    _check_upcast(upcast)
    dtype = be.dtype_name(W)
    if upcast and dtype in _HALF:
        # One rounding: W ± ΔW formed in float32 from the float32 update.
        out = _scaled_product(be.asarray(B, "float32"), be.asarray(A, "float32"), sign * s)
        out += be.asarray(W, "float32")
        return be.asarray(out, dtype)
    out = _scaled_product(B, A, sign * s)
    out += W  # fl(W + (−u)) = fl(W − u): the same rounding as W − ΔW
    return out


def _check_real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LowRankTypeError(f"{name}={value!r} must be a real number (got {type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise LowRankValueError(f"{name}={value!r} must be finite")
    return value


def _check_upcast(upcast) -> None:
    if not isinstance(upcast, bool):
        raise LowRankTypeError(f"upcast={upcast!r} must be True or False")


def _check_factors(B, A) -> tuple[Backend, str]:
    be = check_matrix(B, "B")
    dtype = be.dtype_name(B)
    if getattr(A, "ndim", None) != 2:
        check_same_array_kind(A, "A", be, dtype)
        raise LowRankValueError(f"A must be 2-D (r, k); got shape {tuple(A.shape)}")
    check_same_array_kind(A, "A", be, dtype)
    if B.shape[1] != A.shape[0]:
        raise LowRankValueError(
            f"B is {tuple(B.shape)} and A is {tuple(A.shape)}: B's columns must equal A's rows (the rank r)"
        )
    return be, dtype


def _check_update(W0, B, A, scaling) -> tuple[Backend, float]:
    be, dtype = _check_factors(B, A)
    check_same_array_kind(W0, "W0", be, dtype)
    if W0.ndim != 2 or tuple(W0.shape) != (B.shape[0], A.shape[1]):
        raise LowRankValueError(
            f"W0 has shape {tuple(W0.shape)}, but B {tuple(B.shape)} @ A {tuple(A.shape)} is "
            f"({B.shape[0]}, {A.shape[1]}); W0 must be d×k with B d×r and A r×k"
        )
    return be, _check_real(scaling, "scaling")


def _check_x(x, be: Backend, dtype: str, k: int) -> None:
    check_same_array_kind(x, "x", be, dtype)
    if x.ndim not in (1, 2) or x.shape[0] != k:
        raise LowRankValueError(f"x has shape {tuple(x.shape)}; expected ({k},) or ({k}, n)")
