"""``lowrank-bench history``: change points on synthetic series and on a history of result files."""

import csv

import numpy as np
import pytest

from lowrank.cli import main
from lowrank.judge import history
from lowrank.present import history_report
from lowrank.store import load
from tests.synthetic import bench, document, write

R4 = "bench_matvec[numpy-float32-d0064-k0048-r0004-n001-warm]"


def _series(seed, noise=0.02, step=1.10, at=17, n=30):
    rng = np.random.default_rng(seed)
    values = np.exp(rng.normal(0.0, noise, n))
    values[at:] *= step
    return values


def test_a_ten_percent_step_is_found_at_its_commit():
    found = [history.detect(_series(seed)) for seed in range(50)]
    assert sum(f == [17] for f in found) >= 45  # location exact in 90% and more at 2% noise
    assert all(len(f) <= 1 for f in found)  # and never a second, false, change point


def test_noise_alone_gives_no_change_point():
    # At 2% noise none in 300 series; at 3% (a 5% step is then 1.7 sigma) one in 300.
    for seed in range(100):
        assert history.detect(_series(seed, noise=0.02, step=1.0)) == []


def test_a_step_below_the_minimum_effect_is_not_reported():
    quiet = _series(1, noise=0.002, step=1.03)  # clear to any test, but 3%
    assert history.detect(quiet, min_effect=0.05) == []
    assert history.detect(quiet, min_effect=0.02) == [17]


def test_too_short_a_series_has_no_change_point():
    assert history.detect(np.array([1.0, 1.0, 2.0, 2.0, 2.0])) == []


