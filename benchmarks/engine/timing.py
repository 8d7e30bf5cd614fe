"""The timing engine: how every case is timed inside one process, on top of ``benchmark.pedantic``.

pytest-benchmark's own loop runs no warm-up by default and picks iterations per round
from its first timings; a 16 ms scheduler stall during that calibration gives rounds of
one iteration and, under a short budget, only a handful of rounds, so the stall becomes
the median. This engine keeps pytest-benchmark's JSON and statistics and decides the
loop itself, as torch.utils.benchmark's ``blocked_autorange`` and pyperf do:

1. **Warm-up**: untimed calls for ``warmup_s`` (caches, allocator, lazy kernels).
2. **Stall-proof calibration**: the fastest of several single calls sets the
   iterations per round, so that a round lasts about ``round_s``; a stall can only make
   a call slower, never the minimum.
3. **Rounds**: at least ``min_rounds`` (no profile cuts below it; ``min_rounds_long``
   for calls of 10 ms and more, which a stall cannot dominate), more while the budget
   lasts; the median over rounds is the process's figure. Calls of 10 ms and more skip
   step 2 after two warm-up calls: they need one iteration per round anyway, and the
   calibration calls cost as much as the timed rounds (44% of a default pass's time went
   to them, sampled with py-spy); calls of 0.1 s and more also skip the warm-up round.
4. **Diagnostics**: rounds far slower than the median (stalls) are counted, and a
   median far above the fastest round marks the timing as unsettled.

**Pairs** (:func:`measure_pair`): a case timed beside its partner (a factored product beside the
dense one it replaces) in alternating rounds, ABBA: partner, case, case, partner, ... with the
same operands and threads, in one process. Each round of the case is divided into the adjacent
round of its partner, and the median of those ratios is the process's figure. A disturbance
that lasts a round or two lands on both sides of some ratios instead of on one side of a ratio
of two medians taken seconds apart, and ABBA cancels a drift that is linear over a block.

Across processes, ``benchmarks/engine/driver.py`` runs this engine in several passes of fresh
worker processes and keeps the least disturbed one. Nothing here knows about matrices.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

# 2: calls of 10 ms and more skip the calibration calls; 3: paired rounds (measure_pair). (Rounds timed as
# before, a pair's ``call_s`` became its case's own call, with ``partner_call_s`` beside it: a record field,
# not a change to what is timed, so the version stays.)
ENGINE_VERSION = 3
# A round slower than this multiple of the median is counted as a stall.
STALL_FACTOR = 1.5
# A median above this multiple of the fastest round: the rounds did not settle.
UNSETTLED_FACTOR = 1.5
CALIBRATION_CALLS = 5


@dataclass(frozen=True)
class Policy:
    """How long and how often one case is timed in one process."""

    round_s: float  # target duration of one round; iterations per round are chosen to reach it
    min_rounds: int  # never fewer rounds than this
    max_rounds: int  # never more
    budget_s: float  # seconds of timed rounds per case; rounds beyond min_rounds while it lasts
    warmup_s: float  # untimed calls before calibration
    # Calls of at least long_call_s (a merge of a 4096² layer, an 8192² GEMM) need fewer rounds:
    # a 16 ms scheduler stall is at most one call's worth, and 15 rounds of 0.2 s would be 3 s a case.
    long_call_s: float = 0.01
    min_rounds_long: int = 5
    # Calls of at least very_long_call_s skip the separate calibration calls: a stall cannot
    # make them look several times slower, and they need one iteration per round anyway,
    # so two untimed calls are warm-up enough (an 8192² GEMM at n = 512 costs 0.7 s a call).
    very_long_call_s: float = 0.1

    def __post_init__(self):
        if not (self.round_s > 0 and self.budget_s >= 0 and self.warmup_s >= 0):
            raise ValueError(f"timing policy needs positive round_s and non-negative budgets, got {self}")
        if not 1 <= self.min_rounds <= self.max_rounds or not 1 <= self.min_rounds_long <= self.min_rounds:
            raise ValueError(f"timing policy needs 1 <= min_rounds_long <= min_rounds <= max_rounds, got {self}")
        if not self.round_s <= self.long_call_s <= self.very_long_call_s:
            raise ValueError(f"timing policy needs round_s <= long_call_s <= very_long_call_s, got {self}")


@dataclass(frozen=True)
class Plan:
    """What calibration decided for one case."""

    iterations: int
    rounds: int
    single_s: float  # fastest single call seen during calibration
    first_call_s: float  # the very first call (cold: allocation, lazy init)
    warmup_calls: int
    warmup_rounds: int  # rounds pytest-benchmark runs untimed before the timed ones


def plan(call, policy: Policy, clock=time.perf_counter) -> Plan:
    """Warm ``call`` up and choose iterations per round and rounds for ``policy``."""
    start = clock()
    call()
    first = clock() - start
    start = clock()
    call()
    second = clock() - start
    single = min(first, second)
    if single >= policy.very_long_call_s:
        return Plan(1, policy.min_rounds_long, single, first, 2, 0)
    if single >= policy.long_call_s:
        # One iteration per round whatever the calibration says (a round is round_s <= long_call_s),
        # so the calibration calls could only set the number of rounds; a stall in the two calls
        # above can only lower that, never below min_rounds_long. The warm-up round stays.
        rounds = max(policy.min_rounds_long, min(policy.max_rounds, int(policy.budget_s / single)))
        return Plan(1, rounds, single, first, 2, 1)
    warm_calls = 2
    deadline = clock() + policy.warmup_s
    while warm_calls < 3 or clock() < deadline:
        call()
        warm_calls += 1
    single = math.inf
    for _ in range(CALIBRATION_CALLS):
        start = clock()
        call()
        single = min(single, clock() - start)
    single = max(single, 1e-9)
    iterations = max(1, math.ceil(policy.round_s / single))
    rounds = int(policy.budget_s / (iterations * single))
    floor = policy.min_rounds_long if single >= policy.long_call_s else policy.min_rounds
    rounds = max(floor, min(policy.max_rounds, rounds))
    return Plan(iterations, rounds, single, first, warm_calls, 1)


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


def measure(benchmark, call, policy: Policy) -> dict:
    """Time ``call`` with pytest-benchmark under ``policy``; return the engine's record fields.

    With timing disabled (``--benchmark-disable``) the call runs once as a plain test.
    """
    if benchmark.disabled:
        benchmark(call)
        return empty_record()
    p = plan(call, policy)
    benchmark.pedantic(call, rounds=p.rounds, iterations=p.iterations, warmup_rounds=p.warmup_rounds)
    return {
        "timing_engine": ENGINE_VERSION,
        "warmup_calls": p.warmup_calls,
        "first_call_s": p.first_call_s,
        "call_s": p.single_s,
        **diagnostics(benchmark.stats.stats.data),
    }


def empty_record() -> dict:
    """The engine's record fields when nothing was timed."""
    return {"timing_engine": ENGINE_VERSION, "warmup_calls": None, "first_call_s": None, "call_s": None,
            "stall_rounds": None, "settled": None}


