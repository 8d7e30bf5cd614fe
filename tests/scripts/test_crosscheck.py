"""scripts/crosscheck.py: what it compares and writes, never whether the machine agrees with itself."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "crosscheck.py"
RUN = sorted((REPO / "tests" / "recorded" / "quick").glob("*.json"))[0]


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_every_warm_case_of_the_shape_gets_a_ratio_written_with_date_commit_and_machine(tmp_path):
    out = tmp_path / "crosscheck.json"
    proc = _run(RUN, "--shape", "256x256", "--batches", "1", "--json", out)
    assert proc.returncode in (0, 1), proc.stderr  # 1: a difference beyond the tolerance, which the machine decides
    record = json.loads(out.read_text())
    assert record["date"] and record["commit"] and record["machine"]["threads"] >= 1
    run = json.loads(RUN.read_text())
    expected = {b["name"] for b in run["benchmarks"]
                if (b.get("extra_info") or {}).get("suite") == "matvec" and b["extra_info"].get("d") == 256
                and b["extra_info"].get("k") == 256 and b["extra_info"].get("batch") == 1
                and b["extra_info"].get("cache") == "warm" and b["extra_info"].get("backend") in ("numpy", "torch-cpu")}
    assert expected and {c["case"] for c in record["cases"]} == expected
    for case in record["cases"]:
        assert case["suite_s"] > 0 and case["timer_s"] > 0
        assert case["ratio"] == pytest.approx(case["suite_s"] / case["timer_s"])
    assert record["largest_difference"] == pytest.approx(max(abs(c["ratio"] - 1) for c in record["cases"]))
    assert (proc.returncode == 0) == (record["largest_difference"] <= record["tolerance"])
    again = _run(RUN, "--shape", "256x256", "--batches", "1", "--json", out, timeout=60)
    assert again.returncode == 2 and "never overwritten" in again.stderr


def test_a_file_that_is_not_a_result_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = _run(bad, timeout=60)
    assert proc.returncode == 2 and "not a readable result file" in proc.stderr and "Traceback" not in proc.stderr
