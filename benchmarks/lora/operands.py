"""Seeded, cached operands of the LoRA suite, the timed calls, and their accuracy.

W₀ has i.i.d. N(0, 1/k) entries (an untrained-looking weight, so ‖W₀x‖ ≈ ‖x‖); A is
PEFT's Kaiming-uniform init; B is Gaussian, scaled so that the update s·B·A has an
RMS of :data:`UPDATE_RMS` times W₀'s (a trained adapter's update is a modest
fraction of the weight). The scaling is s = α/r with α = 2r (s = 2). Everything is
drawn in float64 and converted, so every backend and dtype sees the same numbers.
The caches must only be appended to.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np

import lowrank
from benchmarks.lora.grid import LoraCase
from lowrank import generators, lora
from lowrank.backends import get_backend

SEED = 20261125
ALPHA_PER_RANK = 2.0  # α = 2r, a common choice: s = α/r = 2
UPDATE_RMS = 0.1  # RMS(s·B·A) / RMS(W₀)
MERGED_REFERENCE_RANK = 16  # the adapter folded into W' for the merged forward (its time does not depend on r)


def scaling(rank: int) -> float:
    return lowrank.lora_scaling(ALPHA_PER_RANK * rank, rank)


@functools.lru_cache(maxsize=2)
def base64(d: int, k: int) -> np.ndarray:
    return generators.gaussian(d, k, seed=SEED)


@functools.lru_cache(maxsize=8)
def factors64(d: int, k: int, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, A) in float64: A Kaiming-uniform, B Gaussian with RMS(s·B·A) = UPDATE_RMS·RMS(W₀).

    Entries of B·A have variance r·σ_B²·σ_A² with σ_A² = 1/(3k) (uniform on ±1/√k),
    and W₀'s entries have variance 1/k, so σ_B = UPDATE_RMS·√(3/r)/s.
    """
    rng = np.random.default_rng([SEED, d, k, rank])
    bound = 1.0 / math.sqrt(k)
    A = rng.uniform(-bound, bound, size=(rank, k))
    B = rng.standard_normal((d, rank)) * (UPDATE_RMS * math.sqrt(3.0 / rank) / scaling(rank))
    return B, A


@functools.lru_cache(maxsize=2)
def weight(d: int, k: int, dtype: str, backend: str):
    return get_backend(backend).asarray(base64(d, k), dtype)


@functools.lru_cache(maxsize=8)
def adapter(d: int, k: int, rank: int, dtype: str, backend: str) -> lowrank.LoRAAdapter:
    be = get_backend(backend)
    B, A = factors64(d, k, rank)
    return lowrank.LoRAAdapter(be.asarray(B, dtype), be.asarray(A, dtype), scaling(rank))


@functools.lru_cache(maxsize=1)
def merged(d: int, k: int, rank: int, dtype: str, backend: str):
    return adapter(d, k, rank, dtype, backend).merge(weight(d, k, dtype, backend))


@functools.lru_cache(maxsize=4)
def x_for(k: int, batch: int, dtype: str, backend: str):
    rng = np.random.default_rng(SEED + 1)
    shape = (k,) if batch == 1 else (k, batch)
    return get_backend(backend).asarray(rng.standard_normal(shape), dtype)


@functools.lru_cache(maxsize=2)
def _base_output64(d: int, k: int, batch: int) -> np.ndarray:
    rng = np.random.default_rng(SEED + 1)
    x = rng.standard_normal((k,) if batch == 1 else (k, batch))
    return base64(d, k) @ x, x


def reference_rank(case: LoraCase) -> int:
    """The rank whose update the case applies (the merged forward folds in a fixed one)."""
    return case.rank if case.rank is not None else min(MERGED_REFERENCE_RANK, min(case.d, case.k) - 1)


# -- timed calls ----------------------------------------------------------------------------------
def make_forward_call(case: LoraCase):
    """W'x (merged) or adapter.forward(W₀, x) (unmerged), synchronized on CUDA before returning."""
    x = x_for(case.k, case.batch, case.dtype, case.backend)
    r = reference_rank(case)
    if case.variant == "merged":
        Wm = merged(case.d, case.k, r, case.dtype, case.backend)

        def run():
            return Wm @ x
    else:
        W0 = weight(case.d, case.k, case.dtype, case.backend)
        fwd = adapter(case.d, case.k, r, case.dtype, case.backend).forward

        def run():
            return fwd(W0, x)
    return _synced(run, case.backend)


