"""Dense ``W @ x`` against factored ``B @ (A @ x)`` over the profile's grid.

Each case records, next to its timing, the error of its operands against the
Eckart–Young optimum, its parameters, bytes and FLOPs, its peak memory and,
after timing, its achieved GFLOP/s, GB/s and fraction of the roofline
(schema: benchmarks/SCHEMA.md).
"""

import pytest

from lowrank.analysis.schema import SCHEMA_TAG
from lowrank.cost import break_even_rank, dense_cost, factored_cost

from . import operands
from .grid import Case


@pytest.mark.lowrank_grid
def bench_matvec(benchmark, lowrank_run, backend, dtype, d, k, rank, batch, cache):
    case = Case(d, k, dtype, backend, batch, cache, rank)
    timed = operands.make_call(case, llc_bytes=lowrank_run.llc_bytes(backend))
    cost = dense_cost(d, k, batch, dtype) if rank is None else factored_cost(d, k, rank, batch, dtype)
    peak, peak_method = operands.peak_memory(case, timed.call)
    benchmark.group = case.group
    benchmark.extra_info.update(
        {
            "schema": SCHEMA_TAG,
            "suite": "matvec",
            "variant": case.variant,
            "backend": backend,
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
            **operands.quality(d, k, dtype, rank, backend),
            "output_error": operands.output_error(case),
            "params": cost.params,
            "param_bytes": cost.param_bytes,
            "flops": cost.flops,
            "bytes_moved": cost.bytes_moved,
            "break_even_rank": break_even_rank(d, k),
            "blas_threads": lowrank_run.threads.get("blas"),
            "torch_threads": lowrank_run.threads.get("torch"),
            "peak_bytes": peak,
            "peak_method": peak_method,
        }
    )
    benchmark(timed.call)
    benchmark.extra_info.update(lowrank_run.throughput(benchmark, cost, backend, dtype))
