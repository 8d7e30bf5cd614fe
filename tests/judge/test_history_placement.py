"""Change points are placed where the data puts them: neither --min-size nor a missing run moves them.

PELT's min_size used to push a step at the 4th commit to the 5th (and one 3 commits from the end one
commit early), and a run missing before a step did the same by shortening the level it fell in.
"""

import csv

import numpy as np
import pytest

from lowrank.cli import main
from lowrank.judge import history
from lowrank.present import history_report
from tests.synthetic import bench, document, write


def _step(at, n=12, noise=0.0, seed=0, step=1.10):
    """``n`` commits, ``step`` times slower from commit index ``at`` on; seeded log-normal noise."""
    values = np.exp(np.random.default_rng(seed).normal(0.0, noise, n))
    values[at:] *= step
    return values


def _history(values):
    n = len(values)
    pts = [history.Point(f"c{i}", f"c{i:02d}", f"2026-01-01T{i:02d}:00", (f"r{i}",)) for i in range(n)]
    return history.change_points(history.History("time", pts, [history.Series("case", "m", np.asarray(values))]))


@pytest.mark.parametrize("at", range(3, 10))
@pytest.mark.parametrize("noise, seeds", [(0.0, [0]), (0.002, range(5))])
def test_a_clean_step_is_placed_at_its_commit(at, noise, seeds):
    # at = 3: the first level is 3 commits, shorter than --min-size 4; at = 9: the last one is.
    for seed in seeds:
        assert history.detect(_step(at, noise=noise, seed=seed)) == [at]
        assert history.detect(_step(at, noise=noise, seed=seed, step=0.9)) == [at]  # a speed-up too


@pytest.mark.parametrize("min_size", [2, 3, 4, 5, 6])
def test_min_size_does_not_move_a_step_near_either_end(min_size):
    for at in (3, 4, 5, 15, 16, 17):
        assert history.detect(_step(at, n=20, noise=0.002), min_size=min_size) == [at], at


@pytest.mark.parametrize("at", [4, 6, 8])
def test_a_missing_run_before_or_after_the_step_does_not_move_it(at):
    values = _step(at, noise=0.002, seed=1)
    for missing in range(len(values)):
        if missing == at:
            continue
        gappy = values.copy()
        gappy[missing] = np.nan
        assert history.detect(gappy) == [at], missing
        (change,) = _history(gappy).changes
        assert change.index == at
        assert change.since == (at - 2 if missing == at - 1 else at - 1)  # the last point of the old level with a value


def test_a_missing_run_at_the_step_leaves_the_change_between_its_neighbours(tmp_path, capsys):
    values = _step(6, noise=0.002, seed=2)
    values[6] = np.nan  # the first commit of the new level was not run: it may be old or new
    (change,) = _history(values).changes
    assert (change.since, change.index) == (5, 7)
    assert change.ratio == pytest.approx(1.10, abs=0.01)
    assert "c05 -> c07" in history_report.to_text(_history(values))


def test_a_first_level_shorter_than_min_size_is_placed():
    h = _history(_step(3, n=12, noise=0.002, seed=3))
    assert [(c.index, c.since) for c in h.changes] == [(3, 2)] and h.short == []
    # and not shifted when --min-size is larger still
    assert history.detect(_step(3, n=16, noise=0.002, seed=3), min_size=6) == [3]


@pytest.mark.parametrize("at, side, first, last", [(2, "first", 0, 1), (10, "last", 10, 11)])
def test_a_two_commit_level_at_either_end_is_named_as_not_placeable(at, side, first, last):
    # Two points at an end cannot be told from two slow runs (despiking takes them): no change is placed,
    # and the page says so instead of saying nothing.
    h = _history(_step(at, n=12, noise=0.002, seed=4))
    assert h.changes == []
    (level,) = h.short
    assert (level.side, level.first, level.last) == (side, first, last)
    ratio = level.value / level.beside
    assert ratio == pytest.approx(1 / 1.10 if side == "first" else 1.10, abs=0.01)
    text = history_report.to_text(h)
    assert f"its {side} 2 commit(s)" in text and "cannot be placed" in text


