"""Operands and timed calls of the matvec benchmark."""

import numpy as np
import pytest

import lowrank
from benchmarks.engine import driver
from benchmarks.matvec import operands
from benchmarks.matvec.grid import Case


def _in_worker(monkeypatch, folder):
    """This process as a worker of a run whose operand folder is ``folder`` (what the driver's spec says)."""
    spec = driver.WorkerSpec(process=1, processes=1, backend="numpy", settings={}, calibration={},
                             operand_cache=str(folder))
    monkeypatch.setattr(driver, "_current", spec)


def test_factors_are_the_exact_truncated_svd_of_the_synthetic_matrix():
    B, A = operands.factors64(60, 40, 5)
    sm = operands.synthetic(60, 40)
    err = np.linalg.norm(sm.W - B @ A) / np.linalg.norm(sm.W)
    assert err == pytest.approx(sm.optimal_error(5), rel=1e-10)
    q = operands.quality(60, 40, "float64", 5, "numpy")
    assert q["rel_error_fro"] == pytest.approx(q["optimal_error_fro"], rel=1e-10)
    q32 = operands.quality(60, 40, "float32", None, "numpy")
    assert 0 < q32["rel_error_fro"] < 1e-6  # storing W in float32 only rounds it


@pytest.mark.parametrize("rank", [None, 3])
def test_backends_store_the_same_values_so_one_quality_figure_serves_all(rank, tmp_path, monkeypatch):
    # quality() is computed by the first worker of a run and read back by the others,
    # whatever their backend: that is only right if every backend rounds alike.
    if lowrank.available_backends()["torch-cpu"]:
        pytest.skip(lowrank.available_backends()["torch-cpu"])
    for dtype in ("float32", "float64"):
        ops = [operands._dense(50, 30, dtype, b) if rank is None else operands._factors(50, 30, rank, dtype, b)
               for b in ("numpy", "torch-cpu")]
        pairs = [(ops[0], ops[1])] if rank is None else list(zip(ops[0], ops[1]))
        for a, t in pairs:
            np.testing.assert_array_equal(np.asarray(a), t.numpy())
    _in_worker(monkeypatch, tmp_path)
    operands.quality.cache_clear()
    first = operands.quality(50, 30, "float32", rank, "torch-cpu")
    assert list(tmp_path.glob("quality-50x30-float32-*.npz")), "the first computation is left for other workers"
    operands.quality.cache_clear()
    assert operands.quality(50, 30, "float32", rank, "numpy") == first
    monkeypatch.setattr(driver, "_current", None)
    operands.quality.cache_clear()
    assert operands.quality(50, 30, "float32", rank, "numpy") == pytest.approx(first, rel=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch-cpu"])
@pytest.mark.parametrize("rank", [None, 4])
def test_timed_call_computes_the_product(backend, rank):
    if lowrank.available_backends()[backend]:
        pytest.skip(lowrank.available_backends()[backend])
    case = Case(48, 32, "float64", backend, 3, "warm", rank)
    timed = operands.make_call(case)
    y = np.asarray(lowrank.infer_backend(timed.call()).to_numpy(timed.call()))
    W = operands.synthetic(48, 32).W
    x = np.random.default_rng(operands.SEED + 1).standard_normal((32, 3))
    expected = W @ x if rank is None else np.dot(*operands.factors64(48, 32, 4)) @ x
    np.testing.assert_allclose(y, expected, atol=1e-12)
    exact = W @ x
    np.testing.assert_allclose(operands.output_error(case), np.linalg.norm(exact - expected) / np.linalg.norm(exact),
                               rtol=1e-9, atol=1e-14)


def test_cold_cache_rotates_through_distinct_buffers():
    case = Case(64, 64, "float32", "numpy", 1, "cold", 8)
    per_copy = (2 * 64 * 8 + 64) * 4
    llc = 64 * per_copy  # pretend a small cache so the test stays small
    n = operands.copies_for(case, per_copy, llc)
    assert n * per_copy >= 2 * llc
    timed = operands.make_call(case, llc_bytes=llc)
    assert timed.copies == n
    # The closure holds a cycle over the copies: walk one full turn and check the buffers.
    cycle = next(c.cell_contents for c in timed.call.__closure__ if type(c.cell_contents).__name__ == "cycle")
    seen = [next(cycle) for _ in range(n)]
    pointers = {a.__array_interface__["data"][0] for s in seen for a in s}
    assert len(pointers) == 3 * n, "every copy must own distinct B, A and x buffers"
    assert next(cycle)[0] is seen[0][0], "after n calls the rotation starts again"
    for s in seen:
        np.testing.assert_array_equal(s[0], seen[0][0])


def test_warm_cache_uses_one_copy():
    case = Case(64, 64, "float32", "numpy", 1, "warm", 8)
    assert operands.copies_for(case, 10, 10**9) == 1


def test_peak_memory_sees_the_output():
    case = Case(256, 256, "float64", "numpy", 64, "warm", None)
    peak, how = operands.peak_memory(case, operands.make_call(case).call)
    assert how == "tracemalloc" and peak >= 256 * 64 * 8
    if lowrank.available_backends()["torch-cpu"] is None:
        case = Case(256, 256, "float64", "torch-cpu", 64, "warm", 16)
        peak, how = operands.peak_memory(case, operands.make_call(case).call)
        assert "profiler" in how and peak >= 256 * 64 * 8


def test_operands_built_by_one_worker_are_read_back_identical_by_the_next(tmp_path, monkeypatch):
    # The driver points every worker of a run at one folder (the spec's operand_cache).
    _in_worker(monkeypatch, tmp_path)
    operands.synthetic.cache_clear()
    operands.factors64.cache_clear()
    built_sm, built_f = operands.synthetic(96, 64), operands.factors64(96, 64, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"factors-96x64-r8-{operands.SEED}.npz",
                                                          f"synthetic-96x64-{operands.SEED}.npz"]
    operands.synthetic.cache_clear()
    operands.factors64.cache_clear()  # a fresh process: only the folder is left
    read_sm, read_f = operands.synthetic(96, 64), operands.factors64(96, 64, 8)
    np.testing.assert_array_equal(read_sm.W, built_sm.W)
    assert read_sm.mixing == built_sm.mixing and read_sm.optimal_error(8) == built_sm.optimal_error(8)
    for a, b in zip(read_f, built_f):
        np.testing.assert_array_equal(a, b)
        assert not isinstance(a, np.memmap)  # read into memory, as the built arrays are
    operands.synthetic.cache_clear()
    operands.factors64.cache_clear()
