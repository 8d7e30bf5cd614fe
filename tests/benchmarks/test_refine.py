"""Ranks refined near a break-even after pass 1: which rank each curve gets, and how later passes time it."""

import json

import pytest

from benchmarks.engine import driver
from benchmarks.harness.selection import select
from benchmarks.matvec import grid, refine
from lowrank.cost import break_even_rank
from lowrank.judge import gate
from lowrank.record import merging
from tests.benchmarks import tiny_matvec_curve

CURVE = ("numpy", "float32", 4096, 4096, 1, "warm")


def _record(curve, rank, speedup):
    backend, dtype, d, k, batch, cache = curve
    return {"fullname": f"bench_matvec[{backend}-{dtype}-d{d}-k{k}-r{rank:04d}-n{batch:03d}-{cache}]",
            "extra_info": {"suite": "matvec", "backend": backend, "dtype": dtype, "d": d, "k": k, "batch": batch,
                           "cache": cache, "rank": rank, "paired_speedup": speedup}}


def test_the_ladder_lies_between_half_r_star_and_above_r_star_within_the_shape():
    for d, k in ((256, 256), (1024, 4096), (4096, 1024), (8192, 8192)):
        r_star = break_even_rank(d, k)
        rungs = refine.rung_ranks(d, k)
        assert rungs == sorted(set(rungs)) and all(r_star / 2 < r <= min(d, k) for r in rungs)
        assert sum(r < r_star for r in rungs) == 4 and sum(r > r_star for r in rungs) >= 1


def test_a_crossing_between_grid_ranks_gets_the_rung_nearest_its_interpolated_rank():
    # log-log interpolation between (1024, 1.9) and (2048, 0.8) crosses at about 1712 = 0.84 r*
    assert refine.extra_rank(4096, 4096, {16: 40.0, 1024: 1.9, 2048: 0.8}) == 1638
    # crossing just under r*: the 0.9 rung
    assert refine.extra_rank(4096, 4096, {1024: 1.9, 2048: 0.97}) == 1843


def test_a_curve_still_faster_at_its_top_rank_gets_the_first_rung_above_it():
    assert refine.extra_rank(4096, 4096, {1024: 1.9, 2048: 1.01}) == round(1.15 * 2048)
    # at 1024x4096 the rungs above r* = 819.2 are 942 and 1024 (= min(d, k))
    assert refine.extra_rank(1024, 4096, {409: 1.8, 819: 1.2}) == 942


def test_no_rank_where_no_rung_fits_or_the_curve_is_slower_everywhere():
    assert refine.extra_rank(4096, 4096, {1: 0.5, 16: 0.7, 2048: 0.2}) is None  # slower at every rank
    assert refine.extra_rank(4096, 4096, {16: 2.0, 64: 0.9, 2048: 0.2}) is None  # crossing (16, 64): no rung there
    # a dip below 1 at low ranks, then the crossing the ladder reaches
    assert refine.extra_rank(4096, 4096, {16: 2.0, 64: 0.9, 256: 3.0, 1024: 1.9, 2048: 0.97}) == 1843
    assert refine.extra_rank(256, 256, {64: 3.0, 128: 1.5, 147: 1.2, 166: 1.1}) is None  # no rung left above
    assert refine.extra_rank(4096, 4096, {}) is None


def test_the_plan_of_a_pass_one_document_survives_the_listing_and_reaches_the_grid():
    other = ("torch-cpu", "float64", 1024, 4096, 32, "warm")
    doc = {"benchmarks": [_record(CURVE, 1024, 1.9), _record(CURVE, 2048, 0.8), _record(other, 409, 1.5),
                          _record(other, 819, 1.1), {**_record(other, 1024, 3.0), "extra_info": {
                              **_record(other, 1024, 3.0)["extra_info"], "flag": "GB/s above the roof"}},
                          {"fullname": "bench_matvec[dense]", "extra_info": {
                              "suite": "matvec", "rank": None, "paired_speedup": None}}]}
    planned = refine.plan(doc)
    assert planned == [(CURVE, 1638), (other, 942)]
    assert refine.from_lines(refine.to_lines(planned)) == {CURVE: (1638,), other: (942,)}
    selection = select("default", backends="numpy", dtypes="float32", caches="warm", shapes="4096x4096", batches="1")
    ranks = [c.rank for c in grid.expand(selection, refined={CURVE: (1638,)}) if c.rank is not None]
    assert ranks == sorted(grid.ranks_for(4096, 4096, selection.profile.base_ranks) + [1638])


def test_only_the_study_profiles_refine():
    from benchmarks.profiles import PROFILES

    assert PROFILES["default"].refine_break_even and PROFILES["full"].refine_break_even
    assert not PROFILES["quick"].refine_break_even  # CI's runs must hold the same cases every time


def test_a_baseline_case_the_run_did_not_refine_is_not_missing():
    from tests import recorded

    base = recorded.run("quick", 1)
    run = json.loads(json.dumps(base))
    dropped = [b for b in base["benchmarks"] if (b["extra_info"].get("rank") or 0) == 64][:2]
    dropped[0]["extra_info"]["refined"] = True  # this one a run refines anew each time; the other is a grid case
    names = {b["fullname"] for b in dropped}
    run["benchmarks"] = [b for b in run["benchmarks"] if b["fullname"] not in names]
    result = gate.compare_runs(run, base, gate.GateConfig(ratios="never", absolute="never"))
    assert result.only_baseline == [dropped[1]["param"]] and result.exit_code == 1


def test_merged_block_counts_cases_a_later_pass_added_as_planned():
    block = {"machine_info": {"lowrank_bench": {"cases_planned": 2}}}
    pass1 = {**block, "benchmarks": [{"fullname": "a"}, {"fullname": "b"}]}
    pass2 = {"benchmarks": [{"fullname": "a"}, {"fullname": "b"}, {"fullname": "a-refined"}]}
    merged = {"benchmarks": [{"fullname": n} for n in ("a", "b", "a-refined")]}
    out = merging.merged_block([(1, pass1), (2, pass2)], merged, True, 2)
    assert out["cases_planned"] == out["cases_finished"] == 3 and out["complete"]


@pytest.mark.timed
def test_later_passes_time_a_refined_rank_with_its_errors(tmp_path, monkeypatch):
    """Real workers of the matvec suite: a listing that adds rank 5 to the tiny 64x48 curve."""
    tiny_matvec_curve(monkeypatch, "2,8")
    curve = ("numpy", "float32", 64, 48, 1, "warm")
    docs, seen = [], []

    def listing(doc):
        seen.append(sorted(b["extra_info"]["rank"] or 0 for b in doc["benchmarks"]))
        return refine.to_lines([(curve, 5)])

    assert driver.run_passes(["benchmarks/bench_matvec.py", "--benchmark-only"], ["numpy"], 2, tmp_path, {}, docs,
                             lambda _msg: None, refine=listing)
    assert seen == [[0, 2, 8]]  # the hook read pass 1, which holds the grid only
    merged = merging.merge_passes(docs)
    by_rank = {b["extra_info"]["rank"]: b["extra_info"] for b in merged["benchmarks"]}
    assert sorted(by_rank, key=lambda r: r or 0) == [None, 2, 5, 8]
    assert by_rank[5]["refined"] is True and by_rank[5]["processes"] == 1
    assert by_rank[2]["refined"] is False and by_rank[2]["processes"] == 2
    assert by_rank[5]["rel_error_fro"] is not None and by_rank[5]["optimal_error_fro"] is not None
    assert by_rank[5]["paired_speedup"] > 0
