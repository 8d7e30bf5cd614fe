"""Speedups, break-even ranks, roofline fractions and run ratios against hand-computed values."""

import math

import numpy as np
import pytest

from lowrank.cost import break_even_rank
from lowrank.judge import speedups
from lowrank.judge.speedups import (
    STATUS_CROSSING,
    STATUS_FASTER,
    STATUS_IMPROVEMENT,
    STATUS_NOISE,
    STATUS_REGRESSION,
    STATUS_SAME,
    STATUS_SLOWER,
    STATUS_UPWARD,
    crossing_rank,
)
from lowrank.store import load
from tests import synthetic as data


# -- crossing_rank ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ranks, ratios, expected",
    [
        ([64, 256], [2.0, 0.5], 128.0),  # log s falls from +ln2 to -ln2: halfway in log-rank, √(64·256)
        ([1, 4, 16], [4.0, 2.0, 0.5], 8.0),  # crosses between 4 and 16, halfway in log-rank
        ([16, 64], [2.0, 1.0], 64.0),  # exactly 1 at a measured rank
        ([10, 1000], [10.0, 0.1], 100.0),
        ([100, 10], [0.5, 2.0], math.exp(math.log(10) + math.log(2) / math.log(4) * math.log(10))),  # unsorted input
    ],
)
def test_crossing_rank_is_log_log_interpolation(ranks, ratios, expected):
    rank, status, crossings = crossing_rank(ranks, ratios)
    assert status == STATUS_CROSSING and crossings == 1
    assert rank == pytest.approx(expected, rel=1e-9)


def test_crossing_rank_of_8_between_2_and_32():
    # s(2) = 4, s(32) = 1/4: log s = 2 ln 2 at log r = ln 2, -2 ln 2 at 5 ln 2 -> zero at 3 ln 2, r = 8.
    assert crossing_rank([2, 32], [4, 0.25])[0] == pytest.approx(8.0)


@pytest.mark.parametrize(
    "ratios, status",
    [([3.0, 2.0, 1.5], STATUS_FASTER), ([0.9, 0.5, 0.2], STATUS_SLOWER), ([0.5, 0.9, 2.0], STATUS_UPWARD),
     ([1.0, 0.5, 0.2], STATUS_SLOWER)],
)
def test_no_crossing_is_reported_as_none_in_range(ratios, status):
    rank, got, _ = crossing_rank([1, 4, 16], ratios)
    assert math.isnan(rank) and got == status
    text = speedups.describe_break_even(rank, got, 1, 16, 100.0)
    assert text.startswith("none in range")


def test_non_monotonic_curve_counts_crossings_and_takes_the_first_fall():
    rank, status, crossings = crossing_rank([1, 4, 16, 64], [2.0, 0.5, 2.0, 0.5])
    assert status == STATUS_CROSSING and crossings == 3 and rank == pytest.approx(2.0)
    assert "crosses 1 3 times" in speedups.describe_break_even(rank, status, 1, 64, 10.0, crossings)


def test_nan_and_nonpositive_points_are_ignored():
    assert crossing_rank([1, 4, 16, 64], [2.0, float("nan"), 0.0, 0.5])[0] == pytest.approx(8.0)


# -- speedups ---------------------------------------------------------------------------------------
def test_speedup_is_dense_over_factored_for_matching_cases_only():
    rows = data.curve({4: 4.0, 64: 0.5}, dense_median=8e-6)
    rows += data.curve({4: 2.0}, dense_median=1e-3, batch=32)  # another batch: its own dense
    rows.append(data.row("factored", 16, 1e-6, batch=512))  # no dense partner: left out
    rows.append(data.row("factored", 16, 1e-6, suite="overhead"))  # another suite: left out
    sp = speedups.speedups(data.frame(rows), n_boot=0)
    got = {(r["batch"], r["rank"]): r["speedup"] for r in sp.to_dict("records")}
    assert got == pytest.approx({(1, 4): 4.0, (1, 64): 0.5, (32, 4): 2.0})
    one = sp[(sp["batch"] == 1) & (sp["rank"] == 4)].iloc[0]
    assert one["dense_median"] == 8e-6 and one["factored_median"] == 2e-6
    assert one["shape"] == "1024×1024" and one["r_star"] == 512.0


