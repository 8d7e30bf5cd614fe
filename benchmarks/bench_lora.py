"""LoRA adapters at inference: unmerged W₀x + s·B(Ax) against merged W'x, and the cost and drift of merging.

The merged forward is timed once per (shape, batch, backend, dtype) — its time does
not depend on r — and the unmerged one at every rank, in one pytest-benchmark group,
so the table reads as the unmerged overhead. Because those cases run seconds apart,
each unmerged case also records a paired overhead: merged and unmerged timed back to
back, interleaved, after the benchmark (``paired_overhead``). Merges record, computed
outside the timed call, how far W₀ moves over a merge → unmerge round trip (schema:
``lowrank/record/suites/lora.py``).
"""


import pytest

from benchmarks.harness import settings
from benchmarks.lora import operands as ops
from benchmarks.lora.grid import LoraCase, lora_forward_cases, lora_merge_cases
from lowrank.record.schema import SCHEMA_TAG

FORWARD_PARAMS = ("d", "k", "backend", "dtype", "batch", "variant", "rank")
MERGE_PARAMS = ("d", "k", "backend", "dtype", "variant", "rank")


def pytest_generate_tests(metafunc):
    name = metafunc.function.__name__
    if name not in ("bench_lora_forward", "bench_lora_merge"):
        return
    selection = settings.of(metafunc.config).selection
    explicit = selection.explicit_dtypes
    forward = name == "bench_lora_forward"
    cases = lora_forward_cases(selection, explicit) if forward else lora_merge_cases(selection)
    names = FORWARD_PARAMS if forward else MERGE_PARAMS
    status = settings.backend_status(metafunc.config)
    params = []
    for case in cases:
        reason = status[case.backend]
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(*(getattr(case, n) for n in names), id=case.id, marks=marks))
    metafunc.parametrize(names, params)


def _common(case: LoraCase, lowrank_run) -> dict:
    return {
        "schema": SCHEMA_TAG,
        "suite": "lora",
        "op": case.op,
        "variant": case.variant,
        "backend": case.backend,
        "device": lowrank_run.device(case.backend),
        "dtype": case.dtype,
        "d": case.d,
        "k": case.k,
        "rank": case.rank,
        "batch": case.batch,
        "scaling": ops.scaling(ops.reference_rank(case)),
        "blas_threads": lowrank_run.threads.get("blas"),
        "torch_threads": lowrank_run.threads.get("torch"),
    }


def bench_lora_forward(benchmark, lowrank_run, d, k, backend, dtype, batch, variant, rank):
    case = LoraCase("forward", d, k, backend, dtype, batch, variant, rank)
    call = ops.make_forward_call(case)
    cost = ops.forward_cost(case)
    benchmark.group = case.group
    benchmark.extra_info.update(_common(case, lowrank_run))
    # Timed first: the float64 reference of the output error is numpy work, kept out of the window.
    benchmark.extra_info.update(lowrank_run.time(benchmark, call))
    output_error = None  # a later pass of worker processes: taken from the first
    if lowrank_run.measures_quality:
        with lowrank_run.host_work(backend):
            output_error = ops.forward_output_error(case, call())
    benchmark.extra_info.update(
        {
            "merged_rank": ops.reference_rank(case) if variant == "merged" else None,
            **cost,
            "output_error": output_error,
            "drift_max_abs": None,
            "drift_bound_ratio": None,
            "w0_max_abs": None,
            "merged_max_abs": None,
            "unit_roundoff": None,
        }
    )
    benchmark.extra_info["gflops"] = lowrank_run.gflops(benchmark, cost["flops"])
    paired = {"paired_overhead": None, "paired_overhead_iqr": None, "paired_samples": None}
    # Interleaved pairs are robust to drift already: timed in the first pass only.
    if variant == "unmerged" and not benchmark.disabled and lowrank_run.measures_quality:
        merged_call = ops.make_forward_call(LoraCase("forward", d, k, backend, dtype, batch, "merged", None))
        paired = ops.paired_overhead(call, merged_call)
    benchmark.extra_info.update(paired)


def bench_lora_merge(benchmark, lowrank_run, d, k, backend, dtype, variant, rank):
    case = LoraCase("merge", d, k, backend, dtype, None, variant, rank)
    call = ops.make_merge_call(case)
    cost = ops.merge_cost(case)
    benchmark.group = case.group
    benchmark.extra_info.update(_common(case, lowrank_run))
    benchmark.extra_info.update(lowrank_run.time(benchmark, call))
    drift = dict.fromkeys(("drift_max_abs", "drift_bound_ratio", "w0_max_abs", "merged_max_abs", "unit_roundoff"))
    if lowrank_run.measures_quality:
        with lowrank_run.host_work(backend):
            drift = ops.drift(case)
    benchmark.extra_info.update(
        {
            "merged_rank": rank,
            **cost,
            "output_error": None,
            **drift,
            "paired_overhead": None,
            "paired_overhead_iqr": None,
            "paired_samples": None,
        }
    )
    benchmark.extra_info["gflops"] = lowrank_run.gflops(benchmark, cost["flops"])
