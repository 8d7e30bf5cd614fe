"""Plans under a latency budget: the interpolation, the exact optimiser against brute force, bad input.

Verdicts are made on recorded times (a real quick run of the matvec suite) or on seeded ones;
whether a plan meets its budget on a live machine is measured by the command and reported.
"""

import copy
import itertools
import math

import numpy as np
import pytest

from lowrank import cli
from lowrank.errors import LowRankValueError
from lowrank.model import latency, timing
from lowrank.model.rankplan import LayerSpectrum
from tests import recorded


def spectrum(name, shape, rng, decay=0.9):
    m = min(shape)
    s = np.sort(rng.uniform(0.5, 1.5, m) * decay ** np.arange(m))[::-1]
    return LayerSpectrum(name, shape, "float32", s, float(np.sqrt((s**2).sum())), True)


def seeded_times(shape, rng, ranks):
    """Factored times affine in r with noise (an overhead of up to 2 ranks' worth), dense near the time at r*."""
    d, k = shape
    per_rank = rng.uniform(0.5, 1.5) * (d + k)
    factored = [per_rank * (r + rng.uniform(0, 2)) for r in ranks]
    return latency.ShapeTimes(shape, per_rank * d * k / (d + k) * rng.uniform(0.8, 2.0), tuple(ranks), tuple(factored))


def brute_force(spectra, times, budget):
    """The least total squared error of every combination of options within ``budget`` (inf if none fits)."""
    options = [latency._options(sp, times[sp.shape]) for sp in spectra]
    best = math.inf
    for combo in itertools.product(*options):
        if sum(t for _, t, _ in combo) <= budget:
            best = min(best, sum(e for _, _, e in combo))
    return best


def test_times_between_measured_ranks_are_linear_and_never_extrapolated():
    st = latency.ShapeTimes((64, 32), 10.0, (1, 4, 16), (1.0, 2.5, 8.5))
    assert [st.time(r) for r in (1, 4, 16)] == [1.0, 2.5, 8.5]
    assert st.time(2) == pytest.approx(1.5) and st.time(10) == pytest.approx(5.5)
    for rank in (0, 17):
        with pytest.raises(LowRankValueError, match="no extrapolation"):
            st.time(rank)


@pytest.mark.parametrize("ranks, times", [((4, 1), (1.0, 2.0)), ((1, 4), (1.0,)), ((1, 4), (1.0, -2.0)),
                                          ((1, 1), (1.0, 1.0))])
def test_inconsistent_measured_times_are_refused(ranks, times):
    with pytest.raises(LowRankValueError, match="shape"):
        latency.ShapeTimes((8, 8), 1.0, ranks, times)


@pytest.mark.parametrize("shape", [(384, 384), (1536, 384), (8, 6), (2, 2)])
def test_the_sweep_starts_at_rank_1_and_ends_at_the_break_even_rank(shape):
    d, k = shape
    ranks = latency.sweep_ranks(shape)
    top = max(1, min(d * k // (d + k), min(shape) - 1))
    assert ranks[0] == 1 and ranks[-1] == top and ranks == sorted(set(ranks))
    assert all(b / a <= 2.0 for a, b in zip(ranks, ranks[1:]))  # no gap wider than a doubling


@pytest.mark.parametrize("seed", range(40))
def test_the_dynamic_programme_meets_the_budget_and_is_within_its_slack_of_the_optimum(seed):
    rng = np.random.default_rng(seed)
    shapes = [(12, 10), (10, 10), (16, 8)][: 2 + seed % 2]
    spectra = [spectrum(f"l{i}", s, rng) for i, s in enumerate(shapes)]
    times = {s: seeded_times(s, rng, (1, 2, 4, 7, 9)) for s in set(shapes)}
    fastest = sum(min(t for _, t, _ in latency._options(sp, times[sp.shape])) for sp in spectra)
    dense = sum(times[sp.shape].dense for sp in spectra)
    fraction = float(rng.uniform(min(fastest / dense * 1.02, 1.0), 1.0))
    units = int(rng.choice([50, 400, 4000]))
    plan = latency.plan_latency(spectra, times, fraction, units=units)
    # (i) within the budget on the interpolated times, every layer's choice among its options
    assert plan.planned_time <= plan.budget * (1 + 1e-12)
    chosen_time = sum(times[p.shape].dense if p.rank is None else times[p.shape].time(p.rank) for p in plan.layers)
    assert chosen_time == pytest.approx(plan.planned_time)
    # (ii) never better than the true optimum, never worse than the optimum under budget - slack
    assert plan.slack == pytest.approx(plan.budget / units * len(spectra))
    optimum = brute_force(spectra, times, plan.budget)
    assert plan.squared_error >= optimum - 1e-12
    assert plan.squared_error <= brute_force(spectra, times, plan.budget - plan.slack) + 1e-12
    if units == 4000:  # a slack of 0.1% or less: in these seeded cases, the optimum itself
        assert plan.squared_error == pytest.approx(optimum, rel=1e-12)


@pytest.mark.parametrize("units", [7, 50, 4000])
def test_the_whole_budget_keeps_every_layer_dense(units):
    rng = np.random.default_rng(0)
    spectra = [spectrum(n, (12, 10), rng) for n in "abc"]
    times = {(12, 10): seeded_times((12, 10), rng, (1, 3))}
    plan = latency.plan_latency(spectra, times, 1.0, units=units)
    assert plan.squared_error == 0.0 and all(p.rank is None for p in plan.layers)


def test_a_budget_below_the_fastest_plan_names_the_tightest_one():
    st = latency.ShapeTimes((8, 6), 10.0, (1, 3), (4.0, 8.0))
    spectra = [spectrum("a", (8, 6), np.random.default_rng(1))]
    with pytest.raises(LowRankValueError, match=r"takes 0\.400 of the dense time; accepted: a fraction >= 0\.400"):
        latency.plan_latency(spectra, {(8, 6): st}, 0.3)
    assert latency.plan_latency(spectra, {(8, 6): st}, 0.4).layers[0].rank == 1


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5, float("nan"), "0.5"])
def test_a_fraction_outside_0_1_is_refused(fraction):
    st = latency.ShapeTimes((8, 6), 10.0, (1, 3), (4.0, 8.0))
    with pytest.raises(LowRankValueError, match="accepted: a fraction in \\(0, 1\\]"):
        latency.plan_latency([spectrum("a", (8, 6), np.random.default_rng(1))], {(8, 6): st}, fraction)


