"""The regression gate on real runs: A/A passes, injected slowdowns and changed metrics fail it."""

import copy
import json

import pytest

from lowrank.errors import LowRankValueError
from lowrank.judge import baselines


def test_baselines_are_recorded_atomically_and_not_replaced_silently(aa_runs, tmp_path):
    base, _ = aa_runs
    path = baselines.record_baseline([base], ["run.json"], "ci-quick", tmp_path)
    assert path == tmp_path / "ci-quick.json"
    stored = json.loads(path.read_text())
    assert stored["lowrank_bench_baseline"]["name"] == "ci-quick"
    assert len(stored["benchmarks"]) == len(base["benchmarks"])
    with pytest.raises(LowRankValueError, match="already exists.*--update"):
        baselines.record_baseline([base], ["run.json"], "ci-quick", tmp_path)
    baselines.record_baseline([base], ["run.json"], "ci-quick", tmp_path, update=True)
    assert not list(tmp_path.glob(".*partial"))
    with pytest.raises(LowRankValueError, match="baseline 'nope' not found.*known baselines: ci-quick"):
        baselines.existing_baseline("nope", tmp_path)
    with pytest.raises(LowRankValueError, match="not accepted"):
        baselines.baseline_path("bad name!")


def test_pooling_merges_samples_and_refuses_different_code(aa_runs):
    base, cur = aa_runs
    pooled = baselines.pool_runs([base, cur], ["a.json", "b.json"])
    for p, a, b in zip(pooled["benchmarks"], base["benchmarks"], cur["benchmarks"]):
        assert p["stats"]["rounds"] == len(a["stats"]["data"]) + len(b["stats"]["data"])
        lo, hi = sorted([a["stats"]["median"], b["stats"]["median"]])
        assert lo <= p["stats"]["median"] <= hi
    other = copy.deepcopy(cur)
    other["benchmarks"][0]["extra_info"]["flops"] += 1
    with pytest.raises(LowRankValueError, match="b.json.*flops.*cannot be pooled"):
        baselines.pool_runs([base, other], ["a.json", "b.json"])


def test_pooling_leaves_out_a_refined_rank_not_every_run_holds(aa_runs):
    base, cur = aa_runs
    a, b = copy.deepcopy(base), copy.deepcopy(cur)
    refined_a, refined_b, shared = a["benchmarks"][1], b["benchmarks"][2], a["benchmarks"][3]
    for bench in (refined_a, refined_b, shared, b["benchmarks"][3]):
        bench["extra_info"]["refined"] = True  # each run refined its own rank; both refined the third
    b["benchmarks"] = [x for x in b["benchmarks"] if x["param"] != refined_a["param"]]
    a["benchmarks"] = [x for x in a["benchmarks"] if x["param"] != refined_b["param"]]
    pooled = baselines.pool_runs([a, b], ["a.json", "b.json"])
    params = [x["param"] for x in pooled["benchmarks"]]
    assert refined_a["param"] not in params and refined_b["param"] not in params
    assert shared["param"] in params and len(params) == len(base["benchmarks"]) - 2
    # a grid case (not refined) missing from a run is still an error
    b["benchmarks"] = b["benchmarks"][1:]
    with pytest.raises(LowRankValueError, match="missing from b.json"):
        baselines.pool_runs([a, b], ["a.json", "b.json"])
