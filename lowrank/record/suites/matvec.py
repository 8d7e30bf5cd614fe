"""Suite ``matvec`` (``benchmarks/bench_matvec.py``): dense ``W @ x`` against factored ``B @ (A @ x)``."""

from lowrank.record.suites.base import (
    DEVICE_FIELD,
    DTYPE_FIELD,
    SCHEMA_FIELD,
    THREAD_FIELDS,
    Field,
    Pairing,
    Suite,
    gflops_field,
)

FIELDS = {
    "schema": SCHEMA_FIELD,
    "suite": Field("str", "`matvec`"),
    "variant": Field("str", "`dense` (`W @ x`) or `factored` (`B @ (A @ x)`)"),
    "backend": Field("str", "`numpy`, `torch-cpu` or `torch-cuda`"),
    "device": DEVICE_FIELD,
    "dtype": DTYPE_FIELD,
    "d": Field("int", "W is d×k"),
    "k": Field("int", "W is d×k"),
    "rank": Field("int|null", "r; null for dense"),
    "batch": Field("int", "n, the columns of x (1 = matrix–vector)"),
    "method": Field("str|null", "how B, A were obtained (`svd`: the exact truncated SVD, known from the generator); "
                    "null for dense"),
    "matrix": Field("str", "`power-law-1`: singular values σ_i = 1/i"),
    "cache": Field("str", "`warm` (same operands every call) or `cold` (rotate through copies that together exceed "
                   "twice the last-level cache)"),
    "cache_copies": Field("int", "how many operand copies the call rotates through"),
    "rel_error_fro": Field("float", "‖W − B·A‖_F / ‖W‖_F of the stored operands in their dtype (dense: the rounding "
                           "of W)"),
    "optimal_error_fro": Field("float", "Eckart–Young optimum √(Σ_{i>r} σ_i²) / ‖W‖_F (dense: 0)"),
    "output_error": Field("float", "‖W x − y‖ / ‖W x‖ on the benchmark's x, W x in float64"),
    "params": Field("int", "d·k or r·(d+k) stored values"),
    "param_bytes": Field("int", "their bytes"),
    "flops": Field("int", "per call: 2·d·k·n or 2·r·(d+k)·n"),
    "bytes_moved": Field("int", "minimum memory traffic per call (see `lowrank/cost.py`)"),
    "break_even_rank": Field("float", "r* = d·k/(d+k)"),
    **THREAD_FIELDS,
    "peak_bytes": Field("int|null", "peak memory allocated during one call"),
    "peak_method": Field("str", "how: `tracemalloc` (numpy), the autograd profiler's allocation events (torch CPU), "
                         "`torch.cuda.max_memory_allocated` (CUDA)"),
    "gflops": gflops_field("flops", after_timing=True),
    "gbps": Field("float|null", "bytes_moved / median; null when timing was disabled", True),
    "roofline_fraction": Field("float|null", "roofline time max(bytes/bandwidth, flops/peak) ÷ median: 1.0 is at the "
                               "roof; above 1 means the operands were served from cache, faster than DRAM", True),
    "partner_call_s": Field("float|null", "factored: the fastest warm-up call of its dense partner, seconds; absent "
                            "from dense and counted records and from files older than the field", True),
    "process_pair_ratios": Field("list|null", "factored: per process, the ratio of each pair of adjacent rounds timed "
                                 "alternately (ABBA) in one process: dense time / factored time; null for dense", True),
    "process_speedups": Field("list|null", "factored: each process's median of its `process_pair_ratios`; null for dense",
                              True),
    "paired_speedup": Field("float|null", "factored: the speedup, the median of every process's "
                            "`process_pair_ratios` pooled (files before timing engine 4: the geometric mean of "
                            "`process_speedups`). Every reader of a speedup reads this one; `dense median / factored "
                            "median` is the unpaired figure, two medians taken at different moments; null for dense",
                            True),
    "paired_speedup_lo": Field("float|null", "95% interval of `paired_speedup`: a bootstrap of processes, then of each "
                               "process's rounds (`lowrank/record/stats.py`); null for dense", True),
    "paired_speedup_hi": Field("float|null", "upper end of that interval", True),
    "refined": Field("bool|null", "files of timing engine 3 only: the rank was added after the first pass, near this "
                     "curve's break-even, and timed by the later passes; a later run may have refined another rank, so "
                     "a baseline's refined case is never missed. Today's profiles time 3r*/4 in every run instead",
                     True),
    "flag": Field("str|null", "why the cost model and the calibration cannot explain this timing (GB/s above the roof "
                  "of the memory level the operands live in, GFLOP/s above the matmul peak, or a speedup over the "
                  "dense pair beyond the model ratio × the levels' bandwidth ratio, by 2×); null: plausible. See "
                  "`lowrank/record/plausibility.py`", True),
}

SUITE = Suite(
    name="matvec",
    title="dense against factored apply",
    benchmark="benchmarks/bench_matvec.py",
    doc="One operand set (shape, dtype, backend, batch, cache) applied densely and factored at each rank of the "
        "grid. Errors are computed after the timing, on the host, against the exact float64 W.",
    fields=FIELDS,
    params="`backend`, `dtype`, `d`, `k`, `rank`, `batch`, `cache` as plain strings and ints",
    pairings=(
        Pairing("speedup", reference={"variant": ("dense",)}, candidate={"variant": ("factored",)},
                match=("backend", "dtype", "d", "k", "batch", "cache"),
                doc="the paired speedup of one operand set (`paired_speedup`); dense median / factored median in "
                    "files without it"),
    ),
    exact={"params": "identical", "param_bytes": "identical", "flops": "identical", "bytes_moved": "identical",
           "rel_error_fro": "rtol", "optimal_error_fro": "rtol", "output_error": "roundoff"},
)
