"""Shared fixtures: the backends to run on (CUDA skipped, and why, when absent) and one real result file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lowrank

STATUS = lowrank.available_backends()


def backend_param(name: str):
    """A pytest param for a backend, skipped with the backend's own reason when unavailable."""
    reason = STATUS[name]
    marks = [pytest.mark.skipif(reason is not None, reason=reason or "")]
    if name == "torch-cuda":
        marks.append(pytest.mark.cuda)
    return pytest.param(name, marks=marks, id=name)


ALL_BACKENDS = [backend_param(name) for name in lowrank.BACKEND_NAMES]


@pytest.fixture(params=ALL_BACKENDS)
def backend(request) -> str:
    """Each backend name in turn: numpy, torch-cpu, torch-cuda."""
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def to_numpy(x) -> np.ndarray:
    """Any backend array as float64 numpy, for assertions."""
    return np.asarray(lowrank.infer_backend(x).to_numpy(x), dtype=np.float64)


# -- a real result file of the benchmark suite, for the analysis tests ------------------------------
REPO = Path(__file__).resolve().parent.parent
QUICK_RUN_ENV = {
    "LOWRANK_BENCH_PROFILE": "quick",
    "LOWRANK_BENCH_SHAPES": "256x256,1024x256",
    "LOWRANK_BENCH_CACHE": "both",
}


@pytest.fixture(scope="session")
def quick_result(tmp_path_factory) -> Path:
    """One real result JSON of the quick profile (two shapes, warm and cold), written once per session.

    Only the matvec benchmarks run (``-k bench_matvec``): the other benchmark files
    take longer and the analysis tests cover other suites with hand-made files.
    """
    out = tmp_path_factory.mktemp("quick_run")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOWRANK_BENCH_")}
    env.update(QUICK_RUN_ENV, LOWRANK_BENCH_OUTPUT=str(out))
    cmd = [sys.executable, "-m", "pytest", "benchmarks/", "--benchmark-only", "-q", "-p", "no:cacheprovider",
           "-k", "bench_matvec"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    files = sorted(out.glob("*.json"))
    assert len(files) == 1, f"expected one result file in {out}, found {files}"
    files[0].chmod(0o444)  # the analysis must never write to a result file
    return files[0]


# Fixtures that run the benchmark suite for real: a test using one times real code.
TIMED_FIXTURES = {"quick_result", "aa_runs", "aa_dir", "two_runs", "suite_runs"}


def pytest_collection_modifyitems(config, items):
    """Mark every test that runs the suite for real ``timed`` (``-m "not timed"``: the fast, deterministic part)."""
    for item in items:
        if TIMED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.timed)

# The demonstration suite's two files are copied into a scratch tree by test_demo_suite.py; here
# they are data, not tests.
collect_ignore_glob = ["demo_suite/*"]
