"""History across runs: each case's series by commit, and its change points.

Runs are grouped by commit (a dirty tree or a run without a commit is a point of its
own) and ordered by when their first run was taken; a point's value is the median over
its runs. Two metrics:

* ``time``: a case's median time. Times only compare on one machine, so each machine
  (hardware fingerprint) has series of its own.
* ``ratio``: a suite's same-run ratio (the case's time over its partner's in the same
  run: factored / dense, apply / bare, ...), which carries over between machines.

Change points are found by ruptures' PELT on the log of a series (a mean-shift cost,
``l2``), with a BIC-like penalty ``PENALTY × σ² × ln(n)``; σ is the series' noise,
estimated from its successive differences (robustly: a step adds one large difference,
not many), with a floor of :data:`NOISE_FLOOR`. A change point is kept only when the
medians of the segments on both sides differ by at least ``min_effect``: a statistically
clear 1% step is not worth a performance engineer's time. ruptures is the well-kept
change-point library that installs beside this project's numpy and scipy (Apache Otava's
e-divisive needs older ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lowrank.record.suites import SUITES
from lowrank.store.load import LoadResult, RunInfo, read_document

METRICS = ("time", "ratio")
PENALTY = 6.0  # 6: no false change in 300 A/A series of 30 points at 2-3% noise, and no power lost on a 10% step (3: 1-3% false)
NOISE_FLOOR = 0.005  # 0.5%: below this, noise estimates are rounding, not the machine
MIN_SIZE = 3  # points per segment at least: one odd run is not a change


@dataclass(frozen=True)
class Point:
    """One commit's runs: a point of every series."""

    key: str  # the commit, or the run id for a dirty tree or a run without a commit
    label: str  # short commit and date
    when: str  # the earliest run's datetime
    run_ids: tuple[str, ...]


@dataclass(frozen=True)
class Series:
    """One case's values by point (NaN where the case was not run)."""

    case: str  # "bench_matvec[numpy-...]" (time) or "bench_matvec[numpy-...] speedup" (ratio)
    machine: str  # the fingerprint of its runs ("" for ratios, which carry over)
    values: np.ndarray  # one per point of the history, seconds or a ratio


@dataclass(frozen=True)
class ChangePoint:
    case: str
    machine: str
    index: int  # the first point of the new level
    before: float  # median of the segment before
    after: float  # median of the segment after

    @property
    def ratio(self) -> float:
        return self.after / self.before


@dataclass
class History:
    metric: str
    points: list[Point]
    series: list[Series]
    changes: list[ChangePoint] = field(default_factory=list)


def points(runs: list[RunInfo]) -> tuple[list[Point], dict[str, int]]:
    """The points of a history (one per commit, in order of their first run) and each run's point index."""
    groups: dict[str, list[RunInfo]] = {}
    for run in runs:
        key = run.commit if run.commit and not run.dirty else run.run_id
        groups.setdefault(key, []).append(run)
    ordered = sorted(groups.items(), key=lambda kv: min(r.datetime for r in kv[1]))
    out, index = [], {}
    for i, (key, group) in enumerate(ordered):
        first = min(group, key=lambda r: r.datetime)
        commit = first.commit[:7] + ("+" if first.dirty else "") if first.commit else first.run_id[:12]
        out.append(Point(key, f"{commit} {first.datetime[:10]}", first.datetime, tuple(r.run_id for r in group)))
        index.update({r.run_id: i for r in group})
    return out, index


def _values(doc: dict, metric: str) -> dict[str, float]:
    """``case -> value`` of one result document: medians, or same-run ratios by each suite's pairings."""
    out = {}
    for suite in SUITES.values():
        cases = suite.cases(doc)
        if metric == "time":
            out.update({b["name"]: b["stats"]["median"] for b in cases.values() if b["stats"].get("median")})
            continue
        for case, (pairing, ref) in suite.partners(cases).items():
            mine, theirs = cases[case]["stats"].get("median"), cases[ref]["stats"].get("median")
            if mine and theirs:
                out[f"{cases[case]['name']} {pairing.metric}"] = mine / theirs
    return out


def build(loaded: LoadResult, metric: str = "time", select: str | None = None) -> History:
    """Every case's series over the loaded runs (``select``: a substring of the case names kept)."""
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}: accepted {', '.join(METRICS)}")
    pts, index = points(loaded.runs)
    raw: dict[tuple[str, str], list[list[float]]] = {}
    for run in loaded.runs:
        machine = run.fingerprint if metric == "time" else ""
        for case, value in _values(read_document(run.path), metric).items():
            if select and select not in case:
                continue
            raw.setdefault((case, machine), [[] for _ in pts])[index[run.run_id]].append(value)
    series = [Series(case, machine, np.array([float(np.median(v)) if v else math.nan for v in per_point]))
              for (case, machine), per_point in sorted(raw.items())]
    return History(metric, pts, series)


def noise(log_values: np.ndarray) -> float:
    """The noise (σ, log scale) of a series from its successive differences, robust to a few steps."""
    diffs = np.diff(log_values)
    if diffs.size < 2:
        return NOISE_FLOOR
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return max(1.4826 * mad / math.sqrt(2.0), NOISE_FLOOR)


def detect(values: np.ndarray, min_effect: float = 0.05, min_size: int = MIN_SIZE,
           penalty: float = PENALTY) -> list[int]:
    """Indices (into ``values``, NaN skipped) where a new level starts, by PELT; steps below ``min_effect`` dropped."""
    import ruptures

    where = np.flatnonzero(np.isfinite(values) & (values > 0))
    if where.size < 2 * min_size:
        return []
    x = np.log(values[where])
    sigma = noise(x)
    ends = ruptures.Pelt(model="l2", min_size=min_size, jump=1).fit(x.reshape(-1, 1)).predict(
        pen=penalty * sigma**2 * math.log(x.size))
    kept = list(ends[:-1])
    # Drop the smallest step below min_effect, then judge the others against their new neighbours, until none is.
    while kept:
        bounds = [0, *kept, x.size]
        steps = [abs(np.median(x[b:c]) - np.median(x[a:b])) for a, b, c in zip(bounds, bounds[1:], bounds[2:])]
        smallest = int(np.argmin(steps))
        if steps[smallest] >= math.log1p(min_effect):
            break
        del kept[smallest]
    return [int(where[start]) for start in kept]


def change_points(history: History, min_effect: float = 0.05, min_size: int = MIN_SIZE) -> History:
    """``history`` with its change points found (:func:`detect` on every series)."""
    changes = []
    for s in history.series:
        idx = detect(s.values, min_effect, min_size)
        bounds = [0, *idx, len(s.values)]
        for i, start in enumerate(idx):
            before = s.values[bounds[i]:start]
            after = s.values[start:bounds[i + 2]]
            changes.append(ChangePoint(s.case, s.machine, start, float(np.nanmedian(before)),
                                       float(np.nanmedian(after))))
    history.changes = changes
    return history
