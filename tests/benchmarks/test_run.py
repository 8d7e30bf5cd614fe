"""The suite run end to end on a tiny grid: result file, schema, no overwrite, clean errors."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.engine import timing
from lowrank.record.schema import SCHEMA_TAG
from lowrank.record.suites import SUITES
from lowrank.runner import launch

# Every test here runs the suite (or a part of it) in a subprocess.
pytestmark = pytest.mark.timed

REPO = Path(__file__).resolve().parents[2]
TINY = {
    "LOWRANK_BENCH_PROFILE": "quick",
    "LOWRANK_BENCH_SHAPES": "64x48",
    "LOWRANK_BENCH_RANKS": "2,8",
    "LOWRANK_BENCH_BATCHES": "1",
    "LOWRANK_BENCH_CACHE": "both",
    "LOWRANK_BENCH_BACKENDS": "numpy,torch-cpu",
    "LOWRANK_BENCH_DTYPES": "float32",
    "LOWRANK_BENCH_PROCESSES": "2",  # two worker processes: the smallest number that measures a spread
}


def run_suite(out: Path, *args, **env):
    """The matvec suite on the tiny grid, started as every tool starts it (lowrank.runner.launch)."""
    settings = {**TINY, "LOWRANK_BENCH_OUTPUT": str(out), **env}
    return launch.launch(["benchmarks/bench_matvec.py"], settings, cwd=REPO, args=("-q", *args), timeout=600)


# The second run into the same folder is the one-process mode on one backend: it checks that a
# run adds a file, and what that mode writes, at the cost of one small run.
ONE_PROCESS = {"LOWRANK_BENCH_PROCESSES": "1", "LOWRANK_BENCH_BACKENDS": "numpy", "LOWRANK_BENCH_CACHE": "warm"}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    first = run_suite(out, "--benchmark-only")
    second = run_suite(out, "--benchmark-only", **ONE_PROCESS)
    return out, first, second


def _first(out: Path) -> dict:
    """The first run's document (two backends, two processes): the file with more cases."""
    docs = [json.loads(p.read_text()) for p in out.glob("*.json")]
    return max(docs, key=lambda d: len(d["benchmarks"]))


def test_a_run_writes_one_complete_json_and_never_overwrites(two_runs):
    out, first, second = two_runs
    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    files = sorted(out.glob("*.json"))
    assert len(files) == 2, "the second run must add a file, not replace the first"
    assert not list(out.glob(".*partial")), "no partial file may remain"
    assert "results written to" in first.stdout and "results written to" in second.stdout


def test_every_result_carries_the_schema_fields(two_runs):
    out, _, _ = two_runs
    data = _first(out)
    benches = data["benchmarks"]
    assert len(benches) == 2 * 3 * 2  # backends x (dense + 2 ranks) x caches
    for b in benches:
        info = b["extra_info"]
        assert SUITES["matvec"].problems(info)[1] == [], b["name"]
        assert info["schema"] == SCHEMA_TAG
        assert b["params"]["backend"] == info["backend"] and isinstance(b["params"]["d"], int)
        assert b["stats"]["data"], "raw samples are kept for the statistics of the gate"
        assert info["gflops"] > 0 and info["gbps"] > 0 and info["roofline_fraction"] > 0
        if info["variant"] == "factored":
            assert info["rel_error_fro"] >= info["optimal_error_fro"] * (1 - 1e-4)
        assert (info["cache_copies"] > 1) == (info["cache"] == "cold")
    run = data["machine_info"]["lowrank_bench"]
    assert run["schema"] == SCHEMA_TAG and run["profile"] == "quick"
    assert run["calibration"]["memory"]["cpu"]["copy_gbps"] > 0
    assert set(run["calibration"]["peak_gflops"]) == {"numpy", "torch-cpu"}
    # the roofs were read once, by the driver, and every worker read them from its spec
    assert all(peak > 0 for peaks in run["calibration"]["peak_gflops"].values() for peak in peaks.values())
    assert all(gbps > 0 for gbps in run["calibration"]["levels"]["cpu"].values())
    assert run["threads"]["blas"] == run["threads"]["requested"] == run["threads"]["torch"]
    assert {"numpy", "torch", "python"} <= set(run["versions"])
    assert data["commit_info"] is not None
    assert run["complete"] is True and run["cases_finished"] == run["cases_planned"] == len(benches)
    assert run["processes"] == 2 and run["timing"]["min_rounds"] >= 10


