"""The paired speedup across processes: the median of every process's ratios pooled, a two-level bootstrap interval."""

import pytest

from lowrank.record import merging, pairs


def test_the_speedup_is_the_median_of_every_process_ratios_pooled():
    s = pairs.summarize([[2.0, 2.2, 1.8], [2.1, 2.0, 2.3], [3.0, 3.1, 2.9]])
    assert s["process_speedups"] == [2.0, 2.1, 3.0]
    assert s["paired_speedup"] == pytest.approx(2.2)  # the 5th of the 9 ratios pooled
    assert s["paired_speedup_lo"] <= s["paired_speedup"] <= s["paired_speedup_hi"]


def test_the_interval_widens_when_processes_disagree_not_only_when_rounds_scatter():
    # The same rounds within each process; in the second set the processes sit 20% apart. An interval
    # from the pooled rounds alone would not see it; resampling processes does.
    tight = [[2.0, 2.01, 1.99, 2.0]] * 3
    apart = [[2.0, 2.01, 1.99, 2.0], [2.4, 2.41, 2.39, 2.4], [1.7, 1.71, 1.69, 1.7]]
    a, b = pairs.summarize(tight), pairs.summarize(apart)
    assert a["paired_speedup_hi"] / a["paired_speedup_lo"] < 1.02
    assert b["paired_speedup_lo"] <= 1.75 and b["paired_speedup_hi"] >= 2.35


def test_the_interval_is_seeded_and_bad_ratios_are_left_out():
    ratios = [[1.0, 1.2, 0.9, 1.1], [1.05, 0.95, float("nan"), -1.0]]
    assert pairs.summarize(ratios) == pairs.summarize(ratios)
    assert pairs.summarize(ratios)["process_pair_ratios"][1] == [1.05, 0.95]
    empty = pairs.summarize([[], [float("nan")]])
    assert empty["paired_speedup"] is None and not pairs.is_paired(empty)


def _pass(median, ratios, name="bench_matvec[x-r0016]"):
    extra = {"suite": "matvec", "variant": "factored", "process_pair_ratios": [ratios] if ratios else None}
    return {"fullname": name, "name": name, "stats": {"median": median}, "extra_info": extra}


def test_merging_processes_pools_every_process_ratios_into_the_paired_figures():
    docs = [(1, {"benchmarks": [_pass(1.0e-5, [3.0, 3.2, 2.8])]}),
            (2, {"benchmarks": [_pass(0.9e-5, [3.1, 3.0, 3.3])]}),
            (3, {"benchmarks": [_pass(1.2e-5, [2.5, 2.6, 2.4])]})]
    (bench,) = merging.merge_passes(docs)["benchmarks"]
    extra = bench["extra_info"]
    assert extra["process_speedups"] == [3.0, 3.1, 2.5]  # each process's, in process order
    assert extra["paired_speedup"] == pytest.approx(3.0)  # the median of the 9 ratios pooled
    assert extra["paired_speedup_lo"] <= 2.6 and extra["paired_speedup_hi"] >= 3.0
    assert extra["process_pair_ratios"] == [[3.0, 3.2, 2.8], [3.1, 3.0, 3.3], [2.5, 2.6, 2.4]]


def test_a_case_without_pairs_merges_as_before():
    docs = [(1, {"benchmarks": [_pass(1.0e-5, None)]}), (2, {"benchmarks": [_pass(2.0e-5, None)]})]
    (bench,) = merging.merge_passes(docs)["benchmarks"]
    assert "paired_speedup" not in bench["extra_info"]
    assert bench["extra_info"]["process_medians"] == [1.0e-5, 2.0e-5]


@pytest.mark.parametrize("value, expected", [(2.0, True), (None, False), (float("nan"), False), (0.0, False)])
def test_is_paired(value, expected):
    assert pairs.is_paired({"paired_speedup": value}) is expected
