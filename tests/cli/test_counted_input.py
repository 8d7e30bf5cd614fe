"""Every command sees the same verdict on a bad counted run: exit 2, one line naming the file, the case and
the field, and nothing written. Each file is a real recorded counted run (``tests/recorded/counts-aa``)
with one field corrupted."""

from __future__ import annotations

import copy
import json

import pytest

from lowrank import cli
from tests import recorded
from tests.cli.test_hostile_input import assert_refused, digest, run

CASE = "apply-numpy"


def corrupted(folder, value, field: str = "instructions", every: bool = False):
    """The recorded counted run 1 in ``folder`` with ``CASE``'s (or ``every`` case's) ``field`` set to ``value``."""
    doc = copy.deepcopy(recorded.run("counts-aa", 1))
    for bench in doc["benchmarks"]:
        if every or bench["param"] == CASE:
            bench["extra_info"][field] = value
    path = folder / "bad.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def folder(tmp_path):
    """A good counted run (recorded run 2), and a baseline of it."""
    good = tmp_path / "good.json"
    good.write_text(json.dumps(recorded.run("counts-aa", 2)))
    assert cli.main(["baseline", str(good), "--name", "counted", "--dir", str(tmp_path / "bl")]) == 0
    return tmp_path


def commands(folder, bad):
    """Every command that reads result files, on ``bad`` (with a good run where it takes two)."""
    good, out = folder / "good.json", folder / "out"
    return {
        "gate": ["gate", bad, "--baseline", folder / "bl" / "counted.json", "--markdown", folder / "summary.md"],
        "gate-baseline": ["gate", good, "--baseline", bad],
        "baseline": ["baseline", bad, "--name", "new", "--dir", folder / "bl"],
        "compare": ["compare", good, bad, "-o", out],
        "report": ["report", bad, good, "-o", out],
        "history": ["history", bad, good, "--metric", "instructions", "-o", out],
        "csv": ["csv", bad, good, "-o", folder / "out.csv"],
        "export": ["export", bad, "-o", out],
    }


@pytest.mark.parametrize("value, shown", [(None, "null"), (-5, "-5"), ("12", '"12"'), (True, "true"),
                                          (float("nan"), "NaN"), (float("inf"), "Infinity")])
@pytest.mark.parametrize("command", ["gate", "gate-baseline", "baseline", "compare", "report", "history", "csv",
                                     "export"])
def test_a_bad_count_is_refused_by_every_command(folder, capsys, value, shown, command):
    bad = corrupted(folder, value)
    before = digest(folder)
    code, err = run(commands(folder, bad)[command], capsys)
    assert_refused(code, err, str(bad), f"[{CASE}]", f"instructions = {shown}", "accepted")
    assert digest(folder) == before  # no baseline, summary, report or CSV written, no input changed
    assert not (folder / "out").exists() and not (folder / "bl" / "new.json").exists()


def test_a_run_of_null_counts_cannot_pass_the_gate(folder, capsys):
    bad = corrupted(folder, None, every=True)
    code, err = run(["gate", bad, "--baseline", folder / "bl" / "counted.json"], capsys)
    assert_refused(code, err, str(bad), "instructions = null")
    assert "PASS" not in capsys.readouterr().out


@pytest.mark.parametrize("command", ["gate", "compare", "history", "baseline", "report", "csv"])
def test_a_counting_block_that_is_not_an_object_is_bad_input_not_a_crash(folder, capsys, command):
    doc = recorded.run("counts-aa", 1)
    doc["machine_info"]["lowrank_bench"]["counting"] = "valgrind-3.19.0"
    bad = folder / "bad.json"
    bad.write_text(json.dumps(doc))
    before = digest(folder)
    code, err = run(commands(folder, bad)[command], capsys)
    assert_refused(code, err, str(bad), 'machine_info.lowrank_bench.counting = "valgrind-3.19.0"',
                   "accepted: a JSON object")
    assert digest(folder) == before
