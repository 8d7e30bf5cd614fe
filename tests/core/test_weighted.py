"""The whitened SVD (``factorize(W, r, "whitened", gram=G)``) against the weighted Eckart–Young theory."""

import numpy as np
import pytest

import lowrank
from lowrank.errors import LowRankValueError
from lowrank.weighted import whitening


def _layer(seed, d=40, k=30, n=200):
    """A weight and inputs whose directions carry very different energy (as a trained layer's do)."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((d, k))
    X = rng.standard_normal((k, n)) * np.geomspace(0.05, 5.0, k)[rng.permutation(k)][:, None]
    return W, X, X @ X.T


def _output_error(W, f, X):
    return np.linalg.norm((W - f.B @ f.A) @ X) / np.linalg.norm(W @ X)


@pytest.mark.parametrize("rank", [1, 5, 17, 29])
def test_it_attains_the_weighted_eckart_young_optimum(rank):
    W, X, G = _layer(rank)
    f = lowrank.factorize(W, rank, "whitened", gram=G, ridge=0)
    s = np.linalg.svd(W @ np.linalg.cholesky(G), compute_uv=False)  # any S with S Sᵀ = G gives the same σ
    optimum = np.sqrt(np.sum(s[rank:] ** 2) / np.sum(s**2))
    assert lowrank.optimal_weighted_error(W, rank, G) == pytest.approx(optimum, rel=1e-10)
    assert _output_error(W, f, X) == pytest.approx(optimum, rel=1e-9, abs=1e-12)
    assert lowrank.weighted_error(W, f, G) == pytest.approx(optimum, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(f.singular_values, s[:rank], rtol=1e-10)
    assert f.method == "whitened" and f.rank == rank


def test_with_isotropic_inputs_it_is_the_plain_svd():
    W, _, _ = _layer(3)
    for c in (1.0, 7.5):
        f = lowrank.factorize(W, 6, "whitened", gram=c * np.eye(W.shape[1]), ridge=0)
        np.testing.assert_allclose(f.to_dense(), lowrank.factorize(W, 6).to_dense(), atol=1e-10)


def test_its_output_error_never_exceeds_the_plain_svds():
    for seed in range(20):
        W, X, G = _layer(100 + seed)
        for rank in (2, 8, 20):
            ours = lowrank.weighted_error(W, lowrank.factorize(W, rank, "whitened", gram=G), G)
            plain = lowrank.weighted_error(W, lowrank.factorize(W, rank), G)
            assert ours <= plain * (1 + 1e-9)
    assert ours < 0.9 * plain  # and with inputs this uneven it is much better


def test_a_matrix_of_rank_r_is_recovered_exactly():
    W = lowrank.generators.exact_rank(30, 20, rank=4, seed=5)
    _, _, G = _layer(5, d=30, k=20)
    f = lowrank.factorize(W, 4, "whitened", gram=G)
    np.testing.assert_allclose(f.to_dense(), W, atol=1e-8 * np.abs(W).max())


def test_a_singular_gram_needs_the_ridge_which_costs_almost_nothing():
    W, X, _ = _layer(9)
    X[[3, 11]] = 0.0  # two input directions never excited
    G = X @ X.T
    with pytest.raises(LowRankValueError, match="gram is singular.*pass ridge > 0"):
        lowrank.factorize(W, 5, "whitened", gram=G, ridge=0)
    f = lowrank.factorize(W, 5, "whitened", gram=G)  # default ridge 1e-6 × tr(G)/k
    optimum = lowrank.optimal_weighted_error(W, 5, G)  # the exact optimum needs no inverse
    assert optimum <= _output_error(W, f, X) <= optimum * (1 + 1e-4)
    S, S_inv = whitening(G)
    np.testing.assert_allclose(S @ S.T, G + 1e-6 * np.trace(G) / G.shape[0] * np.eye(G.shape[0]), atol=1e-6)
    np.testing.assert_allclose(S @ S_inv, np.eye(G.shape[0]), atol=1e-8)


def test_torch_agrees_with_numpy_and_keeps_its_dtype():
    torch = pytest.importorskip("torch", reason="the torch backend needs torch")
    W, X, G = _layer(21)
    ref = lowrank.factorize(W, 7, "whitened", gram=G)
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        f = lowrank.factorize(torch.tensor(W, dtype=dtype), 7, "whitened", gram=torch.tensor(G))
        assert f.backend == "torch-cpu" and f.B.dtype == dtype
        np.testing.assert_allclose(f.to_dense().double().numpy(), ref.to_dense(), atol=tol * np.abs(W).max())


@pytest.mark.parametrize("gram, words", [
    (None, "gram is required"),
    (np.eye(5), r"gram has shape \(5, 5\); W is d×k with k = 30"),
    (np.triu(np.ones((30, 30))), "not symmetric"),
    (np.full((30, 30), np.nan), "NaN"),
    (-np.eye(30), "not positive semi-definite"),
    (np.zeros((30, 30)), "gram is zero"),
    ("identity", "real k×k matrix"),
])
def test_bad_grams_are_named(gram, words):
    W, _, _ = _layer(0)
    with pytest.raises(LowRankValueError, match=words):
        lowrank.factorize(W, 3, "whitened", gram=gram)


def test_whitened_options_belong_to_it_alone():
    W, _, G = _layer(0)
    with pytest.raises(LowRankValueError, match="gram=.* does not apply to method='svd'"):
        lowrank.factorize(W, 3, gram=G)
    with pytest.raises(LowRankValueError, match="split='left' does not apply to method='whitened'"):
        lowrank.factorize(W, 3, "whitened", gram=G, split="left")
    for ridge in (-1.0, float("nan"), "big"):
        with pytest.raises(LowRankValueError, match="ridge=.*accepted a finite number >= 0"):
            lowrank.factorize(W, 3, "whitened", gram=G, ridge=ridge)


def test_output_norm_from_the_gram_alone_is_that_of_the_outputs():
    # ‖M X‖_F from G = X Xᵀ, without X: what weighted_error and the model's output scales read.
    from lowrank.weighted import output_norm

    W, X, G = _layer(11)
    assert output_norm(W, G) == pytest.approx(np.linalg.norm(W @ X), rel=1e-12)
    assert output_norm(np.zeros_like(W), G) == 0.0
