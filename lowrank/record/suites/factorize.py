"""Suite ``factorize`` (``benchmarks/bench_factorize.py``): exact SVD, our randomized SVD and its peers."""

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

PEERS = ("torch_svd_lowrank", "sklearn_randomized_svd")

FIELDS = {
    "schema": SCHEMA_FIELD,
    "suite": Field("str", "`factorize`"),
    "method": Field("str", "`svd` (exact, `lowrank.factorize(W, r, \"svd\")`), `randomized` (ours), "
                    "`torch_svd_lowrank`, `sklearn_randomized_svd`"),
    "backend": Field("str", "the peers run on their own arrays: `torch.svd_lowrank` on torch, scikit-learn on numpy"),
    "device": DEVICE_FIELD,
    "dtype": DTYPE_FIELD,
    "d": Field("int", "W is d×k"),
    "k": Field("int", "W is d×k"),
    "rank": Field("int", "r, the rank of the result"),
    "spectrum": Field("str", "`power-law` (σ_i = 1/i), `exponential` (σ_i = 10^(−3(i−1)/r)), `gaussian` "
                      "(Marchenko–Pastur quantiles), `exact-rank` (σ_i = 1/i for i ≤ r, then 0)"),
    "oversampling": Field("int|null", "p (`torch.svd_lowrank(q=r+p)`, scikit-learn `n_oversamples=p`); null for the "
                          "exact SVD"),
    "power_iterations": Field("int|null", "q (`niter=q`, scikit-learn `n_iter=q, power_iteration_normalizer='LU'`); "
                              "null for the exact SVD"),
    "sketch_width": Field("int|null", "min(r + p, d, k)"),
    "seed": Field("int|null", "seed of the sketch (null for the exact SVD)"),
    "matrix_seed": Field("int", "seed of the matrix"),
    "call": Field("str", "the call that was timed, spelled out"),
    "rel_error_fro": Field("float", "‖W − B·A‖_F / ‖W‖_F of the rank-r result (a peer's rank-(r+p) output is "
                           "truncated to r first), against the float64 matrix"),
    "optimal_error_fro": Field("float", "Eckart–Young optimum √(Σ_{i>r} σ_i²)/‖W‖_F from the known σ (0 for "
                               "exact-rank)"),
    "error_ratio_fro": Field("float|null", "rel_error_fro / optimal_error_fro (1.0 is optimal); null when the optimum "
                             "is 0"),
    "sigma_rel_error_max": Field("float", "max over i ≤ r of |σ̂_i − σ_i| / σ_i"),
    "matrix_rank": Field("int", "rank of W (r for exact-rank, else min(d, k))"),
    "passes": Field("int|null", "products with W or Wᵀ: 2q + 2 (null for the exact SVD)"),
    "flops_model": Field("int|null", "passes · 2·d·k·(r + p) (null for the exact SVD)"),
    **THREAD_FIELDS,
    "gflops": gflops_field("flops_model"),
}

SUITE = Suite(
    name="factorize",
    title="factorizations",
    benchmark="benchmarks/bench_factorize.py",
    doc="One factorization of a d×k matrix of known spectrum, timed by the run's engine (docs/timing.md): warm-up, then "
        "one call a round within the profile's factorization budget. Quality is computed outside the timed call, in "
        "float64, against the exact matrix.",
    fields=FIELDS,
    params="`d`, `k`, `spectrum`, `rank`, `backend`, `dtype`, `method`, `oversampling`, `power_iterations`",
    pairings=(
        Pairing("vs_peer", reference={"method": PEERS}, candidate={"method": ("randomized",)},
                match=("backend", "dtype", "d", "k", "rank", "spectrum", "oversampling", "power_iterations"),
                doc="the peer's median / ours at the same knobs (torch.svd_lowrank on torch, scikit-learn on numpy)"),
    ),
    exact={"passes": "identical", "flops_model": "identical", "sketch_width": "identical", "matrix_rank": "identical",
           "optimal_error_fro": "rtol", "rel_error_fro": "roundoff"},
)