# -- pairs: a case and its partner in alternating rounds ------------------------------------------
@dataclass(frozen=True)
class PairPolicy:
    """How many ABBA rounds a pair gets: each pair of rounds is one round of either side.

    ``pairs`` is chosen from ``budget_s`` over the cost of one round of both sides and rounded
    up to an even number (whole ABBA blocks), between ``min_pairs`` and ``max_pairs``;
    ``min_pairs_long`` when the partner's call takes ``long_call_s`` or more (its rounds are
    single calls a stall cannot dominate) and ``min_pairs_very_long`` from ``very_long_call_s``
    (its partner is a call of 0.1 s or more: a 4096² GEMM at n = 512; the case, whose own call is
    shorter, is timed in every pass). ``min_pairs_single_pass`` when the case's own call takes
    ``very_long_call_s`` or more: the driver times it in pass 1 only, so its speedup and interval
    rest on this pass's ratios alone (with two ratios, two back-to-back runs put torch-cpu 4096²,
    r = 2048, n = 512 on disjoint intervals).
    """

    min_pairs: int = 8
    max_pairs: int = 30
    budget_s: float = 0.04
    min_pairs_long: int = 4
    min_pairs_very_long: int = 2
    min_pairs_single_pass: int = 4

    def __post_init__(self):
        values = (self.min_pairs_very_long, self.min_pairs_single_pass, self.min_pairs_long, self.min_pairs,
                  self.max_pairs)
        ordered = (self.min_pairs_long <= self.min_pairs <= self.max_pairs
                   and max(self.min_pairs_very_long, self.min_pairs_single_pass) <= self.max_pairs)
        if any(v < 2 or v % 2 for v in values) or not ordered or self.budget_s < 0:
            raise ValueError(f"pair policy needs even counts of at least 2, min_pairs_long <= min_pairs <= max_pairs, "
                             f"min_pairs_very_long and min_pairs_single_pass <= max_pairs and a non-negative budget, "
                             f"got {self}")


