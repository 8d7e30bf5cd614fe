"""``lowrank-bench model`` as one pipeline: checkpoint → spectra → plan → measured speedups → end to end.

The command (:mod:`lowrank.cli.model`) checks its arguments and targets, calls :func:`run`
and prints or writes what comes back; every step of the feature is here, in order:

1. read the checkpoint one tensor at a time and take each layer's spectrum
   (:func:`lowrank.model.analysis.analyse_checkpoint`);
2. plan the ranks under the policy (:func:`lowrank.model.analysis.plan`; under a latency
   budget, first time a sweep of ranks at every shape and plan on those times,
   :mod:`lowrank.model.latency`);
3. unless timing is off, time the matvec suite at the model's shapes and planned ranks
   (:mod:`lowrank.model.timing`; with a report, a sweep of ranks for its figure; under a
   latency budget, this second run is the check that the plan meets it) and, with
   ``min_speedup``, keep factored only the layers that run at least that much faster;
4. the plan document (:func:`lowrank.model.analysis.plan_document`);
5. with ``e2e``, the Hugging Face model with its planned linears factored (:mod:`lowrank.model.e2e`);
   under a latency budget, beside each measured forward latency the one predicted from the
   suite's times at that forward's token count.

With ``calibration``, step 0 runs the model on the calibration texts and keeps each layer's
Gram matrix (:mod:`lowrank.model.calibration`): the spectra are then of W·S, the planners
plan by output error, the factors are the whitened SVD's, and the end-to-end check runs the
plain plan of the same policy beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lowrank.errors import LowRankValueError
from lowrank.model import analysis


@dataclass(frozen=True)
class Request:
    """What to analyse and how: the command's options, checked."""

    path: Path
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_error: float | None = None  # one policy: the per-layer error bound (default 0.1) ...
    params: float | None = None  # ... or the fraction of the analysed parameters to keep
    max_rank: int | None = None  # a randomized SVD to this rank above 2048² (default: exact SVD of every layer)
    timing: bool = True
    batch: int = 1
    backend: str = "numpy"
    dtype: str = "float32"
    min_speedup: float | None = None
    runs_dir: Path | None = None  # where the timing runs' result files are kept (default: discarded)
    sweep: bool = False  # time a sweep of ranks at every shape too (the report's speedup-against-rank figure)
    e2e: bool = False
    e2e_threads: int = 1
    calibration: str | None = None  # "builtin" or a text file: plan by output error on those inputs
    latency: float | None = None  # ... or the analysed layers' measured time at most this fraction of dense
    allocation: str = "budget"  # with params: least total error ("budget") or every layer at the fraction ("uniform")
    tied_head: bool = False  # factor an output head tied to the input embedding (default: left dense)
    # Causal LMs: the held-out text of the perplexity ("builtin" or a file), its windows, and how much of each text
    eval_text: str | None = None
    window: int = 512
    eval_tokens: int | None = 2048
    calibration_tokens: int | None = 2048
    alpha: float = 0.5  # the ASVD-style peer's exponent on mean |x|
    prompt_tokens: int = 128  # the prefill's prompt and the decode's cache, in tokens
    more_params: tuple[float, ...] = ()  # further --params fractions, each measured end to end (a causal LM's e2e)
    latency_target: str = "layers"  # what --latency budgets: the analysed layers' time, or a causal LM's decode or
    # prefill time
    speed_seconds: float = 1.0  # timed blocks per prefill or decode measurement

    @property
    def causal(self) -> bool:
        """A causal LM (a GGUF, or a folder whose config names one): judged by perplexity."""
        from lowrank.model import causal

        return causal.is_causal(self.path)

    @property
    def policy(self) -> analysis.Policy:
        if self.latency is not None:
            return analysis.Policy(latency=self.latency, latency_target=self.latency_target)
        if self.params is not None:
            return analysis.Policy(max_error=None, params=self.params, allocation=self.allocation)
        return analysis.Policy(max_error=0.1 if self.max_error is None else self.max_error, params=None)

    @property
    def fractions(self) -> tuple[float, ...]:
        """Every ``--params`` fraction, the first the command's own plan; empty under another policy."""
        return () if self.params is None else (self.params, *self.more_params)

    @property
    def folder(self) -> Path:
        """The model folder (for the end-to-end check): the path, or the folder of a checkpoint file."""
        return self.path if self.path.is_dir() else self.path.parent


