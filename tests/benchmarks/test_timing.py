"""The timing engine's one schedule: warm-up, loop size, rounds until the budget is spent, ABBA pairs."""

import dataclasses

import pytest

from benchmarks.engine import timing

POLICY = timing.Policy(warmup_s=0.005, round_s=1e-3, budget_s=0.012, min_rounds=10, max_rounds=40)


class FakeClock:
    """A clock that a fake call advances: each call takes ``cost`` seconds, some calls stall."""

    def __init__(self, cost: float, stalls=()):
        self.now, self.cost, self.calls, self.stalls = 0.0, cost, 0, set(stalls)

    def __call__(self) -> float:
        return self.now

    def call(self) -> None:
        self.calls += 1
        self.now += self.cost + (0.016 if self.calls in self.stalls else 0.0)


def test_a_stall_during_the_warm_up_does_not_set_the_loop():
    # The call takes 10 us; the 5th warm-up call stalls for a 16 ms scheduler slice.
    clock = FakeClock(10e-6, stalls={5})
    plan = timing.warm_up(clock.call, POLICY, clock=clock)
    assert plan.single_s == pytest.approx(10e-6)
    assert plan.iterations in (100, 101)  # 1 ms rounds of 10 us calls (float rounding), not 1 because of the stall
    assert plan.warmup_calls == clock.calls and plan.first_call_s == pytest.approx(10e-6)


def test_rounds_run_until_the_budget_is_spent_within_the_minimum_and_maximum():
    clock = FakeClock(1e-3)  # 1 ms calls: the 12 ms budget would allow 12 rounds
    plan = timing.warm_up(clock.call, POLICY, clock=clock)
    assert timing.rounds_alone(clock.call, plan, POLICY, clock) == pytest.approx([1e-3] * 12)
    clock = FakeClock(2e-3)  # 2 ms calls: the budget would allow 6, the minimum is 10
    plan = timing.warm_up(clock.call, POLICY, clock=clock)
    assert len(timing.rounds_alone(clock.call, plan, POLICY, clock)) == POLICY.min_rounds
    long_budget = dataclasses.replace(POLICY, budget_s=1.0)  # a second of 1 ms rounds: the maximum first
    plan = timing.warm_up(clock.call, long_budget, clock=clock)
    assert len(timing.rounds_alone(clock.call, plan, long_budget, clock)) == POLICY.max_rounds


def test_a_long_call_gets_fewer_rounds_never_another_schedule():
    # A 0.5 s call: the two warm-up calls (longer than the warm-up time), one call a round, the minimum of rounds.
    clock = FakeClock(0.5)
    plan = timing.warm_up(clock.call, POLICY, clock=clock)
    assert plan == timing.Plan(1, 0.5, 0.5, timing.WARMUP_CALLS) and clock.calls == timing.WARMUP_CALLS
    assert len(timing.rounds_alone(clock.call, plan, POLICY, clock)) == POLICY.min_rounds
    # a slow first call (lazy set-up) does not size the loop: the fastest warm-up call does
    clock = FakeClock(0.4, stalls={1})
    one_round = timing.Policy(warmup_s=0.0, round_s=1e-3, budget_s=1.0, min_rounds=1, max_rounds=5)
    plan = timing.warm_up(clock.call, one_round, clock=clock)
    assert plan.single_s == pytest.approx(0.4) and plan.first_call_s == pytest.approx(0.416)
    assert len(timing.rounds_alone(clock.call, plan, one_round, clock)) == 3  # 1.2 s: the budget is spent


def test_diagnostics_count_stalls_and_settling():
    steady = [1.0] * 18 + [2.0, 3.0]
    d = timing.diagnostics(steady)
    assert d == {"stall_rounds": 2, "settled": True}
    assert timing.diagnostics([1.0] * 5 + [2.0] * 10)["settled"] is False  # the median sits at 2x the fastest


@pytest.mark.parametrize("bad", [dict(round_s=0), dict(min_rounds=0), dict(min_rounds=50, max_rounds=10),
                                 dict(budget_s=-1.0), dict(warmup_s=-0.1)])
def test_policy_rejects_impossible_settings(bad):
    fields = dict(round_s=1e-3, min_rounds=10, max_rounds=40, budget_s=0.01, warmup_s=0.0) | bad
    with pytest.raises(ValueError, match="timing policy"):
        timing.Policy(**fields)


# -- pairs: a case beside its partner in alternating rounds --------------------------------------
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


def test_abba_rounds_alternate_partner_case_case_partner_until_the_budget_is_spent():
    clock = SharedClock()
    case, partner = clock.make("F", 1e-6), clock.make("D", 4e-6)
    policy = timing.Policy(warmup_s=0.0, round_s=1e-3, budget_s=18e-6, min_rounds=2, max_rounds=40)
    case_s, partner_s = timing.abba_rounds(case, partner, 1, 1, policy, clock)
    assert "".join(clock.order) == "DFFDDFFD"  # 10 us a block: the second one spends the budget
    assert len(case_s) == len(partner_s) == 4
    assert [p / c for p, c in zip(partner_s, case_s)] == pytest.approx([4.0] * 4)
    # the minimum holds whole blocks: an odd minimum rounds up to the next block
    clock = SharedClock()
    case, partner = clock.make("F", 0.1), clock.make("D", 0.3)
    policy = timing.Policy(warmup_s=0.0, round_s=1e-3, budget_s=0.0, min_rounds=3, max_rounds=40)
    assert len(timing.abba_rounds(case, partner, 1, 1, policy, clock)[0]) == 4


