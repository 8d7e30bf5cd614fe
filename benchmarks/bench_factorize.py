"""Factorization cost and quality: exact SVD, our randomized SVD and its peers, over spectra and knobs.

Each case times one factorization of a matrix of known spectrum (see
``benchmarks/factorize/operands.py``) with the run's instrument, under the suite's
timing (:meth:`benchmarks.factorize.grid.FactorizeProfile.policy`: calls of milliseconds
to seconds: warm-up, then one call a round), and records, computed outside the timed call,
its Frobenius error against the Eckart–Young optimum after truncation to rank r (schema:
``lowrank/record/suites/factorize.py``).
"""


import pytest

from benchmarks.factorize import operands as ops
from benchmarks.factorize.grid import FactorizeCase, factorize_cases
from benchmarks.harness import settings
from lowrank.record.schema import SCHEMA_TAG

PARAM_NAMES = ("d", "k", "spectrum", "rank", "backend", "dtype", "method", "oversampling", "power_iterations")


def pytest_generate_tests(metafunc):
    if "method" not in metafunc.fixturenames:
        return
    selection = settings.of(metafunc.config).selection
    status = settings.backend_status(metafunc.config)
    params = []
    for case in factorize_cases(selection, explicit_dtypes=selection.explicit_dtypes):
        reason = status[case.backend] or ops.peer_unavailable(case.method)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        if case.method == "svd":
            # LAPACK's (or torch's) SVD: none of the instructions are this library's, and under
            # callgrind each case takes about a minute, most of a counted run's budget.
            marks.append(pytest.mark.not_counted(reason="the exact SVD is LAPACK's code, not this library's"))
        params.append(pytest.param(*(getattr(case, n) for n in PARAM_NAMES), id=case.id, marks=marks))
    metafunc.parametrize(PARAM_NAMES, params)


def bench_factorize(benchmark, lowrank_run, d, k, spectrum, rank, backend, dtype, method, oversampling, power_iterations):
    case = FactorizeCase(d, k, spectrum, rank, backend, dtype, method, oversampling, power_iterations)
    prof = lowrank_run.selection.profile.factorize
    call = ops.make_call(case, ops.matrix_for(case))
    passes, flops = ops.model_cost(case)
    benchmark.group = case.group
    last = []  # the factors of the last measured call, for the error check

    def timed():
        last[:] = [call()]

    record = lowrank_run.time(benchmark, timed, prof.policy(lowrank_run.policy))
    result = last[0]
    last.clear()
    benchmark.extra_info.update(
        {
            "schema": SCHEMA_TAG,
            "suite": "factorize",
            "method": method,
            "backend": backend,
            "device": lowrank_run.device(backend),
            "dtype": dtype,
            "d": d,
            "k": k,
            "rank": rank,
            "spectrum": spectrum,
            "oversampling": oversampling,
            "power_iterations": power_iterations,
            "sketch_width": ops.sketch_width(case),
            "seed": None if method == "svd" else ops.SKETCH_SEED,
            "matrix_seed": ops.MATRIX_SEED,
            "call": ops.peer_options(case),
            **ops.quality(case, result),
            "passes": passes,
            "flops_model": flops,
            "blas_threads": lowrank_run.threads.get("blas"),
            "torch_threads": lowrank_run.threads.get("torch"),
        }
    )
    benchmark.extra_info.update(record)
    benchmark.extra_info["gflops"] = lowrank_run.gflops(benchmark, flops) if lowrank_run.instrument.reads_roofs else None
