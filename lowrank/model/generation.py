"""Tokens per second of a causal language model: prefill and decode at batch 1.

What is timed
    * **Prefill**: one forward over a prompt of ``prompt_length`` tokens with ``use_cache=True``
      (the cache is built inside the timed call, as ``generate`` builds it), and, where the
      model's forward takes ``logits_to_keep``, the output head applied to the last position
      only, as ``generate`` does in its first step. Reported as seconds and tokens per second.
    * **Decode**: one forward of a single new token given a key/value cache already holding
      ``cache_length`` tokens. The cache is built once per measurement (an untimed prefill);
      every timed call appends the token and then crops the cache back by one
      (``DynamicCache.crop(-1)``, a view of the tensors, no copy), so every call sees the same
      cache length. The crop is inside the timed call; it is a slice per layer, small beside
      a forward. Reported as milliseconds per token.

How
    Batch 1, seeded random token ids (the time does not depend on the token values), torch's
    thread count pinned (``threads``, recorded) and restored afterwards, ``warmup`` calls
    before each measurement, then ``torch.utils.benchmark.Timer.blocked_autorange`` (the
    method of :mod:`lowrank.model.e2e`): blocks of calls until ``min_run_time`` is spent; the
    median per call and its inter-quartile range over the blocks are reported, with how many
    blocks and calls a block. Under ``torch.inference_mode``. On a GPU the timer synchronises
    CUDA before reading the clock, so the kernels of the timed call are inside the time.

The model is timed as given: call ``.eval()`` first (dropout in training mode would be timed too).
Needs the ``e2e`` extra (transformers).
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass

from lowrank.errors import LowRankTypeError, LowRankValueError
from lowrank.model.prediction import GenerationRates

TIMER = "torch.utils.benchmark.Timer.blocked_autorange: median per call over blocks, IQR over blocks"
DECODE_METHOD = ("one forward of one token on a cache of cache_length tokens, then DynamicCache.crop(-1) back to "
                 "cache_length (inside the timed call)")


@dataclass(frozen=True)
class GenerationSpeed(GenerationRates):
    """Prefill and decode times of one model at batch 1 (seconds unless named otherwise)."""

    prompt_length: int  # tokens of the prefill
    cache_length: int  # tokens in the cache before each decoded token
    prefill_s: float  # median per prefill
    prefill_iqr_s: float
    decode_s: float  # median per decoded token
    decode_iqr_s: float
    threads: int
    device: str
    dtype: str
    prefill_blocks: int  # blocks timed (each block's mean per call is one measurement)
    prefill_calls_per_block: int
    decode_blocks: int
    decode_calls_per_block: int
    logits: str  # which positions the prefill ran the output head on

    @property
    def decode_tokens_per_s(self) -> float:
        return 1.0 / self.decode_s

    def as_dict(self) -> dict:
        """The fields and the derived figures, for a JSON record."""
        return {**asdict(self), "prefill_tokens_per_s": self.prefill_tokens_per_s,
                "decode_ms_per_token": self.decode_ms_per_token, "decode_tokens_per_s": self.decode_tokens_per_s,
                "timer": TIMER, "decode_method": DECODE_METHOD}


def check_causal_lm(model) -> None:
    """Raise :class:`~lowrank.errors.LowRankTypeError` unless ``model`` is a decoder-only causal language model."""
    config = getattr(model, "config", None)
    can_generate = getattr(model, "can_generate", None)
    if (config is None or not callable(can_generate) or not can_generate()
            or getattr(config, "is_encoder_decoder", False)):
        raise LowRankTypeError(f"model={type(model).__name__}: not a causal language model; accepted: a decoder-only "
                               "model that AutoModelForCausalLM loads (e.g. LlamaForCausalLM), whose can_generate() "
                               "is true")


def max_positions(model) -> int | None:
    """The longest sequence the model's positions allow (``max_position_embeddings``), or None if it states none."""
    n = getattr(model.config, "max_position_embeddings", None)
    return int(n) if isinstance(n, int) and n > 0 else None


def _check_length(name: str, value, upper: int | None, positions: int | None) -> None:
    accepted = f"an integer from 1 to {upper}" if upper else "an integer >= 1"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (upper and value > upper):
        why = f" (the model has {positions} positions, max_position_embeddings)" if positions else ""
        raise LowRankValueError(f"{name}={value!r}{why}; accepted: {accepted}")


def _device_dtype(model):
    param = next(iter(model.parameters()), None)
    if param is None:
        raise LowRankValueError(f"model={type(model).__name__} has no parameters; accepted: a model with weights")
    return param.device, param.dtype