def test_every_case_is_timed_in_every_process_and_its_rounds_pooled(two_runs):
    out, _, _ = two_runs
    data = _first(out)
    for b in data["benchmarks"]:
        info, stats = b["extra_info"], b["stats"]
        assert info["processes"] == 2 and len(info["process_medians"]) == 2
        assert min(info["process_medians"]) <= stats["median"] <= max(info["process_medians"])
        assert len(stats["data"]) == stats["rounds"] and info["reported_pass"] is None
        assert info["process_spread"] >= 0
        assert stats["rounds"] >= 2 * 10, "no process cuts below the minimum rounds"
        assert info["timing_engine"] == timing.ENGINE_VERSION and info["settled"] in (True, False)
        # Whether a case is flagged depends on the machine's noise (tests/record/test_plausibility.py tests
        # the rule on fixed numbers); that the field is there does not.
        assert "flag" in info and (info["flag"] is None or isinstance(info["flag"], str))
        if info["variant"] == "factored":  # timed beside its dense partner in every process: a paired speedup
            ratios = info["process_pair_ratios"]
            assert len(ratios) == 2 and sum(map(len, ratios)) == stats["rounds"]  # one ratio a round of the case
            assert info["paired_speedup"] == pytest.approx(float(np.median([r for rs in ratios for r in rs])))
            assert info["paired_speedup_lo"] <= info["paired_speedup"] <= info["paired_speedup_hi"]


def test_backends_are_timed_in_processes_of_their_own(two_runs):
    _, first, _ = two_runs
    lines = [line for line in first.stdout.splitlines() if line.startswith("[process ")]
    assert [line.split(":")[0] for line in lines if "cases in" in line] == [
        "[process 1/2] numpy", "[process 1/2] torch-cpu", "[process 2/2] numpy", "[process 2/2] torch-cpu"]


