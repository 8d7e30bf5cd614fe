"""Merging the result documents of several timing processes into one run: one rule for every figure.

The suite's driver (``benchmarks/engine/driver.py``) times every case in several fresh worker
processes, and ``lowrank-bench ab`` runs each side of an A/B comparison in alternating
processes; both merge the documents those processes wrote with :func:`merge_passes` and
describe the merged run with :func:`merged_block`.

The rule, for times and paired speedups alike (as pyperf keeps the values of every process):
**the rounds of every process are pooled, and the figure is their median** — a case's ``stats``
are pytest-benchmark's statistics of every round of every process, its ``paired_speedup`` the
median of every process's round ratios (:mod:`lowrank.record.pairs`). Each process's median is
kept beside it (``process_medians``, ``process_spread``), and the paired interval resamples
processes, then rounds within each (:mod:`lowrank.record.stats`).
"""

from __future__ import annotations

import statistics

from lowrank.record import pairs


def pooled_stats(parts: list[dict]) -> dict:
    """pytest-benchmark's ``stats`` of the rounds of every process (``data``, seconds per call, pooled).

    A document without raw rounds (``data``) keeps the first process's statistics."""
    from pytest_benchmark.stats import Stats

    if any(not (b.get("stats") or {}).get("data") for b in parts):
        return parts[0]["stats"]
    pooled = Stats()
    data = [float(v) for b in parts for v in b["stats"]["data"]]
    for value in data:
        pooled.update(value)
    return {**pooled.as_dict(), "data": data, "iterations": parts[0]["stats"].get("iterations", 1)}


def merge_passes(docs: list, recheck=None) -> dict:
    """One pytest-benchmark document from the worker documents of every process and backend.

    ``docs`` is a list of ``(process_no, doc)``. Benchmarks are matched by ``fullname``. Each
    case's ``stats`` pool the rounds of every process (:func:`pooled_stats`), and it records each
    process's median: ``processes``, ``process_medians`` (in process order) and ``process_spread``
    ((max − min) / median of those medians: how far another run may land). Fields a later
    process left null (the untimed metrics, computed once) come from the first. A paired case (a
    factored product timed beside its dense partner) pools the round ratios of every process
    into its paired speedup and interval (:func:`lowrank.record.pairs.summarize`).
    ``recheck(benchmarks)`` recomputes cross-case fields in place.
    """
    if not docs:
        raise ValueError("no worker wrote a result")
    by_name: dict[str, list] = {}
    for _, doc in docs:
        for bench in doc.get("benchmarks", []):
            by_name.setdefault(bench["fullname"], []).append(bench)
    merged = []
    for parts in by_name.values():
        medians = [b["stats"]["median"] for b in parts]
        mid = statistics.median(medians)
        extra = dict(parts[0].get("extra_info") or {})
        for later in parts[1:]:
            extra.update({k: v for k, v in (later.get("extra_info") or {}).items() if v is not None and k in extra
                          and extra[k] is None})
        extra.update({
            "processes": len(parts),
            "process_medians": medians,
            "process_spread": (max(medians) - min(medians)) / mid if len(medians) > 1 and mid > 0 else None,
            "reported_pass": None,
        })
        ratios = [r for b in parts for r in ((b.get("extra_info") or {}).get("process_pair_ratios") or [])]
        if ratios:
            extra.update(pairs.summarize(ratios))
        merged.append({**parts[0], "stats": pooled_stats(parts), "extra_info": extra})
    if recheck is not None:
        recheck(merged)
    return {**docs[0][1], "benchmarks": merged}


def merged_block(docs: list, merged: dict, complete: bool, processes: int) -> dict:
    """The run-level completeness fields of a merged run (``machine_info.lowrank_bench``).

    ``docs`` are the ``(process_no, doc)`` that were merged into ``merged``; ``complete``
    says whether every process finished its cases; ``processes`` how many were planned.
    Cases planned are counted from the first process's documents (every process times every case).
    """
    planned = sum(((d.get("machine_info") or {}).get("lowrank_bench") or {}).get("cases_planned") or 0
                  for p, d in docs if p == 1)
    run = max(p for p, _ in docs)
    return {
        "complete": bool(complete and run == processes),
        "cases_planned": planned,
        "cases_finished": len(merged["benchmarks"]),
        "processes": processes,
        "processes_run": run,
    }
