"""The matvec grid: dense ``W @ x`` and factored ``B @ (A @ x)`` cases with readable, sortable ids.

What each profile holds is in :mod:`benchmarks.profiles`; the user's narrowing of it in
:mod:`benchmarks.harness.selection`. Nothing here times anything.

The functions take the user's selection (:class:`benchmarks.harness.selection.Selection`) without
importing its class: the grids sit below the harness, which imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.engine.dtypes import dtypes_on
from lowrank.cost import break_even_rank

CACHE_MODES = ("warm", "cold")
# The default profile times cold cache at batch 1 only: that is where a matvec is
# memory-bound and the cache matters; at n >= 32 the operands are re-used n times.
COLD_BATCHES = (1,)


@dataclass(frozen=True, order=True)
class Case:
    """One benchmark: an operand set and a variant (dense when ``rank`` is None)."""

    d: int
    k: int
    dtype: str
    backend: str
    batch: int
    cache: str
    rank: int | None = None

    @property
    def variant(self) -> str:
        return "dense" if self.rank is None else "factored"

    @property
    def id(self) -> str:
        """e.g. ``numpy-float32-d4096-k4096-r0064-n001-warm``; dense cases read ``dense`` for the rank."""
        r = "dense" if self.rank is None else f"r{self.rank:04d}"
        return f"{self.backend}-{self.dtype}-d{self.d:04d}-k{self.k:04d}-{r}-n{self.batch:03d}-{self.cache}"

    @property
    def group(self) -> str:
        """Dense and factored cases of one operand set share a group (pytest-benchmark's table)."""
        return f"{self.backend}-{self.dtype}-d{self.d:04d}-k{self.k:04d}-n{self.batch:03d}-{self.cache}"


# Fractions of r* every curve is timed at, beside the base ranks: most curves cross speedup 1
# between r*/2 and r*, so the grid has a rank inside that gap; a profile always times the same ranks.
NEAR_BREAK_EVEN = (0.5, 0.75, 1.0)


def ranks_for(d: int, k: int, base_ranks) -> list[int]:
    """Base ranks up to min(d, k), plus r*/2, 3r*/4 and r* so that every curve crosses speedup 1 inside the grid."""
    r_star = break_even_rank(d, k)
    ranks = {r for r in base_ranks if r <= min(d, k)}
    ranks.update(max(1, int(f * r_star)) for f in NEAR_BREAK_EVEN)
    return sorted(ranks)


def expand(selection) -> list[Case]:
    """Every case of the selection, ordered so that cases sharing operands run together.

    Explicit ranks apply to each shape up to its min(d, k) (:meth:`~benchmarks.harness.selection.Selection.ranks_for`).
    """
    prof = selection.profile
    cases = []
    for d, k in selection.shapes:
        ranks = selection.ranks_for(d, k)
        for backend in selection.backends:
            for dtype in dtypes_on(backend, selection.dtypes):
                for batch in selection.batches:
                    if not selection.explicit_shapes and prof.skips(d, k, dtype, batch):
                        continue
                    for cache in selection.caches:
                        if cache == "cold" and batch not in COLD_BATCHES and prof.name != "full":
                            continue
                        cases.append(Case(d, k, dtype, backend, batch, cache, None))
                        cases.extend(Case(d, k, dtype, backend, batch, cache, r) for r in ranks)
    return cases
