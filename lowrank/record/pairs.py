"""A paired speedup across processes: the median of every process's ABBA round ratios, and an interval.

The suite times a factored case beside its dense partner in alternating rounds
(``benchmarks/engine/timing.py``, :func:`measure_pair`); each process records the ratio of
every pair of adjacent rounds (dense time / factored time). This module turns the ratios of
every process into the figures a reader uses:

* ``process_speedups``: each process's median ratio;
* ``paired_speedup``: the median of every process's ratios pooled, the speedup (the merge
  rule of :mod:`lowrank.record.merging`, the same as for times);
* ``paired_speedup_lo`` / ``_hi``: a 95% interval from a two-level bootstrap — processes
  resampled, then each one's rounds — so that it widens when processes disagree, not only
  when rounds scatter. Seeded: the same ratios always give the same interval.
"""

from __future__ import annotations

import math

import numpy as np

from lowrank.record import stats

N_BOOT = stats.N_BOOT
CONFIDENCE = 0.95
SEED = stats.SEED


def summarize(ratios_by_process, n_boot: int = N_BOOT, seed: int = SEED) -> dict:
    """The paired figures of one case from its round ratios, one list per process (in pass order).

    Ratios are kept to 6 significant digits (a timing ratio has no more; the files stay small).
    The estimate and its interval are :func:`lowrank.record.stats.paired_summary`'s.

    Processes without a finite positive ratio are left out; with none left every figure is None.

    >>> s = summarize([[2.0, 2.2, 1.8], [2.1, 2.0, 2.3]])
    >>> s["process_speedups"], round(s["paired_speedup"], 4)
    ([2.0, 2.1], 2.05)
    """
    # The figures are computed from the ratios as stored, so that any reader recomputes them exactly.
    stored = [[_round(v) for v in s] for s in stats.paired_sets(ratios_by_process)]
    summary = stats.paired_summary(stored, CONFIDENCE, n_boot, seed)
    if summary is None:
        return {"process_pair_ratios": None, "process_speedups": None, "paired_speedup": None,
                "paired_speedup_lo": None, "paired_speedup_hi": None}
    sets, point, lo, hi = summary
    return {"process_pair_ratios": [s.tolist() for s in sets],
            "process_speedups": [float(np.median(s)) for s in sets],
            "paired_speedup": point, "paired_speedup_lo": lo, "paired_speedup_hi": hi}


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def is_paired(extra: dict) -> bool:
    """Whether a factored case's record carries a paired speedup (files before engine 3 do not)."""
    value = (extra or {}).get("paired_speedup")
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0