def test_a_slow_phase_lands_on_both_sides_of_the_paired_ratio():
    # The machine runs 3x slower over a stretch of the rounds: a ratio of two medians taken on either
    # side of it would move by 3x; the ratios of adjacent rounds do not move, except at its two edges.
    clock = SharedClock(slow_from=0.004, slow_until=0.012, factor=3.0)
    case, partner = clock.make("F", 2e-6), clock.make("D", 8e-6)
    policy = timing.Policy(warmup_s=0.0, round_s=1e-3, budget_s=0.0, min_rounds=20, max_rounds=20)
    case_s, partner_s = timing.abba_rounds(case, partner, 50, 50, policy, clock)
    ratios = [p / c for p, c in zip(partner_s, case_s)]
    assert max(partner_s) / min(partner_s) > 2.5  # the slow phase is in the rounds
    assert sum(abs(r - 4.0) < 1e-9 for r in ratios) >= len(ratios) - 2
    assert sorted(ratios)[len(ratios) // 2] == pytest.approx(4.0)


@pytest.fixture
def live_benchmark(request):
    """pytest-benchmark's own fixture, made as its plugin makes it but never disabled and adding its stats to no
    session: these tests feed it rounds of a fake clock, and run alike under --benchmark-disable or pytest-xdist
    (where pytest-benchmark disables its fixture)."""
    from pytest_benchmark.fixture import BenchmarkFixture

    session = request.config._benchmarksession
    fixture = BenchmarkFixture(request.node, add_stats=[].append, logger=session.logger, warner=request.node.warn,
                               disabled=False, **session.options)
    yield fixture
    fixture._cleanup()


def test_measure_pair_gives_pytest_benchmark_exactly_the_case_rounds(live_benchmark):
    benchmark = live_benchmark
    # The real pytest-benchmark fixture: the case's rounds, timed in alternation with its partner's,
    # become its stats (pytest-benchmark's own median, JSON and compare), and the record carries the
    # ratios of adjacent rounds. A fake clock makes each round's time known.
    clock = SharedClock()
    case, partner = clock.make("F", 10e-6), clock.make("D", 30e-6)
    record, plan = timing.measure_pair(benchmark, case, partner, POLICY, clock=clock)
    assert plan.single_s == pytest.approx(30e-6)  # the partner's warm-up, for the next case of its group
    data = benchmark.stats.stats.data
    assert len(data) == len(record["pair_ratios"]) >= POLICY.min_rounds
    assert data == pytest.approx([10e-6] * len(data))
    assert benchmark.stats.stats.median == pytest.approx(10e-6)
    assert record["pair_ratios"] == pytest.approx([3.0] * len(data))
    # each side's fastest warm-up call
    assert record["call_s"] == pytest.approx(10e-6) and record["partner_call_s"] == pytest.approx(30e-6)
    assert record["timing_engine"] == timing.ENGINE_VERSION


def test_a_partner_calibrated_once_is_not_calibrated_again(live_benchmark):
    benchmark = live_benchmark
    # One dense product is the partner of every rank of its group: the process calibrates it once.
    clock = SharedClock()
    case, partner = clock.make("F", 0.02), clock.make("D", 0.05)  # long calls: two warm-up calls each
    known = timing.Plan(1, 0.05, 0.05, 2)
    record, plan = timing.measure_pair(benchmark, case, partner, POLICY, clock=clock, partner_plan=known)
    assert plan is known and len(record["pair_ratios"]) == POLICY.min_rounds
    # the case's two warm-up calls, then ABBA blocks up to the minimum: no partner warm-up
    assert "".join(clock.order) == "FF" + "DFFD" * (POLICY.min_rounds // 2)


def test_the_private_pytest_benchmark_seam_still_behaves(live_benchmark):
    benchmark = live_benchmark
    # record_rounds feeds pytest-benchmark rounds timed by the engine through BenchmarkFixture._make_stats
    # and _mode, which pytest-benchmark does not promise to keep; pyproject.toml pins the major tested
    # here (>=5.0,<6). A release that renames or changes them fails this test first.
    import inspect
    from importlib.metadata import version

    from pytest_benchmark.fixture import BenchmarkFixture, FixtureAlreadyUsed

    assert int(version("pytest-benchmark").split(".")[0]) == 5, "pyproject.toml pins pytest-benchmark>=5.0,<6"
    assert list(inspect.signature(BenchmarkFixture._make_stats).parameters) == ["self", "iterations"]
    timing.record_rounds(benchmark, [1e-6, 3e-6, 2e-6], iterations=4)
    stats = benchmark.stats
    assert stats.iterations == 4 and stats.stats.data == pytest.approx([1e-6, 3e-6, 2e-6])
    assert stats.stats.median == pytest.approx(2e-6) and stats.stats.rounds == 3
    # _mode marks the fixture used: pytest-benchmark refuses a second use (and warns of no unused fixture).
    with pytest.raises(FixtureAlreadyUsed):
        benchmark(lambda: None)
    benchmark.has_error = False  # the refusal above marks the benchmark failed; this test meant it
