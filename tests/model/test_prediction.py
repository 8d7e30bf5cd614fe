"""A plan's predicted forward time from per-layer times: the arithmetic, exactly, and bad tables."""

import pytest

from lowrank.errors import LowRankValueError
from lowrank.model.prediction import predict_generation, predict_time

SHAPES = {"q": (8, 8), "k": (4, 8), "v": (4, 8), "up": (16, 8)}
# Powers of two: every sum below is exact in floating point, so the tests compare with ==.
DECODE = {(8, 8, None): 0.25, (8, 8, 2): 0.125, (4, 8, None): 0.5, (4, 8, 1): 0.0625, (4, 8, 2): 0.75,
          (16, 8, None): 1.0, (16, 8, 4): 0.5}
PREFILL = {key: 8 * t for key, t in DECODE.items()}


def test_the_dense_time_less_what_the_factored_layers_save():
    ranks = {"q": 2, "k": 1, "v": None, "up": 4}
    # q saves 0.125, k 0.4375, up 0.5; v and the unnamed layers stay at the dense model's time
    assert predict_time(10.0, SHAPES, ranks, DECODE) == 10.0 - 0.125 - 0.4375 - 0.5
    assert predict_time(10.0, SHAPES, {}, DECODE) == 10.0
    assert predict_time(10.0, SHAPES, {"q": None, "k": None}, DECODE) == 10.0
    # a rank slower than dense adds its extra time
    assert predict_time(10.0, SHAPES, {"k": 2}, DECODE) == 10.25
    # two layers of one shape count twice
    assert predict_time(10.0, SHAPES, {"k": 1, "v": 1}, DECODE) == 10.0 - 2 * 0.4375


def test_decode_on_the_n1_table_and_prefill_on_the_prompts_table():
    ranks = {"q": 2, "up": 4}
    pred = predict_generation(128, 40.0, 4.0, SHAPES, ranks, DECODE, PREFILL)
    assert pred.decode_s == 4.0 - 0.125 - 0.5
    assert pred.prefill_s == 40.0 - 8 * (0.125 + 0.5)
    assert pred.prefill_tokens_per_s == 128 / pred.prefill_s and pred.decode_ms_per_token == pred.decode_s * 1e3


@pytest.mark.parametrize("args, named", [
    ((0.0, SHAPES, {"q": 2}, DECODE), "dense_time=0.0"),
    ((1.0, SHAPES, {"o": 2}, DECODE), "'o'"),
    ((1.0, SHAPES, {"q": 3}, DECODE), "rank 3"),
    ((1.0, SHAPES, {"q": 0}, DECODE), "rank=0"),
    ((1.0, SHAPES, {"q": 2}, {(8, 8, 2): 0.1}), "rank None"),
    ((1.0, SHAPES, {"q": 2}, {**DECODE, (8, 8, 2): float("nan")}), "time nan"),
], ids=["dense-0", "unknown-layer", "rank-not-timed", "rank-0", "dense-not-timed", "nan-time"])
def test_bad_input_names_the_value(args, named):
    with pytest.raises(LowRankValueError, match="accepted|the table has") as err:
        predict_time(*args)
    assert named in str(err.value)


def test_a_missing_rank_lists_what_the_table_has():
    with pytest.raises(LowRankValueError, match=r"the table has at 8x8: \[None, 2\]"):
        predict_time(1.0, SHAPES, {"q": 3}, DECODE)