@dataclass
class Outcome:
    """What the pipeline made: the analysis, the plan and its document, and the timings behind it."""

    analysis: analysis.ModelAnalysis
    policy: analysis.Policy
    layers: list
    about: dict
    doc: dict
    sweep: dict | None = None  # every timed (shape, rank) speedup, the sweep's included
    speedups: dict | None = field(default=None)  # the planned ranks' speedups


def calibrate_causal(request: Request, log=None) -> tuple[dict, dict, dict]:
    """A causal LM on windows of the calibration text: every analysed layer's Gram matrix, the ASVD-style peer's
    diagonal one (diag(mean|x|^α)²), and what they were."""
    from lowrank.model import calibration, causal
    from lowrank.weighted import DEFAULT_RIDGE, asvd_gram

    text, described = causal.read_text(request.calibration, "--calibration")
    model, tokenizer = causal.load_model(request.path), causal.load_tokenizer(request.path)
    ids = causal.tokenize(tokenizer, text)
    total = len(ids)
    if request.calibration_tokens is not None:
        ids = ids[:request.calibration_tokens]
    names = analysis.selected_tensors(request.path, list(request.include), list(request.exclude), request.tied_head)
    grams, mean_abs, tokens = calibration.causal_statistics(model, names, ids, request.window, log=log)
    peer = {name: asvd_gram(m, request.alpha) for name, m in mean_abs.items()}
    return grams, peer, {"source": described, "text_tokens": total, "tokens": tokens, "window": request.window,
                         "objective": "output error", "factors": "whitened SVD", "ridge": DEFAULT_RIDGE,
                         "peer": f"ASVD-style: W·diag(s), s_j = mean|x_j|^α over the calibration tokens, "
                                 f"α = {request.alpha:g}; factored by truncated SVD, A un-scaled by diag(s)⁻¹"}


def calibrate(request: Request, log=None) -> tuple[dict, dict]:
    """The Gram matrix of every analysed layer's inputs on the calibration texts, and what they were."""
    from lowrank.model import calibration, e2e
    from lowrank.weighted import DEFAULT_RIDGE

    texts, described = calibration.read_texts(request.calibration)
    model, tokenizer = e2e.load(request.folder)
    names = analysis.selected_tensors(request.path, list(request.include), list(request.exclude))
    grams, tokens = calibration.gram_matrices(model, tokenizer, names, texts, log=log)
    return grams, {"source": described, "samples": len(texts), "tokens": tokens, "objective": "output error",
                   "factors": "whitened SVD", "ridge": DEFAULT_RIDGE}


def analyse(request: Request, log, grams=None):
    """The spectra of the request's layers (of W·S where ``grams`` gives each layer's Gram matrix)."""
    return analysis.analyse_checkpoint(request.path, list(request.include), list(request.exclude),
                                       max_rank=request.max_rank, method="auto" if request.max_rank else "exact",
                                       log=log, grams=grams, tied_head=request.tied_head)


def _weight_errors(result, layers) -> dict[str, float]:
    """The weight error ‖W − BA‖_F/‖W‖_F of each factored layer's whitened factors (the plan states the output error)."""
    import numpy as np

    import lowrank

    out = {}
    for p in layers:
        if p.rank is not None:
            W = np.asarray(result.checkpoint.load(p.name), dtype=np.float64)
            out[p.name] = lowrank.relative_error(W, lowrank.factorize(W, p.rank, "whitened", gram=result.grams[p.name]))
    return out


