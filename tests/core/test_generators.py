"""Seeded generators: shapes, dtypes, backends, spectra that are what they claim."""

import numpy as np
import pytest

import lowrank
from lowrank import generators as gen
from tests.conftest import to_numpy


@pytest.mark.parametrize("mixing", ["haar", "householder"])
@pytest.mark.parametrize("shape", [(30, 30), (50, 20), (20, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_synthetic_matrix_has_the_requested_spectrum_and_factors(mixing, shape):
    d, k = shape
    s = gen.power_law_spectrum(min(d, k), 1.5)
    sm = gen.SyntheticMatrix.build(d, k, s, seed=1, mixing=mixing)
    np.testing.assert_allclose(np.linalg.svd(sm.W, compute_uv=False), s, atol=1e-12)
    U, sr, Vt = sm.svd_factors(min(d, k))
    np.testing.assert_allclose((U * sr) @ Vt, sm.W, atol=1e-12)
    np.testing.assert_allclose(U.T @ U, np.eye(min(d, k)), atol=1e-12)
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(min(d, k)), atol=1e-12)


def test_fewer_singular_values_pad_with_zeros_giving_exact_rank():
    sm = gen.SyntheticMatrix.build(20, 15, [3.0, 2.0, 1.0], seed=0)
    assert np.linalg.matrix_rank(sm.W) == 3
    assert sm.optimal_error(3) == 0.0


def test_spectra():
    np.testing.assert_allclose(gen.power_law_spectrum(4), [1, 1 / 2, 1 / 3, 1 / 4])
    np.testing.assert_allclose(gen.exponential_spectrum(3, rate=np.log(2)), [1, 0.5, 0.25])


def test_generators_are_seeded_and_agree_across_backends(backend):
    for make in (
        lambda **kw: gen.gaussian(7, 5, **kw),
        lambda **kw: gen.exact_rank(7, 5, 2, **kw),
        lambda **kw: gen.random_integers(7, 5, **kw),
        lambda **kw: gen.power_law(7, 5, **kw),
        lambda **kw: gen.exponential(7, 5, **kw),
    ):
        a = make(seed=4, dtype="float32", backend=backend)
        assert lowrank.infer_backend(a).name == backend
        assert tuple(a.shape) == (7, 5)
        np.testing.assert_allclose(to_numpy(a), to_numpy(make(seed=4)), rtol=1e-6)
        assert not np.allclose(to_numpy(make(seed=5)), to_numpy(make(seed=4)))


def test_bad_generator_arguments():
    with pytest.raises(lowrank.LowRankValueError, match="got 6 singular values for a 5x4 matrix"):
        gen.SyntheticMatrix.build(5, 4, np.ones(6))
    with pytest.raises(lowrank.LowRankValueError, match="non-negative"):
        gen.SyntheticMatrix.build(5, 4, [1.0, -1.0])
    with pytest.raises(lowrank.LowRankValueError, match="mixing='qr'"):
        gen.SyntheticMatrix.build(5, 4, [1.0], mixing="qr")
    with pytest.raises(lowrank.LowRankTypeError, match="d=2.5"):
        gen.gaussian(2.5, 3)
    with pytest.raises(lowrank.LowRankValueError, match="dtype='float16'.*'numpy'"):
        gen.gaussian(3, 3, dtype="float16")
