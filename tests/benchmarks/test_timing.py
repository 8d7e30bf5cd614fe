"""The timing engine's decisions: stall-proof calibration, minimum rounds, diagnostics, pass merging."""

import dataclasses

import pytest

from benchmarks.engine import timing

POLICY = timing.Policy(round_s=1e-3, min_rounds=10, max_rounds=40, budget_s=0.012, warmup_s=0.0)


class FakeClock:
    """A clock that a fake call advances: each call takes ``cost`` seconds, some calls stall."""

    def __init__(self, cost: float, stalls=()):
        self.now, self.cost, self.calls, self.stalls = 0.0, cost, 0, set(stalls)

    def __call__(self) -> float:
        return self.now

    def call(self) -> None:
        self.calls += 1
        self.now += self.cost + (0.016 if self.calls in self.stalls else 0.0)


def test_a_stall_during_calibration_does_not_set_the_iterations():
    # The call takes 10 us; the 5th call (inside calibration) stalls for a 16 ms scheduler slice.
    clock = FakeClock(10e-6, stalls={5})
    plan = timing.plan(clock.call, POLICY, clock=clock)
    assert plan.single_s == pytest.approx(10e-6)
    assert plan.iterations in (100, 101)  # 1 ms rounds of 10 us calls (float rounding), not 1 because of the stall
    assert POLICY.min_rounds <= plan.rounds <= POLICY.max_rounds


def test_no_budget_cuts_below_the_minimum_rounds():
    clock = FakeClock(2e-3)  # 2 ms calls: the budget would allow 6 rounds
    plan = timing.plan(clock.call, POLICY, clock=clock)
    assert plan.iterations == 1 and plan.rounds == POLICY.min_rounds
    clock = FakeClock(0.05)  # long calls: a stall is at most one call's worth, fewer rounds suffice
    plan = timing.plan(clock.call, POLICY, clock=clock)
    assert plan.iterations == 1 and plan.rounds == POLICY.min_rounds_long and plan.warmup_rounds == 1
    assert clock.calls == 2 and plan.warmup_calls == 2  # no separate calibration calls for one-iteration rounds
    # a stall in one of the two calls cannot lower the rounds below the floor
    clock = FakeClock(0.011, stalls={2})
    plan = timing.plan(clock.call, POLICY, clock=clock)
    assert plan.single_s == pytest.approx(0.011) and plan.rounds == POLICY.min_rounds_long


def test_very_long_calls_skip_the_calibration_calls():
    clock = FakeClock(0.5)  # an 8192² GEMM at n = 512: two warm-up calls, then the timed rounds
    plan = timing.plan(clock.call, POLICY, clock=clock)
    assert clock.calls == 2 and plan.warmup_calls == 2 and plan.warmup_rounds == 0
    assert plan.iterations == 1 and plan.rounds == POLICY.min_rounds_long
    # a slow first call (allocation, lazy init) is not enough: the second one decides
    clock = FakeClock(1e-3, stalls={1})
    plan = timing.plan(clock.call, dataclasses.replace(POLICY, very_long_call_s=0.015), clock=clock)
    assert clock.calls > 2 and plan.single_s == pytest.approx(1e-3)


def test_diagnostics_count_stalls_and_settling():
    steady = [1.0] * 18 + [2.0, 3.0]
    d = timing.diagnostics(steady)
    assert d == {"stall_rounds": 2, "settled": True}
    assert timing.diagnostics([1.0] * 5 + [2.0] * 10)["settled"] is False  # the median sits at 2x the fastest


@pytest.mark.parametrize("bad", [dict(round_s=0), dict(min_rounds=0), dict(min_rounds=50, max_rounds=10),
                                 dict(min_rounds_long=20), dict(very_long_call_s=0.005)])
def test_policy_rejects_impossible_settings(bad):
    fields = dict(round_s=1e-3, min_rounds=10, max_rounds=40, budget_s=0.01, warmup_s=0.0) | bad
    with pytest.raises(ValueError, match="timing policy"):
        timing.Policy(**fields)


