"""LoRA adapters: the unmerged forward against a dense reference, merge/unmerge drift against rounding theory."""

import doctest

import numpy as np
import pytest

import lowrank
from lowrank import LowRankTypeError, LowRankValueError, lora
from tests.conftest import to_numpy

D, K, R = 48, 40, 6


def operands(backend, dtype, seed=0, d=D, k=K, r=R):
    """W0 ~ N(0, 1/k), A Kaiming-uniform, B scaled so that ΔW is a sizeable fraction of W0."""
    rng = np.random.default_rng(seed)
    be = lowrank.get_backend(backend)
    W0 = rng.standard_normal((d, k)) / np.sqrt(k)
    A = rng.uniform(-1 / np.sqrt(k), 1 / np.sqrt(k), (r, k))
    B = 0.3 * rng.standard_normal((d, r))
    return tuple(be.asarray(a, dtype) for a in (W0, B, A))


def test_scaling_helpers_match_lora_and_rslora():
    assert lowrank.lora_scaling(16, 8) == 2.0
    assert lowrank.lora_scaling(16, 64, rslora=True) == 2.0
    assert lowrank.lora_scaling(16, 64) == 0.25
    # r(d+k)/(dk): under 1% at r = 16, d = k = 4096 (the figure).
    assert lora.flop_overhead(4096, 4096, 16) == pytest.approx(16 * 8192 / 4096**2)
    assert lora.flop_overhead(4096, 4096, 16) < 0.01
    assert lora.unit_roundoff("bfloat16") == 2.0**-8 and lora.unit_roundoff("float32") == 2.0**-24


