"""The randomized SVD: seeding, knobs against theory, the float32 Gram route and its fallback."""

import importlib

import numpy as np
import pytest

import lowrank
from lowrank import LowRankTypeError, LowRankValueError
from lowrank import generators as gen
from tests.conftest import to_numpy


def ratio(sm, f) -> float:
    W = sm.W
    err = np.linalg.norm(W - to_numpy(f.B) @ to_numpy(f.A)) / np.linalg.norm(W)
    return err / sm.optimal_error(f.rank)


@pytest.fixture(scope="module")
def power_law():
    return gen.SyntheticMatrix.build(300, 200, gen.power_law_spectrum(200), seed=11)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_same_factors_other_seed_other_factors(backend, dtype, power_law):
    W = power_law.matrix(dtype, backend)
    a = lowrank.factorize(W, 10, "randomized", seed=5)
    b = lowrank.factorize(W, 10, "randomized", seed=np.random.default_rng(5))
    c = lowrank.factorize(W, 10, "randomized", seed=6, power_iterations=0)
    d = lowrank.factorize(W, 10, "randomized", seed=5, power_iterations=0)
    np.testing.assert_array_equal(to_numpy(a.B), to_numpy(b.B))
    np.testing.assert_array_equal(to_numpy(a.A), to_numpy(b.A))
    assert not np.allclose(to_numpy(c.to_dense()), to_numpy(d.to_dense()), atol=1e-4)


def test_one_seed_gives_the_same_float32_result_on_numpy_and_torch(power_law):
    pytest.importorskip("torch", reason="cross-backend agreement needs torch")
    fn = lowrank.factorize(power_law.matrix("float32", "numpy"), 12, "randomized", seed=3)
    ft = lowrank.factorize(power_law.matrix("float32", "torch-cpu"), 12, "randomized", seed=3)
    # Same Ω, same algorithm; only the BLAS rounding differs.
    np.testing.assert_allclose(to_numpy(ft.to_dense()), fn.to_dense(), atol=2e-5)
    np.testing.assert_allclose(ft.singular_values, fn.singular_values, rtol=1e-4)


def test_power_iterations_and_oversampling_approach_the_optimum():
    sm = gen.SyntheticMatrix.build(400, 300, gen.power_law_spectrum(300, 0.5), seed=5)
    seeds = range(4)

    def mean_ratio(p, q):
        return np.mean([ratio(sm, lowrank.factorize(sm.W, 10, "randomized", oversampling=p, power_iterations=q, seed=s))
                        for s in seeds])

    by_q = [mean_ratio(10, q) for q in (0, 1, 2, 6)]
    by_p = [mean_ratio(p, 1) for p in (0, 10, 40)]
    assert all(a > b for a, b in zip(by_q, by_q[1:])), by_q
    assert all(a > b for a, b in zip(by_p, by_p[1:])), by_p
    assert by_q[-1] < 1.002
    assert min(by_q + by_p) >= 1.0 - 1e-12  # never better than Eckart–Young


@pytest.mark.parametrize("p", [2, 5, 20])
def test_no_power_iteration_error_is_within_the_halko_bound(p):
    # Halko–Martinsson–Tropp thm 10.5: E‖W − QQᵀW‖²_F <= (1 + r/(p−1))·opt²; truncating QᵀW to
    # rank r adds at most opt² more, so E[ratio²] <= 2 + r/(p−1) for the rank-r result.
    r = 8
    sm = gen.SyntheticMatrix.build(200, 150, gen.power_law_spectrum(150, 0.3), seed=2)
    sq = [ratio(sm, lowrank.factorize(sm.W, r, "randomized", oversampling=p, power_iterations=0, seed=s)) ** 2
          for s in range(20)]
    assert np.mean(sq) <= 2 + r / (p - 1)
    assert np.mean(sq) > 1.0


@pytest.mark.parametrize("shape", [(120, 200), (200, 120)], ids=["wide", "tall"])
def test_wide_matrices_are_sketched_as_their_transpose(shape):
    sm = gen.SyntheticMatrix.build(*shape, gen.power_law_spectrum(min(shape)), seed=4)
    f = lowrank.factorize(sm.W, 9, "randomized", seed=7)
    g = lowrank.factorize(np.ascontiguousarray(sm.W.T), 9, "randomized", seed=7)
    np.testing.assert_allclose(f.to_dense(), g.to_dense().T, atol=1e-12)
    assert f.shape == shape and f.rank == 9
    assert ratio(sm, f) < 1.05


def test_exactly_rank_terms_with_accurate_singular_values(backend, power_law):
    W = power_law.matrix("float32", backend)
    f = lowrank.factorize(W, 15, "randomized", oversampling=15, power_iterations=3, seed=0)
    assert f.rank == 15 and f.B.shape == (300, 15) and f.A.shape == (15, 200)
    assert np.all(np.diff(f.singular_values) <= 0)
    np.testing.assert_allclose(f.singular_values, power_law.singular_values[:15], rtol=1e-3)