# -- pairs: a case beside its partner in alternating rounds --------------------------------------
PAIRS = timing.PairPolicy(min_pairs=8, max_pairs=20, budget_s=0.012, min_pairs_long=4, min_pairs_very_long=2)


class SharedClock:
    """One clock two fake calls advance; a slow phase multiplies every call's cost while it lasts."""

    def __init__(self, slow_from=None, slow_until=None, factor=1.0):
        self.now, self.order = 0.0, []
        self.slow = (slow_from, slow_until, factor)

    def __call__(self) -> float:
        return self.now

    def make(self, name: str, cost: float):
        def call():
            start, end, factor = self.slow
            slowed = start is not None and start <= self.now < end
            self.now += cost * (factor if slowed else 1.0)
            self.order.append(name)
        return call


def test_abba_rounds_alternate_partner_case_case_partner():
    clock = SharedClock()
    case, partner = clock.make("F", 1e-6), clock.make("D", 4e-6)
    case_s, partner_s = timing.abba_rounds(case, partner, 1, 1, 4, clock)
    assert "".join(clock.order) == "DFFDDFFD"
    assert len(case_s) == len(partner_s) == 4
    assert [p / c for p, c in zip(partner_s, case_s)] == pytest.approx([4.0] * 4)


def test_a_slow_phase_lands_on_both_sides_of_the_paired_ratio():
    # The machine runs 3x slower over a stretch of the rounds: a ratio of two medians taken on either
    # side of it would move by 3x; the ratios of adjacent rounds do not move, except at its two edges.
    clock = SharedClock(slow_from=0.004, slow_until=0.012, factor=3.0)
    case, partner = clock.make("F", 2e-6), clock.make("D", 8e-6)
    case_s, partner_s = timing.abba_rounds(case, partner, 50, 50, 20, clock)
    ratios = [p / c for p, c in zip(partner_s, case_s)]
    assert max(partner_s) / min(partner_s) > 2.5  # the slow phase is in the rounds
    assert sum(abs(r - 4.0) < 1e-9 for r in ratios) >= len(ratios) - 2
    assert sorted(ratios)[len(ratios) // 2] == pytest.approx(4.0)


def test_pair_count_follows_the_budget_and_the_call_lengths():
    def plan_of(single, iterations=1):
        return timing.Plan(iterations, 0, single, single, 2, 1)

    # 10 us calls in 1 ms rounds: 2 ms a pair, 6 pairs in the budget, raised to the floor
    assert timing.pair_count(plan_of(10e-6, 100), plan_of(10e-6, 100), POLICY, PAIRS) == PAIRS.min_pairs
    # a cheap pair gets more pairs, up to max_pairs, always an even count (whole ABBA blocks)
    n = timing.pair_count(plan_of(1e-6, 1), plan_of(1e-6, 1), POLICY, PAIRS)
    assert n == PAIRS.max_pairs and n % 2 == 0
    # the partner's long call decides: long, then very long
    assert timing.pair_count(plan_of(1e-5, 100), plan_of(0.02), POLICY, PAIRS) == PAIRS.min_pairs_long
    assert timing.pair_count(plan_of(1e-5, 100), plan_of(0.3), POLICY, PAIRS) == PAIRS.min_pairs_very_long
    # a case whose own call is very long is timed in one pass only: it gets the single-pass floor
    assert PAIRS.min_pairs_single_pass != PAIRS.min_pairs_very_long
    assert timing.pair_count(plan_of(0.15), plan_of(0.3), POLICY, PAIRS) == PAIRS.min_pairs_single_pass
    assert timing.pair_count(plan_of(0.15), plan_of(1e-5, 100), POLICY, PAIRS) == PAIRS.min_pairs_single_pass


@pytest.mark.parametrize("bad", [dict(min_pairs=7), dict(min_pairs_very_long=0), dict(min_pairs_long=12), dict(min_pairs_very_long=22),
                                 dict(min_pairs_single_pass=3), dict(min_pairs_single_pass=22),
                                 dict(budget_s=-1.0)])
def test_pair_policy_rejects_impossible_settings(bad):
    with pytest.raises(ValueError, match="pair policy"):
        dataclasses.replace(PAIRS, **bad)


def test_measure_pair_gives_pytest_benchmark_exactly_the_case_rounds(benchmark):
    # The real pytest-benchmark fixture: the case's rounds, timed in alternation with its partner's,
    # become its stats (pytest-benchmark's own median, JSON and compare), and the record carries the
    # ratios of adjacent rounds. A fake clock makes each round's time known.
    if benchmark.disabled:
        pytest.skip("pytest-benchmark's timing is disabled (--benchmark-disable): there are no stats to check")
    clock = SharedClock()
    case, partner = clock.make("F", 10e-6), clock.make("D", 30e-6)
    record, plan = timing.measure_pair(benchmark, case, partner, POLICY, PAIRS, clock=clock)
    assert plan.single_s == pytest.approx(30e-6)  # the partner's calibration, for the next case of its group
    data = benchmark.stats.stats.data
    assert len(data) == len(record["pair_ratios"]) >= PAIRS.min_pairs
    assert data == pytest.approx([10e-6] * len(data))
    assert benchmark.stats.stats.median == pytest.approx(10e-6)
    assert record["pair_ratios"] == pytest.approx([3.0] * len(data))
    # each side's own call: the driver decides a pair's passes from both
    assert record["call_s"] == pytest.approx(10e-6) and record["partner_call_s"] == pytest.approx(30e-6)
    assert record["timing_engine"] == timing.ENGINE_VERSION


def test_a_partner_calibrated_once_is_not_calibrated_again(benchmark):
    # One dense product is the partner of every rank of its group: the process calibrates it once.
    if benchmark.disabled:
        pytest.skip("pytest-benchmark's timing is disabled (--benchmark-disable): nothing is timed")
    clock = SharedClock()
    case, partner = clock.make("F", 0.02), clock.make("D", 0.05)  # long calls: no warm-up block
    known = timing.Plan(1, 0, 0.05, 0.05, 2, 0)
    record, plan = timing.measure_pair(benchmark, case, partner, POLICY, PAIRS, clock=clock, partner_plan=known)
    assert plan is known and len(record["pair_ratios"]) == PAIRS.min_pairs_long
    # the case's two calibration calls, then one ABBA block per pair of pairs: no partner calibration
    assert "".join(clock.order) == "FF" + "DFFD" * (PAIRS.min_pairs_long // 2)


def test_the_private_pytest_benchmark_seam_still_behaves(benchmark):
    # record_rounds feeds pytest-benchmark rounds timed by the engine through BenchmarkFixture._make_stats
    # and _mode, which pytest-benchmark does not promise to keep; pyproject.toml pins the major tested
    # here (>=5.0,<6). A release that renames or changes them fails this test first.
    import inspect
    from importlib.metadata import version

    from pytest_benchmark.fixture import BenchmarkFixture, FixtureAlreadyUsed

    assert int(version("pytest-benchmark").split(".")[0]) == 5, "pyproject.toml pins pytest-benchmark>=5.0,<6"
    assert list(inspect.signature(BenchmarkFixture._make_stats).parameters) == ["self", "iterations"]
    if benchmark.disabled:
        pytest.skip("pytest-benchmark's timing is disabled (--benchmark-disable): there are no stats to check")
    timing.record_rounds(benchmark, [1e-6, 3e-6, 2e-6], iterations=4)
    stats = benchmark.stats
    assert stats.iterations == 4 and stats.stats.data == pytest.approx([1e-6, 3e-6, 2e-6])
    assert stats.stats.median == pytest.approx(2e-6) and stats.stats.rounds == 3
    # _mode marks the fixture used: pytest-benchmark refuses a second use (and warns of no unused fixture).
    with pytest.raises(FixtureAlreadyUsed):
        benchmark(lambda: None)
    benchmark.has_error = False  # the refusal above marks the benchmark failed; this test meant it
