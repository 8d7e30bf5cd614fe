"""No command mixes a timed run with a counted one: each refuses them (exit 2, one line naming each file's
metric, nothing written), and history, which follows one metric, says which runs it leaves out.

The files are real recorded runs: timed (``tests/recorded/suites-aa``, the suites a counted run counts
too) and counted (``tests/recorded/counts-aa``).
"""

from __future__ import annotations

import copy
import json

import pytest

from lowrank import cli
from lowrank.errors import LowRankValueError
from lowrank.judge import baselines
from lowrank.record.schema import same_metric
from tests import recorded
from tests.cli.test_hostile_input import assert_refused, digest, run


@pytest.fixture
def folder(tmp_path):
    """timed.json, counted.json and counted2.json (the second counted run), as recorded."""
    (tmp_path / "timed.json").write_text(json.dumps(recorded.run("suites-aa", 1)))
    (tmp_path / "counted.json").write_text(json.dumps(recorded.run("counts-aa", 1)))
    (tmp_path / "counted2.json").write_text(json.dumps(recorded.run("counts-aa", 2)))
    return tmp_path


def mixed_commands(folder, first, second):
    out = folder / "out"
    return {
        "baseline": ["baseline", first, second, "--name", "both", "--dir", out],
        "report": ["report", first, second, "-o", out],
        "report --keep-going": ["report", first, second, "-o", out, "--keep-going"],
        "csv": ["csv", first, second, "-o", folder / "out.csv"],
        "csv --keep-going": ["csv", first, second, "-o", folder / "out.csv", "--keep-going"],
        "compare": ["compare", first, second, "-o", out],
        "gate": ["gate", first, "--baseline", second, "--markdown", folder / "out.md"],
    }


COMMANDS = ["baseline", "report", "report --keep-going", "csv", "csv --keep-going", "compare", "gate"]