def test_speedup_interval_from_iqrs_is_the_delta_method():
    # dense: median 10, IQR 1.349, 16 rounds -> se = 1.2533 / 4 / 10; factored: median 2, IQR 0.2698, 25 rounds.
    rows = [data.row("dense", None, 10.0, iqr=1.349, rounds=16), data.row("factored", 8, 2.0, iqr=0.2698, rounds=25)]
    sp = speedups.speedups(data.frame(rows), n_boot=200)
    r = sp.iloc[0]
    se_d = 1.2533 * 1.0 / 4 / 10
    se_f = 1.2533 * 0.2 / 5 / 2
    rel = math.hypot(se_d, se_f)
    assert r["uncertainty"] == "iqr"
    assert r["speedup"] == 5.0
    assert r["speedup_lo"] == pytest.approx(5.0 * math.exp(-1.959964 * rel))
    assert r["speedup_hi"] == pytest.approx(5.0 * math.exp(1.959964 * rel))
    assert r["noisy"]  # dense IQR/median = 13.5%


def test_speedup_interval_from_raw_samples_is_a_reproducible_bootstrap():
    rng = np.random.default_rng(1)
    dense = 10.0 * rng.lognormal(0, 0.02, 200)
    fact = 2.0 * rng.lognormal(0, 0.02, 200)
    rows = [data.row("dense", None, float(np.median(dense)), samples=dense),
            data.row("factored", 8, float(np.median(fact)), samples=fact)]
    a = speedups.speedups(data.frame(rows), seed=3).iloc[0]
    b = speedups.speedups(data.frame(rows), seed=3).iloc[0]
    assert a["uncertainty"] == "bootstrap" and not a["noisy"]
    assert a["speedup_lo"] == b["speedup_lo"] and a["speedup_hi"] == b["speedup_hi"]
    assert a["speedup_lo"] <= a["speedup"] <= a["speedup_hi"]
    assert 4.9 < a["speedup_lo"] and a["speedup_hi"] < 5.1  # 2% noise, 200 samples: a tight interval
    assert a["speedup_hi"] - a["speedup_lo"] > 0


def test_noisy_flag_uses_either_side():
    rows = [data.row("dense", None, 1.0, iqr=0.05), data.row("factored", 4, 0.5, iqr=0.06),
            data.row("factored", 8, 0.5, iqr=0.04)]
    sp = speedups.speedups(data.frame(rows), n_boot=0).set_index("rank")
    assert bool(sp.loc[4, "noisy"]) and not bool(sp.loc[8, "noisy"])


# -- break-even -------------------------------------------------------------------------------------
def test_break_even_per_curve_beside_r_star_with_error_there():
    rows = data.curve({16: 4.0, 64: 2.0, 256: 0.5}, errors={16: 0.4, 64: 0.1, 256: 0.025})
    rows += data.curve({16: 8.0, 64: 4.0}, cache="cold")  # faster at every measured rank
    sp = speedups.speedups(data.frame(rows), n_boot=0)
    be = speedups.break_even(sp).set_index("cache")
    warm, cold = be.loc["warm"], be.loc["cold"]
    assert warm["status"] == STATUS_CROSSING
    assert warm["measured"] == pytest.approx(128.0)
    assert warm["r_star"] == break_even_rank(1024, 1024) == 512.0
    assert warm["ratio"] == pytest.approx(0.25)
    assert warm["error_at_break_even"] == pytest.approx(0.05)  # log-log between 0.1 at 64 and 0.025 at 256
    assert warm["best_speedup"] == 4.0 and warm["best_rank"] == 16
    # with the ranks where the ends of the speedup's interval cross 1: the crossing's own uncertainty
    assert warm["measured_lo"] < 128 < warm["measured_hi"]
    assert warm["text"] == (f"r≈128 (0.25× r*; between {speedups.format_rank(warm['measured_lo'])} and "
                            f"{speedups.format_rank(warm['measured_hi'])})")
    assert cold["status"] == STATUS_FASTER and math.isnan(cold["measured"])
    assert cold["text"] == "none in range: faster at every rank ≤ 64"
    assert math.isnan(cold["error_at_break_even"])


