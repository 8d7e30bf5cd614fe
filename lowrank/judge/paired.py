"""Paired judgement of an A/B run: each process is one data point, rounds are paired.

In ``lowrank-bench ab`` the two sides run in alternating processes, round by round
(base then head, then head then base, ...). What varies between processes on a shared
machine (page placement, frequency, other tenants) is far larger than what varies
between the rounds inside one process, so a test on raw samples pooled across processes
reports process noise as a change (Laaber et al., "Software microbenchmarking in the
cloud. How bad is it really?", 2019). Here each process contributes one figure per case,
its median, and each round one paired log ratio ``ln(head / base)``, which cancels what
both processes of a round share.

Disturbed processes
-------------------
On this project's 2-vCPU VM a disturbance (another tenant, any work of our own on the
other core) slows a whole process: in an A/A run, a disturbed round moved the median
case by 6-25% and a tenth of the cases by 40%, where quiet rounds stay within a few
percent. A process whose cases, as a whole (median over its cases), sit more than
``tolerance`` off the same side's other processes of that backend was disturbed; its
round is left out for that backend, on both sides, and counted. A real change of the
code moves every process of its side alike, so it is not mistaken for a disturbance.

A disturbance can also hit a single case: in quiet rounds of the same A/A run, one
case's process median now and then sat 1.7-1.9x above its other processes, with tight
rounds inside the process (its operands' placement, or a burst as long as its timing).
Disturbances only ever slow a process down, so, per case and side, a process median more
than ``outlier`` (and more than 4 scaled MADs) above that side's median for the case is
left out with its round (for a same-run ratio, below as well: a slowed partner lowers it). Both sides are treated alike, so this biases neither; a change of
the code moves the side's median with it.

Same-run ratios
---------------
A process on this VM sometimes runs as a whole 1.5x slower than the next (its core, its
frequency: the microsecond cases of the overhead suite came out at 4.6 or 6.8 us per
process), which no per-process median can cancel. The time of a case over the time of
its partner in the *same* process (a suite's pairings: ``vs_bare`` = apply / bare,
``speedup`` = factored / dense here, as a time ratio, ...) cancels it; each such ratio is
judged as a case of its own (metric named after the pairing), where a change of the
candidate's code shows unless it slows the partner alike.

The test
--------
For every case, a Student t interval of the mean log ratio over the rounds kept, at a
confidence that holds *simultaneously* for every case and every look (Bonferroni over
``cases × looks``): with early stopping the verdicts are looked at after several rounds,
and each look is a chance for a false alarm. A signed-rank test would need no normality,
but with ``n`` rounds its smallest p-value is ``2^(1-n)``: with 200 cases it cannot flag
anything before 13 rounds. A process median is the median of many rounds, so its log is
close to normal; the A/A runs in the README measure what this gives in practice.

Verdicts, with ``threshold`` the smallest change worth reporting:

* ``slower`` / ``faster``: the interval (of head / base; for a ratio metric, of the
  candidate's time relative to its partner's) excludes 1 and the estimate is beyond the threshold;
* ``same``: the interval lies inside ``[1/(1 + threshold), 1 + threshold]``;
* ``undecided``: neither yet (too few rounds for this case's noise).

A case is *decided*, for early stopping, once it is ``slower`` or its interval rules out
a slowdown of the threshold: the question the exit code answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lowrank.record import stats

VERDICTS = ("slower", "faster", "same", "undecided")
SIDES = ("base", "head")
# A process more than this far off its side's other processes (median over its cases) was disturbed.
DISTURBED_TOLERANCE = 0.03
# A case's process median this far above its side's median for the case (and 4 scaled MADs) is an outlier.
CASE_OUTLIER = 0.05
# Fewer processes of a side than this, and none can be told off the others.
MIN_PROCESSES_FOR_SHIFT = 3
# A process's shift is the median over its cases: with fewer, one case's outlier would move it.
MIN_CASES_FOR_SHIFT = 8


@dataclass(frozen=True)
class CaseRounds:
    """One case's process medians, by round, on both sides."""

    suite: str
    backend: str
    base: dict[int, float]  # round -> the base process's median, seconds (or the process's same-run ratio)
    head: dict[int, float]
    metric: str = "time"  # "time", or a suite's same-run ratio (time of the case / time of its partner)


@dataclass(frozen=True)
class PairedVerdict:
    """The paired comparison of one case: head time / base time."""

    case: str
    suite: str
    backend: str
    metric: str  # "time", or a same-run ratio ("vs_bare": apply / bare in the same process, ...)
    rounds: int  # paired rounds kept
    dropped: int  # rounds left out: a disturbed process, or an outlier of this case
    ratio: float  # exp(mean log ratio): head / base, > 1 is slower
    low: float  # simultaneous interval of the ratio
    high: float
    verdict: str
    base_median: float  # median of the base side's process medians, seconds
    head_median: float
    threshold: float  # the smallest change worth reporting, as a fraction

    @property
    def decided(self) -> bool:
        """Slower, or a slowdown of the threshold ruled out: more rounds would not change the exit code."""
        return self.verdict == "slower" or self.high < 1.0 + self.threshold


