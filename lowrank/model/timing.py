"""Measured speedups at a model's own shapes: the matvec suite, run for exactly those shapes and ranks.

Each distinct (shape, rank) of a plan is timed dense against factored by
``pytest benchmarks/bench_matvec.py --benchmark-only`` — the suite's own timing engine,
worker processes and thread pinning — with ``LOWRANK_BENCH_SHAPES``, ``_RANKS``,
``_BATCHES``, ``_BACKENDS`` and ``_DTYPES`` set to the plan's, the quick profile's
timing policy, and the result file written to a folder of the caller's choice. The
timing does not depend on the weights' values, so the suite's synthetic operands of the
same shape stand in for the model's.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from lowrank.errors import LowRankValueError
from lowrank.record import pairs
from lowrank.record.suites import SUITES
from lowrank.runner import launch

PROCESSES = "LOWRANK_BENCH_PROCESSES"


class Times(dict):
    """``{(d, k, rank): median seconds}`` (rank None: the dense case), with ``paired``: the paired
    speedup of each factored case that has one (``{(d, k, rank): speedup}``), which
    :func:`speedups` prefers to a ratio of the two medians."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.paired: dict[tuple[int, int, int], float] = {}


def measure_times(shape_ranks: dict[tuple[int, int], set[int]], *, batch: int = 1, backend: str = "numpy",
                  dtype: str = "float32", threads: int | None = None, runs_dir=None, log=None,
                  factored: str = "median", cache: str = "warm") -> Times:
    """``{(d, k, rank): median seconds}`` of every shape and rank asked for, and ``(d, k, None)``: dense,
    with the paired speedups of the factored cases (:class:`Times`).

    One run of the matvec suite times every shape, each at the ranks asked for any shape up to its own
    min(d, k) (a rank asked for another shape only is timed too, and left out); ``threads``: the
    suite's ``LOWRANK_BENCH_THREADS`` (default: the suite's own); ``factored``: the statistic of the
    factored cases (:func:`medians`);
    ``cache``: the suite's ``LOWRANK_BENCH_CACHE``, ``"warm"`` (operands reused call after call) or
    ``"cold"`` (operands rotated through copies larger than the last-level cache, as a model streaming
    its layers from memory sees them; batch 1 only, as the suite's quick profile times it).
    The result files go to ``runs_dir`` (a temporary folder when None). Each case is timed in
    ``LOWRANK_BENCH_PROCESSES`` worker processes where the caller's environment sets it (the suite's
    default otherwise); no other ``LOWRANK_BENCH_*`` variable of the caller's reaches the run.
    """
    return measure_tables(shape_ranks, [(batch, cache)], backend=backend, dtype=dtype, threads=threads,
                          runs_dir=runs_dir, log=log, factored=factored)[(batch, cache)]


def measure_tables(shape_ranks: dict[tuple[int, int], set[int]], points: list[tuple[int, str]], *,
                   backend: str = "numpy", dtype: str = "float32", threads: int | None = None, runs_dir=None,
                   log=None, factored: str = "median") -> dict[tuple[int, str], Times]:
    """:func:`measure_times` at several ``(batch, cache)`` points at once: ``{(batch, cache): Times}``.

    One run of the suite times every point (the suite crosses its batches and cache states, so a point
    the caller did not ask for may be timed too, and is left out).
    """
    for batch, cache in points:
        if cache not in ("warm", "cold"):
            raise LowRankValueError(f"cache={cache!r}; accepted: 'warm', 'cold'")
        if cache == "cold" and batch != 1:  # the suite's quick profile times cold cache at n = 1 only
            raise LowRankValueError(f"cache='cold' at batch={batch}; accepted: 'cold' at batch 1, 'warm' at any batch")
    out = {point: Times() for point in points}
    if not shape_ranks:
        return out
    bench = launch.suite_folder() / "bench_matvec.py"
    batches = ",".join(map(str, sorted({b for b, _ in points})))
    caches = ",".join(sorted({c for _, c in points}, reverse=True))  # warm before cold, as the suite orders them
    with tempfile.TemporaryDirectory(prefix="lowrank-model-") as tmp:
        folder = Path(runs_dir) if runs_dir is not None else Path(tmp)
        shapes, ranks = sorted(shape_ranks), sorted(set().union(*shape_ranks.values()))
        settings = {"LOWRANK_BENCH_PROFILE": "quick", "LOWRANK_BENCH_SHAPES": ",".join(f"{d}x{k}" for d, k in shapes),
                    "LOWRANK_BENCH_RANKS": ",".join(map(str, ranks)), "LOWRANK_BENCH_BATCHES": batches,
                    "LOWRANK_BENCH_BACKENDS": backend, "LOWRANK_BENCH_DTYPES": dtype, "LOWRANK_BENCH_CACHE": caches,
                    "LOWRANK_BENCH_OUTPUT": str(folder)}
        if threads is not None:
            settings["LOWRANK_BENCH_THREADS"] = str(threads)
        if os.environ.get(PROCESSES):  # how many worker processes time each case: the caller's, as for any run
            settings[PROCESSES] = os.environ[PROCESSES]
        if log:
            log(f"[timing] {len(shapes)} shape(s), {len(ranks)} rank(s), n = {batches} ({caches}), "
                f"{backend} {dtype}: pytest {bench} --benchmark-only")
        before = set(folder.glob("*.json")) if folder.is_dir() else set()
        proc = launch.launch([bench], settings, cwd=Path(tmp))
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise LowRankValueError(f"timing the model's shapes failed (exit {proc.returncode}): " + " | ".join(tail))
        (run,) = set(folder.glob("*.json")) - before
        doc = json.loads(run.read_text())
        for point, times in out.items():
            times.update(_asked(medians(doc, factored, point), shape_ranks))
            times.paired.update(_asked(paired_speedups(doc, point), shape_ranks))
    return out


