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
