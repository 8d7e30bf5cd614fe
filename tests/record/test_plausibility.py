"""The plausibility guard: impossible speedups and throughputs are flagged, cache effects are not."""

import pytest

from lowrank.cost import dense_cost, factored_cost
from lowrank.record import plausibility as pl

MiB = 2**20
# A calibration like this project's 2-core VM: 30 GB/s DRAM, ~95 GB/s from L2/L3.
CALIBRATION = {
    "memory": {"cpu": {"copy_gbps": 26.0, "add_gbps": 32.0, "dot_gbps": 29.0, "buffer_bytes": 256 * MiB}},
    "levels": {"cpu": {"L2": 95.0, "L3": 95.0}},
    "cache_bytes": {"cpu": {"L2": 1 * MiB, "L3": 32 * MiB}},
    "peak_gflops": {"numpy": {"float32": 100.0, "float64": 50.0}, "torch-cpu": {"float32": 90.0, "float64": 45.0}},
    "llc_bytes": {"numpy": 32 * MiB, "torch-cpu": 32 * MiB},
}


def model(d, k, r, n, dtype="float32", cache="warm", backend="torch-cpu", calibration=CALIBRATION):
    dense, fact = dense_cost(d, k, n, dtype), factored_cost(d, k, r, n, dtype)
    return {"backend": backend, "cache": cache, "dense_flops": dense.flops, "dense_bytes": dense.bytes_moved,
            "factored_flops": fact.flops, "factored_bytes": fact.bytes_moved, "calibration": calibration}


def test_residence_follows_the_cache_sizes_and_the_cache_mode():
    sizes = CALIBRATION["cache_bytes"]["cpu"]
    assert pl.residence(256 * 2**10, "warm", sizes) == "L2"
    assert pl.residence(8 * MiB, "warm", sizes) == "L3"
    assert pl.residence(48 * MiB, "warm", sizes) == "L3"  # at best, a W just above the L3 is partly served by it
    assert pl.residence(48 * MiB, "warm", sizes, fastest=False) == "DRAM"  # at worst it streams from DRAM
    assert pl.residence(256 * MiB, "warm", sizes) == "DRAM"
    assert pl.residence(256 * 2**10, "cold", sizes) == "DRAM"  # cold rotates copies past the cache


def test_a_w_that_thrashes_the_last_level_cache_may_lose_to_factors_in_it():
    # 4096x1024 float64 (32 MiB, the size of the L3) against rank-64 factors (2.6 MB) at n = 1: measured
    # here at 29.5x where the model ratio is 12.8. The W streams from DRAM at worst, the factors come
    # from L3: that explains up to ~12.8 x 95/32.
    assert pl.speedup_flag(29.5, **model(4096, 1024, 64, 1, dtype="float64")) is None


@pytest.mark.parametrize("speedup", [19.0, 545.0 / 128 * 128])
def test_the_published_impossible_speedups_are_flagged(speedup):
    # The committed reference run showed 19x at rank 256 (256², n = 512) and 545x at rank 1, where the
    # FLOP ratios are 0.5 and 128: both W and the factors sit in L2, so no memory level explains them.
    rank = 256 if speedup == 19.0 else 1
    why = pl.speedup_flag(speedup, **model(256, 256, rank, 512))
    assert why is not None and "cost model" in why


def test_a_speedup_within_the_model_is_not_flagged():
    # 1024², r = 16, n = 32: FLOP ratio 32; a measured 34x is ordinary.
    assert pl.speedup_flag(34.0, **model(1024, 1024, 16, 32)) is None


def test_cache_resident_factors_against_a_dram_w_may_beat_the_flop_ratio():
    # 8192² float32 (256 MiB, DRAM) against rank-16 factors (1 MiB, L2/L3) at n = 1: the bytes ratio
    # (256) times the L3/DRAM bandwidth ratio (95/32 ≈ 3) explains up to ~760x; 600x is not flagged,
    # while the same 600x with both in DRAM (cold cache) is.
    bound, how = pl.speedup_bound(**model(8192, 8192, 16, 1))
    assert bound > 600 and "bandwidth" in how
    assert pl.speedup_flag(600.0, **model(8192, 8192, 16, 1)) is None
    assert pl.speedup_flag(1200.0, **model(8192, 8192, 16, 1, cache="cold")) is not None


def test_throughput_above_the_roof_of_its_level_is_flagged():
    cost = dense_cost(8192, 8192, 1, "float32")  # 256 MiB from DRAM: 32 GB/s roof
    at_roof = cost.bytes_moved / 30e9
    assert pl.roof_flag(backend="numpy", dtype="float32", cache="warm", median_s=at_roof, flops=cost.flops,
                        bytes_moved=cost.bytes_moved, calibration=CALIBRATION) is None
    why = pl.roof_flag(backend="numpy", dtype="float32", cache="warm", median_s=at_roof / 3, flops=cost.flops,
                       bytes_moved=cost.bytes_moved, calibration=CALIBRATION)
    assert why is not None and "DRAM roof" in why


def test_compute_above_the_calibrated_peak_is_flagged():
    cost = dense_cost(4096, 4096, 512, "float32")  # compute-bound; 100 GFLOP/s peak
    why = pl.roof_flag(backend="numpy", dtype="float32", cache="warm", median_s=cost.flops / 300e9, flops=cost.flops,
                       bytes_moved=cost.bytes_moved, calibration=CALIBRATION)
    assert why is not None and "matmul peak" in why


def test_files_without_cache_calibration_are_judged_only_where_they_can_be():
    old = {k: v for k, v in CALIBRATION.items() if k not in ("levels", "cache_bytes")}
    small = dense_cost(256, 256, 1, "float32")  # in cache: no cache roof recorded, so no roof judgement
    assert pl.roof_flag(backend="numpy", dtype="float32", cache="warm", median_s=small.bytes_moved / 200e9,
                        flops=small.flops, bytes_moved=small.bytes_moved, calibration=old) is None
    # Both sides in the same level (the old file's LLC): the plain model bound still applies.
    assert pl.speedup_flag(19.0, **model(256, 256, 256, 512, calibration=old)) is not None
    # DRAM W against cache factors with no cache roof: no bound can be given, so no flag.
    assert pl.speedup_flag(600.0, **model(8192, 8192, 16, 1, calibration=old)) is None


def test_the_compute_roof_is_the_devices_best_library_not_the_backends_own():
    # torch-cpu calibrated low (77 GFLOP/s at 2048^2) while numpy reached 101 on the same cores:
    # torch at 100 GFLOP/s on a 256^2 GEMM is within what the hardware does (measured 2026-11-30).
    cal = {**CALIBRATION, "peak_gflops": {"numpy": {"float32": 101.0}, "torch-cpu": {"float32": 77.0}}}
    assert pl.compute_roof(cal, "torch-cpu", "float32") == 101.0
    cost = dense_cost(256, 256, 512, "float32")
    at_100 = cost.flops / 100e9
    assert pl.roof_flag(backend="torch-cpu", dtype="float32", cache="warm", median_s=at_100, flops=cost.flops,
                        bytes_moved=cost.bytes_moved, calibration=cal) is None
    # ... but twice the best library's peak is still impossible
    assert "matmul peak of 101.0" in pl.roof_flag(backend="torch-cpu", dtype="float32", cache="warm",
                                                  median_s=at_100 / 2.5, flops=cost.flops,
                                                  bytes_moved=cost.bytes_moved, calibration=cal)
    # a GPU's roof is its own: the CPU libraries' peaks do not count for torch-cuda
    assert pl.compute_roof(cal, "torch-cuda", "float32") is None