def make_merge_call(case: LoraCase):
    """lowrank.lora.merge of the case's adapter into W₀ (a new d×k array each call)."""
    W0 = weight(case.d, case.k, case.dtype, case.backend)
    ad = adapter(case.d, case.k, case.rank, case.dtype, case.backend)
    upcast = case.variant == "float32-accumulate"

    def run():
        return ad.merge(W0, upcast=upcast)
    return _synced(run, case.backend)


def paired_overhead(unmerged, merged, budget_s: float = 0.5, min_pairs: int = 5, max_pairs: int = 41) -> dict:
    """Unmerged time / merged time − 1 from interleaved samples, robust to drift between cases.

    pytest-benchmark times the two variants as separate cases, seconds apart; on a shared
    machine (or a memory-bound call sensitive to other traffic) the machine can change in
    between by more than the few percent being measured. Here each pair times both calls
    back to back (in alternating order, so neither always runs second), each sample a loop
    of calls lasting at least a millisecond; the result is the median and IQR of the
    per-pair ratios.
    """
    merged()
    start = time.perf_counter()
    merged()
    single = max(time.perf_counter() - start, 1e-7)
    loops = max(1, math.ceil(1e-3 / single))
    pairs = int(np.clip(budget_s / (2 * loops * single), min_pairs, max_pairs))
    ratios = []
    for i in range(pairs):
        seconds = {}
        for name, fn in (("m", merged), ("u", unmerged)) if i % 2 == 0 else (("u", unmerged), ("m", merged)):
            start = time.perf_counter()
            for _ in range(loops):
                fn()
            seconds[name] = time.perf_counter() - start
        ratios.append(seconds["u"] / seconds["m"])
    q1, med, q3 = np.percentile(ratios, [25, 50, 75])
    return {"paired_overhead": float(med - 1), "paired_overhead_iqr": float(q3 - q1), "paired_samples": pairs}


def _synced(run, backend: str):
    if backend != "torch-cuda":
        return run
    sync = get_backend(backend).synchronize

    def synced():
        out = run()
        sync()
        return out
    return synced


# -- accuracy and cost, outside the timed call -----------------------------------------------------
def forward_output_error(case: LoraCase, y) -> float:
    """‖y − (W₀ + s·B·A)x‖ / ‖(W₀ + s·B·A)x‖ against float64 operands."""
    r = reference_rank(case)
    base, x = _base_output64(case.d, case.k, case.batch)
    B, A = factors64(case.d, case.k, r)
    exact = base + scaling(r) * (B @ (A @ x))
    got = np.asarray(get_backend(case.backend).to_numpy(y), dtype=np.float64)
    return float(np.linalg.norm(got - exact) / np.linalg.norm(exact))


def forward_cost(case: LoraCase) -> dict:
    """FLOPs and stored bytes: merged = dense W'x; unmerged adds the factored B(Ax) and the add."""
    dense = lowrank.dense_cost(case.d, case.k, case.batch, case.dtype)
    if case.variant == "merged":
        return {"flops": dense.flops, "param_bytes": dense.param_bytes, "flop_overhead": 0.0}
    fac = lowrank.factored_cost(case.d, case.k, case.rank, case.batch, case.dtype)
    return {
        "flops": dense.flops + fac.flops + case.d * case.batch,
        "param_bytes": dense.param_bytes + fac.param_bytes,
        "flop_overhead": lora.flop_overhead(case.d, case.k, case.rank),
    }


def merge_cost(case: LoraCase) -> dict:
    """A merge forms B·A (2·d·k·r FLOPs), scales and adds it (2·d·k)."""
    return {
        "flops": 2 * case.d * case.k * case.rank + 2 * case.d * case.k,
        "param_bytes": lowrank.dense_cost(case.d, case.k, 1, case.dtype).param_bytes,
        "flop_overhead": None,
    }


def drift(case: LoraCase) -> dict:
    """merge → unmerge round trip of the case's adapter: max |ΔW₀| and the rounding bound ratio."""
    W0 = weight(case.d, case.k, case.dtype, case.backend)
    ad = adapter(case.d, case.k, case.rank, case.dtype, case.backend)
    return lora.roundtrip_drift(W0, ad.B, ad.A, ad.scaling, upcast=case.variant == "float32-accumulate")
