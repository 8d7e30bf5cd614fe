"""Shared fixtures: the backends to run on, with CUDA skipped (and why) when absent."""

from __future__ import annotations

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
