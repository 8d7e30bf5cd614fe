"""Seeded, cached operands for the matvec grid, and the calls that are timed.

Everything here is built outside the timed call. Operands come from one
synthetic matrix per shape with singular values σ_i = 1/i, whose exact truncated
SVD is known (so no SVD of an 8192² matrix is ever computed). The caches below
must only be appended to: changing the seed or the spectrum changes every
recorded error (the numpy asv habit).

Within one run, the worker processes of every pass and backend build the same
float64 operands; the first to build one leaves it in the run's operand folder
(``driver.OPERAND_CACHE_ENV``, set by ``benchmarks/engine/driver.py``) and the others read it back
into ordinary memory (not a memory map: the timed arrays are the same kind either
way). Building the 8192² matrix and its rank-4096 factors costs about 7 s a
process; reading them, under a second.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
import tracemalloc
from dataclasses import dataclass

import numpy as np

from benchmarks.engine.operand_cache import shared as _shared
from benchmarks.matvec.grid import Case
from lowrank import generators
from lowrank.backends import get_backend, infer_backend
from lowrank.operator import LowRankOperator

SEED = 20261124
MATRIX_KIND = "power-law-1"  # σ_i = 1/i
# Cold-cache rotation: enough copies that the set is twice the last-level cache, capped
# so that tiny operands do not allocate thousands of arrays.
COLD_FOOTPRINT = 2.0
MAX_COPIES = 512


@functools.lru_cache(maxsize=1)
def synthetic(d: int, k: int) -> generators.SyntheticMatrix:
    def build():
        sm = generators.SyntheticMatrix.build(d, k, generators.power_law_spectrum(min(d, k)), seed=SEED)
        return {"W": sm.W, "s": sm.singular_values, "left": sm._left, "right": sm._right,
                "mixing": np.array(sm.mixing)}

    a = _shared(f"synthetic-{d}x{k}-{SEED}", build)
    return generators.SyntheticMatrix(a["W"], a["s"], str(a["mixing"]), a["left"], a["right"])


@functools.lru_cache(maxsize=16)
def factors64(d: int, k: int, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Balanced factors B = U√Σ, A = √ΣVᵀ of the exact truncated SVD, float64."""
    def build():
        U, s, Vt = synthetic(d, k).svd_factors(rank)
        root = np.sqrt(s)
        return {"B": U * root, "A": root[:, None] * Vt}

    a = _shared(f"factors-{d}x{k}-r{rank}-{SEED}", build)
    return a["B"], a["A"]


@functools.lru_cache(maxsize=2)
def _dense(d: int, k: int, dtype: str, backend: str):
    return synthetic(d, k).matrix(dtype, backend)


@functools.lru_cache(maxsize=16)
def _factors(d: int, k: int, rank: int, dtype: str, backend: str):
    """The factors as the library gives them to a user: through :class:`lowrank.LowRankOperator`, in its layout."""
    be = get_backend(backend)
    B, A = factors64(d, k, rank)
    f = LowRankOperator(be.asarray(B, dtype), be.asarray(A, dtype), "svd")
    return f.B, f.A


@functools.lru_cache(maxsize=8)
def _x(k: int, batch: int, dtype: str, backend: str):
    rng = np.random.default_rng(SEED + 1)
    shape = (k,) if batch == 1 else (k, batch)
    return get_backend(backend).asarray(rng.standard_normal(shape), dtype)


def _as64(x) -> np.ndarray:
    return np.asarray(infer_backend(x).to_numpy(x), dtype=np.float64)


@functools.lru_cache(maxsize=1024)
def quality(d: int, k: int, dtype: str, rank: int | None, backend: str) -> dict:
    """Relative Frobenius error of the stored operands (in their dtype) and its Eckart–Young optimum.

    Both against the exact float64 W: dense, the error of storing W in ``dtype`` (0 for
    float64); factored, ‖W − B·A‖_F / ‖W‖_F with B, A rounded to ``dtype``. Computed once
    per (shape, dtype, rank) and run, on the host: every backend rounds the same float64
    operands to nearest, so they store the same values, and the first worker to compute
    the figures leaves them for the others (the 8192² rank-4096 product alone takes 14 s).
    """
    def build():
        sm = synthetic(d, k)
        norm = np.linalg.norm(sm.W)
        if rank is None:
            W = _as64(_dense(d, k, dtype, backend))
            return {"rel_error_fro": np.array(np.linalg.norm(sm.W - W) / norm), "optimal_error_fro": np.array(0.0)}
        B, A = (_as64(f) for f in _factors(d, k, rank, dtype, backend))
        return {"rel_error_fro": np.array(np.linalg.norm(sm.W - B @ A) / norm),
                "optimal_error_fro": np.array(sm.optimal_error(rank))}

    name = f"quality-{d}x{k}-{dtype}-{'dense' if rank is None else f'r{rank}'}-{SEED}"
    return {key: float(value) for key, value in _shared(name, build).items()}


