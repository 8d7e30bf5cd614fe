"""Library overhead: ``f.apply(x)`` against a bare ``B @ (A @ x)`` on the same factors.

The target is no measurable cost: apply within 1.05x of the bare call at
d = k = 1024, r = 16, n = 1, for numpy and torch-cpu, timed in one process.
"""

import functools

import numpy as np
import pytest

import lowrank
from benchmarks.harness import settings
from benchmarks.matvec.operands import SEED, factors64
from lowrank.record.schema import SCHEMA_TAG

D = K = 1024
RANK = 16
BACKENDS = ("numpy", "torch-cpu")


def pytest_generate_tests(metafunc):
    # Asked when pytest collects, not when the module is imported: a torch backend's status imports torch.
    if metafunc.definition.name != "bench_apply_overhead":
        return
    status = settings.backend_status(metafunc.config)
    # The run's backends only: a worker process of the driver times one backend and must not
    # import or time the other (it did, so the overhead cases were pooled across both workers).
    chosen = [b for b in BACKENDS if b in settings.of(metafunc.config).selection.backends]
    # variant first: ids stay "bare-numpy", "apply-torch-cpu", as in earlier result files
    metafunc.parametrize("variant", ["bare", "apply"])
    metafunc.parametrize("backend", [pytest.param(b, marks=pytest.mark.skipif(status[b] is not None, reason=status[b] or ""))
                                     for b in chosen])


@functools.lru_cache(maxsize=None)
def _operator(backend: str) -> lowrank.LowRankOperator:
    # The exact rank-16 SVD factors of the suite's 1/i matrix, known without an SVD.
    B, A = factors64(D, K, RANK)
    return lowrank.LowRankOperator(B, A, "svd").to(backend, "float32")


def bench_apply_overhead(benchmark, lowrank_run, backend, variant):
    f = _operator(backend)
    x = lowrank.get_backend(backend).asarray(np.random.default_rng(SEED).standard_normal(K), "float32")
    # The bare product apply runs, on the operator's own factors and layout, without its checks.
    B, A, product = f.B, f.A, lowrank.get_backend(backend).factored_product

    def bare(v):
        return product(B, A, v)

    benchmark.group = f"overhead-{backend}-d{D:04d}-r{RANK:04d}-n001"
    benchmark.extra_info.update(
        {"schema": SCHEMA_TAG, "suite": "overhead", "variant": variant, "backend": backend, "dtype": "float32",
         "d": D, "k": K, "rank": RANK, "batch": 1}
    )
    call = functools.partial(f.apply if variant == "apply" else bare, x)
    benchmark.extra_info.update(lowrank_run.time(benchmark, call))
