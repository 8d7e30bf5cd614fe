"""Shared fixtures: the backends to run on (CUDA skipped, and why, when absent) and one real result file."""

from __future__ import annotations

import os
import shutil
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
@pytest.fixture(scope="session")
def quick_result(tmp_path_factory) -> Path:
    """A real result JSON of the quick matvec profile (two shapes, warm and cold), recorded in
    ``tests/recorded/quick`` (``scripts/record_fixtures.py``) and copied read-only: the analysis
    must never write to a result file."""
    from . import recorded

    target = tmp_path_factory.mktemp("quick_run") / "quick-run.json"
    shutil.copy(recorded.path("quick", "run1.json"), target)
    target.chmod(0o444)
    return target


# Fixtures that run the benchmark suite for real.
TIMED_FIXTURES = {"two_runs", "tiny_run"}


@pytest.fixture(scope="session", autouse=True)
def suites_are_sessions_of_their_own():
    """Under pytest-xdist (``scripts/test.sh`` runs the tests in parallel), drop its worker's
    ``PYTEST_XDIST_*`` variables from the environment the tests' subprocesses inherit: a suite a test
    starts is a pytest session of its own, and pytest-benchmark disables timing where it sees them."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("PYTEST_XDIST_")]:
            patch.delenv(name)
        yield


def pytest_collection_modifyitems(config, items):
    """Mark every test that runs the suite for real ``timed`` (``-m "not timed"``: the fast part).

    A timed test checks what the machine cannot change (files, schema, completeness marks, exit
    codes); verdicts are tested on recorded data (``tests/recorded``).
    """
    for item in items:
        if TIMED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.timed)

# The demonstration suite's two files are copied into a scratch tree by tests/benchmarks/test_demo_suite.py; here
# they are data, not tests.
collect_ignore_glob = ["demo_suite/*"]
