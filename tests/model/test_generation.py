"""Prefill and decode timing of a causal LM: the figures it returns, the cache it times, bad input."""

import importlib.util
import math

import pytest

from lowrank.errors import LowRankTypeError, LowRankValueError

TRANSFORMERS = importlib.util.find_spec("transformers")
pytestmark = pytest.mark.skipif(TRANSFORMERS is None, reason="needs transformers (the e2e extra)")

POSITIONS = 64


@pytest.fixture(scope="module")
def tiny_lm():
    """A 2-layer Llama with grouped-query attention (4 query heads, 2 key/value heads), random weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=POSITIONS)
    return LlamaForCausalLM(config).eval()


@pytest.mark.timed
def test_measure_generation_returns_positive_finite_figures_with_its_settings(tiny_lm):
    import torch

    from lowrank.model.generation import measure_generation

    before = torch.get_num_threads()
    speed = measure_generation(tiny_lm, 12, cache_length=20, threads=1, warmup=1, min_run_time=0.05)
    assert torch.get_num_threads() == before  # restored
    assert (speed.prompt_length, speed.cache_length, speed.threads) == (12, 20, 1)
    assert (speed.device, speed.dtype, speed.logits) == ("cpu", "float32", "last position")
    for value in (speed.prefill_s, speed.decode_s, speed.prefill_tokens_per_s, speed.decode_ms_per_token):
        assert math.isfinite(value) and value > 0
    assert speed.prefill_iqr_s >= 0 and speed.decode_iqr_s >= 0
    assert speed.prefill_blocks >= 1 and speed.decode_blocks >= 1
    assert speed.prefill_calls_per_block >= 1 and speed.decode_calls_per_block >= 1
    assert speed.prefill_tokens_per_s == pytest.approx(12 / speed.prefill_s)
    record = speed.as_dict()
    assert record["decode_ms_per_token"] == pytest.approx(speed.decode_s * 1e3) and "timer" in record
    assert measure_generation(tiny_lm, 5, warmup=0, min_run_time=0.02).cache_length == 5  # default: the prompt's


def test_decode_step_on_the_cache_gives_the_full_forwards_next_token_logits_every_call(tiny_lm):
    """The timed call: each decode on the cropped cache predicts what a forward over prompt + token predicts."""
    import torch

    from lowrank.model.generation import cache_of, decode_step, prefill, prompt_ids

    ids = prompt_ids(tiny_lm, 17, seed=3)
    with torch.inference_mode():
        full = tiny_lm(input_ids=ids).logits[0, -1]
        cache = cache_of(tiny_lm(input_ids=ids[:, :16], use_cache=True))
        for _ in range(3):  # the same cache length every call, so the same logits
            out = decode_step(tiny_lm, cache, ids[:, 16:])
            assert cache.get_seq_length() == 16
            torch.testing.assert_close(out.logits[0, -1], full, rtol=1e-4, atol=1e-5)
        # the prefill as timed (output head on the last position only) predicts the same next token
        torch.testing.assert_close(prefill(tiny_lm, ids).logits[0, -1], full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs, named", [
    ({"prompt_length": 0}, "prompt_length=0"),
    ({"prompt_length": POSITIONS + 1}, f"prompt_length={POSITIONS + 1}"),
    ({"prompt_length": 2.5}, "prompt_length=2.5"),
    ({"prompt_length": 8, "cache_length": POSITIONS}, f"cache_length={POSITIONS}"),
    ({"prompt_length": 8, "cache_length": 0}, "cache_length=0"),
    ({"prompt_length": 8, "threads": 0}, "threads=0"),
    ({"prompt_length": 8, "min_run_time": 0}, "min_run_time=0"),
], ids=["prompt-0", "prompt-too-long", "prompt-float", "cache-too-long", "cache-0", "threads-0", "run-time-0"])
def test_bad_lengths_and_settings_are_refused_naming_the_value_and_the_accepted_ones(tiny_lm, kwargs, named):
    from lowrank.model.generation import measure_generation

    with pytest.raises(LowRankValueError) as err:
        measure_generation(tiny_lm, **kwargs)
    message = str(err.value)
    assert named in message and "accepted" in message
    if "length" in named and "2.5" not in named:
        upper = POSITIONS - 1 if "cache" in named else POSITIONS
        assert f"from 1 to {upper}" in message and f"{POSITIONS} positions" in message


def test_a_model_that_is_not_a_causal_lm_is_refused_by_name():
    import torch
    from transformers import BertConfig, BertModel

    from lowrank.model.generation import measure_generation

    encoder = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32))
    for model, name in ((encoder, "BertModel"), (torch.nn.Linear(3, 3), "Linear")):
        with pytest.raises(LowRankTypeError, match=f"model={name}: not a causal language model; accepted: .*"
                                                   "AutoModelForCausalLM"):
            measure_generation(model, 4)


def test_linear_shapes_leave_the_output_head_out_by_identity(tiny_lm):
    from lowrank.model.generation import linear_shapes

    shapes = linear_shapes(tiny_lm)
    assert len(shapes) == 2 * 7 and "lm_head" not in shapes  # q, k, v, o, gate, up, down a layer
    assert shapes["model.layers.0.self_attn.k_proj"] == (16, 32)  # grouped-query: 2 heads of 8
    assert linear_shapes(tiny_lm, head=True)["lm_head"] == (97, 32)


def test_uniform_ranks_keep_the_fraction_of_each_layers_parameters():
    from lowrank.model.generation import uniform_ranks

    shapes = {"q": (576, 576), "k": (192, 576), "up": (1536, 576)}
    assert uniform_ranks(shapes, 0.9) == {"q": 259, "k": 129, "up": 377}  # floor(0.9 dk/(d+k))
    assert uniform_ranks(shapes, 1.0) == {"q": None, "k": None, "up": None}
    assert uniform_ranks({"tiny": (2, 2)}, 0.1) == {"tiny": 1}
    for bad in (0, 1.5, True):
        with pytest.raises(LowRankValueError, match=rf"fraction={bad!r}; accepted: .*\(0, 1\]"):
            uniform_ranks(shapes, bad)


def test_factoring_at_full_rank_reproduces_the_causal_lms_logits(tiny_lm):
    """The replacement the speed sweep times is the model: at r = min(d, k), B(A(x)) is W x."""
    import copy

    import torch

    from lowrank.model import causal
    from lowrank.model.generation import linear_shapes, prompt_ids

    factored = copy.deepcopy(tiny_lm)
    shapes = linear_shapes(tiny_lm)
    assert len(causal.factor(factored, {f"{name}.weight": min(d, k) for name, (d, k) in shapes.items()})) == len(shapes)
    ids = prompt_ids(tiny_lm, 10)
    with torch.inference_mode():
        torch.testing.assert_close(factored(input_ids=ids).logits, tiny_lm(input_ids=ids).logits,
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.timed
def test_measure_fractions_times_dense_and_each_fraction_in_every_round(tiny_lm):
    from lowrank.model.generation import measure_fractions

    out = measure_fractions(tiny_lm, [0.5], 6, rounds=2, min_run_time=0.02)
    assert list(out) == [1.0, 0.5]  # dense always measured
    dense, half = out[1.0], out[0.5]
    assert len(dense["rounds"]) == len(half["rounds"]) == 2
    assert dense["prefill_speedup"] == dense["decode_speedup"] == 1.0
    assert dense["linear_params_fraction"] == 1.0 and set(dense["ranks"].values()) == {None}
    assert half["ranks"] == {"32x32": 8, "16x32": 5, "48x32": 9, "32x48": 9}
    assert half["linear_params_fraction"] == pytest.approx(0.477, abs=1e-3)
    assert half["model_params"] < dense["model_params"]
    assert all(s["prompt_length"] == 6 and s["threads"] == 1 for s in half["rounds"])


def test_load_model_reads_a_folder_and_refuses_what_is_not_a_model(tiny_lm, tmp_path):
    import torch

    from lowrank.model.causal import load_model
    from lowrank.model.generation import prompt_ids

    tiny_lm.save_pretrained(tmp_path / "tiny")
    loaded = load_model(tmp_path / "tiny")
    assert not loaded.training
    ids = prompt_ids(tiny_lm, 5)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(input_ids=ids).logits, tiny_lm(input_ids=ids).logits)
    (tmp_path / "notes.txt").write_text("hello")
    for bad in (tmp_path / "notes.txt", tmp_path / "missing"):
        with pytest.raises(LowRankValueError, match="accepted: a GGUF file or a Hugging Face causal LM folder"):
            load_model(bad)


def test_predict_fractions_asks_the_suite_for_each_shape_at_n1_and_the_prompt_and_predicts_each_fraction(monkeypatch):
    """The suite replaced by a table of the cost model's bytes: the wiring, not the machine."""
    from lowrank.model import generation, timing

    shapes = {"q": (8, 8), "k": (4, 8), "up": (16, 8)}
    asked = []

    def tables(targets, points, *, backend, dtype, threads, log):
        asked.append((sorted(points), {s: sorted(r) for s, r in targets.items()}, backend, threads))
        out = {}
        for batch, cache in points:
            out[(batch, cache)] = {(d, k, None): float(d * k * batch) for d, k in targets}
            out[(batch, cache)].update({(d, k, r): float(r * (d + k) * batch) for (d, k), ranks in targets.items()
                                        for r in ranks})
        return out

    monkeypatch.setattr(timing, "measure_tables", tables)
    results = {1.0: {"prefill_s": 1000.0, "decode_s": 500.0}, 0.5: {}}
    pred = generation.predict_fractions(results, shapes, 4, threads=1, cache="cold")
    half = generation.uniform_ranks(shapes, 0.5)  # q 2, k 1, up 2
    assert len(asked) == 1 and asked[0][0] == [(1, "cold"), (4, "warm")]  # one suite run; cold cache at n = 1 only
    assert asked[0][1] == {(8, 8): [2], (4, 8): [1], (16, 8): [2]} and asked[0][2:] == ("torch-cpu", 1)
    saved = sum(d * k - half[name] * (d + k) for name, (d, k) in shapes.items())  # 32 + 20 + 80
    assert pred[0.5]["decode_s"] == 500.0 - saved and pred[0.5]["prefill_s"] == 1000.0 - 4 * saved
    assert pred[1.0] == {"prefill_s": 1000.0, "decode_s": 500.0, "prefill_speedup": 1.0, "decode_speedup": 1.0}
    assert pred["layer_times"]["n=1"]["dense_linears_s"] == 64 + 32 + 128
