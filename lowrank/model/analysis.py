"""A user's own checkpoint: which layers to factor, at what rank, for how much error and memory.

:func:`analyse_checkpoint` reads a checkpoint one tensor at a time
(:mod:`lowrank.model.checkpoint`), keeps the 2-D floating tensors the name filters allow,
and computes each one's spectrum (:mod:`lowrank.model.rankplan`). :func:`plan` turns the
spectra into a rank per layer under a policy; :func:`plan_document` is the plan as
JSON for machines and :func:`save_factors` writes the factors as safetensors.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from lowrank.errors import LowRankValueError
from lowrank.model.checkpoint import Checkpoint, CheckpointError, TensorInfo, open_checkpoint
from lowrank.model.rankplan import (LOSS_RATIO, LayerPlan, LayerSpectrum, layer_spectrum, plan_loss_ratio,
                                    plan_max_error, plan_param_budget,
                                    plan_uniform)
from lowrank.store.files import write_new, write_new_text
from lowrank.weighted import output_norm, whitening

# Embeddings are a gather (a row lookup), not a matvec: factoring them changes no matvec time.
# Skipped unless an --include pattern names them.
EMBEDDING_PATTERNS = ("*embed*", "*wte*", "*wpe*")
# The smallest side of a weight that is factored: a rank-1 factor of a 1xK weight holds more numbers than it.
MIN_SIDE = 2
ERROR_LEVELS = (0.01, 0.05, 0.1, 0.2)  # the ranks reaching these errors are tabulated for every layer
FACTOR_SUFFIXES = (".B", ".A")
# The one definition of the compression ratio, printed with every plan.
COMPRESSION = ("parameters kept: r(d+k) for a factored d×k layer, dk for a dense one; stated as a fraction of the "
               "analysed linear layers' parameters and of the whole model's (every tensor of the checkpoint, "
               "embeddings included, a tied head counted once)")  # --save: W ≈ B @ A is stored as "<name>.B" (d×r) and "<name>.A" (r×k)


@dataclass
class ModelAnalysis:
    """The analysed layers of one checkpoint and what was skipped, with why."""

    path: str
    format: str
    spectra: list[LayerSpectrum]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (tensor name, why)
    checkpoint: Checkpoint | None = field(default=None, repr=False)
    # Data-aware: each layer's Gram matrix of its calibration inputs; the spectra are then those
    # of W·S (S Sᵀ = G), so every error is an output error (lowrank.weighted)
    grams: dict | None = field(default=None, repr=False)
    model_params: int | None = None  # every parameter of the checkpoint (a tied head counted once)
    tied: frozenset = frozenset()  # analysed layers that share their weight with the input embedding

    @property
    def objective(self) -> str:
        return "output" if self.grams else "weight"

    @property
    def params(self) -> int:
        return sum(sp.params for sp in self.spectra)


TIED_HEAD = "the output head, tied to the input embedding: left dense (--factor-tied-head factors it, untying it)"


def _selected(info: TensorInfo, include, exclude, tied_head: bool = False) -> str | None:
    """Why ``info`` is skipped, or None when it is analysed."""
    named = any(fnmatch.fnmatchcase(info.name, p) for p in include)
    if include and not named:
        return "not matched by --include"
    if any(fnmatch.fnmatchcase(info.name, p) for p in exclude):
        return "matched by --exclude"
    if len(info.shape) != 2:
        return f"{len(info.shape)}-D (a bias, norm or convolution: only 2-D weights are factored)"
    if not info.is_matrix:
        return f"dtype {info.dtype} is not floating point"
    if info.linear is False:
        return "not the weight of a linear layer (an embedding, norm or other parameter)"
    if info.tied and not tied_head:
        return TIED_HEAD
    if not named and any(fnmatch.fnmatchcase(info.name.lower(), p) for p in EMBEDDING_PATTERNS):
        return "an embedding: a row lookup, not a matvec (name it with --include to analyse it)"
    if min(info.shape) < MIN_SIDE:
        return f"shape {info.shape[0]}x{info.shape[1]} is too small to factor, smaller than {MIN_SIDE}x{MIN_SIDE}"
    return None


def _why_none(skipped: list[tuple[str, str]], shown: int = 3) -> str:
    """Why no tensor was kept, in one line: each reason once, with the first tensor it holds for."""
    by_reason: dict[str, list[str]] = {}
    for name, why in skipped:
        by_reason.setdefault(why, []).append(name)
    parts = [f"{names[0]}{f' and {len(names) - 1} more' if len(names) > 1 else ''}: {why}"
             for why, names in list(by_reason.items())[:shown]]
    more = len(by_reason) - shown
    return "; ".join(parts) + (f"; and {more} other reason(s)" if more > 0 else "")


def selected_tensors(path, include=(), exclude=(), tied_head: bool = False) -> list[str]:
    """The names of the tensors :func:`analyse_checkpoint` would analyse (nothing is loaded)."""
    return [info.name for info in open_checkpoint(path).tensors()
            if _selected(info, include, exclude, tied_head) is None]


def analyse_checkpoint(path, include=(), exclude=(), max_rank: int | None = None, method: str = "auto",
                       log=None, grams: dict | None = None, tied_head: bool = False) -> ModelAnalysis:
    """Spectra of the checkpoint's 2-D floating tensors that pass the filters, one tensor in memory at a time.

    ``include``/``exclude``: fnmatch globs on tensor names. ``max_rank``: the largest rank
    whose error is needed (a randomized SVD to it on large layers, see
    :func:`lowrank.model.rankplan.layer_spectrum`); None: every singular value, exactly.
    ``grams``: ``{tensor name: X Xᵀ}`` of calibration inputs (:mod:`lowrank.model.calibration`);
    a layer with one is analysed by output error, the spectrum of W·S (S Sᵀ = G plus the ridge
    of :mod:`lowrank.weighted`), and a layer without one is refused.
    """
    ckpt = open_checkpoint(path)
    infos = ckpt.tensors()
    if not infos:
        raise CheckpointError(f"{path}: holds no tensors")
    spectra, skipped = [], []
    chosen = []
    for info in infos:
        why = _selected(info, include, exclude, tied_head)
        (skipped.append((info.name, why)) if why else chosen.append(info))
    if not chosen:
        raise CheckpointError(f"{path}: none of its {len(infos)} tensors can be factored [{_why_none(skipped)}]; "
                              f"accepted: 2-D floating-point weights of {MIN_SIDE}x{MIN_SIDE} or larger"
                              + (" that the --include/--exclude patterns allow" if include or exclude else ""))
    for i, info in enumerate(chosen, 1):
        if log:
            log(f"[{i}/{len(chosen)}] {info.name} {info.shape[0]}x{info.shape[1]} {info.dtype}")
        W = ckpt.load(info.name)
        if grams is not None:
            if info.name not in grams:
                raise LowRankValueError(f"{info.name}: no calibration inputs (it matches no linear layer the model "
                                        "runs); exclude it with --exclude")
            W = np.asarray(W, dtype=np.float64)
            WS = W @ whitening(grams[info.name])[0]
            # Scaled to ‖W‖_F: the planners weigh each layer's relative output error as they weigh
            # relative weight errors, not by how large its inputs happen to be.
            W = WS * (np.linalg.norm(W) / max(np.linalg.norm(WS), np.finfo(np.float64).tiny))
        spectra.append(layer_spectrum(info.name, W, max_rank, method=method, dtype=info.dtype))
        del W
    model_params = sum(info.numel for info in infos if not info.tied)
    return ModelAnalysis(str(path), ckpt.format, spectra, skipped, ckpt, grams, model_params,
                         frozenset(info.name for info in chosen if info.tied))


@dataclass(frozen=True)
class Policy:
    """How ranks are chosen: at most ``max_error`` per layer, at most ``params`` of the parameters, or at most
    ``latency`` of the layers' measured dense time (:mod:`lowrank.model.latency`)."""

    max_error: float | None = None
    params: float | None = None
    latency: float | None = None
    allocation: str = "budget"  # with params: "budget" (least total error) or "uniform" (each layer at the fraction)
    latency_target: str = "layers"  # with latency: the analysed layers' time, or a causal LM's decode or prefill time

    def describe(self) -> str:
        if self.latency is not None and self.latency_target != "layers":
            what = ("decode time per token (batch 1, key/value cache)" if self.latency_target == "decode"
                    else "prefill time of the prompt")
            return (f"the causal LM's {what} at most {self.latency:.0%} of the original's measured one, predicted "
                    "from the suite's per-layer times, least total squared error")
        if self.latency is not None:
            return (f"the analysed layers' measured time at most {self.latency:.0%} of dense, least total squared "
                    "error")
        if self.params is not None and self.allocation == "loss-ratio":
            return (f"keep about {self.params:.0%} of the analysed parameters, per-matrix ratios from the truncation "
                    "loss (SVD-LLM V2's allocation)")
        if self.params is not None and self.allocation == "uniform":
            return f"every analysed layer at {self.params:.0%} of its own parameters (uniform ranks)"
        if self.params is not None:
            return f"keep at most {self.params:.0%} of the analysed parameters, least total squared error"
        return f"per layer, the smallest rank with relative Frobenius error <= {self.max_error:g}"