@pytest.mark.parametrize("spectrum", ["power-law", "steep-exponential", "exact-rank"])
def test_float32_gram_route_matches_the_householder_route(spectrum, monkeypatch):
    # The Gram route (float32) must be as good as the QR/LAPACK route it replaces, and must
    # hand ill-conditioned blocks (fast decay, rank below the sketch width) back to it.
    m = 160
    sigma = {
        "power-law": gen.power_law_spectrum(m),
        "steep-exponential": gen.exponential_spectrum(m, 0.6),  # σ_20/σ_1 ≈ 1e-5: κ above the limit
        "exact-rank": np.r_[gen.power_law_spectrum(12), np.zeros(m - 12)],
    }[spectrum]
    sm = gen.SyntheticMatrix.build(220, m, sigma, seed=9)
    W = sm.matrix("float32")
    r = 12
    fast = lowrank.factorize(W, r, "randomized", seed=1)
    monkeypatch.setattr(importlib.import_module("lowrank.factorize"), "GRAM_MAX_COND", {})
    slow = lowrank.factorize(W, r, "randomized", seed=1)
    err = [np.linalg.norm(sm.W - f.B.astype(float) @ f.A.astype(float)) / np.linalg.norm(sm.W) for f in (fast, slow)]
    opt = sm.optimal_error(r)
    if opt == 0:
        assert max(err) < 1e-5  # recovered to float32 round-off
    else:
        assert err[0] / opt < 1.05 and abs(err[0] - err[1]) / opt < 1e-3, (err, opt)
    # The factors are a thin SVD either way: orthonormal columns of U = B/√σ.
    U = fast.B.astype(float) / np.sqrt(fast.singular_values)
    np.testing.assert_allclose(U.T @ U, np.eye(r), atol=5e-4)


def test_gram_route_is_taken_only_when_well_conditioned(monkeypatch):
    calls = {"qr": 0}
    be = lowrank.get_backend("numpy")
    original = type(be).qr_q

    def counting_qr(self, x):
        calls["qr"] += 1
        return original(self, x)

    monkeypatch.setattr(type(be), "qr_q", counting_qr)
    sm = gen.SyntheticMatrix.build(200, 150, gen.power_law_spectrum(150), seed=1)
    lowrank.factorize(sm.matrix("float32"), 10, "randomized", seed=0)
    assert calls["qr"] == 0  # well conditioned: no Householder QR at all
    lowrank.factorize(sm.matrix("float64"), 10, "randomized", seed=0, power_iterations=1)
    assert calls["qr"] == 3  # float64 keeps the QR route: 1 + 2q orthonormalizations
    rank3 = gen.SyntheticMatrix.build(200, 150, [1.0, 0.5, 0.25], seed=1).matrix("float32")
    calls["qr"] = 0
    f = lowrank.factorize(rank3, 3, "randomized", seed=0, power_iterations=0)
    assert calls["qr"] == 1  # rank 3 < sketch width 13: singular Gram matrix, QR fallback
    assert np.abs(f.to_dense() - rank3).max() < 1e-6


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"oversampling": -1}, LowRankValueError, ["oversampling=-1", "[0, inf]"]),
        ({"power_iterations": -2}, LowRankValueError, ["power_iterations=-2", "[0, inf]"]),
        ({"oversampling": 2.5}, LowRankTypeError, ["oversampling=2.5", "integer"]),
        ({"power_iterations": True}, LowRankTypeError, ["power_iterations=True", "integer"]),
        ({"power_iterations": "2"}, LowRankTypeError, ["power_iterations='2'", "integer"]),
    ],
)
def test_bad_knobs_get_clear_errors(kwargs, error, words):
    W = gen.gaussian(30, 20, seed=0)
    with pytest.raises(error) as info:
        lowrank.factorize(W, 4, "randomized", **kwargs)
    for word in words:
        assert word in str(info.value)


def test_knobs_of_another_method_are_refused():
    W = gen.gaussian(30, 20, seed=0)
    with pytest.raises(LowRankValueError, match=r"oversampling=5 does not apply to method='svd'"):
        lowrank.factorize(W, 4, "svd", oversampling=5)
    with pytest.raises(LowRankValueError, match=r"power_iterations=0 does not apply to method='lora'"):
        lowrank.factorize(W, 4, "lora", power_iterations=0)


def test_zero_power_iterations_and_zero_oversampling_are_allowed():
    sm = gen.SyntheticMatrix.build(60, 50, gen.exponential_spectrum(50, 0.5), seed=0)
    f = lowrank.factorize(sm.W, 5, "randomized", oversampling=0, power_iterations=0, seed=0)
    assert f.rank == 5 and ratio(sm, f) < 2.0
    # The sketch width is capped at min(d, k): oversampling past it is harmless.
    g = lowrank.factorize(sm.W, 45, "randomized", oversampling=100, seed=0)
    assert ratio(sm, g) == pytest.approx(1.0, abs=1e-6)
