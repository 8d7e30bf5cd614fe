"""scripts/measure_speedup_agreement.py: what it computes from two result files, on recorded runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "measure_speedup_agreement.py"
RUNS = REPO / "tests" / "recorded" / "matvec-aa"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=300, check=False)


def test_a_run_against_itself_agrees_on_everything(tmp_path):
    out = tmp_path / "self.json"
    proc = _run(RUNS / "run1.json", RUNS / "run1.json", "--json", out)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["rows"] and record["verdict_changed"] == 0 and record["changed"] == []
    for name, row in record["rows"].items():
        if row["n"]:
            assert row["within_5"] == 1.0 and row["beyond_25"] == 0 and row["worst"] == pytest.approx(1.0), name


def test_two_runs_give_each_line_with_date_commit_runs_and_the_noise_probe(tmp_path):
    probe = tmp_path / "probe.txt"
    probe.write_text("noise probe: line one\n\nnoise probe: line two\n")
    out = tmp_path / "agreement.json"
    proc = _run(RUNS / "run1.json", RUNS / "run2.json", "--json", out, "--noise-probe", probe)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["date"] and record["commit"] and record["noise_probe"] == ["noise probe: line one",
                                                                            "noise probe: line two"]
    assert [info["commit"] for info in record["run_info"]] == [
        json.loads((RUNS / name).read_text())["commit_info"].get("id") for name in ("run1.json", "run2.json")]
    for row in record["rows"].values():
        assert 0 <= row["within_5"] <= row["within_10"] <= 1 and 0 <= row["beyond_25"] <= row["n"]
        assert row["n"] == 0 or row["worst"] >= 1.0
    # the printed table holds the same lines
    for name in record["rows"]:
        assert f"| {name} | " in proc.stdout
    again = _run(RUNS / "run1.json", RUNS / "run2.json", "--json", out)
    assert again.returncode == 2 and "never overwritten" in again.stderr
