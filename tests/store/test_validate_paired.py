"""A record's paired speedup agrees with its own interval and processes, or the file is refused naming the case.

Each file is a real recorded timed run (``tests/recorded/matvec-aa``) with one field of one case changed.
"""

from __future__ import annotations

import copy
import json

import pytest

from lowrank.record import pairs
from lowrank.store import load
from lowrank.store.load import ResultFileError
from tests import recorded
from tests.cli.test_hostile_input import assert_refused, digest, run

# a paired case of three processes; the figures below are read from the recorded file
CASE = "numpy-float32-d1024-k0256-r0001-n001-warm"
RECORD = next(b["extra_info"] for b in recorded.run("matvec-aa", 1)["benchmarks"] if b["param"] == CASE)
LO, HI = RECORD["paired_speedup_lo"], RECORD["paired_speedup_hi"]


def edited(tmp_path, **fields):
    doc = copy.deepcopy(recorded.run("matvec-aa", 1))
    (bench,) = [b for b in doc["benchmarks"] if b["param"] == CASE]
    bench["extra_info"].update(fields)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    return path


def refusal(path) -> str:
    with pytest.raises(ResultFileError) as info:
        load.read_document(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and f"[{CASE}]" in message
    return message


def test_every_recorded_paired_speedup_agrees_with_its_interval_and_processes():
    for name, i in (("matvec-aa", 1), ("matvec-aa", 2), ("matvec-aa", 3), ("quick", 1)):
        doc = load.read_document(recorded.path(name, f"run{i}.json"))
        paired = [b["extra_info"] for b in doc["benchmarks"] if pairs.is_paired(b["extra_info"])]
        assert len(paired) > 40
        assert all(e["paired_speedup_lo"] <= e["paired_speedup"] <= e["paired_speedup_hi"] for e in paired)


def test_a_speedup_outside_its_own_interval_is_refused(tmp_path):
    message = refusal(edited(tmp_path, paired_speedup=50.0))
    assert f"paired_speedup = 50.0 is outside its own interval [{LO!r}, {HI!r}]" in message
    assert "accepted: an estimate inside its interval" in message


def test_an_interval_whose_low_end_is_above_its_high_end_is_refused(tmp_path):
    message = refusal(edited(tmp_path, paired_speedup_lo=HI * 1.01))
    assert f"paired_speedup_lo = {HI * 1.01!r} is above paired_speedup_hi = {HI!r}" in message


def test_a_speedup_inside_its_interval_that_is_not_its_processes_figure_is_refused(tmp_path):
    import math
    import statistics

    inside = (LO + RECORD["paired_speedup"]) / 2
    message = refusal(edited(tmp_path, paired_speedup=inside))
    # neither today's figure (the median of the pooled ratios) nor an older file's (the geometric mean)
    pooled = statistics.median(r for rs in RECORD["process_pair_ratios"] for r in rs)
    mean = math.exp(sum(map(math.log, RECORD["process_speedups"])) / len(RECORD["process_speedups"]))
    assert f"paired_speedup = {inside!r} is neither the median of its process_pair_ratios pooled nor the geometric " \
           f"mean of its process_speedups ({mean:.6g}, {pooled:.6g})" in message


@pytest.mark.parametrize("fields, shown", [
    ({"paired_speedup": float("nan")}, "paired_speedup = NaN; accepted: a finite speedup > 0, or null"),
    ({"paired_speedup_hi": -1}, "paired_speedup_hi = -1; accepted: a finite speedup > 0"),
    ({"paired_speedup": "2.7"}, 'paired_speedup = "2.7"; accepted'),
    ({"paired_speedup_lo": None}, f"paired_speedup_lo = null, paired_speedup_hi = {HI!r}: accepted: all "
                                  "three numbers (the speedup and its interval) or all null"),
    ({"process_speedups": [2.59931, 0, 2.92435]}, "process_speedups = [2.59931, 0, 2.92435]; accepted"),
    ({"process_pair_ratios": [[2.5, -1.0]]}, "process_pair_ratios = [[2.5, -1.0]]; accepted: one non-empty list"),
    ({"process_pair_ratios": [[2.5], [2.8]]}, "process_pair_ratios holds 2 process(es) and process_speedups 3"),
])
def test_each_paired_field_has_its_range(tmp_path, fields, shown):
    assert shown in refusal(edited(tmp_path, **fields))


def test_a_case_without_a_paired_speedup_is_read_as_before(tmp_path):
    info, rows = load.read_run(edited(tmp_path, paired_speedup=None, paired_speedup_lo=None, paired_speedup_hi=None,
                                      process_speedups=None, process_pair_ratios=None))
    (row,) = [r for r in rows if r["param_id"] == CASE]
    assert row["paired_speedup"] is None and info.metric == "time"


@pytest.mark.parametrize("command", ["report", "gate", "compare", "export", "csv", "baseline"])
def test_every_command_refuses_an_inconsistent_record(tmp_path, capsys, command):
    bad = edited(tmp_path, paired_speedup=50.0)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(recorded.run("matvec-aa", 2)))
    out = tmp_path / "out"
    argv = {"report": ["report", bad, "-o", out], "gate": ["gate", bad, "--baseline", good, "--markdown", out],
            "compare": ["compare", good, bad, "-o", out], "export": ["export", bad, "-o", out],
            "csv": ["csv", bad, "-o", tmp_path / "out.csv"],
            "baseline": ["baseline", good, bad, "--name", "b", "--dir", out]}[command]
    before = digest(tmp_path)
    code, err = run(argv, capsys)
    assert_refused(code, err, str(bad), f"[{CASE}]", "paired_speedup = 50.0 is outside its own interval")
    assert digest(tmp_path) == before and not out.exists()