def plan(analysis: ModelAnalysis, policy: Policy) -> tuple[list[LayerPlan], dict]:
    """The plan's layers and what it says about itself (budget, optimality gap); not for a latency policy,
    which needs measured times (:func:`lowrank.model.latency.plan_latency`)."""
    if sum(x is not None for x in (policy.max_error, policy.params, policy.latency)) != 1:
        raise LowRankValueError("choose one policy: --max-error E, --params F or --latency F")
    if policy.latency is not None:
        raise LowRankValueError("a latency budget plans from measured times: lowrank.model.latency.plan_latency")
    if policy.params is not None and policy.allocation == "loss-ratio":
        layers = plan_loss_ratio(analysis.spectra, policy.params, absolute_norms(analysis))
        sq = sum((p.relative_error * sp.fro_norm) ** 2 for p, sp in zip(layers, analysis.spectra))
        return layers, {"policy": "params", "allocation": "loss-ratio", "allocation_rule": LOSS_RATIO,
                        "params_fraction": policy.params, "squared_error": sq}
    if policy.params is not None and policy.allocation == "uniform":
        layers = plan_uniform(analysis.spectra, policy.params)
        sq = sum((p.relative_error * sp.fro_norm) ** 2 for p, sp in zip(layers, analysis.spectra))
        return layers, {"policy": "params", "allocation": "uniform", "params_fraction": policy.params,
                        "squared_error": sq}
    if policy.params is not None:
        bp = plan_param_budget(analysis.spectra, policy.params)
        return bp.layers, {"policy": "params", "params_fraction": policy.params, "params_budget": bp.budget,
                           "squared_error": bp.squared_error, "optimality_gap_bound": bp.gap_bound}
    return plan_max_error(analysis.spectra, policy.max_error), {"policy": "max_error", "max_error": policy.max_error}


