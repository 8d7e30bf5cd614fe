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
