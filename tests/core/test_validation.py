"""Every bad input gets an error that names the parameter, the value and what is accepted."""

import numpy as np
import pytest

import lowrank
from lowrank import LowRankTypeError, LowRankValueError


@pytest.fixture
def W():
    return lowrank.generators.gaussian(6, 4, seed=0)


@pytest.mark.parametrize(
    "rank, error, words",
    [
        (0, LowRankValueError, ["rank=0", "[1, 4]"]),
        (-2, LowRankValueError, ["rank=-2", "[1, 4]"]),
        (5, LowRankValueError, ["rank=5", "6x4", "[1, 4]"]),
        (2.0, LowRankTypeError, ["rank=2.0", "integer"]),
        (2.5, LowRankTypeError, ["rank=2.5", "integer"]),
        (True, LowRankTypeError, ["rank=True", "integer"]),
        ("3", LowRankTypeError, ["rank='3'", "integer"]),
        (None, LowRankTypeError, ["rank=None", "integer"]),
    ],
)
def test_bad_rank(W, rank, error, words):
    with pytest.raises(error) as info:
        lowrank.factorize(W, rank)
    for word in words:
        assert word in str(info.value)


def test_errors_are_builtin_subclasses(W):
    with pytest.raises(ValueError):
        lowrank.factorize(W, 0)
    with pytest.raises(TypeError):
        lowrank.factorize(W, 1.5)


@pytest.mark.parametrize(
    "matrix, words",
    [
        (np.ones(5), ["2-D", "shape (5,)"]),
        (np.ones((2, 3, 4)), ["2-D", "3-D"]),
        (np.ones((0, 4)), ["non-empty", "(0, 4)"]),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), ["NaN or Inf"]),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), ["NaN or Inf"]),
    ],
)
def test_bad_matrix(matrix, words):
    with pytest.raises(LowRankValueError) as info:
        lowrank.factorize(matrix, 1)
    for word in words:
        assert word in str(info.value)


# Integer matrices are accepted (converted to float64, as numpy.linalg.svd does); booleans are not.
@pytest.mark.parametrize("matrix", [np.ones((3, 3), dtype=bool), np.ones((3, 3), dtype=np.float16), np.ones((3, 3), dtype=complex)])
def test_unsupported_dtype(matrix):
    with pytest.raises(LowRankTypeError, match=r"accepted: 'float32', 'float64'"):
        lowrank.factorize(matrix, 1)


def test_not_an_array():
    with pytest.raises(LowRankTypeError, match="numpy.ndarray or torch.Tensor.*builtins.list"):
        lowrank.factorize([[1.0, 2.0], [3.0, 4.0]], 1)


def test_unknown_method_and_backend(W):
    with pytest.raises(LowRankValueError, match=r"method='qr'.*'svd', 'randomized', 'lora'"):
        lowrank.factorize(W, 1, method="qr")
    with pytest.raises(LowRankValueError, match=r"backend='jax'.*'numpy', 'torch-cpu', 'torch-cuda'"):
        lowrank.factorize(W, 1, backend="jax")
    with pytest.raises(LowRankValueError, match=r"backend='jax'"):
        lowrank.get_backend("jax")


