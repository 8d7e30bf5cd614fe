"""Error metrics against the Eckart–Young formulas."""

import numpy as np
import pytest

import lowrank
from lowrank import generators as gen


def test_eckart_young_formulas_on_a_known_spectrum():
    s = [4.0, 3.0, 2.0, 1.0]
    assert lowrank.eckart_young_error(s, 2, "fro", relative=False) == pytest.approx(np.sqrt(5.0))
    assert lowrank.eckart_young_error(s, 2, "spectral", relative=False) == 2.0
    assert lowrank.eckart_young_error(s, 2, "fro") == pytest.approx(np.sqrt(5.0 / 30.0))
    assert lowrank.eckart_young_error(s, 2, "spectral") == 0.5
    assert lowrank.eckart_young_error(s, 4) == 0.0
    assert lowrank.eckart_young_error(s, 0) == 1.0


def test_optimal_error_of_a_matrix_uses_its_singular_values():
    sm = gen.SyntheticMatrix.build(30, 20, gen.exponential_spectrum(20, 0.2), seed=0)
    for r in (1, 5, 19):
        for norm in ("fro", "spectral"):
            assert lowrank.optimal_error(sm.W, r, norm) == pytest.approx(sm.optimal_error(r, norm), rel=1e-10)


def test_no_factorization_beats_the_optimum():
    sm = gen.SyntheticMatrix.build(40, 30, gen.power_law_spectrum(30), seed=1)
    for method in ("svd", "randomized", "lora"):
        f = lowrank.factorize(sm.W, 6, method, **({"seed": 0} if method != "svd" else {}))
        assert lowrank.error_ratio(sm.W, f) >= 1.0 - 1e-9
        assert lowrank.error_ratio(sm.W, f, "spectral") >= 1.0 - 1e-9


def test_exact_recovery_and_its_optimum_are_both_at_round_off():
    W = gen.exact_rank(10, 10, rank=3, seed=0)
    assert lowrank.relative_error(W, lowrank.factorize(W, 3)) < 1e-14
    assert lowrank.optimal_error(W, 3) < 1e-14
    assert lowrank.optimal_error(W, 2) > 1e-3


def test_output_error_is_zero_for_exact_and_bounded_by_operator_error():
    sm = gen.SyntheticMatrix.build(50, 40, gen.power_law_spectrum(40), seed=2)
    f = lowrank.factorize(sm.W, 5)
    x = np.random.default_rng(0).standard_normal((40, 7))
    err = lowrank.output_error(sm.W, f, x)
    # ‖(W - W_r) x‖ <= σ_{r+1}‖x‖ and ‖W x‖ >= σ_min ‖x‖ column by column, so the error is positive and finite.
    assert 0 < err < 1
    residual = np.linalg.norm(sm.W @ x - f.apply(x)) / np.linalg.norm(sm.W @ x)
    assert err == pytest.approx(residual, rel=1e-12)
    W = gen.exact_rank(10, 8, rank=2, seed=0)
    assert lowrank.output_error(W, lowrank.factorize(W, 2), np.ones(8)) < 1e-13