def pair_count(case: Plan, partner: Plan, timing_policy: Policy, pair_policy: PairPolicy) -> int:
    """ABBA rounds of each side for a case and its partner, from their calibrations."""
    if case.single_s >= timing_policy.very_long_call_s:  # timed in pass 1 only
        return pair_policy.min_pairs_single_pass
    if partner.single_s >= timing_policy.very_long_call_s:
        return pair_policy.min_pairs_very_long
    floor = (pair_policy.min_pairs_long if max(partner.single_s, case.single_s) >= timing_policy.long_call_s
             else pair_policy.min_pairs)
    per_pair = case.iterations * case.single_s + partner.iterations * partner.single_s
    wanted = int(pair_policy.budget_s / max(per_pair, 1e-9))
    wanted += wanted % 2
    return max(floor, min(pair_policy.max_pairs, wanted))


def _round(call, iterations: int, clock) -> float:
    """Seconds per call over one round of ``iterations`` calls (pytest-benchmark's runner, by hand)."""
    start = clock()
    for _ in range(iterations):
        call()
    return (clock() - start) / iterations


def abba_rounds(call, partner, case_iterations: int, partner_iterations: int, pairs: int,
                clock=time.perf_counter) -> tuple[list[float], list[float]]:
    """``pairs`` rounds of each side in the order partner, case, case, partner, ...; each side's
    seconds per call, round by round, so that ``partner[i] / case[i]`` are adjacent rounds."""
    case_s, partner_s = [], []
    for _ in range(pairs // 2):
        partner_s.append(_round(partner, partner_iterations, clock))
        case_s.append(_round(call, case_iterations, clock))
        case_s.append(_round(call, case_iterations, clock))
        partner_s.append(_round(partner, partner_iterations, clock))
    return case_s, partner_s


def record_rounds(benchmark, per_call: list[float], iterations: int) -> None:
    """Hand rounds timed here to pytest-benchmark, as if ``benchmark.pedantic`` had timed them.

    pytest-benchmark times one function per test; a pair's rounds alternate two. Its statistics
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


def measure_pair(benchmark, call, partner, policy: Policy, pair_policy: PairPolicy, clock=time.perf_counter,
                 partner_plan: Plan | None = None) -> tuple[dict, Plan | None]:
    """Time ``call`` beside ``partner`` in ABBA rounds; ``call``'s rounds become the benchmark's stats.

    ``partner_plan``: the partner's calibration when an earlier case of this process made it (one
    dense product is the partner of every rank of its group: calibrating it again for each costs
    a 4096² GEMM at n = 512 two calls of 0.35 s a rank).

    Returns the engine's record fields, ``call_s`` the case's own fastest call and ``partner_call_s``
    its partner's (the driver times a pair of short calls in more passes, and a case whose own call
    is short in every pass however long its partner), with ``pair_ratios`` (per pair of adjacent
    rounds, partner time / case time: the speedup, when the partner is the dense product it replaces, which
    :func:`lowrank.record.pairs.summarize` combines over processes), and the partner's plan, for
    the next case of its group. With timing disabled the call runs once as a plain test
    (``pair_ratios`` None, no plan).
    """
    if benchmark.disabled:
        benchmark(call)
        return {**empty_record(), "partner_call_s": None, "pair_ratios": None}, None
    mine = plan(call, policy, clock)
    theirs = partner_plan if partner_plan is not None else plan(partner, policy, clock)
    pairs = pair_count(mine, theirs, policy, pair_policy)
    if max(mine.single_s, theirs.single_s) < policy.long_call_s:  # an untimed round of each side, as
        # pedantic's warm-up round; longer calls were warmed by their calibration calls
        abba_rounds(call, partner, mine.iterations, theirs.iterations, 2, clock)
    case_s, partner_s = abba_rounds(call, partner, mine.iterations, theirs.iterations, pairs, clock)
    record_rounds(benchmark, case_s, mine.iterations)
    ratios = [p / c for p, c in zip(partner_s, case_s)]
    return {
        "timing_engine": ENGINE_VERSION,
        "warmup_calls": mine.warmup_calls,
        "first_call_s": mine.first_call_s,
        "call_s": mine.single_s,
        "partner_call_s": theirs.single_s,
        **diagnostics(case_s),
        "pair_ratios": ratios,
    }, theirs