def absolute_norms(analysis: ModelAnalysis) -> dict[str, float]:
    """Each analysed layer's ‖W S‖_F = √tr(W G Wᵀ) on its calibration Gram matrix G (‖W‖_F without calibration): the
    scale of its output error in its own units, which the spectra (scaled to ‖W‖_F) leave out."""
    if analysis.grams is None:
        return {sp.name: sp.fro_norm for sp in analysis.spectra}
    out = {}
    for sp in analysis.spectra:
        W = np.asarray(analysis.checkpoint.load(sp.name), dtype=np.float64)
        G = analysis.grams[sp.name]
        out[sp.name] = output_norm(W, G)
    return out


def timing_targets(layers: list[LayerPlan]) -> dict[tuple[int, int], set[int]]:
    """The distinct (shape, rank) pairs of a plan's factored layers: what has to be timed."""
    out: dict[tuple[int, int], set[int]] = {}
    for p in layers:
        if p.rank is not None:
            out.setdefault(tuple(p.shape), set()).add(p.rank)
    return out


def keep_fast_layers(layers: list[LayerPlan], speedups: dict, min_speedup: float) -> list[LayerPlan]:
    """The plan with every layer whose measured speedup is below ``min_speedup`` kept dense."""
    out = []
    for p in layers:
        s = speedups.get((*p.shape, p.rank)) if p.rank is not None else None
        if p.rank is not None and (s is None or s < min_speedup):
            measured = "not measured" if s is None else f"measured speedup {s:.2f}x"
            p = replace(p, rank=None, relative_error=0.0, params_factored=p.params_dense,
                        reason=f"{measured} < --min-speedup {min_speedup:g}")
        out.append(p)
    return out