@pytest.mark.parametrize("order", ["timed first", "counted first"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_timed_and_a_counted_run_are_refused_naming_each_metric(folder, capsys, command, order):
    timed, counted = folder / "timed.json", folder / "counted.json"
    first, second = (timed, counted) if order == "timed first" else (counted, timed)
    before = digest(folder)
    code, err = run(mixed_commands(folder, first, second)[command], capsys)
    metric = {timed: "time", counted: "instructions"}
    if command.split()[0] in ("report", "csv"):  # runs read in the order they ran, whatever the order given
        first, second = sorted((timed, counted), key=lambda path: json.loads(path.read_text())["datetime"])
    assert_refused(code, err, f"{first} measured {metric[first]} and {second} {metric[second]}",
                   "a counted run's stats are one call under valgrind, not times")
    assert "same profile" not in err  # the metrics, not the cases, are what differ
    assert digest(folder) == before
    assert not any((folder / name).exists() for name in ("out", "out.csv", "out.md"))


def test_a_confirming_rerun_of_another_metric_is_refused_by_name(folder, capsys):
    before = digest(folder)
    code, err = run(["gate", folder / "counted.json", "--baseline", folder / "counted2.json", "--confirm",
                     folder / "timed.json"], capsys)
    assert_refused(code, err, f"{folder / 'counted.json'}, {folder / 'counted2.json'} measured instructions and "
                              f"{folder / 'timed.json'} time")
    assert digest(folder) == before


def test_export_refuses_a_counted_run_and_writes_nothing(folder, capsys):
    before = digest(folder)
    code, err = run(["export", folder / "counted.json", "-o", folder / "out"], capsys)
    assert_refused(code, err, str(folder / "counted.json"), "measured instructions (a counted run)",
                   "export writes median times", "history --metric instructions")
    assert digest(folder) == before and not (folder / "out").exists()


def test_export_of_a_timed_run_still_writes_its_times(folder, capsys):
    code, err = run(["export", folder / "timed.json", "-o", folder / "out"], capsys)
    assert code == 0, err
    times = json.loads((folder / "out" / "times.json").read_text())
    assert len(times) == 38 and all(t["unit"] == "us" for t in times)


@pytest.mark.parametrize("metric, kept, left, series", [("time", 1, 2, 38), ("instructions", 2, 1, 34)])
def test_history_follows_one_metric_and_names_the_runs_it_leaves_out(folder, tmp_path_factory, capsys, metric, kept,
                                                                     left, series):
    out = tmp_path_factory.mktemp("history")  # apart from the input folder, which no output may be inside
    code, err = run(["history", folder, "--metric", metric, "-o", out], capsys)
    assert code == 0, err
    (line,) = [x for x in err.splitlines() if "left out" in x]
    other = "time" if metric == "instructions" else "instructions"
    assert line.startswith(f"[history] left out {left} run(s) of another metric than --metric {metric}: ")
    assert line.count(f"({other})") == left and f"({metric})" not in line
    text = (out / "history.md").read_text()
    assert f"from {kept} run(s)" in text and f"{series} series (metric: {metric})" in text


def test_two_counted_runs_of_the_same_settings_and_code_are_pooled(folder, capsys):
    code, err = run(["baseline", folder / "counted.json", folder / "counted2.json", "--name", "c", "--dir",
                     folder / "bl"], capsys)
    assert code == 0, err
    stored = json.loads((folder / "bl" / "c.json").read_text())
    assert stored["machine_info"]["lowrank_bench"]["metric"] == "instructions"
    assert len(stored["benchmarks"]) == 34


@pytest.mark.parametrize("edit, named", [
    (lambda b: b["counting"].__setitem__("valgrind", "valgrind-3.22.0"),
     "counting valgrind: 'valgrind-3.19.0' -> 'valgrind-3.22.0'"),
    (lambda b: b["versions"].__setitem__("numpy", "1.26.4"), "numpy: 2.4.6 -> 1.26.4"),
    (lambda b: b["counting"]["blas"][0].__setitem__("architecture", "Zen"), "BLAS kernel: "),
])
def test_counted_runs_made_under_other_settings_are_not_pooled(folder, capsys, edit, named):
    doc = recorded.run("counts-aa", 2)
    edit(doc["machine_info"]["lowrank_bench"])
    for bench in doc["benchmarks"]:  # counts that moved with the settings
        bench["extra_info"]["instructions"] *= 1.03
    other = folder / "other.json"
    other.write_text(json.dumps(doc))
    before = digest(folder)
    code, err = run(["baseline", folder / "counted.json", other, "--name", "c", "--dir", folder / "bl"], capsys)
    assert_refused(code, err, f"{other}: counted under other settings than {folder / 'counted.json'}", named)
    assert digest(folder) == before and not (folder / "bl").exists()


def test_counted_runs_whose_counts_differ_under_the_same_settings_are_not_pooled(folder, capsys):
    doc = recorded.run("counts-aa", 2)
    (bench,) = [b for b in doc["benchmarks"] if b["param"] == "apply-numpy"]
    bench["extra_info"]["instructions"] *= 1.02
    other = folder / "other.json"
    other.write_text(json.dumps(doc))
    code, err = run(["baseline", folder / "counted.json", other, "--name", "c", "--dir", folder / "bl"], capsys)
    assert_refused(code, err, f"{other}: 'apply-numpy' counted", f"in {folder / 'counted.json'} (+",
                   "beyond the gate's tolerance 0.50%")
    assert not (folder / "bl").exists()


def test_the_library_refuses_the_same_mixes():
    timed, counted = recorded.run("suites-aa", 1), recorded.run("counts-aa", 1)
    with pytest.raises(LowRankValueError, match="a.json measured time and b.json instructions"):
        baselines.pool_runs([timed, counted], ["a.json", "b.json"])
    from lowrank.store.export import check_timed, github_action_benchmark

    with pytest.raises(LowRankValueError, match="x.json: measured instructions"):
        check_timed(counted, "x.json")
    with pytest.raises(LowRankValueError, match="the run: measured instructions"):
        github_action_benchmark(copy.deepcopy(counted))
    assert same_metric([("a", "instructions"), ("b", "instructions")], "p") == "instructions"
    with pytest.raises(LowRankValueError, match=r"^a, b, c and 1 more measured time and e instructions: p \("):
        same_metric([("a", "time"), ("b", "time"), ("c", "time"), ("d", "time"), ("e", "instructions")], "p")
