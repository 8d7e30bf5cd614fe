"""Parameters, bytes and FLOPs of dense and factored apply (the cost model).

For W (d×k), x (k×n) and s bytes per element:

===================  ======================  =====================================
                     dense ``W @ x``          factored ``B @ (A @ x)``
===================  ======================  =====================================
FLOPs                2·d·k·n                  2·r·(d+k)·n
parameters           d·k                      r·(d+k)
bytes moved          s·(d·k + k·n + d·n)      s·(r·(d+k) + k·n + r·n + d·n)
===================  ======================  =====================================

Bytes moved is the minimum traffic when every operand is read once from memory
and the result written once (the memory-bound regime, small n). The ``r·n``
term is the intermediate ``A @ x``, written and read back.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backends import ITEMSIZE
from .errors import LowRankValueError, format_choices
from .validation import check_int


@dataclass(frozen=True)
class Cost:
    """What one apply costs: stored values, their bytes, arithmetic and memory traffic."""

    params: int
    param_bytes: int
    flops: int
    bytes_moved: int

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per byte moved: below the machine balance the call is memory-bound."""
        return self.flops / self.bytes_moved

    def roofline_seconds(self, bandwidth: float, peak_flops: float) -> float:
        """Lower bound on the time of one call: max(bytes / bandwidth, flops / peak).

        ``bandwidth`` in bytes/s, ``peak_flops`` in FLOP/s.
        """
        return max(self.bytes_moved / bandwidth, self.flops / peak_flops)


def _itemsize(dtype) -> int:
    if isinstance(dtype, str):
        if dtype not in ITEMSIZE:
            raise LowRankValueError(f"dtype={dtype!r} is not known; accepted: {format_choices(ITEMSIZE)}")
        return ITEMSIZE[dtype]
    return check_int(dtype, "itemsize", minimum=1)


def dense_cost(d: int, k: int, n: int = 1, dtype: str | int = "float32") -> Cost:
    """Cost of ``W @ x`` for W d×k and x k×n; ``dtype`` is a name or an itemsize in bytes."""
    d, k, n = (check_int(v, name, minimum=1) for v, name in ((d, "d"), (k, "k"), (n, "n")))
    s = _itemsize(dtype)
    return Cost(params=d * k, param_bytes=s * d * k, flops=2 * d * k * n, bytes_moved=s * (d * k + k * n + d * n))


def factored_cost(d: int, k: int, rank: int, n: int = 1, dtype: str | int = "float32") -> Cost:
    """Cost of ``B @ (A @ x)`` for B d×r, A r×k and x k×n."""
    d, k, n = (check_int(v, name, minimum=1) for v, name in ((d, "d"), (k, "k"), (n, "n")))
    r = check_int(rank, "rank", minimum=1)
    s = _itemsize(dtype)
    params = r * (d + k)
    return Cost(
        params=params,
        param_bytes=s * params,
        flops=2 * r * (d + k) * n,
        bytes_moved=s * (params + k * n + r * n + d * n),
    )


def break_even_rank(d: int, k: int) -> float:
    """r* = d·k / (d + k): below it B and A hold fewer values and cost fewer FLOPs than W.

    >>> break_even_rank(1024, 1024), break_even_rank(4096, 4096)
    (512.0, 2048.0)
    """
    d, k = check_int(d, "d", minimum=1), check_int(k, "k", minimum=1)
    return d * k / (d + k)
