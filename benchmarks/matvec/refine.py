"""Ranks added near each curve's break-even after the first pass, where the grid is coarse.

The grid's ranks jump from r*/2 to r* (:func:`benchmarks.matvec.grid.ranks_for`), and most
curves cross speedup 1 between the two, or just above r*, where the grid stops. After pass 1
of a backend the driver reads that pass's paired speedups, and for each curve (one backend,
dtype, shape, batch and cache) picks **one** extra rank where the crossing is:

* a curve that falls through 1 between grid ranks ``a < b``: the rung of :data:`LADDER`
  (fractions of r*) inside ``(a, b)`` nearest the log-log interpolated crossing;
* a curve still at or above 1 at its top rank, when that rank is below min(d, k): the first
  rung above it (1.15 r*, else 1.3 r*, capped at min(d, k)), so that the curve can cross
  inside the grid instead of "faster at every rank" resting on the noise at r*.

The later passes time those ranks like any other (beside their dense partner), so a
refined rank has one process fewer than the grid's (a call of 0.1 s or more, like the grid's
long calls, is timed once: in pass 2). Ranks come from a fixed ladder so that
two runs usually refine the same cases; each refined case says so (``refined``), and the
gate does not miss one that a later run refined elsewhere. Nothing here times anything.
"""

from __future__ import annotations

import math

from lowrank.cost import break_even_rank

# Fractions of r* a refined rank may take: four between r*/2 and r*, two above it.
LADDER = (0.6, 0.7, 0.8, 0.9, 1.15, 1.3)


def rung_ranks(d: int, k: int) -> list[int]:
    """The ladder's ranks for a d×k shape (integers, at most min(d, k), each once, ascending)."""
    r_star = break_even_rank(d, k)
    return sorted({min(min(d, k), max(1, int(round(f * r_star)))) for f in LADDER})


def curve_key(extra: dict) -> tuple:
    """The curve a matvec record belongs to: backend, dtype, d, k, batch, cache."""
    return (extra["backend"], extra["dtype"], int(extra["d"]), int(extra["k"]), int(extra["batch"]), extra["cache"])


def pass_speedups(doc: dict) -> dict[tuple, dict[int, float]]:
    """Each curve's paired speedup per rank in one worker document (one process: its median round ratio)."""
    curves: dict[tuple, dict[int, float]] = {}
    for bench in doc.get("benchmarks", []):
        extra = bench.get("extra_info") or {}
        speedup = extra.get("paired_speedup")
        # A flagged timing (one the cost model cannot explain) is left out, as the break-even leaves it out.
        if extra.get("suite") != "matvec" or extra.get("rank") is None or extra.get("flag") \
                or not isinstance(speedup, (int, float)) or not speedup > 0:
            continue
        curves.setdefault(curve_key(extra), {})[int(extra["rank"])] = float(speedup)
    return curves


def extra_rank(d: int, k: int, speedups: dict[int, float]) -> int | None:
    """The one rank to add to a curve with these speedups per rank, or None (see the module's rules).

    >>> extra_rank(4096, 4096, {1024: 1.9, 2048: 0.8})   # crossing near 0.84 r*: rung 0.8 r*
    1638
    >>> extra_rank(4096, 4096, {1024: 1.9, 2048: 1.02})  # still faster at r*: rung 1.15 r*
    2355
    """
    ranks = sorted(speedups)
    if not ranks:
        return None
    rungs = [r for r in rung_ranks(d, k) if r not in speedups]
    crossings = [(a, b) for a, b in zip(ranks, ranks[1:]) if speedups[a] >= 1 > speedups[b]]
    for a, b in crossings:  # a dip at low ranks (noise) has no rung inside: the next crossing is looked at
        inside = [r for r in rungs if a < r < b]
        if inside:
            t = math.log(speedups[a]) / (math.log(speedups[a]) - math.log(speedups[b]))
            estimate = math.exp(math.log(a) + t * (math.log(b) - math.log(a)))
            return min(inside, key=lambda r: abs(math.log(r / estimate)))
    if not crossings and speedups[ranks[-1]] >= 1:
        above = [r for r in rungs if r > ranks[-1]]
        return above[0] if above else None
    return None


def plan(doc: dict) -> list[tuple[tuple, int]]:
    """The refined cases of one pass-1 worker document: ``(curve, rank)``, one per curve at most."""
    out = []
    for key, speedups in sorted(pass_speedups(doc).items()):
        rank = extra_rank(key[2], key[3], speedups)
        if rank is not None:
            out.append((key, rank))
    return out


def to_lines(planned: list[tuple[tuple, int]]) -> str:
    """The file the driver hands to later passes: one ``backend dtype d k batch cache rank`` a line."""
    return "".join(" ".join(str(v) for v in (*key, rank)) + "\n" for key, rank in planned)


def from_lines(text: str) -> dict[tuple, tuple[int, ...]]:
    """:func:`to_lines` read back: curve -> its refined ranks."""
    out: dict[tuple, list[int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 7:
            continue
        backend, dtype, d, k, batch, cache, rank = parts
        out.setdefault((backend, dtype, int(d), int(k), int(batch), cache), []).append(int(rank))
    return {key: tuple(sorted(set(ranks))) for key, ranks in out.items()}
