"""A factored model's forward time predicted from its linears' measured times: one definition.

    predicted = measured dense forward − Σ_factored t(d, k, dense) + Σ_factored t(d, k, r)

summed over the layers the plan factors, with t the per-layer times of a table keyed like
:func:`lowrank.model.timing.measure_times`' (``(d, k, rank)``, rank ``None`` for the dense
product) at the token count the forward multiplies each linear by. Everything that is not a
factored linear (attention, norms, embeddings, the layers kept dense, the output head) is taken
from the dense model's measured time. Which token count applies:

* an encoder forward at batch b over padded sequences of length s: n = b·s;
* a causal LM's **prefill** of a prompt of p tokens: n = p (every position through every linear);
* its **decode** with a key/value cache: n = 1 (the one new token through every linear).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from lowrank.errors import LowRankValueError

PREDICTION = ("the dense model's measured time less, for each factored linear, its dense minus factored time in the "
              "table at the forward's token count")


def _time(times: Mapping, key: tuple, layer: str) -> float:
    if key not in times:
        d, k, r = key
        have = sorted((kr for kd, kk, kr in times if (kd, kk) == (d, k)), key=lambda x: -1 if x is None else x)
        raise LowRankValueError(f"layer {layer!r}: no time for shape {d}x{k} at rank {r!r} (None: dense); the table "
                                f"has at {d}x{k}: {have or 'nothing'}")
    t = times[key]
    if not (isinstance(t, (int, float)) and math.isfinite(t) and t >= 0):
        raise LowRankValueError(f"layer {layer!r}: time {t!r} at {key}; accepted: a finite number of seconds >= 0")
    return float(t)


def predict_time(dense_time: float, shapes: Mapping[str, tuple[int, int]], ranks: Mapping[str, int | None],
                 times: Mapping[tuple[int, int, int | None], float]) -> float:
    """The factored model's forward time: ``dense_time`` − Σ t(d, k, None) + Σ t(d, k, r) over the factored layers.

    Parameters
    ----------
    dense_time : the original model's measured forward time (seconds).
    shapes : layer name -> (d, k) of its weight (out × in).
    ranks : layer name -> its rank, or None (kept dense); a layer of ``shapes`` not named here is dense.
    times : (d, k, rank or None) -> seconds per product at the forward's token count
        (:func:`lowrank.model.timing.measure_times` at ``batch`` = that count).

    Examples
    --------
    >>> predict_time(10.0, {"q": (4, 4)}, {"q": 1}, {(4, 4, None): 3.0, (4, 4, 1): 1.0})
    8.0
    """
    if not (isinstance(dense_time, (int, float)) and math.isfinite(dense_time) and dense_time > 0):
        raise LowRankValueError(f"dense_time={dense_time!r}; accepted: the measured dense time, seconds > 0")
    unknown = sorted(set(ranks) - set(shapes))
    if unknown:
        raise LowRankValueError(f"ranks name layer(s) without a shape: {', '.join(map(repr, unknown[:3]))}; "
                                "accepted: names of the shapes mapping")
    predicted = float(dense_time)
    for name, rank in ranks.items():
        if rank is None:
            continue
        d, k = shapes[name]
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= min(d, k):
            raise LowRankValueError(f"layer {name!r}: rank={rank!r}; accepted: None or an integer from 1 to {min(d, k)}")
        predicted += _time(times, (d, k, rank), name) - _time(times, (d, k, None), name)
    return predicted


class GenerationRates:
    """Tokens per second of a prefill and ms per decoded token, from ``prompt_length``, ``prefill_s`` and
    ``decode_s`` (measured or predicted)."""

    prompt_length: int
    prefill_s: float
    decode_s: float

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.prompt_length / self.prefill_s

    @property
    def decode_ms_per_token(self) -> float:
        return self.decode_s * 1e3


@dataclass(frozen=True)
class GenerationPrediction(GenerationRates):
    """A plan's predicted prefill and decode times (seconds), from the dense model's measured ones."""

    prompt_length: int
    prefill_s: float
    decode_s: float


def predict_generation(prompt_length: int, dense_prefill_s: float, dense_decode_s: float,
                       shapes: Mapping[str, tuple[int, int]], ranks: Mapping[str, int | None],
                       decode_times: Mapping, prefill_times: Mapping) -> GenerationPrediction:
    """A plan's prefill and decode times by :func:`predict_time` from the original model's measured ones
    (:class:`lowrank.model.generation.GenerationSpeed`): decode on ``decode_times`` (n = 1), prefill on
    ``prefill_times`` (n = ``prompt_length``)."""
    return GenerationPrediction(prompt_length, predict_time(dense_prefill_s, shapes, ranks, prefill_times),
                                predict_time(dense_decode_s, shapes, ranks, decode_times))