def output_error(case: Case) -> float:
    """‖W x − y‖ / ‖W x‖ for the case's y (dense or factored, in its dtype) against float64 W x."""
    x = _x(case.k, case.batch, case.dtype, case.backend)
    exact = synthetic(case.d, case.k).W @ _as64(x)
    call = make_call(case, copies=1).call
    y = _as64(call())
    return float(np.linalg.norm(exact - y) / np.linalg.norm(exact))


@dataclass
class TimedCall:
    """The function pytest-benchmark times and how many operand copies it rotates through."""

    call: object
    copies: int
    bytes_per_copy: int


def copies_for(case: Case, bytes_per_copy: int, llc_bytes: int) -> int:
    """1 for a warm cache; for a cold one, enough copies to overflow the last-level cache."""
    if case.cache == "warm":
        return 1
    return max(2, min(MAX_COPIES, math.ceil(COLD_FOOTPRINT * llc_bytes / max(bytes_per_copy, 1)) + 1))


def make_call(case: Case, copies: int | None = None, llc_bytes: int | None = None) -> TimedCall:
    """Build the timed closure for ``case``.

    Warm and cold calls share one code path (``next`` on a cycle over the copies), so
    the two modes pay the same Python overhead and differ only in where the operands
    live. The factored product runs as :meth:`lowrank.LowRankOperator.apply` runs it (the
    backend's ``matmul`` on the operator's layout), less apply's input checks. CUDA calls
    synchronize before returning, inside the timed region.
    """
    be = get_backend(case.backend)
    x = _x(case.k, case.batch, case.dtype, case.backend)
    ops = (_dense(case.d, case.k, case.dtype, case.backend),) if case.rank is None else _factors(
        case.d, case.k, case.rank, case.dtype, case.backend
    )
    per_copy = sum(_nbytes(a) for a in ops) + _nbytes(x)
    if copies is None:
        copies = copies_for(case, per_copy, llc_bytes or 0)
    sets = [(*ops, x)] + [tuple(_copy(a) for a in (*ops, x)) for _ in range(copies - 1)]
    cycle = itertools.cycle(sets)
    sync = be.synchronize if case.backend == "torch-cuda" else None
    product = be.factored_product
    if case.rank is None:
        if sync is None:
            def call():
                W, v = next(cycle)
                return W @ v
        else:
            def call():
                W, v = next(cycle)
                y = W @ v
                sync()
                return y
    else:
        if sync is None:
            def call():
                B, A, v = next(cycle)
                return product(B, A, v)
        else:
            def call():
                B, A, v = next(cycle)
                y = product(B, A, v)
                sync()
                return y
    return TimedCall(call, copies, per_copy)


@functools.lru_cache(maxsize=1)
def dense_call(case: Case, llc_bytes: int | None) -> TimedCall:
    """The dense product of ``case``'s group (``case.rank`` None), built once while its group is timed.

    The dense case and every rank of its group (timed beside it) share it: building a cold one's
    copies of W, enough to overflow the last-level cache, costs tens of milliseconds a case, in
    every pass. The groups are collected one after the other, so one is kept.
    """
    if case.rank is not None:
        raise ValueError(f"dense_call takes a dense case (rank None), got rank {case.rank}")
    return make_call(case, llc_bytes=llc_bytes)


def _nbytes(a) -> int:
    return int(a.nbytes) if isinstance(a, np.ndarray) else int(a.element_size() * a.nelement())


def _copy(a):
    # order="K" and clone() keep the layout: a cold copy of a column-major B stays column-major.
    return a.copy(order="K") if isinstance(a, np.ndarray) else a.clone()


def peak_memory(case: Case, call) -> tuple[int | None, str]:
    """Peak bytes allocated during one call, and how they were measured.

    numpy: tracemalloc (numpy reports its buffers to it). torch CPU: the autograd
    profiler's allocation events, summed in time order (tracemalloc cannot see
    torch's allocator). CUDA: ``torch.cuda.max_memory_allocated`` above the level
    before the call.
    """
    if case.backend == "numpy":
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            call()
            return int(tracemalloc.get_traced_memory()[1] - base), "tracemalloc"
        finally:
            tracemalloc.stop()
    torch = sys.modules["torch"]
    if case.backend == "torch-cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        call()
        return int(torch.cuda.max_memory_allocated() - base), "torch.cuda.max_memory_allocated"
    # The autograd profiler, which torch.profiler wraps: the same CPU memory events, without the kineto
    # trace whose first start imports torch._dynamo and _inductor (seconds in every run's first process).
    with torch.autograd.profiler.profile(profile_memory=True) as prof:
        call()
    events = sorted(prof.function_events, key=lambda e: e.time_range.start)
    level = peak = 0
    for event in events:
        level += event.self_cpu_memory_usage
        peak = max(peak, level)
    return int(peak), "torch.autograd.profiler self_cpu_memory_usage, running sum"
