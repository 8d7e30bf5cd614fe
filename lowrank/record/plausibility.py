"""Physical plausibility of a timing: can the cost model and the calibrated roofs explain it?

A measured time is a fact about the machine only if the machine could have done it.
Two checks, both against the run's own calibration (``benchmarks/engine/machine.py``):

* **Roofs.** Achieved GB/s (bytes moved / median) may not exceed the bandwidth roof of
  the memory level the operands live in (L2, L3 or DRAM; a cold-cache case always
  DRAM), and achieved GFLOP/s may not exceed the calibrated matmul peak, each by more
  than :data:`ROOF_TOLERANCE`.
* **Speedups.** Dense ``W @ x`` over factored ``B @ (A @ x)`` may beat the cost model's
  ratio (the larger of the FLOP ratio and the bytes ratio) only by what the memory
  levels explain: factors served from cache against a dense W streamed from DRAM gain
  up to the ratio of the two levels' bandwidths. Beyond that, by more than
  :data:`SPEEDUP_TOLERANCE`, the speedup is flagged: the dense time was disturbed (a
  stall), or the factored one did not do the work.

A flag is a string saying what is impossible, or None. This module imports neither
pandas nor numpy: the benchmark suite uses it while it runs, the report when it reads.
"""

from __future__ import annotations

# Calibration is itself a measurement (a copy loop, one matmul size): allow this much above it.
ROOF_TOLERANCE = 1.25
# "Far above" the model: kernels differ in efficiency (a GEMV against two skinny GEMMs),
# and L1 is not calibrated (operands that small run at the L2 roof or better).
SPEEDUP_TOLERANCE = 2.0
LEVELS = ("L2", "L3", "DRAM")


def memory_key(backend: str) -> str:
    """The calibration's memory name for ``backend``: ``cuda`` for torch-cuda, else ``cpu``."""
    return "cuda" if backend == "torch-cuda" else "cpu"


# Operands up to this multiple of a cache level's size still hit it in part when re-used (a
# 32 MiB W in a 32 MiB L3 is mostly served from it); beyond it they stream from the level below.
# The same factor as the cold-cache rotation, which exceeds twice the last-level cache.
RESIDENCE_MARGIN = 2.0


def residence(footprint_bytes: float, cache: str, cache_bytes: dict | None, fastest: bool = True) -> str:
    """The memory level a case's operands are served from, at best (``fastest``) or at worst.

    At best: the smallest calibrated cache of at least 1/:data:`RESIDENCE_MARGIN` of the
    footprint (a 32 MiB W in a 32 MiB L3 is still partly served by it). At worst: the
    smallest cache holding :data:`RESIDENCE_MARGIN` times the footprint (that same W may
    thrash the L3 and stream from DRAM). A bound on what is possible takes the best for
    the operands whose speed it caps and the worst for the ones it compares against.
    ``cache`` is the case's cache mode: ``cold`` rotates copies past the last-level
    cache, so its operands come from DRAM whatever their size.
    """
    if cache == "cold" or not cache_bytes:
        return "DRAM"
    for level in ("L2", "L3"):
        size = cache_bytes.get(level)
        if size and (footprint_bytes <= RESIDENCE_MARGIN * size if fastest else RESIDENCE_MARGIN * footprint_bytes <= size):
            return level
    return "DRAM"


def bandwidth_roof(calibration: dict | None, backend: str, level: str) -> float | None:
    """Calibrated bandwidth (GB/s) of ``level`` for ``backend``; DRAM is the best of copy, add and dot.

    None when that level was not calibrated (files written before cache levels were):
    then nothing is judged against it.
    """
    if not calibration:
        return None
    mem = memory_key(backend)
    dram = (calibration.get("memory") or {}).get(mem) or {}
    dram_gbps = max((v for k, v in dram.items() if k.endswith("_gbps") and isinstance(v, (int, float))), default=None)
    if level == "DRAM":
        return dram_gbps
    value = ((calibration.get("levels") or {}).get(mem) or {}).get(level)
    if not isinstance(value, (int, float)) or value <= 0:
        return None
    # A cache is never slower than DRAM; a noisy small-buffer calibration must not say so.
    return max(value, dram_gbps or 0.0)


