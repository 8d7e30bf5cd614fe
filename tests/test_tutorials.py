"""The two tutorial notebooks this project started from, replayed through the public API."""

import numpy as np

import lowrank


def test_random_integer_matrix_rank5_stays_within_sigma6_of_the_integers():
    # Notebook 1: a 6x6 matrix of integers 0-9 factorized at rank 5 with B = U_r sqrt(S), A = sqrt(S) V_r^T.
    W = lowrank.generators.random_integers(6, 6, 0, 10, seed=7)
    assert W.min() >= 0 and W.max() <= 9 and np.all(W == np.round(W))

    f = lowrank.factorize(W, rank=5)
    U, s, Vt = np.linalg.svd(W)
    np.testing.assert_allclose(f.B, U[:, :5] * np.sqrt(s[:5]), atol=1e-12)
    np.testing.assert_allclose(f.A, np.sqrt(s[:5])[:, None] * Vt[:5], atol=1e-12)

    W_approx = f.to_dense()
    # Dropping sigma_6 moves each entry by at most sigma_6 (the tutorial's "nearly the original integers").
    deviation = np.abs(W_approx - W).max()
    assert 0 < deviation <= s[5] + 1e-12
    assert s[5] < s[0] / 10  # the dropped component is small next to the matrix
    np.testing.assert_allclose(lowrank.relative_error(W, f, "spectral"), s[5] / s[0], rtol=1e-10)


def test_rank_deficient_layer_is_reproduced_exactly_with_fewer_parameters():
    # Notebook 2: W = randn(10,2) @ randn(2,10) has rank 2; y = W@x + b equals B@(A@x) + b.
    W = lowrank.generators.exact_rank(10, 10, rank=2, seed=3)
    assert np.linalg.matrix_rank(W) == 2

    f = lowrank.factorize(W, rank=2)
    rng = np.random.default_rng(0)
    x, b = rng.standard_normal(10), rng.standard_normal(10)
    y = W @ x + b
    y_factored = f.apply(x, bias=b)
    np.testing.assert_allclose(y_factored, y, rtol=1e-12, atol=1e-12)
    assert W.size == 100
    assert f.num_params == 40 == f.B.size + f.A.size