def _history(folder, n=30, step_at=17, seed=0, machines=("abc123",)):
    """``n`` commits of the small run, 2% noise; the rank-4 case 10% slower from commit ``step_at`` on."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        for machine in machines:
            slow = 1.10 if i >= step_at else 1.0
            noise = np.exp(rng.normal(0, 0.02, 3))
            benches = [bench(rank=None, median=8e-6 * noise[0]), bench(rank=4, median=2e-6 * slow * noise[1]),
                       bench(rank=32, median=16e-6 * noise[2])]
            write(folder / f"run{i:02d}-{machine}.json",
                  document(benches, datetime=f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00",
                           commit=f"{i:02d}" + "c" * 38, fingerprint=machine))


def test_history_of_result_files_finds_the_commit_that_slowed_a_case(tmp_path, capsys):
    _history(tmp_path / "runs")
    out = tmp_path / "history"
    assert main(["history", str(tmp_path / "runs"), "-o", str(out)]) == 0
    with open(out / "change_points.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["case"], r["after_point"][:2], r["before_point"][:2]) for r in rows] == [(R4, "17", "16")]
    assert float(rows[0]["ratio"]) == pytest.approx(1.10, abs=0.03)
    assert (out / "history.html").exists() and (out / "figures" / "trend_1.png").stat().st_size > 10_000
    assert R4 in capsys.readouterr().out


def test_the_same_run_ratio_follows_the_slowed_case(tmp_path):
    _history(tmp_path / "runs")
    loaded = load.load([tmp_path / "runs"])
    h = history.change_points(history.build(loaded, "ratio"))
    assert [(c.case, c.index) for c in h.changes] == [(f"{R4} speedup", 17)]
    assert {s.machine for s in h.series} == {""}  # ratios carry over between machines


def test_runs_of_one_commit_are_one_point_and_machines_have_series_of_their_own(tmp_path):
    _history(tmp_path / "runs", n=8, machines=("m1", "m2"))
    h = history.build(load.load([tmp_path / "runs"]), "time")
    assert len(h.points) == 8 and all(len(p.run_ids) == 2 for p in h.points)
    assert {s.machine for s in h.series} == {"m1", "m2"} and len(h.series) == 6


def test_bad_input_is_one_line(tmp_path, capsys):
    _history(tmp_path / "runs", n=6)
    assert main(["history", str(tmp_path / "runs"), "-k", "no-such-case", "-o", str(tmp_path / "h")]) == 2
    assert "no case matches -k 'no-such-case'" in capsys.readouterr().err
    assert main(["history", str(tmp_path / "nothing-here"), "-o", str(tmp_path / "h")]) == 2
    assert "Traceback" not in capsys.readouterr().err


# -- robustness: slow runs are not change points --------------------------------------------------------------
def _with_slow_runs(seed, rate, noise=0.02, step=1.0):
    """A seeded series in which each run is 30% slow with probability ``rate`` (a busy runner, one case)."""
    rng = np.random.default_rng(seed)
    values = _series(seed, noise=noise, step=step)
    values[rng.random(values.size) < rate] *= 1.30
    return values


def test_single_slow_runs_are_set_aside_not_taken_for_levels():
    values = _series(3, step=1.0)
    values[[5, 12, 13, 24]] *= 1.30  # one alone, two side by side, one more
    assert history.detect(values) == []
    clean, sigma = history.despiked(np.log(values))
    assert np.all(np.abs(clean - np.log(_series(3, step=1.0))) < 0.08)  # back near their neighbours
    assert 0.01 < sigma < 0.03  # the 2% noise, not inflated by the slow runs


def test_slow_runs_do_not_hide_a_step_or_fake_one():
    fake = sum(bool(history.detect(_with_slow_runs(seed, 0.05))) for seed in range(100))
    found = sum(any(abs(c - 17) <= 1 for c in history.detect(_with_slow_runs(seed, 0.05, step=1.10)))
                for seed in range(100))
    assert fake <= 2 and found >= 90  # within a commit; seeded, so the counts are fixed by the seeds, not a machine


def _disturbed_history(step_case=None, every_case=False, bad=(6, 23), n=30, cases=12):
    rng = np.random.default_rng(11)
    pts = [history.Point(f"c{i}", f"c{i}", f"2026-01-01T{i:02d}:00", (f"r{i}",)) for i in range(n)]
    series = []
    for c in range(cases):
        values = np.exp(rng.normal(0.0, 0.02, n))
        if every_case or c == step_case:
            values[17:] *= 1.20
        values[list(bad)] *= 1.40  # whole runs slow: every case at once
        series.append(history.Series(f"case{c}", "m", values))
    return history.History("time", pts, series)


def test_a_run_disturbed_as_a_whole_is_recognised_and_left_out():
    h = history.change_points(_disturbed_history(step_case=0))
    assert h.disturbed == [6, 23]
    assert [(c.case, c.index) for c in h.changes] == [("case0", 17)]
    assert "2 run(s) disturbed as a whole" in history_report.to_text(h)  # the page says so, and which


def test_a_real_change_of_every_case_is_not_taken_for_a_disturbance():
    h = history.change_points(_disturbed_history(every_case=True, bad=()))
    assert h.disturbed == []
    assert sorted({c.index for c in h.changes}) == [17] and len(h.changes) == 12


def _counted_history(folder, n=10, step_at=6):
    """``n`` commits of the recorded counted run; ``apply-numpy`` does 5% more instructions from ``step_at`` on."""
    import copy
    import json

    from tests import recorded

    base = recorded.run("counts-aa", 1)
    for i in range(n):
        doc = copy.deepcopy(base)
        doc["commit_info"] = {**(doc.get("commit_info") or {}), "id": f"{i:02d}" + "d" * 38, "dirty": False}
        doc["datetime"] = f"2026-02-01T{i:02d}:00:00+00:00"
        for b in doc["benchmarks"]:
            if b["param"] == "apply-numpy" and i >= step_at:
                b["extra_info"]["instructions"] *= 1.05
        (folder / f"counted{i:02d}.json").write_text(json.dumps(doc))


def test_counted_runs_are_followed_by_instructions_alone(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    _counted_history(runs)
    _history(runs, n=8)
    loaded = load.load([runs])
    counted = history.change_points(history.build(loaded, "instructions"))
    assert len(counted.points) == 10 and {s.machine for s in counted.series} == {""}
    assert [(c.case, c.index) for c in counted.changes] == [("bench_apply_overhead[apply-numpy]", 6)]
    assert counted.changes[0].ratio == pytest.approx(1.05)
    timed = history.build(loaded, "time")  # the counted runs' valgrind times are no part of it
    assert len(timed.points) == 8 and not any("apply" in s.case for s in timed.series)
    out = tmp_path / "history"
    assert main(["history", str(runs), "--metric", "instructions", "-o", str(out)]) == 0
    assert "Ir" in (out / "history.md").read_text()
