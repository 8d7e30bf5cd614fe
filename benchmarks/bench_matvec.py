"""Dense ``W @ x`` against factored ``B @ (A @ x)`` over the profile's grid.

Each case is timed by the run's engine (``benchmarks/engine/timing.py``): a factored case in
alternating rounds beside its dense partner, which gives its paired speedup; then it records the
error of its operands against the Eckart–Young optimum, its parameters, bytes and
FLOPs, its peak memory, its achieved GFLOP/s, GB/s and fraction of the roofline, and
whether the cost model can explain it (``flag``; schema: docs/schema.md). The
metrics are computed after the timing, so no numpy work runs in a torch case's
timing window.
"""

from dataclasses import replace

import pytest

from benchmarks.matvec import operands
from benchmarks.matvec.grid import Case
from lowrank.cost import break_even_rank, dense_cost, factored_cost
from lowrank.record.schema import SCHEMA_TAG


@pytest.mark.lowrank_grid
def bench_matvec(benchmark, lowrank_run, backend, dtype, d, k, rank, batch, cache):
    case = Case(d, k, dtype, backend, batch, cache, rank)
    llc = lowrank_run.llc_bytes(backend)
    timed = operands.dense_call(case, llc) if rank is None else operands.make_call(case, llc_bytes=llc)
    cost = dense_cost(d, k, batch, dtype) if rank is None else factored_cost(d, k, rank, batch, dtype)
    benchmark.group = case.group
    info = benchmark.extra_info
    info.update({"schema": SCHEMA_TAG, "suite": "matvec", "variant": case.variant, "backend": backend})
    if rank is None:
        info.update(lowrank_run.time(benchmark, timed.call))
    else:  # timed beside its dense partner, round by round: the speedup is a paired figure
        dense = operands.dense_call(replace(case, rank=None), llc)
        info.update(lowrank_run.time_pair(benchmark, timed.call, dense.call, partner_key=case.group))
    if lowrank_run.measures_quality:
        with lowrank_run.host_work(backend):
            quality = operands.quality(d, k, dtype, rank, backend)
            out_error = operands.output_error(case)
        peak, peak_method = operands.peak_memory(case, timed.call)
    else:  # a later worker process: the driver takes these from the first (benchmarks/engine/driver.py)
        quality, out_error, peak, peak_method = {"rel_error_fro": None, "optimal_error_fro": None}, None, None, None
    info.update(
        {
            "device": lowrank_run.device(backend),
            "dtype": dtype,
            "d": d,
            "k": k,
            "rank": rank,
            "batch": batch,
            "method": None if rank is None else "svd",
            "matrix": operands.MATRIX_KIND,
            "cache": cache,
            "cache_copies": timed.copies,
            **quality,
            "output_error": out_error,
            "params": cost.params,
            "param_bytes": cost.param_bytes,
            "flops": cost.flops,
            "bytes_moved": cost.bytes_moved,
            "break_even_rank": break_even_rank(d, k),
            "blas_threads": lowrank_run.threads.get("blas"),
            "torch_threads": lowrank_run.threads.get("torch"),
            "peak_bytes": peak,
            "peak_method": peak_method,
            **lowrank_run.throughput(benchmark, cost, backend, dtype),
            "flag": lowrank_run.plausibility(benchmark, group=case.group, variant=case.variant, backend=backend,
                                             dtype=dtype, cache=cache, flops=cost.flops, bytes_moved=cost.bytes_moved,
                                             speedup=info.get("paired_speedup")),
        }
    )
