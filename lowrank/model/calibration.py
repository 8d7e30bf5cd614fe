"""Calibration: the inputs each linear of a model sees, as one Gram matrix per layer.

A data-aware plan (``lowrank-bench model --calibration``) needs, for every planned linear,
G = Σ x xᵀ over the tokens it is run on (:mod:`lowrank.weighted`). The model (a Hugging
Face folder, read offline as the end-to-end check reads it) runs on the calibration texts
with forward hooks that add each linear's non-padding inputs into a k×k float64 matrix,
batch by batch: memory is one k×k matrix per layer, never the activations.

The built-in set is written for this purpose and shares no sentence with the end-to-end
check's (:data:`lowrank.model.e2e.SENTENCES`), which are held out for evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lowrank.errors import LowRankValueError

BUILTIN = "builtin"
BATCH = 8
TEXTS = (
    "The train left the station a few minutes after noon.",
    "Matrix products dominate the time of a transformer's forward pass.",
    "He planted tomatoes along the fence behind the house.",
    "A good benchmark states its machine, its versions and its noise.",
    "The library opens at nine and closes at six on weekdays.",
    "Gradient descent takes small steps against the slope of the loss.",
    "Our flight was delayed by fog over the airport.",
    "The recipe calls for two eggs, flour, milk and a pinch of salt.",
    "Quantization stores each weight in fewer bits than the original.",
    "The river flooded the lower fields after a week of storms.",
    "Please send the signed contract back by Friday.",
    "An attention head compares every token with every other token.",
    "The museum's new wing displays sculptures from the last century.",
    "A smaller model answers faster but may be less accurate.",
    "The children built a sandcastle before the tide came in.",
    "Sparse matrices store only their non-zero entries.",
    "The orchestra tuned their instruments before the concert.",
    "Who wrote the first program for a mechanical computer?",
    "Dropout randomly silences neurons while a network trains.",
    "The bakery on the corner sells bread until it runs out.",
    "Latency matters more than throughput for an interactive service.",
    "A glacier moves slowly down the valley, carving the rock.",
    "The meeting was moved to the larger room upstairs.",
    "Embeddings map words to vectors that capture their meaning.",
    "She finished the marathon in just under four hours.",
    "The cache holds recently used data close to the processor.",
    "A thunderstorm knocked out power across the whole district.",
    "Tokenizers split text into pieces a model can look up.",
    "The old bridge was closed for repairs during the summer.",
    "Fine-tuning adapts a pretrained model to a narrower task.",
    "The price of coffee rose sharply after a poor harvest.",
    "Profilers show where a program actually spends its time.",
    "Birds gathered on the wires as the evening grew colder.",
    "A layer norm rescales activations to zero mean and unit variance.",
    "The team celebrated their first win of the season.",
    "Version control keeps the history of every change to the code.",
    "He read the letter twice before folding it away.",
    "Floating-point addition is not associative, so order matters.",
    "The hotel overlooks a quiet harbour full of fishing boats.",
    "Knowledge distillation trains a small model to mimic a large one.",
    "The election results will be announced tomorrow morning.",
    "Vector databases find the nearest neighbours of a query embedding.",
    "A light breeze carried the smell of pine through the camp.",
    "The compiler unrolled the loop to keep the pipeline busy.",
    "Her grandmother taught her to knit when she was seven.",
    "Retrieval adds documents to a prompt before the model answers.",
    "The volcano last erupted more than two hundred years ago.",
    "Batching requests together uses the hardware more fully.",
)


def read_texts(source) -> tuple[list[str], str]:
    """The calibration samples of ``source`` (``"builtin"`` or a text file, one sample a line) and a description.

    Blank lines are skipped. A file that is missing, not UTF-8 text, or holds no sample is
    refused by name (before any model is loaded).
    """
    if str(source) == BUILTIN:
        return list(TEXTS), f"the built-in set ({len(TEXTS)} sentences)"
    path = Path(source)
    accepted = f"accepted: a text file (one sample a line) or {BUILTIN!r}"
    if not path.exists():
        raise LowRankValueError(f"--calibration {path}: no such file; {accepted}")
    if not path.is_file():
        # /dev/null, a folder or a pipe: "no such file" would send the user looking for a typo.
        what = "a folder" if path.is_dir() else "not a regular file (a device, pipe or socket)"
        raise LowRankValueError(f"--calibration {path}: {what}; {accepted}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LowRankValueError(f"--calibration {path}: cannot be read ({exc.strerror}); {accepted}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise LowRankValueError(f"--calibration {path}: not a UTF-8 text file; accepted: one sample a line")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise LowRankValueError(f"--calibration {path}: " + ("empty" if not raw else "only blank lines")
                                + "; accepted: a text file with one sample a line")
    return lines, f"{path} ({len(lines)} samples)"


def gram_matrices(model, tokenizer, tensor_names, texts, log=None) -> tuple[dict[str, np.ndarray], int]:
    """``{tensor name: Σ x xᵀ}`` over the non-padding tokens of ``texts`` for each linear of ``tensor_names``.

    Names that match no ``nn.Linear`` of the model are left out. Returns the matrices and the
    number of tokens they sum over.
    """
    import torch

    from lowrank.model.e2e import module_for

    grams: dict[str, np.ndarray] = {}
    mask_now: dict = {}
    handles = []

    def hook_for(name):
        def hook(_module, args):
            x = args[0].detach()
            mask = mask_now["mask"]
            rows = x[mask] if x.dim() == 3 and x.shape[:2] == mask.shape else x.reshape(-1, x.shape[-1])
            rows = rows.to(torch.float64)
            grams[name] += (rows.T @ rows).numpy()
        return hook

    for name in tensor_names:
        _, linear = module_for(model, name)
        if linear is None:
            continue
        grams[name] = np.zeros((linear.in_features, linear.in_features))
        handles.append(linear.register_forward_pre_hook(hook_for(name)))
    tokens = 0
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = tokenizer(list(texts[start:start + BATCH]), padding=True, truncation=True,
                                  return_tensors="pt")
                mask_now["mask"] = batch["attention_mask"].bool()
                tokens += int(mask_now["mask"].sum())
                model(**batch)
                if log:
                    log(f"[calibration] {min(start + BATCH, len(texts))}/{len(texts)} samples, {tokens} tokens")
    finally:
        for h in handles:
            h.remove()
    return grams, tokens


def causal_statistics(model, tensor_names, ids, window: int, log=None) -> tuple[dict, dict, int]:
    """For a causal LM on the token ids ``ids`` cut into consecutive windows of ``window`` tokens: each linear's
    Gram matrix ``Σ x xᵀ`` and the mean magnitude ``mean |x_j|`` of each of its inputs (ASVD's statistic), and the
    number of tokens. ``tensor_names``: ``<module>.weight`` of ``nn.Linear`` or ``Conv1D`` layers."""
    import torch

    from lowrank.model.causal import linear_modules, windows

    modules = linear_modules(model)
    grams: dict[str, np.ndarray] = {}
    sums: dict[str, np.ndarray] = {}
    handles = []

    def hook_for(name):
        def hook(_module, args):
            rows = args[0].detach().reshape(-1, args[0].shape[-1]).to(torch.float64)
            grams[name] += (rows.T @ rows).numpy()
            sums[name] += rows.abs().sum(0).numpy()
        return hook

    for name in tensor_names:
        module = modules.get(name.removesuffix(".weight"))
        if module is None:
            continue
        k = module.weight.shape[0] if type(module).__name__ == "Conv1D" else module.weight.shape[1]
        grams[name], sums[name] = np.zeros((k, k)), np.zeros(k)
        handles.append(module.register_forward_pre_hook(hook_for(name)))
    tokens = 0
    spans = [(s, e) for s, e, _ in windows(len(ids), window, window)]
    try:
        with torch.inference_mode():
            for i, (start, end) in enumerate(spans, 1):
                model(input_ids=ids[start:end].unsqueeze(0))
                tokens += end - start
                if log:
                    log(f"[calibration] window {i}/{len(spans)}, {tokens} tokens")
    finally:
        for h in handles:
            h.remove()
    return grams, {name: s / tokens for name, s in sums.items()}, tokens
