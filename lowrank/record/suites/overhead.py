"""Suite ``overhead`` (``benchmarks/bench_overhead.py``): ``LowRankOperator.apply`` against a bare ``B @ (A @ x)``."""

from lowrank.record.suites.base import SCHEMA_FIELD, Field, Pairing, Suite

SUITE = Suite(
    name="overhead",
    title="library overhead",
    benchmark="benchmarks/bench_overhead.py",
    doc="The operator's `apply` and a bare `B @ (A @ x)` on the same factors (d = k = 1024, r = 16, n = 1, "
        "float32): what the library's checks and dispatch cost per call.",
    fields={
        "schema": SCHEMA_FIELD,
        "suite": Field("str", "`overhead`"),
        "variant": Field("str", "`bare` (`B @ (A @ x)`) or `apply` (`LowRankOperator.apply`)"),
        "backend": Field("str", "`numpy` or `torch-cpu`"),
        "dtype": Field("str", "`float32`"),
        "d": Field("int", "B is d×r"),
        "k": Field("int", "A is r×k"),
        "rank": Field("int", "r"),
        "batch": Field("int", "n = 1"),
    },
    params="`variant`, `backend`",
    pairings=(
        Pairing("vs_bare", reference={"variant": ("bare",)}, candidate={"variant": ("apply",)},
                match=("backend", "dtype", "d", "k", "rank", "batch"),
                doc="bare median / apply median: 1.0 means no overhead"),
    ),
)