@pytest.mark.parametrize("batch", [None, 1, 7])
def test_unmerged_forward_equals_the_dense_reference(backend, batch):
    W0, B, A = operands(backend, "float64")
    s = lowrank.lora_scaling(12, R)
    rng = np.random.default_rng(1)
    x64 = rng.standard_normal(K if batch is None else (K, batch))
    x = lowrank.get_backend(backend).asarray(x64, "float64")
    expected = (to_numpy(W0) + s * to_numpy(B) @ to_numpy(A)) @ x64
    np.testing.assert_allclose(to_numpy(lora.forward(W0, B, A, x, s)), expected, rtol=1e-12, atol=1e-12)
    adapter = lowrank.LoRAAdapter(B, A, s)
    np.testing.assert_allclose(to_numpy(adapter.forward(W0, x)), expected, rtol=1e-12, atol=1e-12)
    # Merged: one product with W' gives the same output.
    np.testing.assert_allclose(to_numpy(lora.merge(W0, B, A, s) @ x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(adapter.delta()), s * to_numpy(B) @ to_numpy(A), rtol=1e-12, atol=1e-15)


def test_forward_does_not_modify_its_inputs():
    W0, B, A = operands("numpy", "float32")
    copies = [a.copy() for a in (W0, B, A)]
    x = np.ones(K, dtype=np.float32)
    lora.forward(W0, B, A, x, 2.0)
    lowrank.LoRAAdapter(B, A, 2.0).forward(W0, x)
    lora.merge(W0, B, A, 2.0)
    for before, after in zip(copies, (W0, B, A)):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("upcast", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_roundtrip_drift_is_within_two_roundings(backend, dtype, upcast):
    if backend == "numpy" and dtype in ("float16", "bfloat16"):
        pytest.skip("half precision is measured with torch (the numpy backend has float32/float64 only)")
    W0, B, A = operands(backend, dtype, seed=3)
    s = lowrank.lora_scaling(32, R)
    u = lora.unit_roundoff(dtype)
    out = lora.roundtrip_drift(W0, B, A, s, upcast=upcast)
    # Rounding analysis: |unmerge(merge(W0)) - W0| <= 2 u |W'| elementwise (a hair more for
    # a half-precision add that torch rounds through float32).
    assert out["drift_bound_ratio"] <= 2.0 * (1 + 1e-3), out
    assert out["drift_max_abs"] <= 2.0 * (1 + 1e-3) * u * out["merged_max_abs"]
    assert out["unit_roundoff"] == u
    # The merge really changed W0, so a zero drift would not be a vacuous pass.
    merged = to_numpy(lora.merge(W0, B, A, s, upcast=upcast))
    assert np.abs(merged - to_numpy(W0)).max() > 100 * u


def test_a_mismatched_unmerge_is_caught_by_the_bound():
    # The bound must be able to fail: undo a merge with a different scaling.
    W0, B, A = operands("numpy", "float32", seed=4)
    merged = lora.merge(W0, B, A, 2.0)
    back = lora.unmerge(merged, B, A, 2.0 * (1 + 1e-4))
    drift = np.abs(back.astype(np.float64) - W0)
    assert (drift / (lora.unit_roundoff("float32") * np.abs(merged))).max() > 2.0


def test_half_precision_upcast_merge_rounds_once():
    torch = pytest.importorskip("torch", reason="half precision is measured with torch")
    W0, B, A = operands("torch-cpu", "bfloat16", seed=5)
    s = 2.0
    exact = W0.double() + s * (B.double() @ A.double())
    merged = lora.merge(W0, B, A, s, upcast=True)
    assert merged.dtype == torch.bfloat16
    # One rounding of a float32 value: within u|W'| (plus float32's own error).
    err = (merged.double() - exact).abs()
    assert bool((err <= (2.0**-8) * merged.double().abs() * (1 + 1e-3) + 1e-6).all())


def test_init_is_a_zero_update_like_peft(backend):
    adapter = lowrank.LoRAAdapter.init(30, 20, 4, alpha=8, seed=0, dtype="float64", backend=backend)
    assert adapter.shape == (30, 20) and adapter.rank == 4 and adapter.scaling == 2.0
    assert adapter.backend == backend and adapter.dtype == "float64" and adapter.num_params == 4 * 50
    assert np.all(to_numpy(adapter.B) == 0)
    assert np.abs(to_numpy(adapter.A)).max() <= 1 / np.sqrt(20)
    W0 = lowrank.generators.gaussian(30, 20, seed=1, backend=backend)
    np.testing.assert_array_equal(to_numpy(adapter.merge(W0)), to_numpy(W0))
    gauss = lowrank.LoRAAdapter.init(30, 20, 4, init="gaussian", rslora=True, alpha=4, seed=0)
    assert gauss.scaling == 2.0 and to_numpy(gauss.A).std() > 0
    assert "LoRAAdapter(shape=(30, 20), rank=4" in repr(adapter)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda W0, B, A: lora.merge(W0, B, A.T, 1.0), LowRankValueError, ["B's columns must equal A's rows"]),
        (lambda W0, B, A: lora.merge(W0.T, B, A, 1.0), LowRankValueError, ["W0 has shape (40, 48)", "d×k"]),
        (lambda W0, B, A: lora.merge(W0.astype(np.float32), B, A), LowRankTypeError, ["W0 has dtype 'float32'"]),
        (lambda W0, B, A: lora.merge(W0, B, A, "2"), LowRankTypeError, ["scaling='2'", "real number"]),
        (lambda W0, B, A: lora.merge(W0, B, A, float("nan")), LowRankValueError, ["scaling=nan", "finite"]),
        (lambda W0, B, A: lora.merge(W0, B, A, True), LowRankTypeError, ["scaling=True"]),
        (lambda W0, B, A: lora.merge(W0, B, A, upcast="yes"), LowRankTypeError, ["upcast='yes'"]),
        (lambda W0, B, A: lora.forward(W0, B, A, np.ones(K + 1)), LowRankValueError, ["x has shape (41,)", "(40,)"]),
        (lambda W0, B, A: lora.forward(W0, B, A, [1.0] * K), LowRankTypeError, ["x is a", "'numpy'"]),
        (lambda W0, B, A: lora.merge(W0, B[:, :, None], A), LowRankValueError, ["B must be 2-D"]),
        (lambda W0, B, A: lowrank.LoRAAdapter(B, A).forward(W0, np.ones((K, 2, 2))), LowRankValueError, ["x has shape"]),
        (lambda W0, B, A: lowrank.LoRAAdapter(B, A).forward(W0[:5], np.ones(K)), LowRankValueError, ["W0 has shape (5, 40)"]),
        (lambda W0, B, A: lowrank.lora_scaling(8, 0), LowRankValueError, ["rank=0"]),
        (lambda W0, B, A: lowrank.lora_scaling(float("inf"), 4), LowRankValueError, ["alpha=inf"]),
        (lambda W0, B, A: lowrank.LoRAAdapter.init(8, 6, 7), LowRankValueError, ["rank=7", "[1, 6]"]),
        (lambda W0, B, A: lowrank.LoRAAdapter.init(8, 6, 2, init="zeros"), LowRankValueError, ["init='zeros'", "'kaiming'"]),
        (lambda W0, B, A: lora.unit_roundoff("int8"), LowRankValueError, ["dtype='int8'"]),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, words):
    W0, B, A = operands("numpy", "float64")
    with pytest.raises(error) as info:
        call(W0, B, A)
    for word in words:
        assert word in str(info.value)


def test_factors_of_different_backends_are_refused():
    pytest.importorskip("torch", reason="torch is not installed")
    W0, B, A = operands("numpy", "float32")
    At = lowrank.get_backend("torch-cpu").asarray(A)
    with pytest.raises(LowRankTypeError, match="A is a 'torch-cpu' array; expected a 'numpy' array"):
        lora.merge(W0, B, At)


def test_docstring_examples_run():
    result = doctest.testmod(lora, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
