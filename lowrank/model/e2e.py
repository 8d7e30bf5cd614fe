"""End to end: a Hugging Face model with its planned layers factored, against the original model.

Each planned ``nn.Linear`` is replaced by a pair of linears applied as LoRA applies its
adapter (``x @ A.T @ B.T``, PEFT's ``lora_B(lora_A(x))``): ``A`` (r×k) without bias, then
``B`` (d×r) with the layer's bias, from the truncated SVD of the layer's own weight
(``lowrank.factorize``, the balanced split), or, for a calibrated plan, the whitened SVD on
the layer's calibration inputs. Then, on a fixed set of sentences (held out: no calibration
sample is one of them):

* **How close the outputs stay**: the cosine similarity of each sentence's embedding (the
  last hidden state, mean-pooled over its tokens as sentence-transformers pools MiniLM)
  between the factored and the original model, and of every token's last hidden state.
* **Each layer's output error on them**: ‖(W − BA)X‖_F / ‖WX‖_F on the inputs X that the
  original model's layer sees on those sentences (padding left out), for the plain and the
  data-aware factors alike, so a calibrated plan is judged on activations it was not fitted to.
* **Latency**: the forward pass of both models at batch 1 and a larger batch, timed by
  ``torch.utils.benchmark.Timer.blocked_autorange`` (its own warm-up and blocked rounds;
  the median reported), with the torch thread count pinned and recorded.

Needs the ``e2e`` extra (``pip install -e '.[e2e]'``: transformers). Nothing is downloaded:
the model is read from its folder (``local_files_only``, ``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lowrank.errors import LowRankValueError
from lowrank.model.causal import factored_pair

# Fixed inputs: sentences of several lengths and topics (the comparison needs no labels).
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Low-rank factorization replaces a weight matrix by the product of two thin matrices.",
    "A singular value decomposition orders directions by how much energy they carry.",
    "Benchmarks on shared machines need several processes to show their spread.",
    "The model was trained on a large corpus of sentence pairs.",
    "It rained all afternoon, so the match was postponed until Sunday.",
    "Memory bandwidth, not arithmetic, bounds a matrix-vector product.",
    "She ordered a coffee and opened her laptop to finish the report.",
    "Adapters add a small trainable update next to a frozen layer.",
    "How many parameters can be removed before the answers change?",
    "Paris is the capital of France.",
    "Compilers reorder floating-point sums, so the last bits of a result may differ.",
    "The committee will publish its decision next week.",
    "Caches reward operands that are used again soon.",
    "A cat sat quietly on the warm windowsill.",
    "Every regression in a benchmark suite deserves a second measurement.",
)
LARGE_BATCH = 16


def _need_transformers():
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise LowRankValueError("the end-to-end check needs transformers: pip install -e '.[e2e]'") from None


def check_folder(folder: Path) -> None:
    """Raise :class:`LowRankValueError` unless the end-to-end check can load ``folder`` (before any analysis)."""
    _need_transformers()
    if not (Path(folder) / "config.json").is_file():
        raise LowRankValueError(f"{folder}: the end-to-end check needs a Hugging Face model folder (config.json, "
                                "weights, tokenizer); accepted: the folder `save_pretrained` writes")


def load(folder: Path):
    """The model and tokenizer of a Hugging Face model folder, read offline."""
    check_folder(folder)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # a bar per load would break the command's own progress lines
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return model, tokenizer


def module_for(model, tensor_name: str):
    """The ``nn.Linear`` holding ``tensor_name`` (``...query.weight``), allowing a prefix on either side."""
    import torch

    path = tensor_name.removesuffix(".weight")
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name and (
                name == path or name.endswith("." + path) or path.endswith("." + name)):
            return name, module
    return None, None


def factor(model, ranks: dict[str, int], grams: dict | None = None) -> list[str]:
    """Replace, in place, each linear of ``ranks`` (tensor name -> rank) by its factored pair; the replaced names.

    ``grams`` (tensor name -> X Xᵀ of calibration inputs): factor those by the whitened SVD.
    """
    done = []
    for tensor, rank in ranks.items():
        name, linear = module_for(model, tensor)
        if linear is None:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, factored_pair(linear, rank, (grams or {}).get(tensor)))
        done.append(name)
    return done


def _embed(model, batch):
    import torch

    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return hidden, (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def _cosine(a, b) -> np.ndarray:
    import torch

    return torch.nn.functional.cosine_similarity(a, b, dim=-1).double().cpu().numpy()


def _record_inputs(model, names: list[str], mask):
    """Forward pre-hooks on the linears ``names`` keeping their non-padding inputs (rows of X), and their handles."""
    kept: dict[str, list] = {name: [] for name in names}
    handles = []
    for name in names:
        module = model.get_submodule(name)

        def keep(_module, args, name=name):
            x = args[0]
            kept[name].append(x[mask].detach().double() if x.dim() == 3 else x.detach().double())

        handles.append(module.register_forward_pre_hook(keep))
    return kept, handles


def layer_output_errors(model, factored, names: list[str], inputs: dict) -> dict[str, float]:
    """‖X Wᵀ − X Aᵀ Bᵀ‖_F / ‖X Wᵀ‖_F of each replaced linear, on the inputs ``inputs[name]`` it saw (biases cancel)."""
    import torch

    out = {}
    for name in names:
        X = torch.cat(inputs[name])
        W = model.get_submodule(name).weight.detach().double()
        first, second = factored.get_submodule(name)
        exact = X @ W.T
        approx = (X @ first.weight.detach().double().T) @ second.weight.detach().double().T
        out[name] = float(torch.linalg.norm(exact - approx) / torch.linalg.norm(exact).clamp(min=1e-300))
    return out


def _latency(model, batch, threads: int) -> float:
    import torch
    from torch.utils.benchmark import Timer

    with torch.inference_mode():
        return Timer("model(**batch)", globals={"model": model, "batch": batch},
                     num_threads=threads).blocked_autorange(min_run_time=1.0).median


def run(folder: Path, ranks: dict[str, int], threads: int = 1, log=None, grams: dict | None = None) -> dict:
    """Factor ``ranks``' layers of the model in ``folder``; similarity and latency against the original.

    ``grams``: the calibrated layers' Gram matrices, factored by the whitened SVD (:func:`factor`).
    """
    import copy

    import torch

    say = log or (lambda _m: None)
    model, tokenizer = load(folder)
    factored = copy.deepcopy(model)
    replaced = factor(factored, ranks, grams)
    if not replaced:
        raise LowRankValueError(f"no planned layer matched a linear of the model in {folder}")
    say(f"[e2e] {len(replaced)} linear(s) factored; comparing on {len(SENTENCES)} sentences")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        batch = tokenizer(list(SENTENCES), padding=True, return_tensors="pt")
        inputs, handles = _record_inputs(model, replaced, batch["attention_mask"].bool())
        try:
            h0, e0 = _embed(model, batch)
        finally:
            for handle in handles:
                handle.remove()
        output_errors = layer_output_errors(model, factored, replaced, inputs)
        h1, e1 = _embed(factored, batch)
        token_mask = batch["attention_mask"].bool()
        sentence_cos = _cosine(e0, e1)
        token_cos = _cosine(h0[token_mask], h1[token_mask])
        latency = {}
        for n in (1, LARGE_BATCH):
            inputs = tokenizer(list(SENTENCES[:n]), padding=True, return_tensors="pt")
            dense, fact = _latency(model, inputs, threads), _latency(factored, inputs, threads)
            latency[str(n)] = {"dense_ms": dense * 1e3, "factored_ms": fact * 1e3, "speedup": dense / fact,
                               "tokens": int(inputs["input_ids"].shape[1])}
            say(f"[e2e] batch {n}: {dense * 1e3:.2f} ms dense, {fact * 1e3:.2f} ms factored")
    finally:
        torch.set_num_threads(previous)
    params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {"model": str(folder), "layers_factored": len(replaced), "params_before": params(model),
            "params_after": params(factored), "sentences": len(SENTENCES),
            "embedding_cosine": {"min": float(sentence_cos.min()), "mean": float(sentence_cos.mean())},
            "token_cosine": {"min": float(token_cos.min()), "mean": float(token_cos.mean())},
            "layer_output_error": output_errors, "latency": latency, "threads": threads, "timer": "torch.utils.benchmark.Timer.blocked_autorange, median"}
