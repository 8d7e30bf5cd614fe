"""Machine facts: threads, caches, calibration figures within physical reason."""

import importlib.util
import os

import pytest

from benchmarks.engine import machine
from lowrank.record import plausibility


def test_requested_threads():
    assert machine.requested_threads({}) == max(1, machine.usable_cores() - 1)
    assert machine.requested_threads({"LOWRANK_BENCH_THREADS": "1"}) == 1
    with pytest.raises(ValueError, match="LOWRANK_BENCH_THREADS='two'"):
        machine.requested_threads({"LOWRANK_BENCH_THREADS": "two"})


def test_default_threads_leave_one_core_free():
    assert machine.default_threads(1) == 1
    assert machine.default_threads(2) == 1
    assert machine.default_threads(16) == 15
    assert 1 <= machine.usable_cores() <= (os.cpu_count() or 1)


def test_cache_levels_are_ordered():
    sizes = machine.cpu_cache_bytes()
    if not sizes:
        pytest.skip("no cache sizes in sysfs on this machine")
    present = [sizes[level] for level in ("L1", "L2", "L3") if level in sizes]
    assert present == sorted(present), sizes


def test_thread_pin_applies_and_restores():
    from threadpoolctl import threadpool_info

    def blas():
        return {p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    before = blas()
    pin = machine.ThreadPin(1, use_torch=False)
    try:
        # every BLAS the suite can load is pinned, scipy's own OpenBLAS (scikit-learn's peer uses it) included
        assert pin.info()["blas"] == 1 and set(blas().values()) == {1}
        if importlib.util.find_spec("scipy") is not None:
            assert any("scipy" in path for path in blas())
    finally:
        pin.release()
    after = blas()
    assert {path: after[path] for path in before} == before


def test_last_level_cache_is_plausible():
    llc = machine.last_level_cache_bytes("numpy")
    assert 256 * 2**10 <= llc <= 2 * 2**30


@pytest.mark.timed
def test_calibration_returns_plausible_numbers():
    cal = machine.calibrate({"numpy": ("float64",)}, matmul_size=256, log=lambda m: None)
    mem = cal["memory"]["cpu"]
    # Any machine of the last decades moves between 0.5 GB/s and 10 TB/s, and multiplies
    # at between 0.1 and 100000 GFLOP/s; a unit slip (bytes vs GB, s vs ms) lands outside.
    assert 0.5 < mem["copy_gbps"] < 1e4 and 0.5 < mem["add_gbps"] < 1e4
    assert mem["buffer_bytes"] >= 64 * 2**20
    assert 0.5 < mem["dot_gbps"] < 1e4
    # A cache level is calibrated with buffers that fit in it; it cannot be slower than a tenth of DRAM.
    for level, gbps in cal["levels"]["cpu"].items():
        assert gbps > 0.1 * mem["copy_gbps"], (level, gbps)
    assert 0.1 < cal["peak_gflops"]["numpy"]["float64"] < 1e5
    assert plausibility.bandwidth_roof(cal, "numpy", "DRAM") == max(mem["copy_gbps"], mem["add_gbps"], mem["dot_gbps"])


def test_fingerprint_ignores_host_name_but_not_hardware():
    info = {"cpu": {"brand_raw": "CPU X", "count": 2}, "machine": "x86_64", "node": "a"}
    same = dict(info, node="b")
    other = {"cpu": {"brand_raw": "CPU Y", "count": 2}, "machine": "x86_64"}
    assert machine.fingerprint(info, {}) == machine.fingerprint(same, {})
    assert machine.fingerprint(info, {}) != machine.fingerprint(other, {})
    assert machine.fingerprint(info, {}) != machine.fingerprint(info, {"torch-cuda": "NVIDIA H100"})
