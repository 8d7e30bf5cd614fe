"""Argument checks for the public edge of the library.

Each check raises a :class:`~lowrank.errors.LowRankError` whose message names the
parameter, the bad value and what would have been accepted (the scikit-learn
habit), so a user can fix the call without reading the source.
"""

from __future__ import annotations

import numbers

import numpy as np

from .backends import Backend, get_backend, infer_backend
from .errors import LowRankTypeError, LowRankValueError, format_choices


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming them."""
    if not isinstance(value, str) or value not in choices:
        raise LowRankValueError(f"{name}={value!r} is not accepted; accepted: {format_choices(choices)}")
    return value


def check_int(value, name: str, *, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise LowRankTypeError(
            f"{name}={value!r} must be an integer (got {type(value).__name__}); "
            f"accepted: integers in [{minimum}, {'inf' if maximum is None else maximum}]"
        )
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise LowRankValueError(
            f"{name}={value!r} is out of range; accepted: integers in "
            f"[{minimum}, {'inf' if maximum is None else maximum}]"
        )
    return value


def check_nonnegative(value, name: str, default: str) -> float:
    """Return ``value`` as a float if it is a finite number >= 0; ``default`` is named in the error."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number) or number < 0:
        raise LowRankValueError(f"{name}={value!r}: accepted a finite number >= 0 ({default})")
    return number


def check_rank(rank, shape: tuple[int, int], name: str = "rank") -> int:
    """A rank for a d×k matrix: an integer with 1 <= rank <= min(d, k)."""
    d, k = shape
    limit = min(d, k)
    try:
        return check_int(rank, name, minimum=1, maximum=limit)
    except LowRankValueError:
        raise LowRankValueError(
            f"{name}={rank!r} is out of range for a {d}x{k} matrix; accepted: integers in [1, {limit}] "
            f"(1 <= rank <= min(d, k))"
        ) from None


# Integer dtypes accepted where a matrix W is taken: converted to floating point first, as
# numpy.linalg.svd and scikit-learn's randomized_svd do (numpy: float64; torch: the default dtype).
INTEGER_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def as_float_matrix(W, name: str = "W", backend: str | Backend | None = None):
    """:func:`check_matrix` for entry points that take a matrix W; returns ``(W, backend)``.

    An integer W is converted first: a numpy array to float64, a torch tensor to
    ``torch.get_default_dtype()`` (float32 unless changed), so ``factorize`` of a
    ``np.random.randint`` matrix works as ``numpy.linalg.svd`` does. Booleans and complex
    numbers are refused with the accepted dtypes named.
    """
    try:
        found = infer_backend(W)
    except LowRankTypeError:
        found = None
    if found is not None and found.dtype_name(W) in INTEGER_DTYPES:
        target = "float64" if found.name == "numpy" else str(found.torch.get_default_dtype()).removeprefix("torch.")
        W = found.asarray(W, target)
    return W, check_matrix(W, name, backend)


def check_matrix(W, name: str = "W", backend: str | Backend | None = None) -> Backend:
    """Check that ``W`` is a finite, non-empty 2-D floating array; return its backend.

    When ``backend`` is given, ``W`` must already belong to it (arrays are not moved
    between devices silently).
    """
    found = infer_backend(W)
    if backend is not None:
        wanted = backend if isinstance(backend, Backend) else get_backend(backend)
        if wanted is not found:
            raise LowRankValueError(
                f"{name} is a {found.name!r} array but backend={wanted.name!r} was requested; "
                f"convert it first, e.g. lowrank.get_backend({wanted.name!r}).asarray({name})"
            )
    if W.ndim != 2:
        raise LowRankValueError(f"{name} must be 2-D (d, k); got {W.ndim}-D with shape {tuple(W.shape)}")
    if W.shape[0] == 0 or W.shape[1] == 0:
        raise LowRankValueError(f"{name} must be non-empty; got shape {tuple(W.shape)}")
    dtype = found.dtype_name(W)
    if dtype not in found.dtypes:
        raise LowRankTypeError(
            f"{name} has dtype {dtype!r}, which backend {found.name!r} does not support; "
            f"accepted: {format_choices(found.dtypes)}, or an integer dtype where a matrix W is factorized or "
            "measured (converted to floating point); convert with .astype / .to"
        )
    if not found.all_finite(W):
        raise LowRankValueError(f"{name} contains NaN or Inf; only finite values are accepted")
    return found


def check_same_array_kind(x, name: str, backend: Backend, dtype: str) -> None:
    """``x`` must live on ``backend`` and have ``dtype`` (no silent casts or copies)."""
    if not backend.owns(x):
        try:
            other = infer_backend(x).name
        except LowRankTypeError:
            other = f"{type(x).__module__}.{type(x).__qualname__}"
        raise LowRankTypeError(f"{name} is a {other!r} array; expected a {backend.name!r} array")
    if isinstance(x, np.ma.MaskedArray):  # its mask would be dropped by the products, not honoured
        raise LowRankTypeError(f"{name} is a numpy masked array; expected a plain numpy array (fill or drop the "
                               "masked entries first: x.filled(0) or x.compressed())")
    got = backend.dtype_name(x)
    if got != dtype:
        raise LowRankTypeError(f"{name} has dtype {got!r}; expected {dtype!r} to match the factors")
