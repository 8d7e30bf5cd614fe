"""The report of a counted run: instructions per call, never its valgrind times as times."""

import json

from lowrank.present.report import write_report
from tests import recorded


def test_a_counted_run_reports_instructions_per_case_and_no_timing(tmp_path):
    run = recorded.path("counts-aa", "run1.json")
    result = write_report([run], tmp_path / "report")
    text = result.markdown.read_text()
    assert text.startswith("# lowrank-bench report: a counted run")
    assert "nothing here is timed" in text and result.figures == []
    doc = recorded.run("counts-aa", 1)
    apply = next(b for b in doc["benchmarks"] if b["param"] == "apply-numpy")["extra_info"]["instructions"]
    assert f"| apply-numpy | {apply:,.0f} |" in text
    for heading in ("Suite factorize", "Suite lora", "Suite overhead"):
        assert heading in text
    assert "speedup" not in text.lower() and "break-even" not in text.lower()


def _counted_pair(tmp_path, case=None, factor=1.0, edit=None):
    """The two recorded counted runs, the second with ``case``'s instructions scaled and ``edit`` applied."""
    import copy
    import json

    doc = copy.deepcopy(recorded.run("counts-aa", 2))
    for bench in doc["benchmarks"]:
        if bench["param"] == case:
            bench["extra_info"]["instructions"] *= factor
    if edit:
        edit(doc["machine_info"]["lowrank_bench"])
    run_b = tmp_path / "run2.json"
    run_b.write_text(json.dumps(doc))
    return recorded.path("counts-aa", "run1.json"), run_b


def test_compare_of_two_counted_runs_judges_counts_as_the_gate_does(tmp_path):
    from lowrank.judge import gate
    from lowrank.present.report import write_comparison

    run_a, run_b = _counted_pair(tmp_path, case="apply-numpy", factor=1.02)
    result = write_comparison(run_a, run_b, tmp_path / "cmp")
    table = result.comparison.table.set_index("param_id")
    assert result.comparison.metric == "instructions"
    assert list(table.index[table["status"] == "regression"]) == ["apply-numpy"]
    assert (table["ratio_lo"] == table["ratio"]).all()
    verdicts = gate.compare_runs(json.loads(run_b.read_text()), recorded.run("counts-aa", 1), gate.GateConfig())
    assert [f.case for f in verdicts.regressions] == ["apply-numpy"]
    assert "| apply-numpy |" in result.markdown.read_text() and "▲ more" in result.text
    assert "+2.000%" in result.text and "1 with more instructions" in result.text
    assert result.figure.is_file() and not result.comparison.warnings


def test_compare_of_counts_made_under_other_settings_warns_naming_the_difference(tmp_path):
    from lowrank.present.report import write_comparison

    def other_threads(block):
        block["counting"]["threads"]["requested"] = 2
        block["versions"]["numpy"] = "0.0.1"

    run_a, run_b = _counted_pair(tmp_path, edit=other_threads)
    result = write_comparison(run_a, run_b, tmp_path / "cmp")
    assert any(w.startswith("threads: 1 -> 2") for w in result.comparison.warnings)
    assert any(w.startswith("numpy: ") and w.endswith("-> 0.0.1") for w in result.comparison.warnings)
    text = result.markdown.read_text()
    assert "## Warnings" in text and "threads: 1 -> 2" in text and "WARNING: counted under other settings" in result.text


def test_compare_refuses_a_counted_run_against_a_timed_one(tmp_path, capsys):
    from lowrank import cli

    code = cli.main(["compare", str(recorded.path("counts-aa", "run1.json")),
                     str(recorded.path("quick", "run1.json")), "-o", str(tmp_path / "cmp")])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1 and "counted run" in errors[0] and "timed" in errors[0]
    assert not (tmp_path / "cmp").exists()