def run(request: Request, log=None) -> Outcome:
    """Every step of the feature, in order (see the module's docstring)."""
    policy = request.policy
    grams = peer_grams = None
    if request.calibration is not None and request.causal:
        grams, peer_grams, calibrated = calibrate_causal(request, log)
    elif request.calibration is not None:
        grams, calibrated = calibrate(request, log)
    result = analyse(request, log, grams)
    speedups = sweep = generation_plan = None
    # a causal LM's decode or prefill time as the budget's target, not the analysed layers' time in the suite
    on_generation = policy.latency is not None and request.latency_target in GENERATION_TARGETS
    if policy.latency is not None and not request.timing:
        raise LowRankValueError("a latency budget plans from measured times: it needs timing")
    if on_generation:
        generation_plan = _plan_generation_latency(request, result, grams, peer_grams, log)
        layers, about = generation_plan["own"], generation_plan["about"]
    elif policy.latency is not None:
        layers, about, sweep_times = _plan_latency(request, result, log)
    else:
        layers, about = analysis.plan(result, policy)
    if grams is not None:
        about = {**about, "calibration": calibrated}
    if request.timing:
        from lowrank.model import report, timing

        planned = targets = analysis.timing_targets(layers)
        if policy.latency is not None and not on_generation:  # the check: the plan's ranks timed again, every
            # shape's dense time too
            targets = {sp.shape: planned.get(sp.shape) or {1} for sp in result.spectra}  # rank 1: a dense time
        elif request.sweep:
            targets = report.sweep_targets(result, planned)
        times = timing.measure_times(targets, batch=request.batch, backend=request.backend, dtype=request.dtype,
                                     runs_dir=request.runs_dir, log=log)
        sweep = timing.speedups(times)
        speedups = {key: s for key, s in sweep.items() if key[2] in planned.get(key[:2], ())}
        about = {**about, "timing": {"batch": request.batch, "backend": request.backend, "dtype": request.dtype}}
        if policy.latency is not None and not on_generation:
            about["latency"].update(_measured_time(result, layers, times, policy.latency))
            sweep = timing.speedups(sweep_times)  # the report's figure: the sweep the plan was made on
        if request.min_speedup is not None:
            layers = analysis.keep_fast_layers(layers, speedups, request.min_speedup)
            about["min_speedup"] = request.min_speedup
    from lowrank.model import provenance

    # where and when: the date, the code's commit and the machine, first in the document
    doc = {**provenance.stamp(request.e2e_threads if request.e2e else None),
           **analysis.plan_document(result, layers, about, speedups)}
    if grams is not None:
        weight_errors = _weight_errors(result, layers)
        for row in doc["layers"]:
            row["weight_error"] = weight_errors.get(row["name"], 0.0 if row["rank"] is None else None)
    if request.e2e and request.causal:
        groups = None if generation_plan is None else [{"params": None, "layers": generation_plan["layers"]}]
        planned = generation_plan or {}
        doc["causal_lm"] = _causal_e2e(request, result, layers, grams, peer_grams, log, groups,
                                       planned.get("analyses"), planned.get("timed"))
        if generation_plan is not None:
            doc["causal_lm"]["latency_plan"] = _measured_generation(generation_plan["record"], doc["causal_lm"])
    elif request.e2e:
        from lowrank.model import e2e

        ranks = {p.name: p.rank for p in layers if p.rank is not None}
        doc["end_to_end"] = e2e.run(request.folder, ranks, threads=request.e2e_threads, log=log, grams=grams)
        if policy.latency is not None:
            _predict_forward(request, layers, doc["end_to_end"], log)
        if grams is not None:  # the plain plan under the same policy, on the same held-out sentences
            plain_result = analyse(request, log)
            if policy.latency is not None:  # the same budget on the same measured times
                from lowrank.model import latency

                plain_layers = latency.plan_latency(plain_result.spectra, latency.shape_times(sweep_times),
                                                    policy.latency).layers
            else:
                plain_layers, _ = analysis.plan(plain_result, policy)
            plain = {p.name: p.rank for p in plain_layers if p.rank is not None}
            doc["end_to_end_plain"] = {**e2e.run(request.folder, plain, threads=request.e2e_threads, log=log),
                                       "plan": "plain truncated SVD, planned by weight error"}
    return Outcome(result, policy, layers, about, doc, sweep, speedups)


