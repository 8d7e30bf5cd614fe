"""The factored operator: apply, bias, batches, dense reconstruction, accounting, moves."""

import numpy as np
import pytest

import lowrank
from tests.conftest import to_numpy


@pytest.fixture
def pair(backend):
    W = lowrank.generators.gaussian(12, 9, seed=3, backend=backend)
    return W, lowrank.factorize(W, 4)


def test_apply_matches_dense_reconstruction_for_vectors_and_batches(pair, backend):
    W, f = pair
    be = lowrank.get_backend(backend)
    dense = f.to_dense()
    assert tuple(dense.shape) == (12, 9)
    for shape in [(9,), (9, 1), (9, 5)]:
        x = be.asarray(np.random.default_rng(1).standard_normal(shape), "float64")
        y = f.apply(x)
        assert tuple(y.shape) == (12,) + shape[1:]
        np.testing.assert_allclose(to_numpy(y), to_numpy(dense @ x), atol=1e-12)
        np.testing.assert_allclose(to_numpy(f @ x), to_numpy(y), atol=0)


def test_bias_is_added_to_every_column(pair, backend):
    _, f = pair
    be = lowrank.get_backend(backend)
    x = be.asarray(np.ones((9, 3)), "float64")
    b = be.asarray(np.arange(12.0), "float64")
    y = to_numpy(f.apply(x, bias=b))
    np.testing.assert_allclose(y - to_numpy(f.apply(x)), np.tile(np.arange(12.0)[:, None], (1, 3)), atol=1e-12)


def test_accounting(pair, backend):
    _, f = pair
    assert f.shape == (12, 9) and f.rank == 4 and f.backend == backend and f.dtype == "float64"
    assert f.num_params == 4 * (12 + 9)
    assert f.nbytes == 8 * f.num_params
    assert f.nbytes == lowrank.factored_cost(12, 9, 4, dtype="float64").param_bytes
    assert "rank=4" in repr(f) and backend in repr(f)


def test_to_moves_between_backends_and_dtypes():
    pytest.importorskip("torch", reason="torch is not installed")
    W = lowrank.generators.gaussian(10, 8, seed=0)
    f = lowrank.factorize(W, 3)
    g = f.to("torch-cpu", "float32")
    assert g.backend == "torch-cpu" and g.dtype == "float32" and g.method == "svd"
    np.testing.assert_allclose(to_numpy(g.to_dense()), f.to_dense(), atol=1e-6)
    h = g.to("numpy", "float64")
    assert h.backend == "numpy"
    with pytest.raises(lowrank.LowRankValueError, match="dtype='bfloat16'.*'numpy'"):
        g.to("torch-cpu", "bfloat16").to("numpy")


def test_half_precision_apply_on_torch():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    W = lowrank.generators.power_law(64, 32, seed=0, dtype="float32", backend="torch-cpu")
    f = lowrank.factorize(W, 8).to(dtype="bfloat16")
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    y = f.apply(x)
    assert y.dtype == torch.bfloat16
    ref = f.to(dtype="float32").apply(x.float())
    assert float((y.float() - ref).abs().max() / ref.abs().max()) < 2e-2


def _column_major(a) -> bool:
    """Whether a 2-D array is laid out column-major (a Fortran-ordered numpy array, a transposed torch tensor)."""
    if isinstance(a, np.ndarray):
        return bool(a.flags.f_contiguous)
    return a.t().is_contiguous()


def _row_major(a) -> bool:
    return bool(a.flags.c_contiguous) if isinstance(a, np.ndarray) else a.is_contiguous()


