"""Suite ``transpose`` (``benchmarks/bench_transpose.py``): a layer's backward product, dense against factored.

A demonstration of the suite contract (tests/benchmarks/test_demo_suite.py copies this file to
``lowrank/record/suites/`` and its benchmark to ``benchmarks/`` and touches nothing else).
"""

from .base import Field, Pairing, Suite

SUITE = Suite(
    name="transpose",
    title="transposed apply",
    benchmark="benchmarks/bench_transpose.py",
    doc="The product of a layer's backward pass, dense `W.T @ y` against factored `A.T @ (B.T @ y)`.",
    fields={
        "schema": Field("str", '`"lowrank-bench/<version>"`'),
        "suite": Field("str", "`transpose`"),
        "variant": Field("str", "`dense` or `factored`"),
        "backend": Field("str", "the backend"),
        "dtype": Field("str", "e.g. `float32`"),
        "d": Field("int", "W is d×k"),
        "k": Field("int", "W is d×k"),
        "rank": Field("int|null", "r; null for dense"),
        "flops": Field("int", "per call"),
    },
    params="`backend`, `variant`",
    pairings=(Pairing("vs_dense", reference={"variant": ("dense",)}, candidate={"variant": ("factored",)},
                      match=("backend", "dtype", "d", "k"), doc="dense median / factored median"),),
    exact={"flops": "identical"},
)