def _asked(table: dict, shape_ranks: dict[tuple[int, int], set[int]]) -> dict:
    """The entries of ``table`` (keyed ``(d, k, rank)``) that were asked for: every dense one, and each
    shape's own ranks (one run times every shape at the ranks any shape asked for)."""
    return {key: v for key, v in table.items() if key[2] is None or key[2] in shape_ranks.get(key[:2], ())}


def _at(info: dict, point: tuple[int, str] | None) -> bool:
    """Whether a case's ``extra_info`` is at ``point`` (batch, cache); every case when None."""
    return point is None or (info["batch"], info["cache"]) == tuple(point)


def speedups(times: dict[tuple[int, int, int | None], float]) -> dict[tuple[int, int, int], float]:
    """The speedup of every timed rank (:func:`measure_times`' result): the paired one where the run
    has it (the factored case timed beside its dense partner, round by round), else dense over
    factored median."""
    paired = getattr(times, "paired", {})
    return {(d, k, r): paired.get((d, k, r)) or times[(d, k, None)] / t for (d, k, r), t in times.items()
            if r is not None}


def paired_speedups(doc: dict, point: tuple[int, str] | None = None) -> dict[tuple[int, int, int], float]:
    """Each factored matvec case's paired speedup, by (d, k, rank), where the run recorded one (at ``point``,
    a (batch, cache) pair, when given)."""
    out = {}
    for case in SUITES["matvec"].cases(doc).values():
        info = case["extra_info"]
        if info["rank"] is not None and pairs.is_paired(info) and _at(info, point):
            out[(info["d"], info["k"], info["rank"])] = float(info["paired_speedup"])
    return out


def medians(doc: dict, factored: str = "median", point: tuple[int, str] | None = None
            ) -> dict[tuple[int, int, int | None], float]:
    """Each matvec case's median in seconds, by (d, k, rank), rank None for the dense case of the shape
    (the cases at ``point``, a (batch, cache) pair, when given).

    ``factored="slowest"``: for the factored cases, the slowest of the suite's passes (each pass a
    worker process of its own, ``extra_info.process_medians``) instead of the pooled median, a
    plan's upper estimate of its time on another run.
    """
    if factored not in ("median", "slowest"):
        raise LowRankValueError(f"factored={factored!r}; accepted: 'median', 'slowest'")
    cases = SUITES["matvec"].cases(doc)
    out = {}
    for case in cases.values():
        info = case["extra_info"]
        if not _at(info, point):
            continue
        key = (info["d"], info["k"], info["rank"])
        if key in out:  # one batch, backend, dtype and cache state per run: anything else is ambiguous
            raise LowRankValueError(f"the timing run holds several cases of shape {key[0]}x{key[1]}, rank {key[2]}")
        passes = [t for t in (info.get("process_medians") or []) if t]
        slowest = factored == "slowest" and info["rank"] is not None and passes
        out[key] = max(case["stats"]["median"], *passes) if slowest else case["stats"]["median"]
    return out
