"""Factorizations against theory: Eckart–Young, exact recovery, randomized quality, LoRA init."""

import numpy as np
import pytest

import lowrank
from lowrank import generators as gen
from tests.conftest import to_numpy

SPECTRA = {
    "power-law": lambda m: gen.power_law_spectrum(m, 1.0),
    "exponential": lambda m: gen.exponential_spectrum(m, 0.15),
    "flat-then-gap": lambda m: np.concatenate([np.ones(m // 4), 1e-3 * np.ones(m - m // 4)]),
}
SHAPES = [(40, 40), (60, 25), (25, 60)]


@pytest.mark.parametrize("spectrum", SPECTRA)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_svd_meets_eckart_young_in_both_norms(spectrum, shape):
    d, k = shape
    sm = gen.SyntheticMatrix.build(d, k, SPECTRA[spectrum](min(d, k)), seed=1)
    s = sm.singular_values
    for r in (1, 3, min(d, k) // 2, min(d, k) - 1):
        f = lowrank.factorize(sm.W, r)
        # Measured against the known spectrum, not against another SVD call.
        fro = np.sqrt(np.sum(s[r:] ** 2)) / np.sqrt(np.sum(s**2))
        np.testing.assert_allclose(lowrank.relative_error(sm.W, f, "fro"), fro, rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(lowrank.relative_error(sm.W, f, "spectral"), s[r] / s[0], rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(f.singular_values, s[:r], rtol=1e-10)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_rank_deficient_matrices_are_recovered_at_every_rank_above_theirs(shape, backend):
    d, k = shape
    q = 5
    W = gen.exact_rank(d, k, rank=q, seed=2, backend=backend)
    scale = np.abs(to_numpy(W)).max()
    for r in range(q, min(d, k) + 1, 7):
        f = lowrank.factorize(W, r)
        assert np.abs(to_numpy(f.to_dense()) - to_numpy(W)).max() <= 1e-10 * scale
    # And one rank below is visibly not exact.
    f = lowrank.factorize(W, q - 1)
    assert lowrank.relative_error(W, f) > 1e-3


@pytest.mark.parametrize("spectrum", ["power-law", "exponential"])
@pytest.mark.parametrize("shape", [(300, 200), (200, 300)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_randomized_is_within_5_percent_of_optimal_with_default_knobs(spectrum, shape, backend):
    d, k = shape
    sm = gen.SyntheticMatrix.build(d, k, SPECTRA[spectrum](min(d, k)), seed=4)
    W = sm.matrix("float64", backend)
    for r in (5, 20, 60):
        f = lowrank.factorize(W, r, "randomized", seed=0)
        assert f.rank == r and f.shape == (d, k)
        ratio = lowrank.relative_error(W, f) / sm.optimal_error(r)
        assert 1.0 - 1e-9 <= ratio <= 1.05, (r, ratio)


def test_randomized_knobs_change_the_result_and_power_iterations_help():
    sm = gen.SyntheticMatrix.build(400, 300, gen.power_law_spectrum(300, 0.5), seed=5)
    opt = sm.optimal_error(10)
    ratios = [
        lowrank.relative_error(sm.W, lowrank.factorize(sm.W, 10, "randomized", power_iterations=q, oversampling=0, seed=3))
        / opt
        for q in (0, 4)
    ]
    assert ratios[1] < ratios[0]
    assert ratios[0] > 1.05  # a slowly decaying spectrum without power iterations is visibly worse


def test_randomized_is_reproducible_with_a_seed_and_varies_without():
    W = gen.gaussian(50, 40, seed=0)
    a = lowrank.factorize(W, 5, "randomized", seed=11, power_iterations=0)
    b = lowrank.factorize(W, 5, "randomized", seed=11, power_iterations=0)
    c = lowrank.factorize(W, 5, "randomized", seed=12, power_iterations=0)
    np.testing.assert_array_equal(a.B, b.B)
    assert not np.allclose(a.to_dense(), c.to_dense())


def test_numpy_and_torch_cpu_agree():
    pytest.importorskip("torch", reason="torch is not installed: cross-backend agreement needs it")
    sm = gen.SyntheticMatrix.build(120, 80, gen.power_law_spectrum(80), seed=6)
    for method in ("svd", "randomized"):
        fn = lowrank.factorize(sm.matrix("float64", "numpy"), 12, method, seed=9)
        ft = lowrank.factorize(sm.matrix("float64", "torch-cpu"), 12, method, seed=9)
        assert ft.backend == "torch-cpu"
        # Factors may differ by signs; the products may not.
        np.testing.assert_allclose(to_numpy(ft.to_dense()), fn.to_dense(), atol=1e-10)
        x = np.random.default_rng(0).standard_normal((80, 3))
        np.testing.assert_allclose(to_numpy(ft.apply(ft._backend.asarray(x))), fn.apply(x), atol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_every_dtype_factorizes_and_keeps_its_dtype(backend, dtype):
    if backend == "numpy" and dtype in ("float16", "bfloat16"):
        pytest.skip("numpy backend supports float32/float64 only (half precision is a torch feature)")
    sm = gen.SyntheticMatrix.build(64, 48, gen.exponential_spectrum(48, 0.3), seed=7)
    W = sm.matrix(dtype, backend)
    f = lowrank.factorize(W, 8)
    assert f.dtype == dtype and f.backend == backend
    tol = {"float64": 1e-10, "float32": 1e-5, "float16": 5e-3, "bfloat16": 3e-2}[dtype]
    assert abs(lowrank.relative_error(W, f) - sm.optimal_error(8)) <= tol


@pytest.mark.parametrize("init", ["kaiming", "gaussian"])
def test_lora_init_is_zero_product_with_random_a(backend, init):
    W = gen.gaussian(30, 20, seed=0, backend=backend)
    f = lowrank.factorize(W, 4, "lora", init=init, seed=0)
    assert f.method == "lora" and f.singular_values is None
    assert np.all(to_numpy(f.B) == 0)
    A = to_numpy(f.A)
    if init == "kaiming":
        assert np.abs(A).max() <= 1 / np.sqrt(20)
    assert A.std() > 0
    # B@A = 0, so the error is all of W: relative error exactly 1.
    assert lowrank.relative_error(W, f) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("split", ["balanced", "left", "right"])
def test_splits_give_the_same_product(split):
    W = gen.gaussian(20, 15, seed=1)
    f = lowrank.factorize(W, 6, split=split)
    ref = lowrank.factorize(W, 6)
    np.testing.assert_allclose(f.to_dense(), ref.to_dense(), atol=1e-12)
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    expected_B = {"balanced": U[:, :6] * np.sqrt(s[:6]), "left": U[:, :6] * s[:6], "right": U[:, :6]}[split]
    np.testing.assert_allclose(np.abs(f.B), np.abs(expected_B), atol=1e-12)


def test_from_svd_uses_known_factors():
    sm = gen.SyntheticMatrix.build(50, 30, gen.power_law_spectrum(30), seed=2)
    f = lowrank.from_svd(*sm.svd_factors(7))
    np.testing.assert_allclose(lowrank.relative_error(sm.W, f), sm.optimal_error(7), rtol=1e-10)
