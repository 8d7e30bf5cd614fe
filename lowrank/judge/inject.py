"""A known change injected into a recorded run: the same cases, chosen ones slower by a factor.

The verdict tests and ``scripts/measure_verdicts.py`` judge real runs with a slowdown of
known size added, so that what must be flagged is known exactly.
"""

from __future__ import annotations

import copy

# Every pytest-benchmark statistic that is a time (scaled with the samples).
TIME_STATS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "ld15iqr", "hd15iqr")


def slowed(run: dict, factor: float, cases=None) -> dict:
    """A copy of ``run`` whose samples and time statistics are ``factor`` times larger.

    ``cases`` names the cases (pytest's ``param`` ids) to change; None changes every one. A
    name that is not in the run raises :class:`KeyError`: an injection that changes nothing
    would make a test pass for the wrong reason.
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
    return out