def method_analyses(request: Request, result, grams, peer_grams, log=None) -> dict:
    """The spectra each method plans on: plain SVD on the weights', the ASVD-style peer on those of W·diag(s), the
    data-aware factorization on those of W·S (``result``); without calibration, plain SVD alone (``result``)."""
    if grams is None:
        return {"svd": result}
    return {"svd": analyse(request, log), "asvd": analyse(request, log, peer_grams), "whitened": result}


def method_plans(analyses: dict, policy: analysis.Policy, own=None) -> dict:
    """``{method: its plan's layers}`` under ``policy`` (not a latency one), each method on its own spectra, so
    that every method spends the same parameters its own best way; ``own`` (the command's plan, made on the
    first analysis of ``analyses`` that is ``own[0]``) is used as it is."""
    out = {}
    for method, result in analyses.items():
        out[method] = own[1] if own is not None and result is own[0] else analysis.plan(result, policy)[0]
    return out


def _ranks(layers) -> dict[str, int]:
    return {p.name: p.rank for p in layers if p.rank is not None}


def _groups(request: Request, analyses: dict, result, layers) -> list[dict]:
    """The plans measured end to end, one group per ``--params`` fraction (one group under another policy):
    ``[{"params": F or None, "layers": {method: layers}}]``."""
    fractions = request.fractions or (None,)
    groups = []
    for i, f in enumerate(fractions):
        policy = request.policy if f is None else analysis.Policy(params=f, allocation=request.allocation)
        groups.append({"params": f, "layers": method_plans(analyses, policy, (result, layers) if i == 0 else None)})
    return groups


def _causal_e2e(request: Request, result, layers, grams, peer_grams, log, groups: list[dict] | None = None,
                analyses: dict | None = None, timed: dict | None = None) -> dict:
    """Perplexity on the held-out text and prefill and decode speed: the original model and one factored copy per
    method and plan group (``groups``: as :func:`_groups` makes them, the default; a decode or prefill latency
    plan passes its own, and ``timed``, the suite's times it was planned on, which the prediction reuses)."""
    from lowrank.model import causal, generation

    if groups is None and request.policy.latency is not None:
        raise LowRankValueError("--e2e on a causal LM measures --params or --max-error plans, or a latency plan on "
                                "the decode or prefill time (--latency-target decode or prefill)")
    analyses = analyses or method_analyses(request, result, grams, peer_grams, log)
    groups = _groups(request, analyses, result, layers) if groups is None else groups
    method_grams = {"svd": None, "asvd": peer_grams, "whitened": grams}
    multi = len(groups) > 1
    for g in groups:
        g["keys"] = {method: f"{method}@{g['params']:g}" if multi else method for method in g["layers"]}
    shapes = {sp.name: sp.shape for sp in result.spectra}
    tables = how = None
    if request.timing:  # the suite's per-layer times for every plan of every group, timed once
        tables, how = _generation_tables(request, shapes, {g["keys"][m]: _ranks(ls) for g in groups
                                                           for m, ls in g["layers"].items()}, log, timed)
    text, described = causal.read_text(request.eval_text or causal.BUILTIN, "--eval-text")
    # Each method factors each layer once, at full rank (the balanced split): every plan of every group is a
    # slice of those factors, the first r columns of B and rows of A being the method's rank-r factors.
    model, tokenizer = causal.load_model(request.path), causal.load_tokenizer(request.path)
    factored: dict[str, set] = {}
    for g in groups:
        for method, ls in g["layers"].items():
            factored.setdefault(method, set()).update(_ranks(ls))
    factors = {}
    for method, names in factored.items():
        if log:
            log(f"[e2e] {causal.METHOD_LABELS.get(method, method)}: full-rank factors of {len(names)} layers")
        factors[method] = causal.full_factors(model, sorted(names), method, method_grams[method])
    out = None
    speed_models: dict = {}
    for g in groups:
        keys = g["keys"]
        prepared = causal.Prepared(model, tokenizer)
        for method, ls in g["layers"].items():
            prepared.ranks[keys[method]] = ranks = _ranks(ls)
            prepared.factored[keys[method]] = causal.factored_copy(model, factors[method], ranks)
        evaluated = causal.evaluate(prepared, text, described, request.window, request.window, request.eval_tokens,
                                    threads=request.e2e_threads, log=log,
                                    original=None if out is None else out["original"])
        if out is None:
            out = {**evaluated, "methods": {}}
        for method, ls in g["layers"].items():
            row = evaluated["methods"][keys[method]]
            row.update(method=method, params_requested=g["params"],
                       plan_totals=analysis.plan_document(analyses[method], ls, {})["totals"])
            if multi:
                row["label"] = f"{causal.METHOD_LABELS.get(method, method)} at {g['params']:.0%}"
            out["methods"][keys[method]] = row
        measured = _causal_speed(request, prepared, shapes, tables, log)
        speed_models.setdefault("original", measured["original"])
        speed_models.update({k: v for k, v in measured.items() if k != "original"})
        del prepared, measured
    del factors
    out["speed"] = {"prompt_tokens": request.prompt_tokens, "cache_tokens": request.prompt_tokens, "batch": 1,
                    "threads": request.e2e_threads, "rounds": SPEED_ROUNDS, "timer": generation.TIMER,
                    "decode": generation.DECODE_METHOD,
                    "estimator": "median over interleaved rounds; speedup: median over rounds of the original's time "
                                 "in the round divided by the model's"
                                 + ("; each --params fraction's models timed in their own rounds beside the "
                                    "original (its figures here: those of the first fraction's rounds)"
                                    if multi else ""),
                    "models": speed_models, **({"prediction": how} if how else {})}
    if tables is not None:  # a check of the prediction's premise: the linears alone take less than the whole step
        out["speed"]["suite_share"] = {
            role: sum(tables[role][(*shape, None)] for shape in shapes.values()) / speed_models["original"][f"{role}_s"]
            for role in ("decode", "prefill")}
    if multi:
        out["fractions"] = [g["params"] for g in groups]
    out["answer"] = answer(out)
    return out