def test_break_even_interval_brackets_the_estimate():
    rows = [data.row("dense", None, 1.0, iqr=0.1, rounds=10)]
    rows += [data.row("factored", r, 1.0 / s, iqr=0.1 / s, rounds=10) for r, s in ((16, 4.0), (64, 2.0), (256, 0.5))]
    be = speedups.break_even(speedups.speedups(data.frame(rows), n_boot=0)).iloc[0]
    assert be["measured_lo"] < be["measured"] < be["measured_hi"]


def test_no_pairs_give_empty_frames_with_columns():
    sp = speedups.speedups(data.frame([data.row("factored", 4, 1.0)]))
    assert sp.empty and "speedup" in sp
    assert speedups.break_even(sp).empty


# -- roofline ---------------------------------------------------------------------------------------
def test_roofline_fraction_from_the_calibration(tmp_path):
    # d = k = 1000 float32 dense at n = 1: 2e6 FLOPs, 4.008e6 bytes; roof 20 GB/s, 100 GFLOP/s.
    b = data.bench(d=1000, k=1000, rank=None, median=1e-3)
    path = data.write(tmp_path / "r.json", data.document([b]))
    result = load.load([path])
    rf = speedups.roofline(result.frame, result.runs).iloc[0]
    nbytes, flops = 4 * (1000 * 1000 + 1000 + 1000), 2 * 1000 * 1000
    assert rf["roof_gbps"] == 20.0 and rf["roof_gflops"] == 100.0
    assert rf["roof_seconds"] == pytest.approx(nbytes / 20e9)
    assert rf["roofline_fraction_calc"] == pytest.approx(nbytes / 20e9 / 1e-3)
    assert rf["bound"] == "memory"
    assert rf["achieved_gbps"] == pytest.approx(nbytes / 1e-3 / 1e9)
    assert rf["arithmetic_intensity"] == pytest.approx(flops / nbytes)


def test_roofline_without_calibration_is_nan(tmp_path):
    doc = data.document(data.small_run())
    doc["machine_info"]["lowrank_bench"]["calibration"] = {}
    result = load.load([data.write(tmp_path / "r.json", doc)])
    assert speedups.roofline(result.frame, result.runs)["roofline_fraction_calc"].isna().all()


def test_roofline_agrees_with_the_suites_own_number(quick_result):
    result = load.load([quick_result])
    rf = speedups.roofline(result.frame, result.runs)
    assert np.allclose(rf["roofline_fraction_calc"], rf["roofline_fraction"], rtol=1e-9)


# -- the real run ------------------------------------------------------------------------------------
def test_real_run_speedups_are_its_paired_figures_beside_the_ratios_of_its_medians(quick_result):
    result = load.load([quick_result])
    f = result.frame
    sp = speedups.speedups(f, n_boot=50)
    assert len(sp) == (f["variant"] == "factored").sum()
    for r in sp.sample(10, random_state=0).to_dict("records"):
        same = (f["backend"] == r["backend"]) & (f["dtype"] == r["dtype"]) & (f["d"] == r["d"]) & \
               (f["k"] == r["k"]) & (f["batch"] == r["batch"]) & (f["cache"] == r["cache"])
        dense = f[same & (f["variant"] == "dense")]["median"].item()
        row = f[same & (f["rank"] == r["rank"])]
        assert r["unpaired_speedup"] == pytest.approx(dense / row["median"].item())
        # timing engine 3: the factored case was timed beside its dense partner; the paired figure is read
        assert r["paired"] and r["speedup"] == row["paired_speedup"].item()
        assert r["speedup_lo"] <= r["speedup"] <= r["speedup_hi"] and r["uncertainty"] == "paired"
        assert r["r_star"] == pytest.approx(r["d"] * r["k"] / (r["d"] + r["k"]))
    be = speedups.break_even(sp)
    # one break-even per curve with a plausible point (a curve whose dense case is flagged has none)
    assert len(be) == len(speedups.plausible(sp).groupby(speedups.CURVE_KEY)) > 0
    crossing = be[be["status"] == STATUS_CROSSING]
    assert ((crossing["measured"] >= crossing["min_rank"]) & (crossing["measured"] <= crossing["max_rank"])).all()


