"""Merging the result documents of several timing processes into one run.

The suite's driver (``benchmarks/engine/driver.py``) runs each backend in several passes of
fresh worker processes, and ``lowrank-bench ab`` runs each side of an A/B comparison in
alternating processes; both merge the documents those processes wrote with
:func:`merge_passes` and describe the merged run with :func:`merged_block`. (Merging keeps
the best pass of each case; *pooling*, in :mod:`lowrank.judge.baselines`, concatenates samples.)
"""

from __future__ import annotations

import statistics

from lowrank.record import pairs


def merge_passes(docs: list, recheck=None) -> dict:
    """One pytest-benchmark document from the worker documents of every pass and backend.

    ``docs`` is a list of ``(pass_no, doc)``. Benchmarks are matched by ``fullname``.
    Each case reports the pass with the lowest median, as pytest-benchmark measured it
    (its ``stats``, raw ``data`` and ``extra_info`` unchanged), and records every pass:
    ``processes``, ``process_medians`` (in pass order), ``process_spread`` ((max − min) /
    median of those medians) and ``reported_pass``. Disturbances on a shared machine only
    ever slow a pass down, so the least disturbed pass is the best estimate of what the
    machine does (the reasoning of Python's ``timeit``); the spread says how far another
    run may land. Fields a later pass left null (the untimed metrics, computed once) come
    from pass 1. A paired case (a factored product timed beside its dense partner) pools the round
    ratios of every pass into its paired speedup and interval (:func:`lowrank.record.pairs.summarize`).
    ``recheck(benchmarks)`` recomputes cross-case fields in place.
    """
    if not docs:
        raise ValueError("no worker wrote a result")
    by_name: dict[str, list] = {}
    for pass_no, doc in docs:
        for bench in doc.get("benchmarks", []):
            by_name.setdefault(bench["fullname"], []).append((pass_no, bench))
    merged = []
    for parts in by_name.values():
        medians = [b["stats"]["median"] for _, b in parts]
        best_pass, best = min(parts, key=lambda pb: pb[1]["stats"]["median"])
        mid = statistics.median(medians)
        # The untimed metrics come from pass 1 (later passes leave them null); the timing from the best pass.
        first = parts[0][1].get("extra_info") or {}
        extra = {**first, **{k: v for k, v in (best.get("extra_info") or {}).items() if v is not None}}
        extra.update({
            "processes": len(parts),
            "process_medians": medians,
            "process_spread": (max(medians) - min(medians)) / mid if len(medians) > 1 and mid > 0 else None,
            "reported_pass": best_pass,
        })
        ratios = [r for _, b in parts for r in ((b.get("extra_info") or {}).get("process_pair_ratios") or [])]
        if ratios:
            extra.update(pairs.summarize(ratios))
        merged.append({**best, "extra_info": extra})
    if recheck is not None:
        recheck(merged)
    return {**docs[0][1], "benchmarks": merged}


def merged_block(docs: list, merged: dict, complete: bool, passes: int, planned_processes: int | None = None) -> dict:
    """The run-level completeness fields of a merged run (``machine_info.lowrank_bench``).

    ``docs`` are the ``(pass_no, doc)`` that were merged into ``merged``; ``complete``
    says whether every process finished its cases; ``passes`` how many regular passes were planned,
    ``planned_processes`` how many in all (the extra passes of the short pairs; default ``passes``).
    Cases planned are counted from the first pass (later passes may skip single-pass cases), plus
    the cases only later passes hold (ranks refined after pass 1).
    """
    planned = sum(((d.get("machine_info") or {}).get("lowrank_bench") or {}).get("cases_planned") or 0
                  for p, d in docs if p == 1)
    # Cases a later pass added (ranks refined near a break-even after pass 1) were planned then.
    first = {b["fullname"] for p, d in docs if p == 1 for b in d.get("benchmarks", [])}
    planned += len({b["fullname"] for p, d in docs if p > 1 for b in d.get("benchmarks", [])} - first)
    passes_run = max(p for p, _ in docs)
    return {
        "complete": bool(complete and passes_run == (planned_processes or passes)),
        "cases_planned": planned,
        "cases_finished": len(merged["benchmarks"]),
        "processes": passes,
        "processes_run": passes_run,
    }
