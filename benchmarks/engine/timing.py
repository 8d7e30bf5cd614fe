"""The timing engine: how one case is timed inside one worker process (the protocol: docs/timing.md).

Every case follows the same schedule, whatever its call costs:

1. **Warm-up**: untimed calls for at least ``warmup_s``, and at least :data:`WARMUP_CALLS`
   (a library's first call pays for lazy set-up: allocation, caches, dispatch; a second one
   shows what a warm call costs even when one call outlasts ``warmup_s``). The fastest sets the loop:
   ``iterations = ceil(round_s / fastest)`` calls a round. A stall can only make a call slower,
   never the fastest.
2. **Rounds** until ``budget_s`` of timed rounds is spent, never fewer than ``min_rounds``
   nor more than ``max_rounds``. A long call gets fewer rounds, never another schedule.
3. **Diagnostics**: rounds far slower than the median (stalls) are counted, and a median far
   above the fastest round marks the timing as unsettled.

A case with a **partner** (a factored product beside the dense one it replaces) is timed in
alternating rounds, ABBA: partner, case, case, partner, ... with the same operands and threads.
Each round of the case is divided into the adjacent round of its partner: those ratios give
the paired speedup (:mod:`lowrank.record.pairs`). A disturbance that lasts a round or two
lands on both sides of some ratios instead of on one side of a ratio of two medians taken
seconds apart, and ABBA cancels a drift that is linear over a block.

Across processes, ``benchmarks/engine/driver.py`` runs this engine in fresh worker processes
and pools their rounds (:mod:`lowrank.record.merging`). Nothing here knows about matrices.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable

from benchmarks.engine import driver

# 4: one schedule for every case (warm-up, loop, rounds until the budget is spent); no
# call-length regimes. 3: paired rounds. 2: calls of 10 ms and more skipped the calibration calls.
ENGINE_VERSION = 4
# A round slower than this multiple of the median is counted as a stall.
STALL_FACTOR = 1.5
# A median above this multiple of the fastest round: the rounds did not settle.
UNSETTLED_FACTOR = 1.5
WARMUP_CALLS = 2  # at least this many untimed calls before the rounds


@dataclass(frozen=True)
class Policy:
    """How one case is timed in one process: the profile's timing knobs (with the run's processes)."""

    warmup_s: float  # untimed calls for at least this long before timing (and at least WARMUP_CALLS)
    round_s: float  # target length of one round; the loop is sized to reach it
    budget_s: float  # seconds of timed rounds per case and process (both sides of a pair together)
    min_rounds: int  # never fewer rounds of each side (a pair times whole ABBA blocks: two rounds each)
    max_rounds: int  # never more

    def __post_init__(self):
        if not (self.round_s > 0 and self.budget_s >= 0 and self.warmup_s >= 0):
            raise ValueError(f"timing policy needs a positive round_s and non-negative warmup_s and budget_s, got {self}")
        if not 1 <= self.min_rounds <= self.max_rounds:
            raise ValueError(f"timing policy needs 1 <= min_rounds <= max_rounds, got {self}")


@dataclass(frozen=True)
class Plan:
    """What the warm-up decided for one call."""

    iterations: int  # calls per round
    single_s: float  # fastest warm-up call
    first_call_s: float  # the very first call (cold: allocation, lazy init)
    warmup_calls: int


def warm_up(call: Callable[[], object], policy: Policy, clock=time.perf_counter) -> Plan:
    """Step 1: untimed calls for ``policy.warmup_s`` (at least :data:`WARMUP_CALLS`); the fastest sets the calls
    per round."""
    seconds: list[float] = []
    deadline = clock() + policy.warmup_s
    while len(seconds) < WARMUP_CALLS or clock() < deadline:
        start = clock()
        call()
        seconds.append(clock() - start)
    single = max(min(seconds), 1e-9)
    return Plan(max(1, math.ceil(policy.round_s / single)), single, seconds[0], len(seconds))


def _round(call, iterations: int, clock) -> float:
    """Seconds per call over one round of ``iterations`` calls."""
    start = clock()
    for _ in range(iterations):
        call()
    return (clock() - start) / iterations


def _enough(rounds: int, spent: float, policy: Policy) -> bool:
    """Step 2's rule: stop once the budget is spent, within the policy's minimum and maximum."""
    return rounds >= policy.max_rounds or (rounds >= policy.min_rounds and spent >= policy.budget_s)


def rounds_alone(call, plan: Plan, policy: Policy, clock=time.perf_counter) -> list[float]:
    """Step 2 for a case on its own: its seconds per call, round by round."""
    out: list[float] = []
    spent = 0.0
    while not _enough(len(out), spent, policy):
        out.append(_round(call, plan.iterations, clock))
        spent += out[-1] * plan.iterations
    return out


def abba_rounds(call, partner, case_iterations: int, partner_iterations: int, policy: Policy,
                clock=time.perf_counter) -> tuple[list[float], list[float]]:
    """Step 2 for a pair: blocks of partner, case, case, partner until the budget is spent; each side's
    seconds per call, round by round, so that ``partner[i] / case[i]`` are adjacent rounds."""
    case_s: list[float] = []
    partner_s: list[float] = []
    spent = 0.0
    while not _enough(len(case_s), spent, policy):
        partner_s.append(_round(partner, partner_iterations, clock))
        case_s.append(_round(call, case_iterations, clock))
        case_s.append(_round(call, case_iterations, clock))
        partner_s.append(_round(partner, partner_iterations, clock))
        spent += sum(case_s[-2:]) * case_iterations + sum(partner_s[-2:]) * partner_iterations
    return case_s, partner_s


def diagnostics(samples) -> dict:
    """What the per-round times (seconds per call) say: stall rounds, and whether the rounds settled."""
    data = [float(s) for s in samples]
    if not data:
        return {"stall_rounds": None, "settled": None}
    median = statistics.median(data)
    return {
        "stall_rounds": sum(1 for s in data if s > STALL_FACTOR * median),
        "settled": bool(median <= UNSETTLED_FACTOR * min(data)),
    }


def record_rounds(benchmark, per_call: list[float], iterations: int) -> None:
    """Hand rounds timed here to pytest-benchmark, as if ``benchmark.pedantic`` had timed them.

    pytest-benchmark times one function per test, with its rounds fixed in advance; this engine
    stops when its budget is spent, and a pair's rounds alternate two functions. Its statistics
    and JSON stay its own: the stats object is made by its fixture (``_make_stats``, as pedantic
    does) and fed each round's total (it divides by ``iterations`` itself).
    ``tests/benchmarks/test_timing.py`` checks that the JSON holds exactly these rounds. Both names
    are private (no public API takes rounds timed elsewhere): pyproject.toml pins the tested major,
    and ``test_the_private_pytest_benchmark_seam_still_behaves`` fails first on a release that changes them.
    """
    benchmark._mode = "benchmark.pedantic(...)"  # used once, like pedantic; unused fixtures warn
    stats = benchmark._make_stats(iterations)
    for seconds in per_call:
        stats.update(seconds * iterations)


def _fields(plan: Plan, case_s: list[float]) -> dict:
    return {"timing_engine": ENGINE_VERSION, "warmup_calls": plan.warmup_calls, "first_call_s": plan.first_call_s,
            "call_s": plan.single_s, **diagnostics(case_s)}


def measure(benchmark, call, policy: Policy, clock=time.perf_counter) -> dict:
    """Time ``call`` alone (steps 1-3); its rounds become the benchmark's stats. The engine's record fields.

    With timing disabled (``--benchmark-disable``) the call runs once as a plain test.
    """
    if benchmark.disabled:
        benchmark(call)
        return empty_record()
    plan = warm_up(call, policy, clock)
    case_s = rounds_alone(call, plan, policy, clock)
    record_rounds(benchmark, case_s, plan.iterations)
    return _fields(plan, case_s)


def measure_pair(benchmark, call, partner, policy: Policy, clock=time.perf_counter,
                 partner_plan: Plan | None = None) -> tuple[dict, Plan | None]:
    """Time ``call`` beside ``partner`` in ABBA rounds; ``call``'s rounds become the benchmark's stats.

    ``partner_plan``: the partner's warm-up when an earlier case of this process made it (one
    dense product is the partner of every rank of its group: warming it up again for each would
    cost a 4096² GEMM at n = 512 its calls again at every rank).

    Returns the engine's record fields (``call_s`` the case's fastest warm-up call,
    ``partner_call_s`` its partner's) with ``pair_ratios`` (partner time / case time of adjacent
    rounds: the speedup, when the partner is the dense product it replaces), and the partner's
    plan for the next case of its group. With timing disabled the call runs once as a plain
    test (``pair_ratios`` None, no plan).
    """
    if benchmark.disabled:
        benchmark(call)
        return {**empty_record(), "partner_call_s": None, "pair_ratios": None}, None
    mine = warm_up(call, policy, clock)
    theirs = partner_plan if partner_plan is not None else warm_up(partner, policy, clock)
    case_s, partner_s = abba_rounds(call, partner, mine.iterations, theirs.iterations, policy, clock)
    record_rounds(benchmark, case_s, mine.iterations)
    ratios = [p / c for p, c in zip(partner_s, case_s)]
    return {**_fields(mine, case_s), "partner_call_s": theirs.single_s, "pair_ratios": ratios}, theirs


def empty_record() -> dict:
    """The engine's record fields when nothing was timed."""
    return {"timing_engine": ENGINE_VERSION, "warmup_calls": None, "first_call_s": None, "call_s": None,
            "stall_rounds": None, "settled": None}


class WallClock:
    """The timing instrument: seconds per call by this engine, in fresh worker processes.

    The same interface as :class:`benchmarks.engine.counting.Instructions` (:mod:`benchmarks.engine.instrument`).
    """

    metric = "time"
    reads_roofs = True  # results are read against the calibrated roofs (throughput, plausibility)
    measures_quality = True  # the untimed metrics, in a run's first process
    processes = None  # the run's (LOWRANK_BENCH_PROCESSES)
    prepares_operands = False

    @staticmethod
    def unavailable() -> str | None:
        return None

    @staticmethod
    def leaves_out(item) -> str | None:
        return None

    @staticmethod
    def launch(workdir):
        return driver.Launch(), None

    @staticmethod
    def measure(benchmark, call, policy: Policy) -> dict:
        return measure(benchmark, call, policy)

    @staticmethod
    def measure_pair(benchmark, call, partner, policy: Policy, partner_plan: Plan | None = None):
        return measure_pair(benchmark, call, partner, policy, partner_plan=partner_plan)

    @staticmethod
    def run_fields(threads: dict) -> dict:
        return {}
