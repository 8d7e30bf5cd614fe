"""Two counted runs side by side: instructions per call of run B over run A, judged as the gate judges counts.

A counted run (``LOWRANK_BENCH_METRIC=instructions``) records callgrind's instructions per call
in ``extra_info.instructions``; its ``stats`` are one call under valgrind and are never read as
times. The verdict of each case is :func:`lowrank.judge.gate.instruction_finding`'s, so
``lowrank-bench compare A B`` and ``lowrank-bench gate B --baseline A`` agree on every count.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from lowrank.judge import gate
from lowrank.judge.speedups import STATUS_SAME, Comparison, case_id, shape_label

_KEEP = ["fullname", "param_id", "name", "suite", "variant", "backend", "dtype", "d", "k", "rank", "batch", "cache",
         "instructions", "fingerprint"]


def count_ratios(frame: pd.DataFrame, run_a: str, run_b: str, threshold: float | None = None, config=None,
                 warnings: tuple[str, ...] = ()) -> Comparison:
    """Instructions per call B/A per benchmark (matched on pytest's ``fullname``).

    ``status`` is the gate's: ``"regression"`` beyond ``1 + tolerance``, ``"improvement"``
    below ``1 - tolerance``, else ``"unchanged"``; the tolerance is ``config``'s
    ``instructions_tolerance`` (per-case overrides honoured), or ``threshold`` for every
    case. A count is exact for the code and settings that made it, so ``ratio_lo`` and
    ``ratio_hi`` equal ``ratio`` (``uncertainty = "exact"``). Cases counted on one side
    only (``instructions`` missing, e.g. the exact SVD, never counted) are left out and
    counted in ``only_a``/``only_b``. ``warnings`` (from
    :func:`lowrank.judge.gate.counting_differences`) travel with the result.
    """
    cfg = config if config is not None else gate.GateConfig()
    if threshold is not None:  # a flag wins over every pattern override, as in the gate
        cfg = replace(cfg, overrides=(*cfg.overrides, gate.Override("*", instructions_tolerance=threshold)))
    cfg = gate.validate_config(cfg)
    sides = []
    for run in (run_a, run_b):
        rows = frame[frame["run_id"] == run]
        rows = rows[[c for c in _KEEP if c in rows]].drop_duplicates("fullname")
        if "instructions" not in rows:
            rows = rows.assign(instructions=np.nan)
        sides.append(rows[pd.to_numeric(rows["instructions"], errors="coerce") > 0])
    a, b = sides
    m = a.merge(b[["fullname", "instructions", "fingerprint"]], on="fullname", suffixes=("_a", "_b"))
    keep, status, tolerance = [], [], []
    for r in m.to_dict("records"):
        case = case_id(r)
        case_cfg, ignored = cfg.for_case(case)
        keep.append(not ignored)  # what the gate ignores, compare leaves out too
        if ignored:
            continue
        finding = gate.instruction_finding(case, {"extra_info": {"instructions": r["instructions_a"]}},
                                           {"extra_info": {"instructions": r["instructions_b"]}}, case_cfg)
        status.append(finding.status if finding else STATUS_SAME)
        tolerance.append(case_cfg.instructions_tolerance)
    m = m[np.array(keep, dtype=bool)] if len(m) else m
    m["ratio"] = m["instructions_b"].astype(float) / m["instructions_a"].astype(float)
    m["ratio_lo"] = m["ratio_hi"] = m["ratio"]
    m["uncertainty"] = "exact"
    m["noisy"] = False
    m["status"] = np.array(status, dtype=object)
    m["min_effect"] = tolerance
    if "d" in m and len(m):
        m["shape"] = [shape_label(d, k) if pd.notna(d) and pd.notna(k) else "" for d, k in zip(m["d"], m["k"])]
    fa, fb = set(a["fingerprint"].dropna()), set(b["fingerprint"].dropna())
    return Comparison(table=m.reset_index(drop=True), run_a=run_a, run_b=run_b,
                      only_a=int((~a["fullname"].isin(b["fullname"])).sum()),
                      only_b=int((~b["fullname"].isin(a["fullname"])).sum()),
                      same_machine=bool(fa) and fa == fb,
                      threshold=cfg.instructions_tolerance if threshold is None else threshold,
                      metric="instructions", warnings=tuple(warnings))
