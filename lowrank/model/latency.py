"""Rank plans under a measured latency budget: the least total error whose layers take at most F of their dense time.

The budget is over every analysed layer: Σ_l t_l(c_l) ≤ F · Σ_l t_l(dense), where c_l is
layer l's choice (dense, or a rank) and the times are medians of the matvec suite at the
model's own shapes (:mod:`lowrank.model.timing`: the same timing engine, processes and
thread pinning as every benchmark). The objective is the one the other planners minimise,
Σ_l ‖W_l − B_l A_l‖² (the output error for a calibrated analysis, whose spectra are of W·S).

Times at ranks that were not measured
    are interpolated linearly in the rank between the two nearest measured ranks. The cost
    model's time of ``B @ (A @ x)`` is affine in r (r(d+k)·2n FLOPs, r(d+k) values read), so
    between measured ranks a straight line is what the model predicts; nothing is
    extrapolated: ranks above the largest measured one are not offered.

What the optimiser guarantees
    Choosing one option per layer under a sum constraint is a multiple-choice knapsack.
    :func:`plan_latency` solves it exactly by dynamic programming over time discretised in
    ``units`` steps of δ = budget / units, each option's time rounded *up* to whole steps.
    So (i) the plan meets the budget on the interpolated times, never by rounding luck, and
    (ii) its total squared error is at most that of the best plan under the budget less
    L·δ (L layers: rounding up adds less than δ per layer), the ``slack`` it reports. With
    the default 4000 steps and MiniLM's 36 layers, the slack is 0.9% of the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lowrank.errors import LowRankValueError
from lowrank.model.rankplan import LayerPlan, LayerSpectrum

INTERPOLATION = "linear in the rank between the nearest measured ranks (the cost model: time affine in r); no extrapolation"
UNITS = 4000


@dataclass(frozen=True)
class ShapeTimes:
    """Measured medians (seconds) at one shape: the dense product, and the factored one at some ranks."""

    shape: tuple[int, int]
    dense: float
    ranks: tuple[int, ...]  # ascending
    factored: tuple[float, ...]

    def __post_init__(self):
        if not self.ranks or list(self.ranks) != sorted(set(self.ranks)) or len(self.ranks) != len(self.factored):
            raise LowRankValueError(f"shape {self.shape}: measured ranks {self.ranks} must be distinct, ascending and "
                                    "as many as the times")
        if not all(math.isfinite(t) and t > 0 for t in (self.dense, *self.factored)):
            raise LowRankValueError(f"shape {self.shape}: every measured time must be a positive number")

    def time(self, rank: int) -> float:
        """The factored time at ``rank``, interpolated (:data:`INTERPOLATION`)."""
        if not self.ranks[0] <= rank <= self.ranks[-1]:
            raise LowRankValueError(f"shape {self.shape[0]}x{self.shape[1]}: rank {rank} is outside the measured ranks "
                                    f"{self.ranks[0]}..{self.ranks[-1]} (no extrapolation)")
        return float(np.interp(rank, self.ranks, self.factored))


def shape_times(times: dict[tuple[int, int, int | None], float]) -> dict[tuple[int, int], ShapeTimes]:
    """Group :func:`lowrank.model.timing.measure_times`' medians by shape."""
    out = {}
    for d, k in sorted({(d, k) for d, k, _ in times}):
        ranks = sorted(r for dd, kk, r in times if (dd, kk) == (d, k) and r is not None)
        if (d, k, None) not in times or not ranks:
            raise LowRankValueError(f"shape {d}x{k}: the timing needs the dense case and at least one rank")
        out[(d, k)] = ShapeTimes((d, k), times[(d, k, None)], tuple(ranks), tuple(times[(d, k, r)] for r in ranks))
    return out


def sweep_ranks(shape: tuple[int, int]) -> list[int]:
    """The ranks timed to plan at one shape: 1, then about 1.4x apart, up to r* = dk/(d+k) (past it B and A
    hold more values than W and, by the cost model, take longer)."""
    d, k = shape
    top = max(1, min(int(d * k / (d + k)), min(d, k) - 1))
    ranks, r = {1, top}, 1.0
    while r < top / 1.2:  # nothing within 20% below r*, which is timed anyway
        ranks.add(int(round(r)))
        r *= 1.4
    return sorted(x for x in ranks if 1 <= x <= top)


@dataclass(frozen=True)
class LatencyPlan:
    """A plan under a latency budget, with the times behind it and what the optimiser guarantees."""

    layers: list[LayerPlan]
    fraction: float  # F: the budget as a fraction of the analysed layers' dense time
    dense_time: float  # Σ of the analysed layers' dense medians (seconds)
    planned_time: float  # Σ of the plan's (interpolated) times
    squared_error: float  # Σ_l ‖W_l − B_l A_l‖², absolute
    step: float  # δ: the time step of the dynamic programme
    slack: float  # L·δ: the error is at most the optimum's under a budget this much smaller

    @property
    def budget(self) -> float:
        return self.fraction * self.dense_time

    @property
    def predicted_fraction(self) -> float:
        return self.planned_time / self.dense_time


