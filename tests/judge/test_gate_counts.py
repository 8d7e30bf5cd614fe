"""The gate on counted runs (instructions per call under callgrind), on two recorded counted runs of the same code."""

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest

from lowrank.errors import LowRankValueError
from lowrank.judge import gate
from lowrank.present import gate_report
from tests import recorded

REPO = Path(__file__).resolve().parents[2]
PROJECT_CONFIG = gate.load_config(REPO / "pyproject.toml")
CASE = "apply-numpy"


@pytest.fixture
def counted():
    return recorded.run("counts-aa", 1), recorded.run("counts-aa", 2)


def scaled(run: dict, case: str, factor: float) -> dict:
    """A copy of ``run`` whose recorded instructions of ``case`` are ``factor`` times as many."""
    out = copy.deepcopy(run)
    (bench,) = [b for b in out["benchmarks"] if b["param"] == case]
    bench["extra_info"]["instructions"] *= factor
    return out


def test_two_counted_runs_of_the_same_code_agree_on_every_case(counted):
    base, cur = counted
    result = gate.compare_runs(cur, base, PROJECT_CONFIG)
    judged = [f for f in result.findings if f.metric == "instructions"]
    assert result.counted and len(judged) == len(gate.suite_cases(base)) > 30
    assert result.regressions == result.improvements == [], gate_report.to_text(result)
    assert max(abs(f.ratio - 1) for f in judged) < PROJECT_CONFIG.instructions_tolerance
    assert not any(f.kind == "timing" for f in result.findings)  # a counted run's times are valgrind's
    assert "counted runs" in gate_report.to_text(result)


@pytest.mark.parametrize("factor, status", [(1.01, "regression"), (0.99, "improvement"), (1.004, "unchanged")])
def test_a_change_in_instructions_beyond_the_tolerance_is_named(counted, factor, status):
    base, cur = counted
    result = gate.compare_runs(scaled(cur, CASE, factor), base, PROJECT_CONFIG)
    (finding,) = [f for f in result.findings if f.case == CASE and f.metric == "instructions"]
    assert finding.status == status and finding.kind == "count"
    others = [f for f in result.regressions + result.improvements if f.case != CASE]
    assert others == []
    assert result.exit_code == (1 if status == "regression" else 0)
    if status == "regression":
        text = gate_report.to_text(result)
        assert text.startswith("FAIL") and CASE in text and f"{(finding.ratio - 1) * 100:+.2f}% instructions" in text
        assert gate.cases_to_rerun(result) == []  # a count needs no confirming re-run


def test_counted_times_are_never_compared(counted):
    base, cur = counted
    slow = copy.deepcopy(cur)
    for bench in slow["benchmarks"]:
        bench["stats"] = {**bench["stats"], "median": bench["stats"]["median"] * 3,
                          "data": [t * 3 for t in bench["stats"]["data"]]}
    cfg = replace(PROJECT_CONFIG, absolute="always")
    assert gate.compare_runs(slow, base, cfg).exit_code == 0


def test_a_counted_run_against_a_timed_baseline_is_refused(counted):
    _, cur = counted
    with pytest.raises(LowRankValueError, match="measured instructions and the baseline time"):
        gate.compare_runs(cur, recorded.run("suites-aa", 1), PROJECT_CONFIG)


def test_counts_made_under_other_settings_are_compared_with_a_warning(counted):
    base, cur = counted
    other = copy.deepcopy(cur)
    block = other["machine_info"]["lowrank_bench"]
    block["counting"]["valgrind"] = "valgrind-3.99.0"
    block["versions"]["numpy"] = "9.9.9"
    result = gate.compare_runs(other, base, PROJECT_CONFIG)
    assert result.exit_code == 0
    assert any("valgrind" in w and "3.99.0" in w for w in result.warnings)
    assert any(w.startswith("numpy:") and "9.9.9" in w for w in result.warnings)
    assert "WARNING: counts made under other settings" in gate_report.to_text(result)
    assert gate.compare_runs(cur, base, PROJECT_CONFIG).warnings == ()


@pytest.mark.parametrize("value", [-0.1, 1.0, float("nan"), True])
def test_a_tolerance_that_would_switch_the_count_off_is_refused(tmp_path, value):
    config = tmp_path / "pyproject.toml"
    config.write_text(f"[tool.lowrank-bench.gate]\ninstructions_tolerance = {json.dumps(value).lower()}\n")
    with pytest.raises(LowRankValueError, match="instructions_tolerance"):
        gate.load_config(config)


@pytest.mark.parametrize("factor, status", [(1.008, "unchanged"), (1.015, "regression")])
def test_an_override_gates_its_cases_at_its_own_tolerance(counted, tmp_path, factor, status):
    config = tmp_path / "pyproject.toml"
    config.write_text('[[tool.lowrank-bench.gate.override]]\npattern = "*torch-cpu*"\ninstructions_tolerance = 0.01\n')
    base, cur = counted
    result = gate.compare_runs(scaled(cur, "apply-torch-cpu", factor), base, gate.load_config(config))
    (finding,) = [f for f in result.findings if f.case == "apply-torch-cpu" and f.metric == "instructions"]
    assert finding.status == status and finding.note == "tolerance 1.00%"


def test_the_project_gates_every_count_at_half_a_percent(counted):
    base, cur = counted
    result = gate.compare_runs(scaled(cur, "apply-torch-cpu", 1.012), base, PROJECT_CONFIG)  # +0.8% over base
    (finding,) = [f for f in result.findings if f.case == "apply-torch-cpu" and f.metric == "instructions"]
    assert finding.status == "regression" and finding.note == "tolerance 0.50%"


def test_an_override_tolerance_out_of_range_is_refused(tmp_path):
    config = tmp_path / "pyproject.toml"
    config.write_text('[[tool.lowrank-bench.gate.override]]\npattern = "*"\ninstructions_tolerance = 2\n')
    with pytest.raises(LowRankValueError, match=r"override '\*': instructions_tolerance=2"):
        gate.load_config(config)
