"""Causal language models: read one (a Hugging Face folder or a GGUF file), factor it, and judge it by perplexity.

A checkpoint is a causal LM when it is a GGUF file (or a folder holding one), or a folder
whose ``config.json`` names an architecture ending in ``ForCausalLM`` or ``LMHeadModel``.
It is read with ``AutoModelForCausalLM`` (a GGUF through transformers' own GGUF loading,
which dequantizes to float32 and undoes llama.cpp's permutation of Llama's Q/K weights),
offline. Its layers are found by what they are: every ``nn.Linear``, and transformers'
``Conv1D`` (GPT-2), whose weight is stored transposed (k×d, ``y = x W + b``); here every
weight is given in the ``nn.Linear`` layout d×k, so a Conv1D layer is planned, factored and
calibrated as the linear map it is.

Perplexity is exp of the mean next-token cross-entropy over the evaluated tokens: the text
is cut into windows of ``window`` tokens starting every ``stride`` tokens; each window scores
the tokens not scored by an earlier one (its own first token is context only), and the mean is
over all scored tokens (:func:`perplexity`).

:func:`prepare` is the hook for other measurements (timing): it returns the loaded model,
its tokenizer and one factored copy per method.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from lowrank.errors import LowRankValueError

GGUF_SUFFIX = ".gguf"
GGUF_MAGIC = b"GGUF"
CAUSAL_ARCHITECTURE_SUFFIXES = ("ForCausalLM", "LMHeadModel")
BUILTIN = "builtin"
# The shipped texts (lowrank/model/texts): evaluation and calibration share no file.
EVALUATION_FILES = ("apache-2.0.txt", "mpl-2.0.txt")
CALIBRATION_FILES = ("gpl-3.0.txt",)
DEFAULT_WINDOW = 512
DEFAULT_EVAL_TOKENS = 2048
DEFAULT_CALIBRATION_TOKENS = 2048
METHODS = ("svd", "asvd", "whitened")
METHOD_LABELS = {"svd": "plain SVD", "asvd": "activation-scaled SVD (ASVD-style)",
                 "whitened": "data-aware (whitened SVD)"}


def gguf_file(path) -> Path | None:
    """The GGUF file of ``path`` (the file itself, or the one ``*.gguf`` in a folder), else None."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == GGUF_SUFFIX:
        return path
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() == GGUF_SUFFIX and p.is_file())
        if len(found) > 1:
            raise LowRankValueError(f"{path}: holds {len(found)} GGUF files ({', '.join(p.name for p in found)}); "
                                    "accepted: a folder with one, or name the file")
        return found[0] if found else None
    return None


