"""scripts/crosscheck.py: what it compares and writes, never whether the machine agrees with itself."""

import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "crosscheck.py"
RUN = sorted((REPO / "tests" / "recorded" / "quick").glob("*.json"))[0]


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_an_existing_json_is_never_overwritten(tmp_path):
    # Refused before anything is timed. What a crosscheck writes is tested on a live run
    # (tests/benchmarks/test_run.py::test_crosscheck_times_every_warm_case_with_the_runs_threads).
    out = tmp_path / "crosscheck.json"
    out.write_text("{}")
    proc = _run(RUN, "--shape", "256x256", "--batches", "1", "--json", out, timeout=60)
    assert proc.returncode == 2 and "never overwritten" in proc.stderr and out.read_text() == "{}"


def test_a_file_that_is_not_a_result_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = _run(bad, timeout=60)
    assert proc.returncode == 2 and "not a readable result file" in proc.stderr and "Traceback" not in proc.stderr
