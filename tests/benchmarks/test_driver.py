"""The driver: which arguments reach the workers, what a worker's spec holds, and real workers pooled."""

import json
import shlex
import subprocess

import pytest

from benchmarks.engine import driver
from lowrank.record import merging
from tests.benchmarks import REPO, tiny_matvec_curve


def test_worker_arguments_drop_the_users_output_options():
    args = ["benchmarks/", "--benchmark-only", "--benchmark-json", "out.json", "-k", "numpy",
            "--benchmark-save=mine", "--benchmark-autosave", "--lowrank-output", "folder"]
    assert driver.worker_args(args) == ["benchmarks/", "--benchmark-only", "-k", "numpy"]


def test_a_workers_environment_carries_no_setting_and_the_instruments_variables(monkeypatch):
    # The spec carries the settings; the environment only what the process itself needs.
    monkeypatch.setenv("LOWRANK_BENCH_PROFILE", "full")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    launch = driver.Launch(prefix=("valgrind",), env=(("PYTHONHASHSEED", "0"), ("PYTHONDONTWRITEBYTECODE", None)))
    env = driver.worker_env(launch)
    assert not [k for k in env if k.startswith("LOWRANK_BENCH_")]
    assert env["PYTHONHASHSEED"] == "0" and "PYTHONDONTWRITEBYTECODE" not in env
    cmd = driver.worker_command(["benchmarks/", "-k", "numpy"], REPO / "s.json", REPO / "o.json", launch)
    assert cmd[0] == "valgrind" and f"--lowrank-worker={REPO / 's.json'}" in cmd and "-k" in cmd


@pytest.mark.timed
def test_every_process_times_every_case_and_the_rounds_are_pooled(tmp_path, monkeypatch):
    """Real workers of the matvec suite on a tiny 64x48 curve, two processes: every case in both."""
    tiny_matvec_curve(monkeypatch, "2,8")
    common = {"processes": 2, "settings": driver.user_settings(), "calibration": {},
              "operand_cache": str(tmp_path / "operands")}
    specs = [driver.WorkerSpec(process=p, backend="numpy", **common) for p in (1, 2)]
    docs, lines = [], []
    assert driver.run_processes(["benchmarks/bench_matvec.py", "--benchmark-only"], specs, tmp_path, docs, lines.append)
    assert [p for p, _ in docs] == [1, 2] and [len(d["benchmarks"]) for _, d in docs] == [3, 3]
    merged = merging.merge_passes(docs)
    for bench in merged["benchmarks"]:
        info = bench["extra_info"]
        assert info["processes"] == 2 and bench["stats"]["rounds"] == sum(
            b["stats"]["rounds"] for _, d in docs for b in d["benchmarks"] if b["fullname"] == bench["fullname"])
        if info["rank"] is not None:
            assert len(info["process_speedups"]) == 2
    assert merging.merged_block(docs, merged, True, 2)["complete"]
    assert not merging.merged_block(docs[:1], merged, True, 2)["complete"]  # a process missing
    assert any("[process 2/2] numpy: 3 cases in" in line for line in lines)


@pytest.mark.timed
def test_a_workers_command_line_in_its_log_reproduces_that_process(tmp_path, monkeypatch):
    """pyperf's habit: the worker's whole configuration is a command line anyone can run again."""
    tiny_matvec_curve(monkeypatch, "2")
    spec = driver.WorkerSpec(process=1, processes=1, backend="numpy", settings=driver.user_settings(),
                             calibration={}, operand_cache=str(tmp_path / "operands"))
    assert driver.run_processes(["benchmarks/bench_matvec.py", "--benchmark-only"], [spec], tmp_path, [], print)
    first = (tmp_path / "process1-numpy.log").read_text().splitlines()[0]
    assert first.startswith("$ ") and "--lowrank-worker=" in first
    again = tmp_path / "again.json"
    cmd = [a if not a.startswith("--benchmark-json=") else f"--benchmark-json={again}" for a in shlex.split(first[2:])]
    monkeypatch.setenv("LOWRANK_BENCH_BACKENDS", "torch-cpu")  # the spec's settings win over the environment
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = [b["name"] for b in json.loads(again.read_text())["benchmarks"]]
    assert len(names) == 2 and all("numpy-float32-d0064-k0048" in n for n in names)


def test_a_failed_workers_short_summary_names_its_failed_cases():
    output = ("....F.\n=== short test summary info ===\n"
              "FAILED benchmarks/bench_matvec.py::test_matvec[numpy-r0016] - AssertionError: x\n"
              "ERROR benchmarks/bench_lora.py::test_lora[a] - RuntimeError\n"
              "FAILED benchmarks/bench_matvec.py::test_matvec[numpy-r0016] - again\n1 failed, 5 passed in 1.0s\n")
    assert driver.failed_ids(output) == ["benchmarks/bench_matvec.py::test_matvec[numpy-r0016]",
                                         "benchmarks/bench_lora.py::test_lora[a]"]


def test_the_drivers_closing_line_counts_each_workers_case_once():
    from types import SimpleNamespace

    from benchmarks.harness import plugin

    reporter = SimpleNamespace(stats={"deselected": [object()] * 3})
    docs = [(p, {"benchmarks": [{"fullname": f"b.py::t[{c}]"} for c in "abc"]}) for p in (1, 2)]
    plugin._report_outcomes(reporter, docs, ("b.py::t[c]",), "the numpy worker of pass 2 failed (exit 1)")
    assert [r.nodeid for r in reporter.stats["passed"]] == ["b.py::t[a]", "b.py::t[b]"]
    (failed,) = reporter.stats["failed"]
    assert failed.nodeid == "b.py::t[c]" and failed.failed and "pass 2" in str(failed.longrepr)
    assert len(reporter.stats["deselected"]) == 3
