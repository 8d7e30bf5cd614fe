"""Merging processes: every round of every process pooled, each process's median kept beside."""

import copy

import pytest

from lowrank.record import merging


def _doc(medians: dict[str, float]) -> dict:
    benches = []
    for name, median in medians.items():
        benches.append({
            "name": name, "fullname": f"benchmarks/bench_matvec.py::{name}", "group": "g",
            "params": {}, "param": name, "options": {},
            "extra_info": {"suite": "other", "gflops": 1.0 / median},
            "stats": {"median": median, "min": median * 0.9, "data": [median * 0.9, median, median * 1.1]},
        })
    return {"machine_info": {"lowrank_bench": {"complete": True}}, "benchmarks": benches}


def test_merge_pools_the_rounds_of_every_process_and_records_each_ones_median():
    docs = [(1, _doc({"a": 1.3e-5, "b": 2.0e-5})), (2, _doc({"a": 1.0e-5, "b": 2.2e-5})),
            (3, _doc({"a": 1.1e-5, "b": 2.1e-5}))]
    original = copy.deepcopy(docs)
    merged = merging.merge_passes(docs)
    a, b = merged["benchmarks"]
    pooled = [v for _, doc in original for v in doc["benchmarks"][0]["stats"]["data"]]
    assert a["stats"]["data"] == pooled and a["stats"]["rounds"] == 9
    assert a["stats"]["median"] == pytest.approx(sorted(pooled)[4])  # pytest-benchmark's statistics of them all
    assert a["stats"]["min"] == pytest.approx(min(pooled)) and a["stats"]["max"] == pytest.approx(max(pooled))
    assert a["extra_info"]["process_medians"] == [1.3e-5, 1.0e-5, 1.1e-5]
    assert a["extra_info"]["process_spread"] == pytest.approx((1.3e-5 - 1.0e-5) / 1.1e-5)
    assert a["extra_info"]["processes"] == 3 and a["extra_info"]["reported_pass"] is None
    assert a["extra_info"]["gflops"] == pytest.approx(1.0 / 1.3e-5)  # the first process's record fields


def test_a_file_without_raw_rounds_keeps_its_first_process_statistics():
    docs = [(1, _doc({"a": 1.3e-5})), (2, _doc({"a": 1.0e-5}))]
    for _, doc in docs:
        del doc["benchmarks"][0]["stats"]["data"]
    (a,) = merging.merge_passes(docs)["benchmarks"]
    assert a["stats"]["median"] == 1.3e-5 and a["extra_info"]["process_medians"] == [1.3e-5, 1.0e-5]


def test_merge_of_one_pass_has_no_spread():
    merged = merging.merge_passes([(1, _doc({"a": 1e-5}))])
    assert merged["benchmarks"][0]["extra_info"]["process_spread"] is None


def test_merge_without_results_is_an_error():
    with pytest.raises(ValueError, match="no worker"):
        merging.merge_passes([])