@pytest.mark.parametrize("rank", [1, 2, 5])
def test_every_way_of_building_factors_gives_the_fast_layout(backend, rank):
    """factorize, user arrays given row-major, a move and a LoRA adapter: B column-major, A row-major, values kept."""
    be = lowrank.get_backend(backend)
    W = lowrank.generators.gaussian(12, 9, seed=3, backend=backend)
    rng = np.random.default_rng(0)
    B_given = be.asarray(np.ascontiguousarray(rng.standard_normal((12, rank))), "float64")
    A_given = be.asarray(np.asfortranarray(rng.standard_normal((rank, 9))), "float64")
    built = {
        "factorize": lowrank.factorize(W, rank),
        "randomized": lowrank.factorize(W, rank, "randomized", seed=0),
        "given": lowrank.LowRankOperator(B_given, A_given),
        "moved": lowrank.LowRankOperator(B_given, A_given).to(dtype="float32"),
        "lora": lowrank.LoRAAdapter(B_given, A_given, 2.0),
    }
    for how, f in built.items():
        if rank > 1:  # a d×1 column is both; the check would say nothing
            assert _column_major(f.B) and not _row_major(f.B), how
        assert _row_major(f.A), how
        assert tuple(f.B.shape) == (12, rank) and tuple(f.A.shape) == (rank, 9), how
    np.testing.assert_array_equal(to_numpy(built["given"].B), to_numpy(B_given))
    np.testing.assert_array_equal(to_numpy(built["given"].A), to_numpy(A_given))
    x = be.asarray(rng.standard_normal((9, 3)), "float64")
    for cols in (x[:, 0], x):
        expected = to_numpy(B_given) @ (to_numpy(A_given) @ to_numpy(cols))
        np.testing.assert_allclose(to_numpy(built["given"].apply(cols)), expected, rtol=1e-12, atol=1e-12)


def test_factorize_owns_compact_factors():
    """Truncating a tall matrix's SVD keeps no view of the full U: B owns exactly d×r values."""
    W = lowrank.generators.gaussian(300, 20, seed=0)
    f = lowrank.factorize(W, 3, split="right")
    assert f.B.base is None and f.A.base is None
    assert f.B.nbytes == 300 * 3 * 8


def test_a_masked_array_is_refused_not_applied_with_its_mask_dropped():
    f = lowrank.factorize(lowrank.generators.gaussian(6, 5, seed=0), 2)
    x = np.ma.array(np.ones(5), mask=[0, 1, 0, 0, 0])
    with pytest.raises(lowrank.LowRankTypeError, match="x is a numpy masked array"):
        f.apply(x)
    with pytest.raises(lowrank.LowRankTypeError, match="x is a numpy masked array"):
        lowrank.LoRAAdapter(f.B, f.A, 1.0).forward(f.to_dense(), x)


def test_sparse_torch_factors_are_kept_as_given():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    B = torch.randn(6, 2, dtype=torch.float64).to_sparse()
    A = torch.randn(2, 5, dtype=torch.float64)
    f = lowrank.LowRankOperator(B, A)
    assert f.B.layout == torch.sparse_coo
    x = torch.ones(5, dtype=torch.float64)
    np.testing.assert_allclose(f.apply(x).numpy(), (B.to_dense() @ (A @ x)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("rank", [1, 2, 64, 70])
@pytest.mark.parametrize("cols", [None, 1, 5, 65])
def test_apply_gives_b_times_a_times_x_by_every_kernel_path(backend, rank, cols):
    """Every kernel the product may choose (numpy's np.dot for a vector and at rank 1, torch's batch-first form
    for a small batch from BATCH_FIRST_MIN_RANK up, the plain form above BATCH_FIRST_MAX_BATCH columns) gives
    B @ (A @ x), with a bias, and a wrong shape still gets its error."""
    be = lowrank.get_backend(backend)
    rng = np.random.default_rng(rank)
    B64, A64 = rng.standard_normal((80, rank)), rng.standard_normal((rank, 75))
    x64 = rng.standard_normal((75,) if cols is None else (75, cols))
    bias64 = rng.standard_normal(80)
    f = lowrank.LowRankOperator(be.asarray(B64, "float64"), be.asarray(A64, "float64"))
    y = f.apply(be.asarray(x64, "float64"), bias=be.asarray(bias64, "float64"))
    expected = B64 @ (A64 @ x64) + (bias64 if cols is None else bias64[:, None])
    assert tuple(y.shape) == expected.shape
    np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-11, atol=1e-11)
    with pytest.raises(lowrank.LowRankValueError, match="x"):
        f.apply(be.asarray(rng.standard_normal((74,) if cols is None else (74, cols)), "float64"))