def _options(sp: LayerSpectrum, times: ShapeTimes) -> list[tuple[int | None, float, float]]:
    """(rank or None for dense, time, squared error) of every choice of a layer worth considering."""
    options = [(None, times.dense, 0.0)]
    errors = sp.errors() * sp.fro_norm
    top = min(times.ranks[-1], sp.max_rank, min(sp.shape) - 1)
    for r in range(times.ranks[0], top + 1):
        t = times.time(r)
        if t < times.dense:  # slower than dense and less exact: never the better choice
            options.append((r, t, float(errors[r] ** 2)))
    return options


def plan_latency(spectra: list[LayerSpectrum], times: dict[tuple[int, int], ShapeTimes], fraction: float,
                 units: int = UNITS) -> LatencyPlan:
    """Ranks with the least total squared error whose time is at most ``fraction`` of the dense time.

    ``times``: the measured medians at every analysed shape (:func:`shape_times`). Exact dynamic
    programming on time rounded up to ``units`` steps (see the module's docstring for what it
    guarantees). A budget that even the fastest choice of every layer misses raises
    :class:`~lowrank.errors.LowRankValueError` naming the tightest budget the measurements allow.
    """
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise LowRankValueError(f"latency fraction={fraction!r}; accepted: a fraction in (0, 1], e.g. 0.8")
    if not isinstance(units, int) or units < 1:
        raise LowRankValueError(f"units={units!r}; accepted: an integer >= 1")
    missing = sorted({sp.shape for sp in spectra} - set(times))
    if missing:
        raise LowRankValueError(f"no measured times at shape(s) {', '.join(f'{d}x{k}' for d, k in missing)}")
    options = [_options(sp, times[sp.shape]) for sp in spectra]
    dense_time = sum(times[sp.shape].dense for sp in spectra)
    fastest = sum(min(t for _, t, _ in opts) for opts in options)
    budget = fraction * dense_time
    if fastest > budget:
        raise LowRankValueError(f"latency fraction={fraction:g}: the fastest plan the measurements allow (every layer at "
                                f"its fastest rank) takes {fastest / dense_time:.3f} of the dense time; accepted: a "
                                f"fraction >= {math.ceil(fastest / dense_time * 1000) / 1000:.3f}")
    step = budget / units
    best = np.zeros(units + 1)  # least error of the layers so far using at most j steps
    chosen = np.empty((len(spectra), units + 1), dtype=np.int32)
    costs = []
    for i, opts in enumerate(options):
        cost = [math.ceil(t / step - 1e-9) for _, t, _ in opts]
        costs.append(cost)
        nxt, arg = np.full(units + 1, np.inf), np.full(units + 1, -1, dtype=np.int32)
        for c, ((_, _, err), steps) in enumerate(zip(opts, cost)):
            if steps > units:
                continue
            cand = np.full(units + 1, np.inf)
            cand[steps:] = best[:units + 1 - steps] + err
            better = cand < nxt
            nxt[better], arg[better] = cand[better], c
        best, chosen[i] = nxt, arg
    if np.isfinite(best[units]):
        picks, j = [], units
        for i in range(len(spectra) - 1, -1, -1):
            c = int(chosen[i, j])
            picks.append(c)
            j -= costs[i][c]
        picks.reverse()
    else:
        # Within the rounding of the fastest plan (at F = 1 with no rank faster than dense, say): no plan
        # fits in whole steps, so none fits budget - slack either, and the fastest plan, which does fit
        # the budget, keeps both guarantees.
        picks = [min(range(len(opts)), key=lambda c, opts=opts: (opts[c][1], opts[c][2])) for opts in options]
    if dense_time <= budget:  # the whole budget (F = 1): every layer dense, error 0, which rounding may have hidden
        picks = [0] * len(options)
    layers, planned, squared = [], 0.0, 0.0
    for sp, opts, c in zip(spectra, options, picks):
        rank, t, err = opts[c]
        planned += t
        squared += err
        if rank is None:
            layers.append(LayerPlan(sp.name, sp.shape, None, 0.0, sp.params, sp.params, "kept dense by the budget"))
        else:
            layers.append(LayerPlan(sp.name, sp.shape, rank, sp.relative_error(rank), sp.params, sp.factored_params(rank)))
    return LatencyPlan(layers, float(fraction), float(dense_time), float(planned), float(squared), float(step),
                       float(step * len(spectra)))
