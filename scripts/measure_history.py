"""How well ``lowrank-bench history`` finds change points, against asv's step detection: a measurement, not a test.

    python scripts/measure_history.py [--series 300] [--points 30] [--json OUT]

Each scenario makes ``--series`` synthetic histories of ``--points`` commits (seeded, so a run
reproduces its table exactly), with a step at commit 17 or none:

* Gaussian noise on the log of the time (2%, 3%, 5%);
* *outlier runs*: besides 2-3% noise, each run is 30% slow with a small probability, one case at a
  time (a busy runner for the length of one benchmark);
* *disturbed runs*: a whole run 40% slow for every case at once (a runner busy for minutes),
  two such runs per history of 12 cases; only there does the history see more than one series.

A *one-step oracle* (:func:`oracle_misplaced`) sets the floor: told that a series has exactly
one step, how often does the best single split put it more than one commit off?

A change reported within one commit of the true step counts as found; every other change
reported (anywhere, in either direction) is "other". The project's detector is
:func:`lowrank.judge.history.change_points` on a history of the series (so disturbed runs are
recognised as they are on a real page); asv's is ``asv.step_detect.detect_steps`` then
``detect_regressions(threshold=0.05)``, the regressions it would report, when asv is installed
(``pip install asv``: an optional dependency of this script only).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lowrank.judge import history  # noqa: E402

STEP_AT = 17
# name, Gaussian noise, outlier-run probability (one case), step factor, whole-run disturbances
SCENARIOS = [
    ("Gaussian 2%, no step", 0.02, 0.0, 1.00, 0),
    ("Gaussian 2%, 5% step", 0.02, 0.0, 1.05, 0),
    ("Gaussian 2%, 10% step", 0.02, 0.0, 1.10, 0),
    ("Gaussian 3%, 10% step", 0.03, 0.0, 1.10, 0),
    ("Gaussian 5%, 10% step", 0.05, 0.0, 1.10, 0),
    ("2% noise, 5% of runs 30% slow, no step", 0.02, 0.05, 1.00, 0),
    ("2% noise, 5% of runs 30% slow, 10% step", 0.02, 0.05, 1.10, 0),
    ("2% noise, 10% of runs 30% slow, no step", 0.02, 0.10, 1.00, 0),
    ("2% noise, 10% of runs 30% slow, 10% step", 0.02, 0.10, 1.10, 0),
    ("3% noise, 10% of runs 30% slow, no step", 0.03, 0.10, 1.00, 0),
    ("3% noise, 10% of runs 30% slow, 10% step", 0.03, 0.10, 1.10, 0),
    ("2% noise, 2 whole runs 40% slow, no step", 0.02, 0.0, 1.00, 2),
    ("2% noise, 2 whole runs 40% slow, 10% step", 0.02, 0.0, 1.10, 2),
]
CASES_PER_RUN = 12  # series of one history in the whole-run scenarios


def series(rng, n: int, noise: float, outliers: float, step: float) -> np.ndarray:
    values = np.exp(rng.normal(0.0, noise, n))
    values[STEP_AT:] *= step
    slow = rng.random(n) < outliers
    values[slow] *= 1.30
    return values


def histories(name, noise, outliers, step, disturbed, n_series, n_points):
    """``n_series`` lists of series; one series each, or CASES_PER_RUN sharing disturbed runs."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    out = []
    for _ in range(n_series):
        if not disturbed:
            out.append([series(rng, n_points, noise, outliers, step)])
            continue
        bad = rng.choice([i for i in range(n_points) if abs(i - STEP_AT) > 1], size=disturbed, replace=False)
        group = []
        for c in range(CASES_PER_RUN):
            s = series(rng, n_points, noise, outliers, step if c == 0 else 1.0)  # the step in the first case
            s[bad] *= 1.40
            group.append(s)
        out.append(group)
    return out


def ours(group: list[np.ndarray]) -> list[list[int]]:
    pts = [history.Point(str(i), str(i), f"2026-01-01T{i:02d}", (str(i),)) for i in range(len(group[0]))]
    h = history.History("time", pts, [history.Series(f"case{c}", "m", s) for c, s in enumerate(group)])
    history.change_points(h)
    return [[ch.index for ch in h.changes if ch.case == f"case{c}"] for c in range(len(group))]


