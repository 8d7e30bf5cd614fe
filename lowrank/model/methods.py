"""Methods side by side on a causal LM: perplexity of plain SVD, the ASVD-style peer and the whitened SVD at
several parameter fractions and rank allocations, from one calibration and one factorization per layer.

``lowrank-bench model --e2e`` measures one plan; a study of several fractions would redo the
calibration, the spectra and every layer's SVD for each. Here each is done once: every
layer's full-rank factors B (d×m), A (m×k) per method (the balanced split, so the first r
columns of B and rows of A are that method's rank-r factors), then each plan is a slice.
``scripts/measure_lm_methods.py`` writes what :func:`compare` returns to a file.
"""

from __future__ import annotations

import numpy as np

from lowrank.model import analysis, causal
from lowrank.model.pipeline import Request, analyse, calibrate_causal
from lowrank.weighted import output_norm


# One definition each, in causal.py (the pipeline's e2e slices them too); named here as before.
full_factors = causal.full_factors
factored_copy = causal.factored_copy


ALLOCATIONS = {
    "budget": "least total squared relative error under the parameter budget, each layer's output error relative "
              "to its ‖WX‖ (plain SVD: weight error relative to ‖W‖; lowrank.model.rankplan.plan_param_budget)",
    "budget-output": "least total squared absolute output error Σ‖(W − BA)X‖² under the parameter budget (each "
                     "layer in its own output units, not scaled to ‖W‖; plain SVD: as budget)",
    "uniform": "every layer at the fraction of its own parameters, r = ⌊f·dk/(d+k)⌋",
    "loss-ratio": analysis.LOSS_RATIO,
}


def _in_output_units(result, model, grams: dict | None):
    """The analysis with each layer's spectrum of W·S unscaled (‖W S‖_F = √tr(W G Wᵀ)), not scaled to ‖W‖_F."""
    import dataclasses

    import torch

    if grams is None:
        return result
    modules = causal.linear_modules(model)
    spectra = []
    for sp in result.spectra:
        W = causal.linear_weight(modules[sp.name.removesuffix(".weight")]).to(torch.float64).numpy()
        G = grams[sp.name]
        c = output_norm(W, G) / max(float(np.linalg.norm(W)), 1e-300)
        spectra.append(dataclasses.replace(sp, singular_values=sp.singular_values * c, fro_norm=sp.fro_norm * c))
    return dataclasses.replace(result, spectra=spectra)


def compare(request: Request, fractions, allocations=("budget", "uniform"), log=None,
            which=causal.METHODS) -> dict:
    """Perplexity of each method of ``which`` at every fraction and allocation (``request``: path, texts, windows,
    alpha)."""
    import torch

    say = log or (lambda _m: None)
    torch.set_num_threads(request.e2e_threads)
    grams, peer, calibrated = calibrate_causal(request, log)
    method_grams = {"svd": None, "asvd": peer, "whitened": grams}
    model, tokenizer = causal.load_model(request.path), causal.load_tokenizer(request.path)
    text, described = causal.read_text(request.eval_text or causal.BUILTIN, "--eval-text")
    causal.check_held_out(causal.read_text(request.calibration, "--calibration")[0], text, calibrated["source"],
                          described)
    ids = causal.tokenize(tokenizer, text)
    text_tokens = len(ids)
    ids = ids[:request.eval_tokens] if request.eval_tokens else ids
    original = causal.perplexity(model, ids, request.window)
    say(f"[methods] original: perplexity {original['perplexity']:.2f}")
    rows = []
    for method in which:
        result = analyse(request, log, method_grams[method])
        names = [sp.name for sp in result.spectra]
        say(f"[methods] {method}: full-rank factors of {len(names)} layers")
        factors = full_factors(model, names, method, method_grams[method])
        for allocation in allocations:
            planned_on = _in_output_units(result, model, method_grams[method]) if allocation == "budget-output" \
                else result
            policy_allocation = allocation if allocation in ("uniform", "loss-ratio") else "budget"
            for f in fractions:
                layers, about = analysis.plan(planned_on, analysis.Policy(params=f, allocation=policy_allocation))
                ranks = {p.name: p.rank for p in layers if p.rank is not None}
                totals = analysis.plan_document(planned_on, layers, {})["totals"]
                ppl = causal.perplexity(factored_copy(model, factors, ranks), ids, request.window)
                say(f"[methods] {method} {allocation} {f:g}: perplexity {ppl['perplexity']:.2f}")
                rows.append({"method": method, "label": causal.METHOD_LABELS[method], "allocation": allocation,
                             "params": f, "perplexity": ppl["perplexity"],
                             "ratio_to_original": ppl["perplexity"] / original["perplexity"],
                             "layers_factored": totals["layers_factored"],
                             "linear_params_fraction": totals["params_fraction"],
                             "model_params_fraction": totals.get("model_params_fraction")})
        del factors
    return {"model": str(request.path), "calibration": calibrated,
            "evaluation": {"text": described, "text_tokens": text_tokens, "tokens": len(ids),
                           "window": request.window, "stride": request.window,
                           "scored_tokens": original["scored_tokens"]},
            "threads": request.e2e_threads, "original_perplexity": original["perplexity"],
            "allocations": {a: ALLOCATIONS[a] for a in allocations},
            "compression": analysis.COMPRESSION, "rows": rows}