@dataclass(frozen=True)
class Judgement:
    """Every case's verdict, and the processes left out as disturbed."""

    verdicts: list[PairedVerdict]
    shifts: dict[tuple[str, str, int], float]  # (side, backend, round) -> the process's shift (log)
    disturbed: list[tuple[str, str, int]] = field(default_factory=list)  # (side, backend, round) left out
    confidence: float = 0.0

    def count(self, verdict: str) -> int:
        return sum(1 for v in self.verdicts if v.verdict == verdict)

    @property
    def open_cases(self) -> int:
        return sum(1 for v in self.verdicts if not v.decided)


def process_shifts(cases: dict[str, CaseRounds]) -> dict[tuple[str, str, int], float]:
    """How far each process sits off its side's other processes of the same backend (log, median over its cases).

    Needs :data:`MIN_PROCESSES_FOR_SHIFT` processes of a side and backend, and :data:`MIN_CASES_FOR_SHIFT`
    cases in a process; fewer give no entry.
    """
    devs: dict[tuple[str, str, int], list[float]] = {}
    for case in cases.values():
        if case.metric != "time":
            continue  # a ratio of two timings of one process: its shift cancels
        for side in SIDES:
            by_round = getattr(case, side)
            if len(by_round) < MIN_PROCESSES_FOR_SHIFT:
                continue
            logs = {r: math.log(m) for r, m in by_round.items() if m and m > 0}
            mid = float(np.median(list(logs.values())))
            for r, v in logs.items():
                devs.setdefault((side, case.backend, r), []).append(v - mid)
    return {key: float(np.median(v)) for key, v in devs.items() if len(v) >= MIN_CASES_FOR_SHIFT}


def confidence_for(alpha: float, cases: int, looks: int) -> float:
    """The per-case confidence that holds for ``cases × looks`` intervals at once (Bonferroni)."""
    return 1.0 - alpha / max(1, cases) / max(1, looks)


def verdict(estimate: float, low: float, high: float, threshold: float) -> str:
    """``slower``, ``faster``, ``same`` or ``undecided`` (module docstring)."""
    up, down = 1.0 + threshold, 1.0 / (1.0 + threshold)
    if low > 1.0 and estimate >= up:
        return "slower"
    if high < 1.0 and estimate <= down:
        return "faster"
    if down <= low and high <= up:
        return "same"
    return "undecided"


def slow_outliers(by_round: dict[int, float], outlier: float = CASE_OUTLIER, both_ways: bool = False) -> set[int]:
    """Rounds whose median sits more than ``outlier`` and 4 scaled MADs above the others' median (log scale);
    ``both_ways``: above or below (a ratio, which a slowed partner moves down)."""
    if len(by_round) < MIN_PROCESSES_FOR_SHIFT:
        return set()
    logs = {r: math.log(m) for r, m in by_round.items() if m and m > 0}
    values = np.array(list(logs.values()))
    mid = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - mid)))
    limit = max(math.log1p(outlier), 4.0 * mad)
    return {r for r, v in logs.items() if (abs(v - mid) if both_ways else v - mid) > limit}


def judge(cases: dict[str, CaseRounds], *, threshold: float, alpha: float, looks: int,
          tolerance: float = DISTURBED_TOLERANCE, outlier: float = CASE_OUTLIER) -> Judgement:
    """Verdicts for every case timed on both sides; ``looks`` is how often verdicts may be looked at."""
    shifts = process_shifts(cases)
    disturbed = sorted(key for key, s in shifts.items() if abs(s) > math.log1p(tolerance))
    left_out = {(backend, r) for _, backend, r in disturbed}
    confidence = confidence_for(alpha, len(cases), looks)
    out = []
    for name, case in sorted(cases.items()):
        common = {r for r in set(case.base) & set(case.head) if case.base[r] > 0 and case.head[r] > 0}
        rounds = sorted(r for r in common if (case.backend, r) not in left_out)
        kept = {r: case.base[r] for r in rounds}, {r: case.head[r] for r in rounds}
        both = case.metric != "time"  # a disturbance slows a time; it moves a ratio either way
        rounds = sorted(set(rounds) - slow_outliers(kept[0], outlier, both) - slow_outliers(kept[1], outlier, both))
        logs = [math.log(case.head[r] / case.base[r]) for r in rounds]
        if not logs:
            continue
        estimate, low, high = stats.t_interval(logs, confidence)
        out.append(PairedVerdict(
            name, case.suite, case.backend, case.metric, len(logs), len(common) - len(logs), estimate, low, high,
            verdict(estimate, low, high, threshold), float(np.median([case.base[r] for r in common])),
            float(np.median([case.head[r] for r in common])), threshold))
    return Judgement(out, shifts, disturbed, confidence)
