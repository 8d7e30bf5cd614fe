"""Export a run for github-action-benchmark's generic tools.

``customSmallerIsBetter`` gets every case's median time, ``customBiggerIsBetter``
every same-run ratio of the suites' pairings (the matvec speedup over dense, our
randomized SVD against its peer, ...); each entry is
``{"name", "unit", "value", "range", "extra"}`` as that action expects.
"""

from __future__ import annotations

from lowrank.errors import LowRankValueError
from lowrank.record.schema import run_metric
from lowrank.record.suites import SUITES


def _time_extra(info: dict, st: dict) -> str:
    extra = f"IQR/median {st['iqr'] / st['median']:.1%}; rounds {st['rounds']}"
    if info.get("gbps") is not None:
        extra += f"; {info['gbps']:.1f} GB/s"
    if info.get("rel_error_fro") is not None:
        extra += f"; error {info['rel_error_fro']:.3g}"
    return extra


def _ratio_extra(info: dict, metric: str, partner: str) -> str:
    if metric == "speedup":  # the matvec speedup: say where the rank stands
        return (f"rank {info['rank']} of r* {info['break_even_rank']:.0f}; "
                f"error {info['rel_error_fro']:.3g} (optimum {info['optimal_error_fro']:.3g})")
    return f"{metric}: {partner} median / this median, or the paired figure where the case has one"


def check_timed(run: dict, source="the run") -> None:
    """Refuse a counted run (``LOWRANK_BENCH_METRIC=instructions``; ``source`` names it): its ``stats``
    are one call under valgrind, and exported they would be read as times."""
    metric = run_metric((run.get("machine_info") or {}).get("lowrank_bench"))
    if metric != "time":
        raise LowRankValueError(f"{source}: measured {metric} (a counted run): export writes median times and "
                                "same-run time ratios, and a counted run's stats are one call under valgrind, not "
                                "times; follow its counts with `lowrank-bench history --metric instructions` or "
                                "`lowrank-bench compare`")


def github_action_benchmark(run: dict) -> dict[str, list[dict]]:
    """``{"customSmallerIsBetter": [...], "customBiggerIsBetter": [...]}`` for one parsed timed run
    (a counted run is refused: :func:`check_timed`)."""
    check_timed(run)
    times, ratios = [], []
    for suite in SUITES.values():
        cases = suite.cases(run)
        partners = suite.partners(cases)
        for case, bench in sorted(cases.items()):
            st, info = bench["stats"], bench["extra_info"]
            times.append({"name": f"time {case}", "unit": "us", "value": st["median"] * 1e6,
                          "range": f"± {st['iqr'] * 1e6 / 2:.4g}", "extra": _time_extra(info, st)})
            if case in partners:
                pairing, ref = partners[case]
                ratios.append({"name": f"{pairing.metric} {case}", "unit": "x",
                               "value": pairing.value(bench, cases[ref]),
                               "extra": _ratio_extra(info, pairing.metric, ref)})
    return {"customSmallerIsBetter": times, "customBiggerIsBetter": ratios}