SPEED_ROUNDS = 3  # interleaved rounds of every model's prefill and decode (their median is reported)
PERPLEXITY_BUDGETS = (1.5, 2.0)  # the answer's budgets, as multiples of the original model's perplexity


def _causal_speed(request: Request, prepared, shapes: dict, tables: dict | None, log) -> dict:
    """Prefill and decode of the original and every factored model of ``prepared`` at batch 1, timed in interleaved
    rounds; with ``tables`` (the suite's per-layer times), beside each its prediction from them."""
    from lowrank.model import generation
    from lowrank.model.prediction import predict_generation

    models = {"original": prepared.model, **prepared.factored}
    measured = generation.measure_models(models, request.prompt_tokens, base="original",
                                         threads=request.e2e_threads, rounds=SPEED_ROUNDS,
                                         min_run_time=request.speed_seconds, log=log)
    base = measured["original"]
    for key, ranks in prepared.ranks.items():
        measured[key]["original_s"] = {"prefill": base["prefill_s"], "decode": base["decode_s"]}
        if tables is not None:
            p = predict_generation(request.prompt_tokens, base["prefill_s"], base["decode_s"], shapes, ranks,
                                   tables["decode"], tables["prefill"])
            measured[key]["predicted"] = {"prefill_s": p.prefill_s, "decode_s": p.decode_s,
                                          "prefill_tokens_per_s": p.prefill_tokens_per_s,
                                          "decode_ms_per_token": p.decode_ms_per_token,
                                          "prefill_speedup": base["prefill_s"] / p.prefill_s,
                                          "decode_speedup": base["decode_s"] / p.decode_s}
    return measured


