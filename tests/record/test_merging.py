"""The timing engine's decisions: stall-proof calibration, minimum rounds, diagnostics, pass merging."""

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


def test_merge_reports_the_least_disturbed_pass_and_records_every_pass():
    docs = [(1, _doc({"a": 1.3e-5, "b": 2.0e-5})), (2, _doc({"a": 1.0e-5, "b": 2.2e-5})),
            (3, _doc({"a": 1.1e-5, "b": 2.1e-5}))]
    original = copy.deepcopy(docs)
    merged = merging.merge_passes(docs)
    a, b = merged["benchmarks"]
    assert a["stats"] == original[1][1]["benchmarks"][0]["stats"]  # pass 2's samples, untouched
    assert a["extra_info"]["reported_pass"] == 2 and b["extra_info"]["reported_pass"] == 1
    assert a["extra_info"]["process_medians"] == [1.3e-5, 1.0e-5, 1.1e-5]
    assert a["extra_info"]["process_spread"] == pytest.approx((1.3e-5 - 1.0e-5) / 1.1e-5)
    assert a["extra_info"]["processes"] == 3
    assert a["extra_info"]["gflops"] == pytest.approx(1.0 / 1.0e-5)  # throughput of the reported pass


def test_merge_of_one_pass_has_no_spread():
    merged = merging.merge_passes([(1, _doc({"a": 1e-5}))])
    assert merged["benchmarks"][0]["extra_info"]["process_spread"] is None


def test_merge_without_results_is_an_error():
    with pytest.raises(ValueError, match="no worker"):
        merging.merge_passes([])
