"""Demonstration suite: a layer's backward product, dense ``W.T @ y`` against factored ``A.T @ (B.T @ y)``."""

from benchmarks.harness import settings
from benchmarks.matvec.operands import factors64, synthetic
from lowrank.record.schema import SCHEMA_TAG

SHAPE = {"quick": (256, 128, 16), "default": (1024, 1024, 64), "full": (4096, 4096, 256)}


def pytest_generate_tests(metafunc):
    if metafunc.definition.name != "bench_transpose":
        return
    selection = settings.of(metafunc.config).selection
    status = settings.backend_status(metafunc.config)  # the run's backends only: numpy alone imports no torch
    backends = [b for b in selection.backends if b != "torch-cuda" and status[b] is None]
    metafunc.parametrize("backend", backends)
    metafunc.parametrize("variant", ["dense", "factored"])


def bench_transpose(benchmark, lowrank_run, backend, variant):
    from lowrank import get_backend

    d, k, rank = SHAPE[lowrank_run.selection.profile.name]
    be = get_backend(backend)
    y = be.asarray(synthetic(d, k).W[:, :1].copy(), "float32")
    if variant == "dense":
        Wt = be.asarray(synthetic(d, k).W.T.copy(), "float32")
        call, flops = (lambda: Wt @ y), 2 * d * k
    else:
        B, A = (be.asarray(a, "float32") for a in factors64(d, k, rank))
        Bt, At = B.T, A.T
        call, flops = (lambda: At @ (Bt @ y)), 2 * rank * (d + k)
    benchmark.group = f"transpose-{backend}"
    benchmark.extra_info.update({"schema": SCHEMA_TAG, "suite": "transpose", "variant": variant, "backend": backend,
                                 "dtype": "float32", "d": d, "k": k, "rank": None if variant == "dense" else rank,
                                 "flops": flops})
    benchmark.extra_info.update(lowrank_run.time(benchmark, call))