def _generation_tables(request: Request, shapes: dict, plans: dict, log, timed: dict | None = None
                       ) -> tuple[dict, str]:
    """The per-layer times a causal LM's prediction needs: {"decode" or "prefill": {(d, k, rank or None): seconds}},
    decode at n = 1 with cold cache (a decode streams every weight from memory), prefill at n = the prompt, warm;
    each shape timed at a sweep of ranks (:func:`lowrank.model.latency.sweep_ranks`, and any planned rank above it) and interpolated
    linearly in the rank between the two nearest. ``timed``: {(n, cache): times} already measured in this command
    (a latency plan's), used where they hold every case the role needs instead of timing them again."""
    from lowrank.model import latency, timing
    from lowrank.model.prediction import PREDICTION

    targets: dict[tuple[int, int], set[int]] = {s: set(latency.sweep_ranks(s)) for s in set(shapes.values())}
    for ranks in plans.values():  # a planned rank above the sweep is timed itself: nothing is extrapolated
        for name, r in ranks.items():
            if r > max(targets[shapes[name]]):
                targets[shapes[name]].add(r)
    roles = {"decode": (1, "cold"), "prefill": (request.prompt_tokens, "warm")}
    # a latency plan's times where they hold every case a role needs; the rest timed in one run of the suite
    known = {role: times for role, point in roles.items() if (times := (timed or {}).get(point)) is not None
             and all((*s, r) in times for s, ranks in targets.items() for r in (None, *ranks))}
    for role in known:
        if log:
            log(f"[timing] the {role} times at n = {roles[role][0]} ({roles[role][1]} cache): the latency plan's, "
                "reused")
    missing = [point for role, point in roles.items() if role not in known]
    measured = timing.measure_tables(targets, missing, backend="torch-cpu", dtype="float32",
                                     threads=request.e2e_threads, log=log) if missing else {}
    tables = {}
    for role, point in roles.items():
        times = known[role] if role in known else measured[point]
        grouped = latency.shape_times(times)
        table = {(*shape, None): st.dense for shape, st in grouped.items()}
        for ranks in plans.values():
            for name, r in ranks.items():
                table[(*shapes[name], r)] = grouped[shapes[name]].time(r)
        tables[role] = table
    how = (f"{PREDICTION}; the matvec suite, torch-cpu float32, {request.e2e_threads} thread(s), cold cache at n = 1 "
           f"(decode), warm at n = {request.prompt_tokens} (prefill), each shape at a sweep of ranks, "
           f"{latency.INTERPOLATION}")
    return tables, how


def answer(causal_lm: dict, budgets=PERPLEXITY_BUDGETS) -> list[dict]:
    """For each perplexity budget (a multiple of the original's), the fastest factored model within it at decode
    (median speedup over the rounds), and whether it is faster at all: a list of {"budget", "limit", "method",
    "decode_speedup", "prefill_speedup", "faster", "text"}."""
    original = causal_lm["original"]["perplexity"]
    speed = causal_lm["speed"]["models"]
    out = []
    for budget in budgets:
        limit = budget * original
        # a plan that factors no layer is the original model: no answer to "is factoring faster?"
        within = [m for m, r in causal_lm["methods"].items()
                  if r["perplexity"] <= limit and m in speed and r.get("layers_factored", 1) > 0]
        row = {"budget": budget, "limit": limit, "method": None, "decode_speedup": None, "prefill_speedup": None,
               "faster": False}
        if not within:
            row["text"] = (f"within {budget:g}x the original perplexity ({limit:.2f}): no factored model; none of "
                           "this run's plans keeps the model that close")
        else:
            best = max(within, key=lambda m: speed[m]["decode_speedup"])
            s, label = speed[best], causal_lm["methods"][best]["label"]
            lo, hi = s["decode_speedup_range"]
            row.update(method=best, decode_speedup=s["decode_speedup"], prefill_speedup=s["prefill_speedup"],
                       faster=lo > 1)
            verdict = ("faster in every round" if lo > 1 else "not faster in every round: no gain this run can "
                       "vouch for")
            row["text"] = (f"within {budget:g}x the original perplexity ({limit:.2f}): {label} at perplexity "
                           f"{causal_lm['methods'][best]['perplexity']:.2f} decodes {s['decode_speedup']:.2f}x as fast "
                           f"(rounds {lo:.2f}-{hi:.2f}; {verdict}) and prefills {s['prefill_speedup']:.2f}x")
        out.append(row)
    return out


GENERATION_TARGETS = ("decode", "prefill")  # --latency-target values that budget a causal LM's measured time