def prompt_ids(model, length: int, seed: int = 0):
    """``length`` seeded random token ids, shape (1, length), on the model's device."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    device, _ = _device_dtype(model)
    return torch.randint(0, int(model.config.vocab_size), (1, length), generator=generator).to(device)


def _prefill_kwargs(model) -> dict:
    # generate() computes the output head on the last position only in its first step: the head of a small
    # model (SmolLM2: 49152x576) is a large share of a prefill, so timing it on every position would not be
    # the prefill a user waits for.
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        return {"logits_to_keep": 1}
    return {}


def _cache_keyword(model) -> str:
    # transformers renamed past_key_values to cache (5.x warns on the old name and will drop it)
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def cache_of(output):
    """The key/value cache a forward with ``use_cache=True`` returned (``cache``, or ``past_key_values`` before)."""
    return output["cache"] if "cache" in output else output["past_key_values"]


def prefill(model, ids, options: dict | None = None):
    """One forward over ``ids`` with a fresh cache, as :func:`measure_generation` times it; the model's output.

    ``options``: the forward's extra arguments (default: ``logits_to_keep=1`` where the model takes it),
    passed in by the timer so that no signature is inspected inside the timed call.
    """
    return model(input_ids=ids, use_cache=True, **(_prefill_kwargs(model) if options is None else options))


def decode_step(model, cache, token, keyword: str | None = None):
    """One forward of ``token`` (shape (1, 1)) on ``cache``, then the cache cropped back to its length before it.

    What :func:`measure_generation` times as decode; returns the model's output (its ``logits`` are
    the next-token logits after the cache's tokens and ``token``). ``keyword``: the forward's name
    for the cache (default: looked up), passed in by the timer so that no signature is inspected
    inside the timed call.
    """
    before = cache.get_seq_length()
    out = model(input_ids=token, use_cache=True, **{keyword or _cache_keyword(model): cache})
    cache.crop(-1)  # negative: remove one token (the same meaning in transformers 4.x and 5.x)
    if cache.get_seq_length() != before:
        raise LowRankValueError(f"the cache held {cache.get_seq_length()} tokens after a decode step, not {before}: "
                                f"{type(cache).__name__} cannot be cropped back; accepted: a DynamicCache")
    return out


def _measure(stmt, threads: int, warmup: int, min_run_time: float):
    from torch.utils.benchmark import Timer

    for _ in range(warmup):
        stmt()
    return Timer("stmt()", globals={"stmt": stmt}, num_threads=threads).blocked_autorange(min_run_time=min_run_time)


def measure_generation(model, prompt_length: int, *, cache_length: int | None = None, threads: int = 1,
                       warmup: int = 2, min_run_time: float = 1.0, seed: int = 0) -> GenerationSpeed:
    """Time ``model``'s prefill of ``prompt_length`` tokens and its decode of one token on a cache of ``cache_length``.

    Parameters
    ----------
    model : a decoder-only causal LM (``AutoModelForCausalLM``), in eval mode, on its device.
    prompt_length : tokens of the prefill, 1 to the model's ``max_position_embeddings``.
    cache_length : tokens in the cache for decode (default ``prompt_length``), 1 to one less than the positions.
    threads : torch's thread count while timing (restored afterwards).
    warmup : untimed calls before each measurement.
    min_run_time : seconds of blocks :meth:`~torch.utils.benchmark.Timer.blocked_autorange` spends on each.
    seed : of the token ids.

    Returns
    -------
    GenerationSpeed

    Examples
    --------
    >>> speed = measure_generation(model.eval(), 128, threads=1)  # doctest: +SKIP
    >>> speed.prefill_tokens_per_s, speed.decode_ms_per_token  # doctest: +SKIP
    """
    import torch

    check_causal_lm(model)
    longest = max_positions(model)
    _check_length("prompt_length", prompt_length, longest, longest)
    cache_length = prompt_length if cache_length is None else cache_length
    # decode appends one token to the cache: the cache must leave a position free
    _check_length("cache_length", cache_length, longest - 1 if longest else None, longest)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise LowRankValueError(f"threads={threads!r}; accepted: an integer >= 1")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise LowRankValueError(f"warmup={warmup!r}; accepted: an integer >= 0")
    if not (isinstance(min_run_time, (int, float)) and min_run_time > 0):
        raise LowRankValueError(f"min_run_time={min_run_time!r}; accepted: seconds > 0")
    device, dtype = _device_dtype(model)
    ids = prompt_ids(model, max(prompt_length, cache_length + 1), seed)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            prompt, options = ids[:, :prompt_length], _prefill_kwargs(model)
            pre = _measure(lambda: prefill(model, prompt, options), threads, warmup, min_run_time)
            cache = cache_of(model(input_ids=ids[:, :cache_length], use_cache=True))
            token, keyword = ids[:, cache_length:cache_length + 1], _cache_keyword(model)
            dec = _measure(lambda: decode_step(model, cache, token, keyword), threads, warmup, min_run_time)
    finally:
        torch.set_num_threads(previous)
    return GenerationSpeed(
        prompt_length=prompt_length, cache_length=cache_length, prefill_s=float(pre.median),
        prefill_iqr_s=float(pre.iqr), decode_s=float(dec.median), decode_iqr_s=float(dec.iqr), threads=threads,
        device=str(device), dtype=str(dtype).removeprefix("torch."), prefill_blocks=len(pre.times),
        prefill_calls_per_block=int(pre.number_per_run), decode_blocks=len(dec.times),
        decode_calls_per_block=int(dec.number_per_run),
        logits="last position" if options else "every position")


def linear_shapes(model, *, head: bool = False) -> dict[str, tuple[int, int]]:
    """{module name: (d, k)} of every linear map of ``model`` (:func:`lowrank.model.causal.linear_modules`: ``nn.Linear``
    and ``Conv1D``, in the d×k layout); the output head (``get_output_embeddings``, found by identity, not by name)
    only with ``head``."""
    from lowrank.model import causal

    out_head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return {name: tuple(causal.linear_weight(module).shape) for name, module in causal.linear_modules(model).items()
            if head or module is not out_head}


def uniform_ranks(shapes: dict[str, tuple[int, int]], fraction: float) -> dict[str, int | None]:
    """Every layer at the same fraction of its parameters: r = ⌊F·dk/(d+k)⌋ (at least 1); F = 1: all dense (None)."""
    if isinstance(fraction, bool) or not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise LowRankValueError(f"fraction={fraction!r}; accepted: a fraction of the parameters in (0, 1], 1 = dense")
    if fraction == 1:
        return {name: None for name in shapes}
    return {name: max(1, int(fraction * d * k / (d + k))) for name, (d, k) in shapes.items()}


def measure_models(models: dict, prompt_length: int, *, base, cache_length: int | None = None, threads: int = 1,
                   rounds: int = 3, min_run_time: float = 1.0, log=None) -> dict:
    """Prefill and decode of each of ``models`` ({label: causal LM}), timed in interleaved rounds against ``base``.

    Each round times every model once with :func:`measure_generation`, in an order that rotates
    from round to round; a model's figure is the median over rounds, and its speedup the median
    over rounds of ``base``'s time in that round divided by its own (both sides of each ratio
    timed within one round, the same disturbances nearby). Returns {label: {"prefill_s",
    "decode_s", "prefill_tokens_per_s", "decode_ms_per_token", "prefill_speedup", "decode_speedup",
    "*_speedup_range", "rounds": [speeds]}}.
    """
    import statistics

    say = log or (lambda _m: None)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise LowRankValueError(f"rounds={rounds!r}; accepted: an integer >= 1")
    if base not in models:
        raise LowRankValueError(f"base={base!r}: not one of the models ({', '.join(map(str, models))})")
    labels = list(models)
    speeds: dict = {label: [] for label in labels}
    for i in range(rounds):
        for label in labels[i % len(labels):] + labels[:i % len(labels)]:
            s = measure_generation(models[label], prompt_length, cache_length=cache_length, threads=threads,
                                   min_run_time=min_run_time)
            speeds[label].append(s)
            say(f"[speed] round {i + 1}/{rounds} {label}: prefill {s.prefill_s * 1e3:.1f} ms "
                f"({s.prefill_tokens_per_s:.0f} tokens/s), decode {s.decode_ms_per_token:.2f} ms/token")
    out = {}
    for label in labels:
        pre = [b.prefill_s / s.prefill_s for b, s in zip(speeds[base], speeds[label])]
        dec = [b.decode_s / s.decode_s for b, s in zip(speeds[base], speeds[label])]
        prefill_s = statistics.median(s.prefill_s for s in speeds[label])
        decode_s = statistics.median(s.decode_s for s in speeds[label])
        out[label] = {"prefill_s": prefill_s, "decode_s": decode_s, "prefill_tokens_per_s": prompt_length / prefill_s,
                      "decode_ms_per_token": decode_s * 1e3,
                      "prefill_speedup": statistics.median(pre), "prefill_speedup_range": [min(pre), max(pre)],
                      "decode_speedup": statistics.median(dec), "decode_speedup_range": [min(dec), max(dec)],
                      "rounds": [s.as_dict() for s in speeds[label]]}
    return out


def measure_fractions(model, fractions, prompt_length: int, *, cache_length: int | None = None, threads: int = 1,
                      rounds: int = 3, min_run_time: float = 1.0, log=None) -> dict:
    """Prefill and decode of ``model`` with every linear but the head at each parameter ``fraction`` (uniform ranks,
    plain truncated SVD, :func:`lowrank.model.causal.factor`), timed by :func:`measure_models` against the dense
    model (fraction 1.0, always measured). Returns {fraction: its figures, "ranks", "model_params",
    "linear_params", "linear_params_fraction"}.
    """
    import copy

    from lowrank.model import causal

    say = log or (lambda _m: None)
    fractions = sorted({1.0, *map(float, fractions)}, reverse=True)
    shapes = linear_shapes(model)
    models, plans = {}, {}
    for f in fractions:
        plans[f] = uniform_ranks(shapes, f)
        if f == 1.0:
            models[f] = model
            continue
        factored = copy.deepcopy(model)
        causal.factor(factored, {f"{name}.weight": r for name, r in plans[f].items() if r is not None})
        models[f] = factored.eval()
        say(f"[lm-speed] F = {f:g}: {len(plans[f])} linears factored")
    measured = measure_models(models, prompt_length, base=1.0, cache_length=cache_length, threads=threads,
                              rounds=rounds, min_run_time=min_run_time, log=log)
    out = {}
    dense_linear = sum(d * k for d, k in shapes.values())
    for f in fractions:
        linear = sum(d * k if r is None else r * (d + k) for (d, k), r in zip(shapes.values(), plans[f].values()))
        out[f] = {"ranks": {f"{d}x{k}": r for (d, k), r in zip(shapes.values(), plans[f].values())},
                  "model_params": sum(p.numel() for p in models[f].parameters()),
                  "linear_params": linear, "linear_params_fraction": linear / dense_linear, **measured[f]}
    return out


def predict_fractions(results: dict, shapes: dict[str, tuple[int, int]], prompt_length: int, *, threads: int = 1,
                      cache: str = "cold", log=None) -> dict:
    """Each fraction's prefill and decode predicted from the matvec suite's times at the model's shapes.

    ``results``: :func:`measure_fractions`' (the dense model's medians are the base); ``shapes``: its
    model's :func:`linear_shapes`. The suite (:func:`lowrank.model.timing.measure_times`, torch-cpu
    float32, ``threads``) times every shape dense and at each fraction's rank at n = 1 (decode, in
    ``cache`` mode) and n = ``prompt_length`` (prefill, warm cache: the suite times cold cache at n = 1
    only, and at a prompt's n the product reuses each weight n times anyway);
    :func:`lowrank.model.prediction.predict_generation`
    turns them into the model's times. Returns {fraction: {"prefill_s", "decode_s", ...}} and, under
    ``"layer_times"``, the linears' summed dense times at both token counts.
    """
    from lowrank.model import timing
    from lowrank.model.prediction import PREDICTION, predict_generation

    plans = {f: uniform_ranks(shapes, f) for f in results}
    targets: dict[tuple[int, int], set[int]] = {}
    for ranks in plans.values():
        for name, r in ranks.items():
            targets.setdefault(shapes[name], set()).update({r} if r is not None else set())
    for shape in set(shapes.values()):  # the suite times dense beside some rank: one for a dense-only plan
        targets.setdefault(shape, set()).add(targets[shape] and min(targets[shape]) or 1)
    points = {prompt_length: (prompt_length, "warm"), 1: (1, cache)}  # a prompt of 1 token: decode's cache wins
    measured = timing.measure_tables(targets, list(set(points.values())), backend="torch-cpu", dtype="float32",
                                     threads=threads, log=log)
    tables = {n: measured[point] for n, point in points.items()}
    dense = results[1.0]
    out = {}
    for f, ranks in plans.items():
        p = predict_generation(prompt_length, dense["prefill_s"], dense["decode_s"], shapes, ranks, tables[1],
                               tables[prompt_length])
        out[f] = {"prefill_s": p.prefill_s, "decode_s": p.decode_s, "prefill_speedup": dense["prefill_s"] / p.prefill_s,
                  "decode_speedup": dense["decode_s"] / p.decode_s}
    out["layer_times"] = {f"n={n}": {"dense_linears_s": sum(tables[n][(*s, None)] for s in shapes.values())}
                          for n in (1, prompt_length)}
    out["method"] = (f"{PREDICTION}; the matvec suite, torch-cpu float32, {threads} thread(s), {cache} cache at n = 1, "
                     "warm at the prompt's n")
    return out