def test_backend_mismatch_is_refused(W):
    pytest.importorskip("torch", reason="torch is not installed")
    with pytest.raises(LowRankValueError, match="'numpy' array but backend='torch-cpu'"):
        lowrank.factorize(W, 1, backend="torch-cpu")


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"method": "randomized", "oversampling": -1}, ["oversampling=-1", "[0, inf]"]),
        ({"method": "randomized", "power_iterations": -1}, ["power_iterations=-1"]),
        ({"method": "randomized", "power_iterations": 1.5}, ["power_iterations=1.5", "integer"]),
        ({"method": "svd", "oversampling": 5}, ["oversampling=5", "does not apply to method='svd'"]),
        ({"method": "lora", "split": "left"}, ["split='left'", "does not apply"]),
        ({"method": "svd", "init": "gaussian"}, ["init='gaussian'", "does not apply"]),
        ({"method": "lora", "init": "xavier"}, ["init='xavier'", "'kaiming', 'gaussian'"]),
        ({"split": "middle"}, ["split='middle'", "'balanced', 'left', 'right'"]),
    ],
)
def test_bad_knobs(W, kwargs, words):
    with pytest.raises((LowRankValueError, LowRankTypeError)) as info:
        lowrank.factorize(W, 2, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_cuda_without_gpu_says_so():
    status = lowrank.available_backends()["torch-cuda"]
    if status is None:
        pytest.skip("a CUDA GPU is present, so torch-cuda is available and cannot fail this way")
    with pytest.raises(lowrank.BackendUnavailableError, match="torch-cuda.*(GPU|PyTorch)"):
        lowrank.get_backend("torch-cuda")


class TestApplyInput:
    @pytest.fixture
    def f(self, W):
        return lowrank.factorize(W, 2)

    @pytest.mark.parametrize("shape", [(5,), (6,), (3, 4), (4, 2, 2), ()])
    def test_wrong_shape(self, f, shape):
        with pytest.raises(LowRankValueError, match=r"x has shape .*expected \(4,\) or \(4, n\)"):
            f.apply(np.ones(shape))

    def test_wrong_dtype(self, f):
        with pytest.raises(LowRankTypeError, match="x has dtype 'float32'; expected 'float64'"):
            f.apply(np.ones(4, dtype=np.float32))

    def test_mixed_backends(self, f):
        torch = pytest.importorskip("torch", reason="torch is not installed")
        with pytest.raises(LowRankTypeError, match="x is a 'torch-cpu' array; expected a 'numpy' array"):
            f.apply(torch.ones(4, dtype=torch.float64))

    def test_list_input(self, f):
        with pytest.raises(LowRankTypeError, match="builtins.list"):
            f.apply([1.0, 2.0, 3.0, 4.0])

    def test_bad_bias(self, f):
        with pytest.raises(LowRankValueError, match=r"bias has shape \(4,\); expected \(6,\)"):
            f.apply(np.ones(4), bias=np.ones(4))
        with pytest.raises(LowRankTypeError, match="bias has dtype 'float32'"):
            f.apply(np.ones(4), bias=np.ones(6, dtype=np.float32))

    def test_mismatched_factors(self):
        with pytest.raises(LowRankValueError, match="B's columns must equal A's rows"):
            lowrank.LowRankOperator(np.ones((4, 2)), np.ones((3, 5)))
        with pytest.raises(LowRankTypeError, match="A has dtype 'float32'"):
            lowrank.LowRankOperator(np.ones((4, 2)), np.ones((2, 5), dtype=np.float32))


def test_metric_and_cost_arguments(W):
    f = lowrank.factorize(W, 2)
    with pytest.raises(LowRankValueError, match=r"norm='nuc'.*'fro', 'spectral'"):
        lowrank.relative_error(W, f, norm="nuc")
    with pytest.raises(LowRankValueError, match="f has shape"):
        lowrank.relative_error(np.ones((5, 4)), f)
    with pytest.raises(LowRankValueError, match="rank=9"):
        lowrank.optimal_error(W, 9)
    with pytest.raises(LowRankValueError, match=r"dtype='int8'.*'float16'"):
        lowrank.dense_cost(4, 4, 1, "int8")
    with pytest.raises(LowRankValueError, match="d=0"):
        lowrank.break_even_rank(0, 4)


def test_explicit_split_with_lora_is_refused(W):
    with pytest.raises(LowRankValueError, match="split='balanced' does not apply to method='lora'"):
        lowrank.factorize(W, 2, "lora", split="balanced")


@pytest.mark.parametrize("rank, error", [(True, LowRankTypeError), (1.5, LowRankTypeError), (5, LowRankValueError)])
def test_eckart_young_rank_is_validated(rank, error):
    with pytest.raises(error, match="rank="):
        lowrank.eckart_young_error([3.0, 2.0, 1.0], rank)


def test_unhashable_backend_name_gets_the_usual_message():
    with pytest.raises(LowRankValueError, match=r"backend=\['numpy'\] is not a known backend"):
        lowrank.get_backend(["numpy"])
