"""Backend operations added for the randomized SVD and the cheap finiteness check."""

import numpy as np
import pytest

import lowrank
from tests.conftest import to_numpy


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_all_finite_finds_every_nan_and_inf_and_survives_overflowing_sums(backend, dtype):
    be = lowrank.get_backend(backend)
    if dtype not in be.dtypes:
        pytest.skip(f"{backend} has no {dtype}")
    big = {"float16": 6e4, "bfloat16": 3e38, "float32": 3e38, "float64": 1.7e308}[dtype]
    x = np.full((8, 8), big)  # finite, but its sum overflows: the exact test must settle it
    assert be.all_finite(be.asarray(x, dtype))
    for bad in (np.nan, np.inf, -np.inf):
        y = np.ones((8, 8))
        y[3, 5] = bad
        assert not be.all_finite(be.asarray(y, dtype))
    z = np.full((8, 8), big)
    z[0, 0], z[0, 1] = np.inf, -np.inf  # inf - inf = nan in the sum; still caught
    assert not be.all_finite(be.asarray(z, dtype))


def test_eigh_is_ascending_and_reconstructs(backend):
    be = lowrank.get_backend(backend)
    rng = np.random.default_rng(0)
    M = rng.standard_normal((6, 6))
    S = be.asarray(M @ M.T, "float64")
    w, V = be.eigh(S)
    w, V = to_numpy(w), to_numpy(V)
    assert np.all(np.diff(w) >= 0)
    np.testing.assert_allclose((V * w) @ V.T, M @ M.T, atol=1e-12)


def test_asking_for_numpy_alone_never_imports_torch():
    # A numpy-only run of the suite asks for numpy's status only: torch's import (a second or more) is not paid.
    import subprocess
    import sys

    code = ("import sys, lowrank; s = lowrank.available_backends(['numpy']); "
            "assert s == {'numpy': None}, s; assert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert set(lowrank.available_backends()) == set(lowrank.BACKEND_NAMES)  # the default: every backend