def check_gguf(path: Path) -> None:
    """Refuse a ``.gguf`` that is not one (its first four bytes are GGUF's magic)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise LowRankValueError(f"{path}: cannot be read ({exc.strerror})") from None
    if head != GGUF_MAGIC:
        raise LowRankValueError(f"{path}: not a GGUF file (it does not start with the bytes 'GGUF'); accepted: a "
                                "GGUF model file as llama.cpp writes it")


def is_causal(path) -> bool:
    """Whether ``path`` is a causal LM this module reads: a GGUF, or a folder whose config names a causal LM."""
    path = Path(path)
    if gguf_file(path) is not None:
        return True
    config = (path if path.is_dir() else path.parent) / "config.json"
    if not config.is_file():
        return False
    try:
        architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return False
    return any(str(a).endswith(CAUSAL_ARCHITECTURE_SUFFIXES) for a in architectures)


def _quiet_transformers():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise LowRankValueError("a causal LM is read by transformers, which is not installed; install the e2e "
                                "extra: pip install -e '.[e2e]'") from None
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


@lru_cache(maxsize=1)
def _load_model(path: str):
    """The model of ``path``, float32, in eval mode (cached: callers that change it work on a copy)."""
    import torch

    _quiet_transformers()
    from transformers import AutoModelForCausalLM

    gguf = gguf_file(path)
    # transformers' GGUF conversion draws a tqdm bar on stderr, which would break the command's progress lines
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            if gguf is not None:
                check_gguf(gguf)
                model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                             local_files_only=True, dtype=torch.float32)
            else:
                folder = Path(path) if Path(path).is_dir() else Path(path).parent
                model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32)
    except LowRankValueError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
        raise LowRankValueError(f"{path}: AutoModelForCausalLM cannot read it ({str(exc).splitlines()[0][:200]}); "
                                "accepted: a GGUF file or a Hugging Face causal LM folder") from None
    return model.eval()


def load_model(path):
    """The causal LM of ``path`` (a GGUF file, a folder holding one, or a Hugging Face folder), read offline."""
    return _load_model(str(Path(path).resolve()))


def load_tokenizer(path):
    """The tokenizer of ``path``; a model without one is refused (one line)."""
    _quiet_transformers()
    from transformers import AutoTokenizer

    gguf = gguf_file(path)
    folder = gguf.parent if gguf is not None else (Path(path) if Path(path).is_dir() else Path(path).parent)
    try:
        if gguf is not None:
            check_gguf(gguf)
            tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf.name, local_files_only=True)
        else:
            tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        tok = None
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    else:
        reason = ""
    if tok is None or isinstance(tok, bool):
        raise LowRankValueError(f"{folder}: no tokenizer could be read ({reason or 'none found'}); accepted: a "
                                "model folder with its tokenizer files (tokenizer.json or tokenizer.model and "
                                "tokenizer_config.json), or a GGUF that carries its vocabulary")
    return tok


def max_positions(path) -> int | None:
    """The longest sequence the model of ``path`` takes (its config's ``max_position_embeddings``, or GPT-2's
    ``n_positions``), read from the config alone; None where the config states none."""
    _quiet_transformers()
    from transformers import AutoConfig

    gguf = gguf_file(path)
    folder = gguf.parent if gguf is not None else (Path(path) if Path(path).is_dir() else Path(path).parent)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            config = (AutoConfig.from_pretrained(str(folder), gguf_file=gguf.name, local_files_only=True)
                      if gguf is not None else AutoConfig.from_pretrained(str(folder), local_files_only=True))
    except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
        raise LowRankValueError(f"{path}: its configuration cannot be read ({str(exc).splitlines()[0][:200]}); "
                                "accepted: a GGUF file or a Hugging Face causal LM folder") from None
    for key in ("max_position_embeddings", "n_positions"):
        n = getattr(config, key, None)
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return n
    return None


def check_lengths(path, window: int, prompt_tokens: int | None) -> None:
    """Refuse a ``--window`` or a ``--prompt-tokens`` (its decode step needs one position more) longer than the
    model's positions, before the model is loaded."""
    positions = max_positions(path)
    if positions is None:
        return
    if window > positions:
        raise LowRankValueError(f"--window {window}: longer than the model's {positions} positions "
                                f"(max_position_embeddings); accepted: at most {positions}")
    if prompt_tokens is not None and prompt_tokens > positions - 1:
        raise LowRankValueError(f"--prompt-tokens {prompt_tokens}: the decode step after it needs {prompt_tokens + 1} "
                                f"positions and the model has {positions} (max_position_embeddings); accepted: at "
                                f"most {positions - 1}")


def is_conv1d(module) -> bool:
    """transformers' ``Conv1D`` (GPT-2): a linear map whose weight is stored k×d (``y = x W + b``)."""
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf") and getattr(module, "weight", None) is not None


def linear_modules(model) -> dict:
    """``{module name: module}`` of every linear map in the model: ``nn.Linear`` and transformers' ``Conv1D``."""
    import torch

    return {name: m for name, m in model.named_modules()
            if name and (isinstance(m, torch.nn.Linear) or is_conv1d(m))}


def linear_weight(module):
    """The weight of a linear map in the ``nn.Linear`` layout, d×k (a Conv1D's stored k×d transposed)."""
    w = module.weight.detach()
    return w.T if is_conv1d(module) else w


def tied_head_names(model) -> set[str]:
    """Module names of linears that share their weight with the input embedding (a tied output head)."""
    embedding = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embedding is None:
        return set()
    return {name for name, m in linear_modules(model).items() if m.weight is embedding.weight}


# ---------------------------------------------------------------------------------------------- texts


def builtin_text(kind: str) -> tuple[str, str]:
    """The shipped ``"evaluation"`` or ``"calibration"`` text and its description."""
    files = EVALUATION_FILES if kind == "evaluation" else CALIBRATION_FILES
    folder = resources.files("lowrank.model") / "texts"
    text = "\n\n".join(folder.joinpath(name).read_text(encoding="utf-8") for name in files)
    return text, f"the built-in {kind} text ({' + '.join(files)}, licence texts)"


def read_text(source, option: str) -> tuple[str, str]:
    """The whole text of ``source`` (``"builtin"`` or a UTF-8 file) for ``option``, and its description."""
    if str(source) == BUILTIN:
        return builtin_text("evaluation" if option == "--eval-text" else "calibration")
    path = Path(source)
    accepted = f"accepted: a UTF-8 text file or {BUILTIN!r}"
    if not path.is_file():
        raise LowRankValueError(f"{option} {path}: " + ("a folder" if path.is_dir() else "no such file")
                                + f"; {accepted}")
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        text = None
    if text is None or "\x00" in text:
        raise LowRankValueError(f"{option} {path}: not a readable UTF-8 text file; {accepted}")
    if not text.strip():
        raise LowRankValueError(f"{option} {path}: holds no text; {accepted}")
    return text, str(path)


