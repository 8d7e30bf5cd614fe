"""The suite run end to end on a tiny grid: result file, schema, no overwrite, clean errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lowrank.analysis.schema import MATVEC_FIELDS, SCHEMA_TAG, field_problems

REPO = Path(__file__).resolve().parent.parent
TINY = {
    "LOWRANK_BENCH_PROFILE": "quick",
    "LOWRANK_BENCH_SHAPES": "64x48",
    "LOWRANK_BENCH_RANKS": "2,8",
    "LOWRANK_BENCH_BATCHES": "1",
    "LOWRANK_BENCH_CACHE": "both",
    "LOWRANK_BENCH_BACKENDS": "numpy,torch-cpu",
    "LOWRANK_BENCH_DTYPES": "float32",
}


def run_suite(out: Path, *args, **env):
    full_env = {**os.environ, **TINY, "LOWRANK_BENCH_OUTPUT": str(out), **env}
    cmd = [sys.executable, "-m", "pytest", "benchmarks/bench_matvec.py", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    first = run_suite(out, "--benchmark-only")
    second = run_suite(out, "--benchmark-only")
    return out, first, second


def test_a_run_writes_one_complete_json_and_never_overwrites(two_runs):
    out, first, second = two_runs
    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    files = sorted(out.glob("*.json"))
    assert len(files) == 2, "the second run must add a file, not replace the first"
    assert not list(out.glob(".*partial")), "no partial file may remain"
    assert "results written to" in first.stdout


def test_every_result_carries_the_schema_fields(two_runs):
    out, _, _ = two_runs
    data = json.loads(sorted(out.glob("*.json"))[0].read_text())
    benches = data["benchmarks"]
    assert len(benches) == 2 * 3 * 2  # backends x (dense + 2 ranks) x caches
    for b in benches:
        info = b["extra_info"]
        assert field_problems(info, MATVEC_FIELDS) == [], b["name"]
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
    assert run["threads"]["blas"] == run["threads"]["requested"] == run["threads"]["torch"]
    assert {"numpy", "torch", "python"} <= set(run["versions"])
    assert data["commit_info"] is not None


def test_user_json_path_is_honoured(tmp_path):
    target = tmp_path / "mine.json"
    result = run_suite(tmp_path / "unused", "--benchmark-only", f"--benchmark-json={target}",
                       LOWRANK_BENCH_BACKENDS="numpy", LOWRANK_BENCH_CACHE="warm")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(target.read_text())["benchmarks"]
    assert not (tmp_path / "unused").exists() or not list((tmp_path / "unused").glob("*.json"))


def test_disabled_run_writes_nothing(tmp_path):
    result = run_suite(tmp_path, "--benchmark-disable", LOWRANK_BENCH_BACKENDS="numpy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.parametrize(
    "env, words",
    [
        ({"LOWRANK_BENCH_PROFILE": "huge"}, ["LOWRANK_BENCH_PROFILE='huge'", "'quick', 'default', 'full'"]),
        ({"LOWRANK_BENCH_RANKS": "2,100"}, ["rank 100 is impossible for the 64x48 shape"]),
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
