"""scripts/measure_layouts.py: what it writes and what it refuses, never which layout the machine favours."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "measure_layouts.py"


def test_a_tiny_grid_writes_every_variant_of_every_case_with_date_commit_and_machine(tmp_path):
    out = tmp_path / "layouts.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--shapes", "64x48", "--ranks", "1,4,100", "--batches", "1,3",
                           "--rounds", "3", "--probe-seconds", "0", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["date"] and record["commit"] and record["machine"]["threads"] == 1
    cases = record["cases"]
    # rank 100 exceeds min(64, 48) and is left out: 2 backends x 2 dtypes x 2 ranks x 2 batches
    assert len(cases) == 16 and record["summary"]["cases"] == 16
    for case in cases:
        expected = {"apply", "B row-major @", "B column-major @", "PEFT"}
        if case["backend"] == "numpy":
            expected |= {"B row-major np.dot", "B column-major np.dot"}
        if case["batch"] > 1:
            expected.add("B column-major, batch-first")
        assert set(case["seconds"]) == expected
        assert all(t > 0 for t in case["seconds"].values())
        assert case["fastest_layout"].startswith("B ")
        assert case["apply_vs_fastest"] == pytest.approx(case["seconds"]["apply"]
                                                        / case["seconds"][case["fastest_layout"]])
    # never overwritten
    again = subprocess.run([sys.executable, str(SCRIPT), "--shapes", "64x48", "--ranks", "1", "--probe-seconds", "0",
                            "--json", str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 2 and "exists" in again.stderr


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--shapes", "64by48", "--shapes '64by48'"),
    ("--backends", "jax", "'jax' is not accepted; accepted: numpy, torch-cpu"),
    ("--dtypes", "float16", "'float16' is not accepted; accepted: float32, float64"),
    ("--rounds", "1", "--rounds 1: accepted 3 to 1000"),
    ("--ranks", "100", "every rank exceeds min(d, k) of every shape"),
])
def test_bad_values_exit_2_naming_them(flag, value, message, tmp_path):
    shapes = [] if flag == "--shapes" else ["--shapes", "64x48"]
    proc = subprocess.run([sys.executable, str(SCRIPT), *shapes, flag, value, "--probe-seconds", "0", "--json",
                           str(tmp_path / "x.json")], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.json").exists()
