"""The report of a counted run: instructions per call, never its valgrind times as times."""

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


def test_compare_refuses_a_counted_run_naming_what_compares_counts(tmp_path, capsys):
    from lowrank import cli

    code = cli.main(["compare", str(recorded.path("counts-aa", "run1.json")),
                     str(recorded.path("counts-aa", "run2.json")), "-o", str(tmp_path / "cmp")])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1 and "a counted run" in errors[0] and "lowrank-bench gate" in errors[0]
    assert not (tmp_path / "cmp").exists()