def check_held_out(calibration_text: str, evaluation_text: str, calibration: str, evaluation: str) -> None:
    """Refuse an evaluation text that was used for calibration (or holds it, or is held in it)."""
    a, b = " ".join(calibration_text.split()), " ".join(evaluation_text.split())
    if a == b or (len(a) > 200 and a in b) or (len(b) > 200 and b in a):
        raise LowRankValueError(f"--eval-text {evaluation}: is the calibration text ({calibration}); perplexity "
                                "must be measured on held-out text: give another --eval-text or --calibration")


def tokenize(tokenizer, text: str):
    """The token ids of ``text`` (one row, no special tokens added), as a torch tensor."""
    return tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"][0]


def windows(n_tokens: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """``(start, end, first scored)`` of each window over ``n_tokens`` tokens, starting every ``stride`` tokens (the
    last one may be shorter): each window scores the tokens no earlier window scored, never its own first token
    (it has no context), so with ``stride == window`` every window's first token goes unscored."""
    if window < 2:
        raise LowRankValueError(f"--window {window}: accepted an integer >= 2")
    if not 1 <= stride <= window:
        raise LowRankValueError(f"stride {stride}: accepted 1 <= stride <= window ({window})")
    if n_tokens < window:
        raise LowRankValueError(f"the text holds {n_tokens} tokens, fewer than one window of {window}; give a longer "
                                "text or a smaller --window")
    out, scored_to, start = [], 0, 0
    while True:
        end = min(start + window, n_tokens)
        first = max(scored_to, start + 1)
        if end > first:
            out.append((start, end, first))
        scored_to = end
        if end == n_tokens:
            break
        start += stride
    return out


def perplexity(model, ids, window: int, stride: int | None = None) -> dict:
    """exp of the mean next-token cross-entropy of ``model`` on ``ids`` (1-D), in windows (see :func:`windows`)."""
    import torch

    stride = window if stride is None else stride
    total, count = 0.0, 0
    with torch.inference_mode():
        for start, end, first in windows(len(ids), window, stride):
            chunk = ids[start:end].unsqueeze(0)
            logits = model(input_ids=chunk).logits[0].double()
            # position t predicts token t + 1: score tokens first .. end-1
            lo = first - start
            nll = torch.nn.functional.cross_entropy(logits[lo - 1:-1], chunk[0, lo:], reduction="sum")
            total += float(nll)
            count += end - first
    return {"perplexity": math.exp(total / count), "mean_nll": total / count, "scored_tokens": count}


# ---------------------------------------------------------------------------------------------- factoring


def pair_module(B, A, bias=None, dtype=None):
    """``Sequential(A, B)``: two bias-free-then-biased ``nn.Linear`` applying B @ (A @ x) (+ bias), as PEFT's LoRA
    applies its adapter; ``B`` (d×r) and ``A`` (r×k) are float arrays, the modules float32 unless ``dtype``."""
    import torch

    r, k = A.shape
    first = torch.nn.Linear(k, r, bias=False)
    second = torch.nn.Linear(r, B.shape[0], bias=bias is not None)
    with torch.no_grad():
        first.weight.copy_(torch.from_numpy(np.ascontiguousarray(A, dtype=np.float32)))
        second.weight.copy_(torch.from_numpy(np.ascontiguousarray(B, dtype=np.float32)))
        if bias is not None:
            second.bias.copy_(bias.detach())
    pair = torch.nn.Sequential(first, second)
    return pair if dtype is None else pair.to(dtype)


def factored_pair(module, rank: int, gram=None):
    """``Sequential(A, B)`` for a linear map (``nn.Linear`` or ``Conv1D``): B(A(x)) ≈ the map, its bias on B; the
    balanced truncated SVD of its weight, or with ``gram`` the whitened SVD on those inputs."""
    import torch

    import lowrank

    W = linear_weight(module).to(torch.float64).cpu().numpy()
    f = lowrank.factorize(W, rank, "svd") if gram is None else lowrank.factorize(W, rank, "whitened", gram=gram)
    return pair_module(f.B, f.A, getattr(module, "bias", None), module.weight.dtype)


def factor(model, ranks: dict[str, int], grams: dict | None = None) -> list[str]:
    """Replace, in place, each linear map of ``ranks`` (``<module>.weight`` -> rank) by its factored pair.

    ``grams`` (same keys -> k×k matrix): factor by the whitened SVD on it (for the ASVD-style
    peer, the diagonal matrix of :func:`lowrank.weighted.asvd_gram`). Returns the replaced modules.
    """
    modules = linear_modules(model)
    done = []
    for tensor, rank in ranks.items():
        name = tensor.removesuffix(".weight")
        if name not in modules:
            raise LowRankValueError(f"{tensor}: not the weight of a linear layer of the model")
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, factored_pair(modules[name], rank, (grams or {}).get(tensor)))
        done.append(name)
    return done


