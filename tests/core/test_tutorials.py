"""The two tutorial notebooks this project started from, replayed through the public API."""

import numpy as np
import pytest

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


def test_notebook_1_as_pasted_integer_matrix_rank_5():
    # The notebook's own lines; only its hand-written SVD is replaced by the library's call.
    np.random.seed(1)
    d = 6
    W = np.random.randint(0, 10, size=(d, d))
    rank = 5
    f = lowrank.factorize(W, rank)  # was: U, S, V = np.linalg.svd(W); U_r = U[:, :rank] @ np.sqrt(S_r) ...
    B, A = f.B, f.A
    W_approx = B @ A
    rounded = W_approx.round(0).astype(int)

    assert W.dtype.kind == "i" and f.dtype == "float64"  # integers are factorized in float64
    s = np.linalg.svd(W, compute_uv=False)
    deviation = np.abs(W_approx - W)
    assert deviation.max() <= s[5] + 1e-12  # dropping sigma_6 moves each entry by at most sigma_6
    # What the notebook prints: the rounded approximation is the integers wherever the entry moved < 0.5.
    np.testing.assert_array_equal(rounded == W, deviation < 0.5)
    if s[5] < 0.5:
        np.testing.assert_array_equal(rounded, W)
    assert B.shape == (6, 5) and A.shape == (5, 6)


def test_notebook_2_as_pasted_torch_rank_2_layer():
    torch = pytest.importorskip("torch", reason="notebook 2 is written with torch")
    torch.manual_seed(0)
    d = 10
    W = torch.randn(d, 2) @ torch.randn(2, d)
    rank = np.linalg.matrix_rank(W)  # on the tensor, as the notebook does
    assert rank == 2
    # Sigma on the left as the notebook: B = U_r S_r, A = V_r^T.
    f = lowrank.factorize(W, int(rank), split="left")
    B, A = f.B, f.A
    U, S, V = torch.svd(W)
    torch.testing.assert_close(B, U[:, :2] * S[:2], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(A, V[:, :2].t(), rtol=1e-4, atol=1e-5)

    b = torch.randn(d)
    x = torch.randn(d)
    y = W @ x + b
    y_prime = B @ (A @ x) + b
    assert torch.allclose(y, y_prime, atol=1e-5)
    assert W.nelement() == 100 and B.nelement() + A.nelement() == 40


def test_integer_torch_tensors_use_the_default_float_dtype():
    torch = pytest.importorskip("torch", reason="torch integer tensors")
    W = torch.randint(0, 10, (8, 6))
    f = lowrank.factorize(W, 3)
    assert f.dtype == str(torch.get_default_dtype()).removeprefix("torch.")
    assert lowrank.relative_error(W, f) == pytest.approx(lowrank.optimal_error(W, 3), rel=1e-4)


@pytest.mark.parametrize("bad", [np.ones((4, 4), dtype=bool), np.ones((4, 4), dtype=complex)])
def test_booleans_and_complex_matrices_are_refused_by_name(bad):
    with pytest.raises(lowrank.LowRankTypeError, match=f"dtype '{bad.dtype.name}'.*accepted: 'float32', 'float64'"):
        lowrank.factorize(bad, 2)