def compute_roof(calibration: dict | None, backend: str, dtype: str) -> float | None:
    """Calibrated matmul GFLOP/s in ``dtype`` on ``backend``'s device: the best library's, not its own.

    The peak is the hardware's: numpy's OpenBLAS and torch's kernels run on the same
    cores, and one library's slower 2048² GEMM (torch-cpu calibrated at 77 GFLOP/s where
    numpy reached 101 on this project's VM) does not stop the other, or the same library
    at a cache-friendly shape, from reaching it. None when ``dtype`` was not calibrated.
    """
    peaks = (calibration or {}).get("peak_gflops") or {}
    device = memory_key(backend)
    values = [p.get(dtype) for b, p in peaks.items() if memory_key(b) == device and isinstance(p, dict)]
    values = [v for v in values if isinstance(v, (int, float)) and v > 0]
    return max(values) if values else None


def cache_sizes(calibration: dict | None, backend: str) -> dict:
    """Cache sizes by level recorded in the calibration for ``backend``'s memory.

    Older files recorded only the last-level cache (``llc_bytes``): it stands as L3 then.
    """
    sizes = ((calibration or {}).get("cache_bytes") or {}).get(memory_key(backend))
    if sizes:
        return sizes
    llc = ((calibration or {}).get("llc_bytes") or {}).get(backend)
    return {"L3": llc} if isinstance(llc, (int, float)) and llc > 0 else {}


def roof_flag(*, backend: str, dtype: str, cache: str, median_s: float, flops: float, bytes_moved: float,
              calibration: dict | None) -> str | None:
    """Why achieved GB/s or GFLOP/s is above the calibrated roof, or None when it is not."""
    if not calibration or not median_s or median_s <= 0:
        return None
    level = residence(bytes_moved, cache, cache_sizes(calibration, backend))
    roof = bandwidth_roof(calibration, backend, level)
    gbps = bytes_moved / median_s / 1e9
    if roof and gbps > ROOF_TOLERANCE * roof:
        return f"{gbps:.0f} GB/s is above the calibrated {level} roof of {roof:.0f} GB/s"
    peak = compute_roof(calibration, backend, dtype)
    gflops = flops / median_s / 1e9
    if peak and gflops > ROOF_TOLERANCE * peak:
        return f"{gflops:.1f} GFLOP/s is above the calibrated matmul peak of {peak:.1f} GFLOP/s"
    return None


def speedup_bound(*, backend: str, cache: str, dense_flops: float, dense_bytes: float, factored_flops: float,
                  factored_bytes: float, calibration: dict | None) -> tuple[float, str]:
    """The largest dense/factored speedup the cost model explains, and how it was reached.

    The model ratio is the larger of the FLOP and bytes ratios; it is multiplied by the
    ratio of the bandwidths of the levels the factors live in at best and the dense W at
    worst (see :func:`residence`).
    """
    model = max(dense_flops / max(factored_flops, 1), dense_bytes / max(factored_bytes, 1))
    sizes = cache_sizes(calibration, backend)
    dense_level = residence(dense_bytes, cache, sizes, fastest=False)
    fact_level = residence(factored_bytes, cache, sizes, fastest=True)
    if fact_level == dense_level:
        levels = 1.0
    else:
        dense_roof = bandwidth_roof(calibration, backend, dense_level)
        fact_roof = bandwidth_roof(calibration, backend, fact_level)
        if not (dense_roof and fact_roof):
            # The levels differ but one was never calibrated: no bound can be given.
            return float("inf"), f"model ratio {model:.3g}; {fact_level} bandwidth not calibrated"
        levels = max(1.0, fact_roof / dense_roof)
    how = f"model ratio {model:.3g}" + (f" x {levels:.2f} ({fact_level} over {dense_level} bandwidth)" if levels > 1 else "")
    return model * levels, how


def speedup_flag(speedup: float, **model) -> str | None:
    """Why ``speedup`` is beyond what :func:`speedup_bound` explains (by more than the tolerance), or None."""
    if not speedup or speedup <= 0:
        return None
    bound, how = speedup_bound(**model)
    if speedup > SPEEDUP_TOLERANCE * bound:
        return f"speedup {speedup:.3g}x is {speedup / bound:.1f}x what the cost model explains ({how})"
    return None
