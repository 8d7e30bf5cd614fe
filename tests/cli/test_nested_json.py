"""A JSON file nested past Python's parser is one bad file (exit 2, one line), never a crash (exit 3);
under --keep-going it is skipped with its line like any other bad file."""

from __future__ import annotations

import json
import sys

import pytest

from lowrank.store import load
from lowrank.store.load import ResultFileError
from tests import recorded
from tests.cli.test_hostile_input import assert_refused, digest, run

DEPTH = 100_000  # far past the parser's recursion limit (1000 by default)


@pytest.fixture
def folder(tmp_path):
    """A real run and two files nested ``DEPTH`` deep: bare lists, and a 'benchmarks' key holding them."""
    (tmp_path / "run.json").write_text(json.dumps(recorded.run("quick", 1)))
    (tmp_path / "deep.json").write_text("[" * DEPTH + "]" * DEPTH)
    (tmp_path / "deep-benchmarks.json").write_text('{"benchmarks": ' + "[" * DEPTH + "]" * DEPTH + "}")
    return tmp_path


@pytest.mark.parametrize("name", ["deep.json", "deep-benchmarks.json"])
def test_the_loader_names_the_file_and_says_what_is_wrong(folder, name):
    with pytest.raises(ResultFileError) as info:
        load.read_document(folder / name)
    assert str(info.value) == (f"{folder / name}: JSON nested too deep for Python's parser (its recursion limit is "
                               f"{sys.getrecursionlimit()}): not a pytest-benchmark result file")


@pytest.mark.parametrize("command", [
    ["csv", "{deep}", "-o", "{out}.csv"], ["history", "{deep}", "-o", "{out}"], ["report", "{deep}", "-o", "{out}"],
    ["compare", "{run}", "{deep}", "-o", "{out}"], ["gate", "{deep}", "--baseline", "{run}"],
    ["gate", "{run}", "--baseline", "{deep}"], ["baseline", "{deep}", "--name", "x", "--dir", "{out}"],
    ["export", "{deep}", "-o", "{out}"],
])
def test_every_command_refuses_it_in_one_line(folder, capsys, command):
    deep, out = folder / "deep-benchmarks.json", folder / "out"
    argv = [a.format(deep=deep, run=folder / "run.json", out=out) for a in command]
    before = digest(folder)
    code, err = run(argv, capsys)
    assert_refused(code, err, str(deep), "JSON nested too deep")
    assert digest(folder) == before and not out.exists() and not (folder / "out.csv").exists()


@pytest.mark.parametrize("command", ["csv", "history", "report"])
def test_keep_going_skips_it_with_its_line_and_reads_the_rest(folder, capsys, command):
    out = folder / ("out.csv" if command == "csv" else "out")
    code, err = run([command, folder / "deep.json", folder / "deep-benchmarks.json", folder / "run.json", "-o", out,
                     "--keep-going"], capsys)
    assert code == 0, err
    assert "Traceback" not in err and "internal error" not in err
    for name in ("deep.json", "deep-benchmarks.json"):
        skipped = [line for line in err.splitlines() if "skipped" in line and str(folder / name) in line]
        assert skipped and all("JSON nested too deep" in line for line in skipped), err
    assert out.exists()


def test_keep_going_with_nothing_else_to_read_is_still_bad_input(folder, capsys):
    code, err = run(["history", folder / "deep.json", "-o", folder / "out", "--keep-going"], capsys)
    assert_refused(code, err, "no readable result file", "JSON nested too deep")


def test_baseline_update_never_replaces_a_deep_file_it_cannot_read_as_a_baseline(folder, capsys):
    (folder / "bl").mkdir()
    target = folder / "bl" / "x.json"
    target.write_text((folder / "deep-benchmarks.json").read_text())
    before = digest(folder)
    code, err = run(["baseline", folder / "run.json", "--name", "x", "--dir", folder / "bl", "--update"], capsys)
    assert_refused(code, err, str(target), "is not a baseline")
    assert digest(folder) == before