def test_a_plan_on_recorded_times_of_the_suite():
    # A real quick run (numpy float32, n = 32): the times the command would plan on.
    doc = copy.deepcopy(recorded.run("matvec-aa", 1))
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b["extra_info"]["backend"] == "numpy"
                         and b["extra_info"]["batch"] == 32]
    times = latency.shape_times(timing.medians(doc))
    assert set(times) >= {(1024, 1024), (1024, 256)}
    rng = np.random.default_rng(3)
    spectra = [spectrum(f"l{i}", (1024, 1024), rng, decay=0.99) for i in range(3)]
    loose, tight = (latency.plan_latency(spectra, times, f) for f in (0.6, 0.2))
    for plan in (loose, tight):
        assert plan.planned_time <= plan.budget
    assert tight.squared_error >= loose.squared_error  # less time, never less error
    assert sum(p.rank or 0 for p in tight.layers) <= sum(p.rank or 1024 for p in loose.layers)
    speedups = timing.speedups(timing.medians(doc))
    assert all(s > 0 for s in speedups.values()) and (1024, 1024, 64) in speedups


@pytest.mark.parametrize("extra, words", [
    (["--latency", "0.8", "--no-timing"], ["--latency 0.8", "--no-timing"]),
    (["--latency", "0"], ["--latency", "accepted: a fraction in (0, 1]"]),
    (["--latency", "1.5"], ["--latency", "accepted: a fraction in (0, 1]"]),
    (["--latency", "0.8", "--params", "0.5"], ["--params", "not allowed with argument --latency"]),
])
def test_the_command_refuses_a_bad_latency_budget(checkpoints, capsys, extra, words):
    try:
        code = cli.main(["model", str(checkpoints["safetensors"]), *extra])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and "Traceback" not in err and len(errors) == 1, err
    assert all(w in errors[0] for w in words), err


def test_the_plan_is_made_on_each_factored_cases_slowest_pass():
    doc = copy.deepcopy(recorded.run("matvec-aa", 1))
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b["extra_info"]["backend"] == "numpy"
                         and b["extra_info"]["batch"] == 1]
    median, slowest = timing.medians(doc), timing.medians(doc, factored="slowest")
    assert median.keys() == slowest.keys()
    for key, t in median.items():
        if key[2] is None:
            assert slowest[key] == t  # dense: the pooled median
        else:
            case = next(b for b in doc["benchmarks"] if (b["extra_info"]["d"], b["extra_info"]["k"],
                                                         b["extra_info"]["rank"]) == key)
            assert slowest[key] == max(t, *case["extra_info"]["process_medians"]) >= t
    assert any(slowest[k] > median[k] for k in median)  # the recorded passes do differ
    with pytest.raises(LowRankValueError, match="accepted: 'median', 'slowest'"):
        timing.medians(doc, factored="mean")


def test_measured_speedups_are_the_paired_ones_where_the_run_has_them():
    # A recorded run of the matvec suite (timing engine 3): its factored cases carry a paired speedup
    # (timed beside the dense product round by round), which the model command reports instead of
    # dense median / factored median; a case without one (an older file) falls back to the medians.
    doc = copy.deepcopy(recorded.run("matvec-aa", 1))
    cases = [b for b in doc["benchmarks"] if b["extra_info"]["backend"] == "numpy" and b["extra_info"]["d"] == 1024
             and b["extra_info"]["k"] == 1024 and b["extra_info"]["batch"] == 1]
    doc["benchmarks"] = cases
    factored = [b for b in cases if b["extra_info"]["rank"] is not None]
    unpaired = factored[1]["extra_info"]
    for name in ("paired_speedup", "process_pair_ratios"):
        unpaired[name] = None
    times = timing.Times(timing.medians(doc))
    times.paired.update(timing.paired_speedups(doc))
    got = timing.speedups(times)
    first = factored[0]["extra_info"]
    key = (first["d"], first["k"], first["rank"])
    assert got[key] == first["paired_speedup"] != pytest.approx(times[(1024, 1024, None)] / times[key], rel=1e-6)
    other = (unpaired["d"], unpaired["k"], unpaired["rank"])
    assert other not in times.paired and len(times.paired) == len(factored) - 1
    assert got[other] == pytest.approx(times[(1024, 1024, None)] / times[other])