def totals(layers: list[LayerPlan], speedups: dict | None = None) -> dict:
    dense = sum(p.params_dense for p in layers)
    planned = sum(p.params_factored for p in layers)
    out = {"layers": len(layers), "layers_factored": sum(p.rank is not None for p in layers),
           "params_dense": dense, "params_planned": planned,
           "params_fraction": planned / dense if dense else None}
    factored = [p for p in layers if p.rank is not None]
    if speedups is not None and factored and all((*p.shape, p.rank) in speedups for p in factored):
        # Time of the factored layers against the same layers dense, each weighted by its dense FLOPs
        # (one matvec per layer and token): Σ t_dense / Σ t_dense/speedup, with t_dense ∝ d·k.
        t_dense = sum(p.params_dense for p in factored)
        t_fact = sum(p.params_dense / speedups[(*p.shape, p.rank)] for p in factored)
        out["factored_layers_speedup"] = t_dense / t_fact
    return out


def plan_document(analysis: ModelAnalysis, layers: list[LayerPlan], about: dict, speedups: dict | None = None) -> dict:
    """The plan as JSON: ``{"layers": [...], "totals": {...}, ...}`` (the format of ``--json``).

    ``speedups``: ``{(d, k, rank): measured dense/factored speedup}``; null where not measured.
    """
    by_name = {sp.name: sp for sp in analysis.spectra}
    speedups = speedups or {}
    rows = []
    for p in layers:
        sp = by_name[p.name]
        rows.append({
            "name": p.name, "shape": list(p.shape), "dtype": sp.dtype, "rank": p.rank,
            "relative_error": p.relative_error, "params_dense": p.params_dense, "params_factored": p.params_factored,
            "speedup": speedups.get((*p.shape, p.rank)) if p.rank is not None else None,
            "break_even_rank": sp.break_even_rank, "stable_rank": sp.stable_rank, "effective_rank": sp.effective_rank,
            "spectrum_exact": sp.exact,
            "rank_for_error": {f"{e:g}": sp.rank_for_error(e) for e in ERROR_LEVELS},
            "reason": p.reason or None,
        })
    summed = totals(layers, speedups or None)
    if analysis.model_params:
        # A factored tied head unties it: the embedding stays and its factors are added (the model counts a tied
        # head once, as the embedding); any other factored layer saves its dense minus factored parameters.
        saved = sum(-p.params_factored if p.name in analysis.tied else p.params_dense - p.params_factored
                    for p in layers if p.rank is not None)
        summed.update(model_params=analysis.model_params, model_params_planned=analysis.model_params - saved,
                      model_params_fraction=(analysis.model_params - saved) / analysis.model_params)
    return {"checkpoint": analysis.path, "format": analysis.format, **about, "layers": rows,
            "totals": summed, "compression": COMPRESSION, "skipped": [{"name": n, "why": w} for n, w in analysis.skipped]}


def write_json(document: dict, target) -> Path:
    return write_new_text(Path(target), json.dumps(document, indent=1))


def save_factors(analysis: ModelAnalysis, layers: list[LayerPlan], target) -> Path:
    """Write B (d×r) and A (r×k) of every factored layer as ``<name>.B``/``<name>.A`` in a safetensors file.

    B = U_r·√Σ_r and A = √Σ_r·V_rᵀ of the exact truncated SVD, in float32 (the balanced
    split, as ``lowrank.factorize``), so that W ≈ B @ A with the planned error; for a
    calibrated analysis, the whitened SVD's factors (the planned error is then the output error).
    """
    from safetensors.numpy import save_file

    from lowrank.factorize import factorize

    ckpt = analysis.checkpoint or open_checkpoint(analysis.path)
    tensors = {}
    for p in layers:
        if p.rank is None:
            continue
        W = ckpt.load(p.name).astype(np.float64)
        if analysis.grams:  # the data-aware factors: the whitened SVD on the layer's calibration inputs
            f = factorize(W, rank=p.rank, method="whitened", gram=analysis.grams[p.name])
        else:
            f = factorize(W, rank=p.rank, method="svd")
        tensors[p.name + FACTOR_SUFFIXES[0]] = np.ascontiguousarray(np.asarray(f.B), dtype=np.float32)
        tensors[p.name + FACTOR_SUFFIXES[1]] = np.ascontiguousarray(np.asarray(f.A), dtype=np.float32)
    if not tensors:
        raise LowRankValueError("the plan factors no layer: nothing to save (loosen --max-error or raise --params)")
    meta = {"format": "lowrank-bench factors: W ~= B @ A", "source": str(analysis.path)}
    return write_new(Path(target), lambda tmp: save_file(tensors, tmp, metadata=meta))
