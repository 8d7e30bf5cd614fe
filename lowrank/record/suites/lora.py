"""Suite ``lora`` (``benchmarks/bench_lora.py``): unmerged W₀x + s·B(Ax) against merged W'x, and merging."""

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
    "suite": Field("str", "`lora`"),
    "op": Field("str", "`forward` or `merge`"),
    "variant": Field("str", "forward: `merged` (W'x, one product) or `unmerged` (`LoRAAdapter.forward`: "
                     "W₀x + s·B(Ax)); merge: `float32-accumulate` (half precision formed in float32, rounded once) "
                     "or `native` (every step in the weight's dtype)"),
    "backend": Field("str", "`numpy`, `torch-cpu` or `torch-cuda`"),
    "device": DEVICE_FIELD,
    "dtype": DTYPE_FIELD,
    "d": Field("int", "W₀ is d×k"),
    "k": Field("int", "W₀ is d×k"),
    "rank": Field("int|null", "r; null for the merged forward, whose time does not depend on r"),
    "batch": Field("int|null", "n, the columns of x; null for merges"),
    "scaling": Field("float", "s = α/r (α = 2r)"),
    "merged_rank": Field("int|null", "rank of the adapter folded into W' (merged forward, merges)"),
    "flops": Field("int", "per call; unmerged = 2dkn + 2r(d+k)n + dn; merge = 2dkr + 2dk"),
    "param_bytes": Field("int", "stored bytes the call reads"),
    "flop_overhead": Field("float|null", "the FLOP model of the unmerged overhead, r(d+k)/(dk); 0 for merged"),
    "output_error": Field("float|null", "forward: ‖y − (W₀ + s·B·A)x‖ / ‖(W₀ + s·B·A)x‖ against float64"),
    "drift_max_abs": Field("float|null", "merge: max |unmerge(merge(W₀)) − W₀|"),
    "drift_bound_ratio": Field("float|null", "max elementwise |drift| / (u·|W'|); rounding analysis bounds it by 2"),
    "w0_max_abs": Field("float|null", "max |W₀|"),
    "merged_max_abs": Field("float|null", "max |W'|"),
    "unit_roundoff": Field("float|null", "u of the dtype"),
    "paired_overhead": Field("float|null", "unmerged forward: median of unmerged/merged time − 1 over interleaved "
                             "back-to-back pairs (robust to the machine drifting between the two cases); null "
                             "elsewhere or with timing off"),
    "paired_overhead_iqr": Field("float|null", "IQR of those ratios"),
    "paired_samples": Field("int|null", "pairs behind paired_overhead"),
    **THREAD_FIELDS,
    "gflops": gflops_field("flops"),
}

SUITE = Suite(
    name="lora",
    title="LoRA adapters",
    benchmark="benchmarks/bench_lora.py",
    doc="The merged forward is timed once per (shape, batch, backend, dtype) and the unmerged one at every rank, "
        "in one pytest-benchmark group; merges record how far W₀ moves over a merge → unmerge round trip.",
    fields=FIELDS,
    params="(forward) `d`, `k`, `backend`, `dtype`, `batch`, `variant`, `rank`; (merge) the same without `batch`",
    pairings=(
        Pairing("vs_merged", reference={"op": ("forward",), "variant": ("merged",)},
                candidate={"op": ("forward",), "variant": ("unmerged",)},
                match=("backend", "dtype", "d", "k", "batch"),
                doc="merged median / unmerged median: the unmerged forward's speed relative to the merged one"),
    ),
    exact={"flops": "identical", "param_bytes": "identical", "scaling": "rtol", "flop_overhead": "rtol",
           "output_error": "roundoff"},
)