def test_user_json_path_is_honoured(tmp_path):
    target = tmp_path / "mine.json"
    result = run_suite(tmp_path / "unused", "--benchmark-only", f"--benchmark-json={target}", **ONE_PROCESS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(target.read_text())["benchmarks"]
    assert not (tmp_path / "unused").exists() or not list((tmp_path / "unused").glob("*.json"))


def test_one_process_is_a_worker_process_too(two_runs):
    """LOWRANK_BENCH_PROCESSES=1 follows the same protocol: the pytest process that collected the cases hands
    them to one fresh worker and times nothing itself."""
    out, _, second = two_runs
    data = min((json.loads(p.read_text()) for p in out.glob("*.json")), key=lambda d: len(d["benchmarks"]))
    assert "[process 1/1] numpy: 3 cases in" in second.stdout
    assert len(data["benchmarks"]) == 3  # numpy: dense and two ranks, warm
    assert all(b["extra_info"]["processes"] == 1 and len(b["extra_info"]["process_medians"]) == 1
               for b in data["benchmarks"])
    assert data["machine_info"]["lowrank_bench"]["timing"]["processes"] == 1
    assert data["machine_info"]["lowrank_bench"]["complete"] is True


@pytest.mark.parametrize("processes", ["1", "2"])
def test_an_interrupted_run_is_marked_incomplete(tmp_path, processes):
    import signal
    import time

    env = {**os.environ, **TINY, "LOWRANK_BENCH_OUTPUT": str(tmp_path), "LOWRANK_BENCH_PROCESSES": processes,
           "LOWRANK_BENCH_SHAPES": "64x48,2048x2048", "LOWRANK_BENCH_RANKS": "1,2,4,8,16,32,48",
           "LOWRANK_BENCH_CACHE": "warm", "LOWRANK_BENCH_BACKENDS": "numpy", "PYTHONUNBUFFERED": "1"}
    # -vv: the worker (which adds -q) then prints a line per case, so its progress reaches the driver's output
    cmd = [sys.executable, "-m", "pytest", "benchmarks/bench_matvec.py", "--benchmark-only", "-p", "no:cacheprovider",
           "-vv"]
    # Ctrl-C's default action restored in the child: a shell without job control starts its
    # background commands with SIGINT ignored, and Python then never raises KeyboardInterrupt.
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    deadline = time.monotonic() + 300
    # Press Ctrl-C once something is measured: with one process, once its worker reports a first case
    # done (the 2048x2048 cases then still need seconds to build their operands); with two, as process
    # 2's worker starts (process 1 is then in hand, and a pytest process needs well over the 0.5 s grace
    # to import and time its 2048x2048 cases).
    ready = re.compile(r"\[process 1/1\] numpy: \d+%" if processes == "1" else r"\[process 2/2\] numpy: timing")
    for line in proc.stdout:
        lines.append(line)
        if ready.search(line) or time.monotonic() > deadline:
            break
    time.sleep(1.5 if processes == "1" else 0.5)
    os.killpg(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=300)
    output = "".join(lines) + rest
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1, output[-3000:]
    run = json.loads(files[0].read_text())["machine_info"]["lowrank_bench"]
    assert run["complete"] is False, output[-3000:]
    assert "INCOMPLETE" in output
    assert not list(tmp_path.glob(".*partial")), "no hidden partial file may remain"


def test_a_run_interrupted_before_any_case_writes_nothing_and_says_so(tmp_path):
    import signal

    env = {**os.environ, **TINY, "LOWRANK_BENCH_OUTPUT": str(tmp_path), "LOWRANK_BENCH_PROCESSES": "2",
           "LOWRANK_BENCH_CACHE": "warm", "LOWRANK_BENCH_BACKENDS": "numpy", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "pytest", "benchmarks/bench_matvec.py", "--benchmark-only", "-p", "no:cacheprovider"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    for line in proc.stdout:  # Ctrl-C as the first worker is started: it cannot have timed a case yet
        lines.append(line)
        if "[process 1/2] numpy: timing" in line:
            break
    os.killpg(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=300)
    output = "".join(lines) + rest
    assert not list(tmp_path.iterdir()), output[-3000:]
    assert "INCOMPLETE run: 0 of" in output and "no file written" in output, output[-3000:]


def test_disabled_run_writes_nothing(tmp_path):
    result = run_suite(tmp_path, "--benchmark-disable", LOWRANK_BENCH_BACKENDS="numpy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.parametrize(
    "env, words",
    [
        ({"LOWRANK_BENCH_PROFILE": "huge"}, ["LOWRANK_BENCH_PROFILE='huge'", "'quick', 'default', 'full'"]),
        ({"LOWRANK_BENCH_RANKS": "2,100"}, ["rank 100 is impossible for every shape of the run"]),
        ({"LOWRANK_BENCH_DTYPES": "float8"}, ["'float8'"]),
    ],
)
def test_bad_choices_stop_the_run_with_one_clear_message(tmp_path, env, words):
    result = run_suite(tmp_path, "--benchmark-only", **env)
    assert result.returncode == 4  # pytest's usage error
    for word in words:
        assert word in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cuda_request_without_gpu_is_a_usage_error(tmp_path):
    import lowrank

    reason = lowrank.available_backends()["torch-cuda"]
    if reason is None:
        pytest.skip("a CUDA GPU is present here, so asking for torch-cuda is valid")
    result = run_suite(tmp_path, "--benchmark-only", LOWRANK_BENCH_BACKENDS="torch-cuda")
    assert result.returncode == 4
    assert "torch-cuda" in result.stderr and "unavailable" in result.stderr


@pytest.mark.parametrize("option", ["--benchmark-save=mine", "--benchmark-autosave"])
def test_pytest_benchmarks_storage_is_refused_naming_what_writes_the_run(tmp_path, option):
    storage = lambda: set((REPO / ".benchmarks").rglob("*"))  # noqa: E731 -- pytest-benchmark's storage folder
    before = storage()
    result = run_suite(tmp_path, "--benchmark-only", option, **ONE_PROCESS)
    assert result.returncode == 4
    assert "--benchmark-save/--benchmark-autosave" in result.stderr and "--benchmark-json=PATH" in result.stderr
    assert not list(tmp_path.glob("*")) and storage() == before


def test_crosscheck_times_every_warm_case_with_the_runs_threads(two_runs, tmp_path):
    out, _, _ = two_runs
    path = max(out.glob("*.json"), key=lambda p: len(json.loads(p.read_text())["benchmarks"]))
    run = json.loads(path.read_text())
    threads = run["machine_info"]["lowrank_bench"]["threads"]["requested"]
    # A tolerance no timing can miss: this checks the tool (cases, pinned pools, its record), not the machine.
    record_path = tmp_path / "crosscheck.json"
    cmd = [sys.executable, str(REPO / "scripts" / "crosscheck.py"), str(path), "--shape", "64x48", "--batches", "1",
           "--tolerance", "1000", "--json", str(record_path)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("bench_matvec[")]
    # numpy and torch-cpu, dense and ranks 2 and 8, warm only (the cold cases are another mode)
    assert len(rows) == 6 and not any("cold" in row for row in rows), result.stdout
    assert f"6 cases, threads={threads};" in result.stdout
    record = json.loads(record_path.read_text())  # written with date, commit and machine, a ratio a case
    assert record["date"] and record["commit"] and record["machine"]["threads"] == threads
    expected = {b["name"] for b in run["benchmarks"] if b["extra_info"]["cache"] == "warm"}
    assert {c["case"] for c in record["cases"]} == expected
    for case in record["cases"]:
        assert case["suite_s"] > 0 and case["timer_s"] > 0
        assert case["ratio"] == pytest.approx(case["suite_s"] / case["timer_s"])
    assert record["largest_difference"] == pytest.approx(max(abs(c["ratio"] - 1) for c in record["cases"]))
    assert record["largest_difference"] <= record["tolerance"] == 1000