def _plan_generation_latency(request: Request, result, grams, peer_grams, log) -> dict:
    """Every method's plan under a decode (or prefill) latency budget: the target time at most ``request.latency``
    of the original model's measured one.

    The original's decode time per token at batch 1 with the key/value cache (or prefill time
    of the prompt) is measured as the e2e measures it; the suite times every analysed shape at a
    sweep of ranks at that forward's token count (decode: n = 1, cold cache; prefill: n = the
    prompt, warm). By the prediction of :mod:`lowrank.model.prediction`, a plan's time is the
    original's less what its factored layers save, so the budget F·D leaves the analysed layers
    Σ t_dense − (1 − F)·D, a fraction of their dense time that :func:`lowrank.model.latency.plan_latency`
    plans to exactly, least total squared error, each method on its own spectra and the same times.
    """
    from lowrank.model import causal, generation, latency, timing

    role, fraction = request.latency_target, request.latency
    model = causal.load_model(request.path)
    if log:
        log(f"[latency] measuring the original model's {role} time to budget against")
    original = generation.measure_models({"original": model}, request.prompt_tokens, base="original",
                                         threads=request.e2e_threads, rounds=SPEED_ROUNDS,
                                         min_run_time=request.speed_seconds, log=log)["original"]
    dense_s = original[f"{role}_s"]
    n, cache = (1, "cold") if role == "decode" else (request.prompt_tokens, "warm")
    shapes = {sp.shape for sp in result.spectra}
    times = timing.measure_times({s: set(latency.sweep_ranks(s)) for s in shapes}, batch=n, backend="torch-cpu",
                                 dtype="float32", threads=request.e2e_threads, cache=cache, log=log)
    grouped = latency.shape_times(times)
    layers_s = sum(grouped[sp.shape].dense for sp in result.spectra)
    layers_fraction = 1 - (1 - fraction) * dense_s / layers_s
    unit = "ms per token" if role == "decode" else "ms per prompt"
    if layers_fraction <= 0:
        raise LowRankValueError(
            f"--latency {fraction:g} ({role}): by the suite's times the analysed layers take "
            f"{layers_s / dense_s:.1%} of the original's measured {role} time ({dense_s * 1e3:.2f} {unit}); even "
            f"without them it would take {1 - layers_s / dense_s:.3f} of it; accepted: a fraction above "
            f"{max(1 - layers_s / dense_s, 0):.3f}")
    analyses = method_analyses(request, result, grams, peer_grams, log)
    plans, methods = {}, {}
    for method, res in analyses.items():
        try:
            lp = latency.plan_latency(res.spectra, grouped, min(layers_fraction, 1.0))
        except LowRankValueError as exc:
            raise LowRankValueError(f"--latency {fraction:g} ({role}): the budget leaves the analysed layers "
                                    f"{layers_fraction:.3f} of their dense time, and {exc}") from None
        plans[method] = lp.layers
        predicted = dense_s - layers_s + lp.planned_time
        methods[method] = {"label": causal.METHOD_LABELS.get(method, method), "predicted_s": predicted,
                           "predicted_fraction": predicted / dense_s, "squared_error": lp.squared_error,
                           "layers_factored": sum(p.rank is not None for p in lp.layers)}
    own = "whitened" if grams is not None else "svd"
    record = {"target": role, "fraction": fraction, "original_s": dense_s, "budget_s": fraction * dense_s,
              "layers_dense_s": layers_s, "layers_fraction": layers_fraction, "tokens_per_product": n,
              "how": (f"The original's {role} time D measured as the end-to-end check measures it (median of "
                      f"{SPEED_ROUNDS} rounds); every analysed shape timed by the matvec suite at a sweep of ranks "
                      f"(torch-cpu float32, {request.e2e_threads} thread(s), n = {n}, {cache} cache); a plan's "
                      f"predicted time is D less its factored layers' dense minus factored times, so the budget "
                      f"F·D leaves the analysed layers (together {layers_s * 1e3:.2f} ms dense by the suite) "
                      f"{layers_fraction:.3f} of their time, planned exactly by dynamic programming, least total "
                      f"squared error, each method on its own spectra; then every plan measured end to end."),
              "methods": methods}
    about = {"policy": "latency", "latency_target": role, "latency_fraction": fraction,
             "squared_error": methods[own]["squared_error"]}
    return {"layers": plans, "own": plans[own], "about": about, "record": record, "analyses": analyses,
            "timed": {(n, cache): times}}