# -- run against run ---------------------------------------------------------------------------------
def test_time_ratios_classify_each_benchmark():
    rng = np.random.default_rng(0)

    def s(median, spread=0.01, n=100):
        return median * rng.lognormal(0, spread, n)

    rows_a = [data.row("dense", None, 1.0, run_id="A", samples=s(1.0), fullname=f"case{i}") for i in range(5)]
    samples_b = {"case0": s(1.5), "case1": s(1.02), "case2": s(0.5),
                 "case3": np.array([0.4, 0.6, 0.9, 1.25, 1.35, 1.8, 2.6, 3.2])}  # median 1.3, but all over the place
    rows_b = [data.row("dense", None, float(np.median(x)), run_id="B", samples=x, fullname=name)
              for name, x in samples_b.items()]
    rows_b.append(data.row("dense", None, 1.0, run_id="B", fullname="only_in_b"))
    cmp = speedups.time_ratios(data.frame(rows_a + rows_b), "A", "B", threshold=0.10)
    status = dict(zip(cmp.table["fullname"], cmp.table["status"]))
    assert status["case0"] == STATUS_REGRESSION
    assert status["case1"] == STATUS_SAME
    assert status["case2"] == STATUS_IMPROVEMENT
    assert status["case3"] == STATUS_NOISE  # 30% slower, but 8 scattered samples: not significant
    assert cmp.only_a == 1 and cmp.only_b == 1 and cmp.same_machine
    ratio = cmp.table.set_index("fullname")["ratio"]
    assert ratio["case0"] == pytest.approx(rows_b[0]["median"] / rows_a[0]["median"])


def test_the_time_ratios_threshold_governs_the_verdict():
    rows = [data.row("dense", None, 1.0, run_id="A", iqr=0.001, rounds=1000, fullname="x"),
            data.row("dense", None, 1.15, run_id="B", iqr=0.001, rounds=1000, fullname="x")]
    assert speedups.time_ratios(data.frame(rows), "A", "B", threshold=0.10).table["status"].item() == STATUS_REGRESSION
    assert speedups.time_ratios(data.frame(rows), "A", "B", threshold=0.20).table["status"].item() == STATUS_SAME


def test_geometric_mean():
    assert speedups.geometric_mean([2.0, 8.0, float("nan"), 0.0]) == pytest.approx(4.0)
    assert math.isnan(speedups.geometric_mean([]))


# -- paired speedups ---------------------------------------------------------------------------------
def _paired_curve(paired: dict[int, tuple[float, float, float]], unpaired: dict[int, float], **kw) -> list[dict]:
    """A curve whose medians give ``unpaired`` speedups and whose paired figures are ``(speedup, lo, hi)``."""
    rows = data.curve(unpaired, **kw)
    for r in rows[1:]:
        s, lo, hi = paired[r["rank"]]
        r.update(paired_speedup=s, paired_speedup_lo=lo, paired_speedup_hi=hi, process_speedups=[s])
    return rows


def test_the_paired_speedup_is_read_where_the_run_has_it_and_the_unpaired_kept_beside_it():
    rows = _paired_curve({64: (3.0, 2.9, 3.1), 256: (1.5, 1.4, 1.6)}, {64: 2.0, 256: 1.2})
    sp = speedups.speedups(data.frame(rows)).set_index("rank")
    assert sp.loc[64, "speedup"] == 3.0 and sp.loc[64, "unpaired_speedup"] == pytest.approx(2.0)
    assert (sp.loc[256, "speedup_lo"], sp.loc[256, "speedup_hi"]) == (1.4, 1.6)
    assert sp["paired"].all() and (sp["uncertainty"] == "paired").all()
    # a file without pairs (before timing engine 3): the ratio of medians, its bootstrap or IQR interval
    old = speedups.speedups(data.frame(data.curve({64: 2.0})), n_boot=0).iloc[0]
    assert old["speedup"] == pytest.approx(2.0) and not old["paired"] and old["uncertainty"] == "iqr"


