"""The result schema shared by the benchmark suite (writer) and the analysis (reader).

Each benchmark of this suite stores, in pytest-benchmark's ``extra_info``, a
``schema`` field ``"lowrank-bench/<version>"`` plus the fields below; each run
stores a ``lowrank_bench`` block in ``machine_info``. The human-readable version
of this contract is ``benchmarks/SCHEMA.md``; change both together and bump
:data:`SCHEMA_VERSION` on any incompatible change.
"""

from __future__ import annotations

SCHEMA_NAME = "lowrank-bench"
SCHEMA_VERSION = 2
SCHEMA_TAG = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"
# Versions this code still reads. Version 2 added the timing engine's fields (TIMING_FIELDS),
# the plausibility ``flag`` and the run's completeness; version-1 files read with those as null.
READABLE_VERSIONS = (1, 2)

# extra_info fields the timing engine (benchmarks/timing.py, benchmarks/driver.py) adds to every
# timed benchmark of the matvec, LoRA and overhead suites; null when timing was disabled.
TIMING_FIELDS: dict[str, str] = {
    "timing_engine": "int|null",  # version of the engine that timed it
    "warmup_calls": "int|null",  # untimed calls before calibration
    "first_call_s": "float|null",  # the very first call, seconds
    "stall_rounds": "int|null",  # rounds slower than 1.5x the median, in the reported pass
    "settled": "bool|null",  # the median within 1.5x the fastest round
    "processes": "int|null",  # worker processes (passes) that timed this case
    "process_medians": "list|null",  # the median of each pass, seconds, in pass order
    "process_spread": "float|null",  # (max - min) / median of process_medians; null for one process
    "reported_pass": "int|null",  # the pass whose samples are in stats (the lowest median)
}

# extra_info fields of a matvec benchmark and their JSON types ("int|null": int or null).
MATVEC_FIELDS: dict[str, str] = {
    "schema": "str",
    "suite": "str",
    "variant": "str",  # "dense" (W @ x) or "factored" (B @ (A @ x))
    "backend": "str",
    "device": "str",
    "dtype": "str",
    "d": "int",
    "k": "int",
    "rank": "int|null",
    "batch": "int",
    "method": "str|null",
    "matrix": "str",
    "cache": "str",
    "cache_copies": "int",
    "rel_error_fro": "float",
    "optimal_error_fro": "float",
    "output_error": "float",
    "params": "int",
    "param_bytes": "int",
    "flops": "int",
    "bytes_moved": "int",
    "break_even_rank": "float",
    "blas_threads": "int|null",
    "torch_threads": "int|null",
    "peak_bytes": "int|null",
    "peak_method": "str",
    "gflops": "float|null",
    "gbps": "float|null",
    "roofline_fraction": "float|null",
    # Why the cost model and calibration cannot explain this timing (lowrank/analysis/plausibility.py); null: plausible.
    "flag": "str|null",
    **TIMING_FIELDS,
}


def parse_tag(tag) -> int | None:
    """The schema version in ``"lowrank-bench/<n>"``, or None when the tag is not this suite's."""
    if not isinstance(tag, str) or not tag.startswith(SCHEMA_NAME + "/"):
        return None
    try:
        return int(tag.split("/", 1)[1])
    except ValueError:
        return None


_PY_TYPES = {"str": (str,), "int": (int,), "float": (float, int), "dict": (dict,), "list": (list,), "bool": (bool,),
             "null": (type(None),)}


def field_problems(record: dict, fields: dict[str, str]) -> list[str]:
    """Each way ``record`` departs from ``fields`` (missing field, wrong JSON type); empty when it fits."""
    problems = []
    for name, spec in fields.items():
        if name not in record:
            problems.append(f"missing field {name!r}")
            continue
        value = record[name]
        parts = spec.split("|")
        allowed = tuple(t for part in parts for t in _PY_TYPES[part])
        if (isinstance(value, bool) and "bool" not in parts) or not isinstance(value, allowed):
            problems.append(f"field {name!r} is {type(value).__name__} {value!r}, expected {spec}")
    return problems


# extra_info fields of a factorization benchmark (benchmarks/bench_factorize.py).
# Errors are relative Frobenius errors of the rank-r result (peers' rank-(r+p) output is
# truncated to r first) against the float64 matrix; the optimum comes from the known σ.
FACTORIZE_FIELDS: dict[str, str] = {
    "schema": "str",
    "suite": "str",  # "factorize"
    "method": "str",  # "svd", "randomized", "torch_svd_lowrank", "sklearn_randomized_svd"
    "backend": "str",
    "device": "str",
    "dtype": "str",
    "d": "int",
    "k": "int",
    "rank": "int",
    "spectrum": "str",  # "power-law", "exponential", "gaussian", "exact-rank"
    "oversampling": "int|null",  # p (null for the exact SVD)
    "power_iterations": "int|null",  # q (null for the exact SVD)
    "sketch_width": "int|null",  # min(r + p, d, k)
    "seed": "int|null",  # of the sketch (null for the exact SVD)
    "matrix_seed": "int",
    "call": "str",  # the call that was timed, spelled out
    "rel_error_fro": "float",  # ‖W − B·A‖_F / ‖W‖_F
    "optimal_error_fro": "float",  # Eckart–Young optimum at rank r (0 for exact-rank)
    "error_ratio_fro": "float|null",  # rel_error_fro / optimal_error_fro (null when the optimum is 0)
    "sigma_rel_error_max": "float",  # max_i |σ̂_i − σ_i| / σ_i over the top r
    "matrix_rank": "int",  # rank of W (r for exact-rank, else min(d, k))
    "passes": "int|null",  # products with W or Wᵀ: 2q + 2 (null for the exact SVD)
    "flops_model": "int|null",  # passes · 2·d·k·(r + p)
    "first_call_s": "float|null",  # untimed warm-up call, seconds (null when timing is off or it was skipped)
    "blas_threads": "int|null",
    "torch_threads": "int|null",
    "gflops": "float|null",  # flops_model / median (after timing)
}

# extra_info fields of a LoRA benchmark (benchmarks/bench_lora.py). op "forward": variant
# "merged" (W'x; rank null, the folded adapter's rank in merged_rank) or "unmerged"
# (W₀x + s·B(Ax)); op "merge": variant "float32-accumulate" or "native", batch null.
LORA_FIELDS: dict[str, str] = {
    "schema": "str",
    "suite": "str",  # "lora"
    "op": "str",
    "variant": "str",
    "backend": "str",
    "device": "str",
    "dtype": "str",
    "d": "int",
    "k": "int",
    "rank": "int|null",
    "batch": "int|null",
    "scaling": "float",  # s = α/r
    "merged_rank": "int|null",
    "flops": "int",
    "param_bytes": "int",
    "flop_overhead": "float|null",  # model: r(d+k)/(dk) for unmerged, 0 for merged
    "output_error": "float|null",  # forward vs float64 (W₀ + s·B·A)x
    "drift_max_abs": "float|null",  # merge: max |unmerge(merge(W₀)) − W₀|
    "drift_bound_ratio": "float|null",  # max elementwise |drift| / (u·|W'|); rounding bounds it by 2
    "w0_max_abs": "float|null",
    "merged_max_abs": "float|null",
    "unit_roundoff": "float|null",
    "paired_overhead": "float|null",  # unmerged: median of interleaved unmerged/merged time ratios − 1
    "paired_overhead_iqr": "float|null",
    "paired_samples": "int|null",  # pairs behind paired_overhead (null when not measured)
    "blas_threads": "int|null",
    "torch_threads": "int|null",
    "gflops": "float|null",  # flops / median (after timing)
}