def full_factors(model, names: list[str], method: str, grams: dict | None) -> dict[str, tuple]:
    """``{tensor: (B, A)}`` at full rank m = min(d, k) for ``method`` (plain SVD without ``grams``), float32."""
    import torch

    import lowrank

    modules = linear_modules(model)
    out = {}
    for name in names:
        W = linear_weight(modules[name.removesuffix(".weight")]).to(torch.float64).numpy()
        m = min(W.shape)
        f = (lowrank.factorize(W, m, "svd") if grams is None
             else lowrank.factorize(W, m, "whitened", gram=grams[name]))
        out[name] = (np.asarray(f.B, dtype=np.float32), np.asarray(f.A, dtype=np.float32))
    return out


def factored_copy(model, factors: dict[str, tuple], ranks: dict[str, int]):
    """A copy of ``model`` with each linear of ``ranks`` replaced by the first r columns of B and rows of A."""
    out = copy.deepcopy(model)
    modules = linear_modules(out)
    for tensor, r in ranks.items():
        name = tensor.removesuffix(".weight")
        module = modules[name]
        B, A = factors[tensor]
        pair = pair_module(B[:, :r], A[:r], getattr(module, "bias", None))
        parent_name, _, child = name.rpartition(".")
        setattr(out.get_submodule(parent_name) if parent_name else out, child, pair)
    return out


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass
class Prepared:
    """The original model, its tokenizer and one factored copy per method: what measurements run on."""

    model: object
    tokenizer: object
    factored: dict = field(default_factory=dict)  # method -> factored model
    ranks: dict = field(default_factory=dict)  # method -> {tensor: rank}


def prepare(path, plans: dict[str, dict[str, int]], grams: dict[str, dict | None] | None = None) -> Prepared:
    """The hook for measurements on a causal LM: the model of ``path``, its tokenizer and, for each method of
    ``plans`` (method -> {``<module>.weight``: rank}), a factored copy (``grams[method]``: its Gram matrices, None
    for plain SVD)."""
    model = load_model(path)
    tokenizer = load_tokenizer(path)
    out = Prepared(model, tokenizer)
    for method, ranks in plans.items():
        copy_ = copy.deepcopy(model)
        factor(copy_, ranks, (grams or {}).get(method))
        out.factored[method], out.ranks[method] = copy_, ranks
    return out


def evaluate(prepared: Prepared, text: str, described: str, window: int, stride: int, max_tokens: int | None,
             threads: int = 1, log=None, original: dict | None = None) -> dict:
    """Perplexity of the original and every factored model on ``text`` (its first ``max_tokens`` tokens);
    ``original``: the original model's result on the same tokens and windows, already measured (not again)."""
    import torch

    say = log or (lambda _m: None)
    ids = tokenize(prepared.tokenizer, text)
    total_tokens = len(ids)
    if max_tokens is not None:
        ids = ids[:max_tokens]
    windows(len(ids), window, stride)  # a text shorter than one window is refused before any forward
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        if original is None:
            original = perplexity(prepared.model, ids, window, stride)
            say(f"[e2e] original: perplexity {original['perplexity']:.2f}")
        results = {}
        dense = count_params(prepared.model)
        for method, model in prepared.factored.items():
            results[method] = {**perplexity(model, ids, window, stride), "label": METHOD_LABELS.get(method, method),
                               "layers_factored": len(prepared.ranks[method]), "params": count_params(model),
                               "params_fraction": count_params(model) / dense}
            say(f"[e2e] {results[method]['label']}: perplexity {results[method]['perplexity']:.2f}")
    finally:
        torch.set_num_threads(previous)
    return {"text": described, "text_tokens": total_tokens, "tokens": len(ids), "window": window, "stride": stride,
            "scored_tokens": original["scored_tokens"], "threads": threads, "params": dense,
            "original": original, "methods": results,
            "definition": "exp of the mean next-token cross-entropy over the scored tokens; each token scored once, "
                          "with the context of its window"}