def asv_detector():
    try:
        from asv import step_detect
    except ImportError:
        return None

    def detect(group):
        out = []
        for s in group:
            steps = step_detect.detect_steps(list(s))
            _, _, regressions = step_detect.detect_regressions(steps, threshold=0.05)
            out.append([after for _, after, _, _ in regressions or []])
        return out
    return detect


def oracle_misplaced(groups: list[list[np.ndarray]]) -> tuple[int, int]:
    """How often a detector that *knows* its series has exactly one step misplaces it by more than one
    commit: the best single split of the log series by least squares (l2) and by least absolute
    deviations from the segments' medians (l1), segments of 2 points at least. A floor under any
    detector's misplaced steps at that noise: what the data cannot place, no threshold can."""
    out = []
    for cost in ("l2", "l1"):
        missed = 0
        for group in groups:
            y = np.log(group[0])
            def fit(part):
                return float(((part - part.mean()) ** 2).sum() if cost == "l2" else np.abs(part - np.median(part)).sum())
            split = min(range(2, len(y) - 1), key=lambda t: fit(y[:t]) + fit(y[t:]))
            missed += abs(split - STEP_AT) > 1
        out.append(missed)
    return out[0], out[1]


def score(found_by: list[list[int]], has_step: bool) -> tuple[int, int, int]:
    """(found, series with another change, series) of one history; the step, if any, is in its first series.

    A change within one commit of the step, in the series that has it, is found; every other change
    (elsewhere in that series, or anywhere in another) makes its series one "with another change".
    """
    found = other = 0
    for i, changes in enumerate(found_by):
        stepped = has_step and i == 0
        near = [c for c in changes if stepped and abs(c - STEP_AT) <= 1]
        found += bool(near)
        other += len(changes) > len(near[:1])
    return found, other, len(found_by)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=300, help="histories per scenario (300)")
    parser.add_argument("--points", type=int, default=30, help="commits per history (30)")
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON here (a new file)")
    args = parser.parse_args(argv)
    detectors = {"history": ours}
    theirs = asv_detector()
    if theirs is not None:
        detectors["asv"] = theirs
    rows = []
    print(f"| scenario ({args.series} histories of {args.points} commits) | series | "
          + " | ".join(f"{d}: found / series with another change" for d in detectors)
          + " | one-step oracle: misplaced, l2 / l1 |")
    print("|---|---|" + "---|" * (len(detectors) + 1))
    for name, noise, outliers, step, disturbed in SCENARIOS:
        groups = histories(name, noise, outliers, step, disturbed, args.series, args.points)
        row = {"scenario": name, "histories": args.series, "step": step != 1.0}
        for label, detect in detectors.items():
            t0 = time.perf_counter()
            found = other = total = 0
            for group in groups:
                f, o, n = score(detect(group), step != 1.0)
                found, other, total = found + f, other + o, total + n
            row[label] = {"found": found, "other": other, "seconds": round(time.perf_counter() - t0, 1)}
            row["series"] = total
        if step != 1.0:
            row["oracle_misplaced"] = dict(zip(("l2", "l1"), oracle_misplaced(groups)))
        rows.append(row)
        oracle = "{l2} / {l1}".format(**row["oracle_misplaced"]) if step != 1.0 else "-"
        print(f"| {name} | {row['series']} | "
              + " | ".join(f"{row[d]['found']} / {row[d]['other']}" for d in detectors) + f" | {oracle} |", flush=True)
    if args.json is not None:
        import datetime as dt
        import subprocess
        from importlib.metadata import version

        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        about = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "commit": commit.strip(),
                 "command": "python scripts/measure_history.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                 "versions": {p: version(p) for p in ("numpy", "ruptures", *(["asv"] if "asv" in detectors else []))},
                 "detector": {k: getattr(history, k) for k in ("PENALTY", "NOISE_FLOOR", "MIN_SIZE", "SPIKE_HALF",
                                                               "SPIKE_SIGMAS", "SPIKE_PASSES", "DISTURBED_MIN_SERIES")}}
        with open(args.json, "x") as fh:  # never over an earlier measurement
            json.dump({**about, "points": args.points, "step_at": STEP_AT,
                       "cases_per_disturbed_history": CASES_PER_RUN, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
