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


def test_the_cases_compared_are_the_runs_warm_matvec_cases_of_the_shape_and_batches(monkeypatch):
    # The selection alone, on the recorded run's several shapes, batches, caches and backends (timing them is
    # tested on a live run in tests/benchmarks/test_run.py).
    import importlib.util
    import json

    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # as when run: its folder's helpers (measurement.py) importable
    spec = importlib.util.spec_from_file_location("crosscheck", SCRIPT)
    crosscheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(crosscheck)
    run = json.loads(RUN.read_text())
    chosen = crosscheck.cases_of(run, 256, 256, {1})
    expected = {b["name"] for b in run["benchmarks"]
                if (b.get("extra_info") or {}).get("suite") == "matvec" and b["extra_info"].get("d") == 256
                and b["extra_info"].get("k") == 256 and b["extra_info"].get("batch") == 1
                and b["extra_info"].get("cache") == "warm" and b["extra_info"].get("backend") in ("numpy", "torch-cpu")}
    assert expected and {c["name"] for cases in chosen.values() for c in cases} == expected
    assert len(expected) < len(run["benchmarks"]) / 4  # other shapes, batches and the cold cache were left out
    assert all(c["suite_median"] > 0 and c["batch"] == 1 for cases in chosen.values() for c in cases)
