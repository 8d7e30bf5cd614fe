"""The one statistics module: the estimators and intervals behave as their theory says."""

import math

import numpy as np

from lowrank.record import stats


def test_statistics_behave():
    rng = np.random.default_rng(0)
    a = rng.lognormal(0, 0.05, 300)
    b = a * 1.3
    assert stats.mann_whitney_greater(b, a) < 1e-10
    assert stats.mann_whitney_greater(a, b) > 0.99
    est, low, high = stats.ratio_interval([b], [a])
    assert low < est < high and low > 1.2 and high < 1.4
    est, low, high = stats.ratio_interval([a], [rng.lognormal(0, 0.05, 300)])
    assert low < 1 < high


def test_an_interval_too_wide_for_a_float_is_unbounded_not_an_error():
    # Two rounds that disagree by 2.7x, at a simultaneous level near 1: the t quantile is
    # about 6e5, so the upper bound exp(mean + half) is far beyond a float.
    estimate, low, high = stats.t_interval([0.0, 1.0], 1 - 1e-12)
    assert high == math.inf and 0 <= low < 1 < estimate < 2


def _disagreeing(rng, centres, rounds=40, spread=0.002):
    """Processes whose rounds are tight around each one's own centre."""
    return [list(c * rng.lognormal(0, spread, rounds)) for c in centres]


def test_the_paired_interval_widens_with_the_processes_not_the_rounds():
    rng = np.random.default_rng(1)
    agreeing = stats.paired_summary(_disagreeing(rng, [2.0, 2.0, 2.0]))
    apart = stats.paired_summary(_disagreeing(rng, [1.6, 2.0, 2.5]))
    assert agreeing[3] / agreeing[2] < 1.01
    assert apart[3] / apart[2] > 1.3  # the processes, not their tight rounds, set the width


def test_the_ratio_of_two_runs_is_at_least_as_uncertain_as_either_run():
    rng = np.random.default_rng(2)
    base, cur = _disagreeing(rng, [1.6, 2.0, 2.5]), _disagreeing(rng, [1.7, 1.9, 2.4])
    _, b_lo, b_hi = stats.paired_summary(base)[1:]
    ratio, lo, hi = stats.paired_ratio_interval(base, cur, 0.95)
    assert lo <= ratio <= hi
    assert math.log(hi / lo) >= math.log(b_hi / b_lo)
    # Same data twice: the two runs' resamples are drawn apart, not one cancelling the other.
    same = stats.paired_ratio_interval(base, base, 0.95)
    assert same[0] == 1.0 and same[1] < 1 < same[2]


def test_stored_intervals_combine_in_quadrature():
    ratio, lo, hi = stats.stored_ratio_interval((2.0, 1.8, 2.2222), (2.0, 1.8, 2.2222), 0.95)
    assert ratio == 1.0
    assert math.isclose(math.log(hi), math.log(2.2222 / 1.8) / 2 * math.sqrt(2), rel_tol=1e-9)


def test_the_iqr_interval_is_nan_without_an_iqr():
    ratio, lo, hi = stats.iqr_ratio_interval({"median": 2.0, "iqr": None, "rounds": 5}, {"median": 1.0}, 1.96)
    assert ratio == 2.0 and math.isnan(lo) and math.isnan(hi)
    ratio, lo, hi = stats.iqr_ratio_interval({"median": 2.0, "iqr": 0.1, "rounds": 100},
                                             {"median": 1.0, "iqr": 0.05, "rounds": 100}, 1.96)
    assert lo < 2.0 < hi


def test_one_round_ratio_per_run_gives_no_paired_interval_rather_than_a_zero_width_one():
    from lowrank.record import stats

    assert stats.paired_ratio_interval([[2.0]], [[1.5]], 0.99) is None
    assert stats.paired_ratio_interval([[2.0, 2.1]], [[1.5]], 0.99) is None
    ratio, low, high = stats.paired_ratio_interval([[2.0, 2.1]], [[1.5, 1.6]], 0.99, n_boot=200)
    assert low < high and low <= ratio <= high
