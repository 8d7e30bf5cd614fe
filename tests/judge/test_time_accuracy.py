"""Tables and figures of the factorization and LoRA suites, on hand-made records and on a real tiny run."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lowrank.judge import time_accuracy as fa
from lowrank.record.schema import SCHEMA_TAG
from lowrank.record.suites import SUITES
from lowrank.runner import launch

REPO = Path(__file__).resolve().parents[2]


def fbench(method, backend, p, q, median, ratio, *, d=4096, k=4096, rank=64, spectrum="power-law", opt=0.1):
    return {
        "name": f"bench_factorize[{backend}-{method}-{p}-{q}]",
        "param": f"{backend}-{method}-{p}-{q}",
        "extra_info": {
            "schema": SCHEMA_TAG, "suite": "factorize", "method": method, "backend": backend, "dtype": "float32",
            "d": d, "k": k, "rank": rank, "spectrum": spectrum, "oversampling": p, "power_iterations": q,
            "passes": None if q is None else 2 * q + 2, "rel_error_fro": (ratio or 1) * opt if opt else 1e-7,
            "optimal_error_fro": opt, "error_ratio_fro": ratio, "sigma_rel_error_max": 0.01, "gflops": None,
        },
        "stats": {"median": median, "iqr": median / 10, "q1": median * 0.95, "q3": median * 1.05, "min": median,
                  "mean": median, "stddev": 0.0, "rounds": 3},
    }


def lbench(op, variant, rank, median, *, backend="numpy", dtype="float32", batch=1, **extra):
    info = {"schema": SCHEMA_TAG, "suite": "lora", "op": op, "variant": variant, "backend": backend, "dtype": dtype,
            "d": 1024, "k": 1024, "rank": rank, "batch": batch,
            "flop_overhead": None if rank is None or op == "merge" else rank * 2048 / 1024**2, "output_error": 1e-7,
            **extra}
    return {"name": f"{op}-{variant}-{rank}", "extra_info": info,
            "stats": {"median": median, "iqr": median / 20, "q1": median, "q3": median, "rounds": 5}}


@pytest.fixture
def records():
    return [
        fbench("randomized", "numpy", 10, 1, 0.10, 1.025),
        fbench("randomized", "numpy", 10, 2, 0.12, 1.006),
        fbench("randomized", "numpy", 40, 1, 0.11, 1.005),
        fbench("randomized", "torch-cpu", 10, 2, 0.15, 1.006),
        fbench("torch_svd_lowrank", "torch-cpu", 10, 1, 0.12, 1.026),
        fbench("torch_svd_lowrank", "torch-cpu", 10, 2, 0.16, 1.0058),
        fbench("sklearn_randomized_svd", "numpy", 10, 2, 0.50, 1.18),
        fbench("svd", "numpy", None, None, 15.0, 1.0),
        fbench("randomized", "numpy", 10, 2, 0.001, 1.0003, d=384, k=256, rank=16),
        fbench("randomized", "numpy", 10, 2, 0.001, None, d=384, k=256, rank=16, spectrum="exact-rank", opt=0.0),
        lbench("forward", "merged", None, 40e-6),
        lbench("forward", "unmerged", 16, 44e-6, paired_overhead=0.12, paired_overhead_iqr=0.02),
        lbench("forward", "unmerged", 64, 50e-6),  # no paired measurement: NaN, and the plot falls back
        lbench("forward", "unmerged", 16, 1e-3, batch=32),  # no merged partner: dropped
        lbench("merge", "native", 16, 2e-3, drift_max_abs=1.5e-8, w0_max_abs=0.3, drift_bound_ratio=1.99, gflops=1.0,
               unit_roundoff=2.0**-24),
        lbench("merge", "native", 16, 2e-3, dtype="bfloat16", backend="torch-cpu", drift_max_abs=1e-3,
               w0_max_abs=0.3, drift_bound_ratio=2.5, gflops=1.0),  # no unit_roundoff: the column is filled
        {"name": "foreign", "extra_info": {"suite": "factorize"}, "stats": {"median": 1.0}},
    ]


def test_frame_reads_lists_and_frames_alike_and_skips_foreign_records(records):
    frame = fa.benchmark_frame(records)
    assert len(frame) == len(records) - 1
    again = fa.benchmark_frame(frame, "lora")
    assert set(again["suite"]) == {"lora"} and len(again) == 6
    assert str(frame["rank"].dtype) == "Int64"  # ints survive the nulls of merged rows
    assert fa.factorization_table([]).empty and fa.lora_overhead_table([]).empty and fa.drift_table([]).empty


def test_factorization_table_is_sorted_and_typed(records):
    table = fa.factorization_table(records)
    assert len(table) == 10
    first = table[(table["d"] == 4096)].iloc[0]
    assert first["method"] == "randomized" and first["backend"] == "numpy" and first["power_iterations"] == 1
    assert table["median_s"].notna().all() and table["rel_iqr"].round(6).eq(0.1).all()


def test_cheapest_within_picks_the_fastest_qualifying_knobs(records):
    best = fa.cheapest_within(records, 1.01).set_index(["method", "backend"])
    ours = best.loc[("randomized", "numpy")]
    assert (ours["oversampling"], ours["power_iterations"], ours["median_s"]) == (40, 1, 0.11)
    torch_ref = best.loc[("torch_svd_lowrank", "torch-cpu")]
    assert torch_ref["meets"] and torch_ref["power_iterations"] == 2 and torch_ref["vs_torch_svd_lowrank"] == 1.0
    assert ours["vs_torch_svd_lowrank"] == pytest.approx(0.11 / 0.16)
    sk = best.loc[("sklearn_randomized_svd", "numpy")]
    assert not sk["meets"] and sk["error_ratio_fro"] == 1.18  # the most accurate it reached
    assert list(best.index.get_level_values(0))[0] == "randomized"
    small = fa.cheapest_within(records, 1.01, cell={"d": 384, "k": 256, "rank": 16})
    assert len(small) == 1 and small["median_s"].iloc[0] == 0.001


def test_cheapest_within_judges_exact_rank_matrices_by_their_round_off(records):
    cell = {"d": 384, "k": 256, "rank": 16, "spectrum": "exact-rank"}
    assert fa.cheapest_within(records, 1.01, cell)["meets"].tolist() == [True]  # 1e-7 <= 1e-5
    assert fa.cheapest_within(records, 1.01, cell, zero_optimum_tol=1e-8)["meets"].tolist() == [False]


def test_time_accuracy_figure_has_a_curve_per_method_and_backend(records):
    fig = fa.plot_time_accuracy(records)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["lowrank randomized (numpy)", "lowrank randomized (torch-cpu)", "torch.svd_lowrank (torch-cpu)",
                      "sklearn randomized_svd (numpy)", "exact SVD (numpy)"]
    assert ax.get_xscale() == "log" and "optimum − 1" in ax.get_ylabel()
    exact = fa.plot_time_accuracy(records, cell={"d": 384, "k": 256, "rank": 16, "spectrum": "exact-rank"})
    assert "optimum 0" in exact.axes[0].get_ylabel()
    assert "no data" in fa.plot_time_accuracy(records, cell={"d": 7}).axes[0].get_title()
    cells = fa.time_accuracy_cells(records)
    assert {"d": 4096, "k": 4096, "rank": 64, "spectrum": "power-law", "dtype": "float32"} in cells and len(cells) == 3


def test_lora_overhead_pairs_each_unmerged_rank_with_the_merged_forward(records):
    table = fa.lora_overhead_table(records)
    assert list(table["rank"]) == [16, 64]  # the n=32 row has no merged partner
    np.testing.assert_allclose(table["overhead"], [0.1, 0.25])
    assert table["paired_overhead"].iloc[0] == 0.12 and np.isnan(table["paired_overhead"].iloc[1])
    np.testing.assert_allclose(table["flop_overhead"], [16 * 2048 / 1024**2, 64 * 2048 / 1024**2])
    fig = fa.plot_lora_overhead(records)
    assert len(fig.axes[0].get_lines()) >= 2


def test_drift_table_flags_drift_beyond_the_rounding_bound(records):
    table = fa.drift_table(records)
    assert list(table["dtype"]) == ["float32", "bfloat16"]
    assert list(table["within_bound"]) == [True, False]
    np.testing.assert_allclose(table["drift_rel"], [1.5e-8 / 0.3, 1e-3 / 0.3])
    assert table["merge_s"].tolist() == [2e-3, 2e-3]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Both suites run for real on a few quick-profile cases, timing on, into one JSON."""
    out = tmp_path_factory.mktemp("run") / "run.json"
    # One thread: on a shared 2-core machine multi-threaded BLAS can stall for seconds when
    # another process holds a core, and this test checks records, not speed.
    # One process: this checks records, not the spread between processes.
    settings = {"LOWRANK_BENCH_PROFILE": "quick", "LOWRANK_BENCH_BACKENDS": "numpy,torch-cpu",
                "LOWRANK_BENCH_THREADS": "1", "LOWRANK_BENCH_PROCESSES": "1"}
    doc = launch.run_suite(["benchmarks/bench_factorize.py", "benchmarks/bench_lora.py"], settings, out, cwd=REPO,
                           select="(power-law and q2) or power-law-svd or n001 or (merge and bfloat16)", timeout=300)
    return doc["benchmarks"]


def test_real_records_fit_the_schema_and_feed_the_tables(tiny_run):
    suites = {}
    for b in tiny_run:
        info = b["extra_info"]
        assert SUITES[info["suite"]].problems(info)[1] == [], b["name"]
        suites[info["suite"]] = suites.get(info["suite"], 0) + 1
    assert suites["factorize"] >= 4 and suites["lora"] >= 4
    table = fa.factorization_table(tiny_run)
    assert set(table["method"]) == {"svd", "randomized", "torch_svd_lowrank", "sklearn_randomized_svd"}
    # q = 2 on a 1/i spectrum is within 1% of Eckart–Young for every method (the float32 sketch included).
    assert table["error_ratio_fro"].between(1 - 1e-6, 1.01).all(), table[["method", "error_ratio_fro"]]
    assert len(fa.lora_overhead_table(tiny_run)) == 2
    drift = fa.drift_table(tiny_run)
    assert set(drift["precision"]) == {"native", "float32-accumulate"} and drift["within_bound"].all()
    assert isinstance(fa.benchmark_frame(pd.DataFrame(fa.benchmark_frame(tiny_run))), pd.DataFrame)
