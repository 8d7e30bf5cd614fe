"""A known change injected into a recorded run: the same cases, chosen ones slower by a factor.

The verdict tests and ``scripts/measure_verdicts.py`` judge real runs with a slowdown of
known size added, so that what must be flagged is known exactly.
"""

from __future__ import annotations

import copy

from lowrank.record import pairs
from lowrank.record.suites import SUITES

# Every pytest-benchmark statistic that is a time (scaled with the samples).
TIME_STATS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "ld15iqr", "hd15iqr")


def slowed(run: dict, factor: float, cases=None) -> dict:
    """A copy of ``run`` whose samples and time statistics are ``factor`` times larger.

    ``cases`` names the cases (pytest's ``param`` ids) to change; None changes every one. A
    name that is not in the run raises :class:`KeyError`: an injection that changes nothing
    would make a test pass for the wrong reason. A paired speedup moves as the slowdown would
    have moved it, round by round: divided by ``factor`` where the factored case is slowed,
    multiplied where its dense partner is (both slowed: unchanged).
    """
    out = copy.deepcopy(run)
    wanted = None if cases is None else set(cases)
    found = set()
    for bench in out["benchmarks"]:
        if wanted is not None and bench.get("param") not in wanted:
            continue
        found.add(bench.get("param"))
        st = bench["stats"]
        st["data"] = [t * factor for t in st.get("data") or []]
        for key in TIME_STATS:
            if isinstance(st.get(key), (int, float)):
                st[key] *= factor
    missing = (wanted or set()) - found
    if missing:
        raise KeyError(f"not in the run: {', '.join(sorted(missing))}")
    _move_pairs(out, found, factor)
    return out


def _move_pairs(run: dict, slowed_cases: set, factor: float) -> None:
    for suite in SUITES.values():
        cases = suite.cases(run)
        for case, (_, partner) in suite.partners(cases).items():
            extra = cases[case].get("extra_info") or {}
            if not pairs.is_paired(extra) or not extra.get("process_pair_ratios"):
                continue
            scale = (factor if partner in slowed_cases else 1.0) / (factor if case in slowed_cases else 1.0)
            if scale != 1:
                moved = [[r * scale for r in process] for process in extra["process_pair_ratios"]]
                extra.update(pairs.summarize(moved))