def test_a_break_even_whose_interval_holds_one_is_a_range_not_a_side():
    # 1024's interval holds 1: the curve may cross anywhere from where the lower end falls to 1 (between
    # 256 and 1024) to where the upper end does (between 1024 and 2048)
    rows = _paired_curve({256: (1.6, 1.5, 1.7), 1024: (1.02, 0.95, 1.10), 2048: (0.6, 0.55, 0.65)},
                         {256: 1.6, 1024: 1.02, 2048: 0.6}, d=4096, k=4096)
    be = speedups.break_even(speedups.speedups(data.frame(rows))).iloc[0]
    assert be["uncertain"] and 256 < be["range_lo"] < 1024 < be["range_hi"] < 2048
    assert be["text"].startswith(f"≈ r between {round(be['range_lo'])} and {round(be['range_hi'])}")
    # held above 1 up to the top rank: the upper end is open, "beyond" the grid
    rows = _paired_curve({256: (1.6, 1.5, 1.7), 2048: (1.03, 0.97, 1.08)}, {256: 1.6, 2048: 1.03}, d=4096, k=4096)
    be = speedups.break_even(speedups.speedups(data.frame(rows))).iloc[0]
    assert be["uncertain"] and be["range_hi"] == float("inf") and "beyond 2048" in be["text"]
    # every interval clear of 1: a crossing, as before
    rows = _paired_curve({256: (1.6, 1.5, 1.7), 2048: (0.6, 0.55, 0.65)}, {256: 1.6, 2048: 0.6}, d=4096, k=4096)
    be = speedups.break_even(speedups.speedups(data.frame(rows))).iloc[0]
    assert not be["uncertain"] and be["status"] == STATUS_CROSSING and be["text"].startswith("r≈")


@pytest.mark.parametrize("lo, hi, expected", [
    ([3.0, 0.9, 0.5], [3.5, 1.2, 0.7], "both ends inside"),
    ([0.9, 0.5, 0.4], [1.2, 0.7, 0.6], "from below the grid"),
    ([3.0, 2.0, 0.9], [3.5, 2.5, 1.1], "beyond the grid"),
    ([3.0, 2.0, 1.5], [3.5, 2.5, 1.9], "no range"),
])
def test_break_even_range_bounds(lo, hi, expected):
    got = speedups.break_even_range([64, 256, 1024], lo, hi)
    if expected == "no range":
        assert got is None
    elif expected == "both ends inside":
        assert 64 < got[0] < 256 < got[1] < 1024
    elif expected == "from below the grid":
        assert got[0] == 0.0 and 64 < got[1] < 256
    else:
        assert 256 < got[0] < 1024 and got[1] == float("inf")


def test_break_even_verdicts_agree_when_their_spans_of_ranks_meet():
    inf = float("inf")

    def row(status, measured=math.nan, lo=math.nan, hi=math.nan, uncertain=False, range_lo=math.nan,
            range_hi=math.nan, max_rank=819):
        return {"status": status, "measured": measured, "measured_lo": lo, "measured_hi": hi, "uncertain": uncertain,
                "range_lo": range_lo, "range_hi": range_hi, "min_rank": 1, "max_rank": max_rank}

    bounded = row(STATUS_CROSSING, 805, uncertain=True, range_lo=800, range_hi=inf)
    assert speedups.verdicts_agree(bounded, row(STATUS_CROSSING, 790, 780, 801))  # the crossing's bounds reach 800
    assert not speedups.verdicts_agree(bounded, row(STATUS_CROSSING, 785, 770, 795))
    assert speedups.verdicts_agree(bounded, row(speedups.STATUS_FASTER))  # beyond the grid: inside [800, inf)
    assert speedups.verdicts_agree(row(speedups.STATUS_FASTER), row(speedups.STATUS_FASTER))
    assert not speedups.verdicts_agree(row(STATUS_CROSSING, 2012, 1985, 2035, max_rank=2048),
                                       row(speedups.STATUS_FASTER, max_rank=2048))
    assert speedups.verdict_span(row(speedups.STATUS_SLOWER)) == (0.0, 1.0)