def test_one_odd_run_at_an_end_is_a_slow_run_not_a_level():
    for at in (1, 11):
        h = _history(_step(at, n=12, noise=0.002, seed=5))
        assert h.changes == [] and h.short == []


def test_noise_alone_rarely_names_a_short_level_and_a_real_one_is_named():
    named, found = 0, 0
    for noise in (0.02, 0.03):
        for n in (20, 30):
            for seed in range(500):
                values = _step(0, n=n, noise=noise, seed=seed, step=1.0)
                named += bool(history.short_levels(values, history.detect(values)))
                if noise == 0.02 and seed < 100:
                    values[-2:] *= 1.20
                    found += bool(history.short_levels(values, history.detect(values)))
    assert named <= 4  # of 2000 noise-only series: 0.2% at most (seeded, so a fixed count)
    assert found >= 190  # of 200 with a 20% step at the last two commits, 2% noise


def test_a_level_between_two_changes_keeps_min_size_points():
    # Seeded noisy series with two steps: however the changes are placed, none makes a middle level
    # shorter than --min-size (a few odd runs are not a level).
    for seed in range(40):
        values = _step(10, n=30, noise=0.03, seed=seed)
        values[16:] /= 1.10
        for min_size in (3, 4, 5):
            found = history.detect(values, min_size=min_size)
            assert all(b - a >= min_size for a, b in zip(found, found[1:])), (seed, min_size, found)


def _runs(folder, slow_from, n=12, missing=()):
    """``n`` commits of a small timed run; the rank-4 case 20% slower from commit ``slow_from`` on."""
    rng = np.random.default_rng(7)
    for i in range(n):
        noise = np.exp(rng.normal(0, 0.002, 3))
        benches = [bench(rank=None, median=8e-6 * noise[0]), bench(rank=32, median=16e-6 * noise[2])]
        if i not in missing:  # the case was not run at that commit
            benches.append(bench(rank=4, median=2e-6 * (1.2 if i >= slow_from else 1.0) * noise[1]))
        write(folder / f"run{i:02d}.json", document(benches, datetime=f"2026-01-01T{i:02d}:00:00+00:00",
                                                      commit=f"{i:02d}" + "c" * 38, fingerprint="abc123"))


def test_the_history_command_places_a_step_at_the_4th_commit_and_a_gap_does_not_move_it(tmp_path):
    for name, missing in (("clean", ()), ("gap", (1,))):
        _runs(tmp_path / name, slow_from=3 if name == "clean" else 4, missing=missing)
        out = tmp_path / f"history-{name}"
        assert main(["history", str(tmp_path / name), "-o", str(out)]) == 0
        with open(out / "change_points.csv") as f:
            rows = [(r["before_point"][:2], r["after_point"][:2]) for r in csv.DictReader(f)]
        assert rows == ([("02", "03")] if name == "clean" else [("03", "04")])


def test_the_history_command_names_a_level_too_short_to_place(tmp_path, capsys):
    _runs(tmp_path / "runs", slow_from=10)
    out = tmp_path / "history"
    assert main(["history", str(tmp_path / "runs"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    line = next(line for line in printed.splitlines() if "cannot be placed" in line)
    assert "its last 2 commit(s) (10ccccc 2026-01-01 to 11ccccc 2026-01-01) are +20." in line
    assert "cannot be placed" in (out / "history.md").read_text()


def test_a_run_missing_from_a_three_commit_first_level_leaves_it_unplaced_not_late():
    # Two runs at the old level cannot be told from two slow runs: the change is named, not moved to the 5th commit.
    values = _step(3, n=12, noise=0.002, seed=6)
    values[1] = np.nan
    h = _history(values)
    assert h.changes == []
    (level,) = h.short
    assert (level.side, level.first, level.last, level.runs) == ("first", 0, 2, 2)
    assert "its first 3 commit(s) (c00 to c02, 2 of them run)" in history_report.to_text(h)