def _measured_generation(record: dict, causal_lm: dict) -> dict:
    """The latency plan's record with each method's measured time beside its prediction: the median over the
    e2e's rounds, and its fraction of the original's (the median of the per-round ratios)."""
    role = record["target"]
    speed = causal_lm.get("speed", {}).get("models", {})
    for method, m in record["methods"].items():
        s = speed.get(method)
        if s is None:
            continue
        m["measured_s"] = s[f"{role}_s"]
        m["measured_fraction"] = 1 / s[f"{role}_speedup"]
        m["meets_budget"] = m["measured_fraction"] <= record["fraction"]
        m["measured_original_s"] = s["original_s"][role]
    return record


def _plan_latency(request: Request, result, log):
    """Time a sweep of ranks at every analysed shape, then plan under the latency budget on those times."""
    from lowrank.model import latency, timing

    shapes = {sp.shape for sp in result.spectra}
    if log:
        log(f"[latency] timing {len(shapes)} shape(s) at a sweep of ranks to plan on")
    # Planned on each factored case's slowest pass: a plan packed to the budget on medians misses it on
    # about every other check run (docs/model.md has the MiniLM figures).
    times = timing.measure_times({s: set(latency.sweep_ranks(s)) for s in shapes}, batch=request.batch,
                                 backend=request.backend, dtype=request.dtype, runs_dir=request.runs_dir, log=log,
                                 factored="slowest")
    lp = latency.plan_latency(result.spectra, latency.shape_times(times), request.latency)
    about = {"policy": "latency", "latency_fraction": lp.fraction, "squared_error": lp.squared_error,
             "latency": {"dense_s": lp.dense_time, "budget_s": lp.budget, "predicted_s": lp.planned_time,
                         "predicted_fraction": lp.predicted_fraction, "interpolation": latency.INTERPOLATION,
                         "times": "dense: the sweep's median; factored: the slowest of the sweep's passes (worker "
                                  "processes), an upper estimate",
                         "optimiser": f"exact dynamic programme over time in steps of {lp.step:.3g} s, each time "
                                      f"rounded up: the plan meets the budget on the interpolated times, and its "
                                      f"error is at most the optimum's under a budget {lp.slack / lp.budget:.2%} "
                                      "smaller",
                         "slack_s": lp.slack,
                         "swept_ranks": {f"{d}x{k}": latency.sweep_ranks((d, k)) for d, k in sorted(shapes)}}}
    return lp.layers, about, times


def _measured_time(result, layers, times: dict, fraction: float) -> dict:
    """The plan's time in the check run (every layer at its planned rank, or dense) against that run's dense time."""
    dense = sum(times[(*sp.shape, None)] for sp in result.spectra)
    planned = sum(times[(*p.shape, p.rank)] for p in layers)
    return {"measured_dense_s": dense, "measured_s": planned, "measured_fraction": planned / dense,
            "meets_budget": planned <= fraction * dense}


def _predict_forward(request: Request, layers, e2e_result: dict, log) -> None:
    """Beside each measured forward latency, the prediction: the dense model's measured latency less what the
    suite's times at that forward's token count say the factored layers save (torch-cpu, the e2e's threads)."""
    from lowrank.model import timing
    from lowrank.model.prediction import PREDICTION, predict_time

    targets = analysis.timing_targets(layers)
    for n, point in e2e_result["latency"].items():
        tokens = int(n) * point["tokens"]  # every linear multiplies all of the forward's (padded) tokens at once
        times = timing.measure_times(targets, batch=tokens, backend="torch-cpu", dtype="float32",
                                     threads=request.e2e_threads, log=log)
        point["predicted_ms"] = predict_time(point["dense_ms"] / 1e3, {p.name: p.shape for p in layers},
                                             {p.name: p.rank for p in layers}, times) * 1e3
        point["predicted_tokens"] = tokens
    e2e_result["prediction"] = (f"{PREDICTION} (the matvec suite, torch-cpu float32, W @ X for the layer's X @ Wᵀ, "
                                "at the forward's token count)")
