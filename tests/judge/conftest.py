"""Fixtures and helpers shared by this folder's tests."""

import pytest

from lowrank.judge import baselines
from tests import recorded


@pytest.fixture
def aa_runs():
    """A baseline pooled from two recorded quick runs of the matvec suite, and a third run of the same code.

    Recorded (``tests/recorded/matvec-aa``, one thread, 1024x256 and 1024x1024, float32, numpy and
    torch-cpu) so that its noise is known: the gate finds no regression in it, and every verdict
    below is exactly the injected change's.
    """
    runs = [recorded.run("matvec-aa", i) for i in (1, 2, 3)]
    return baselines.pool_runs(runs[:2], ["run1", "run2"]), runs[2]
