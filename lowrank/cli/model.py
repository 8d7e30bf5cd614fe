"""``lowrank-bench model``: per-layer spectra of a user's checkpoint and a rank plan under a budget."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from lowrank.cli.common import EXIT_OK, InputError, count, positive_number, progress, unit_fraction

HELP_POLICY = ("one policy: --max-error E (per layer, the smallest rank with relative Frobenius error <= E; "
               "default 0.1), --params F (keep at most the fraction F of the analysed parameters, ranks allocated "
               "to minimise the total squared error) or --latency F (the layers' measured time at most F of dense, "
               "least total squared error; a causal LM's decode time with --e2e, see --latency-target)")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "model",
        help="analyse a checkpoint's layers and plan their ranks",
        description="Read PATH (a .safetensors file, a model folder, sharded or not, a PyTorch state dict "
                    ".pt/.pth/.bin loaded with weights_only=True, or an .npz) one tensor at a time; for every 2-D "
                    "floating weight print its shape, spectrum summary (stable and effective rank, the ranks that "
                    "reach 1/5/10/20% relative Frobenius error, r*) and the planned rank under " + HELP_POLICY + ". "
                    "Embeddings (names matching *embed*, *wte*, *wpe*) are row lookups, not matvecs: skipped unless "
                    "an --include pattern names them. Exit codes: 0 done, 2 bad input.",
    )
    p.add_argument("path", metavar="PATH", type=Path, help="the checkpoint file or model folder")
    p.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="analyse only tensors whose name matches (fnmatch; repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="skip tensors whose name matches (repeatable)")
    policy = p.add_mutually_exclusive_group()
    policy.add_argument("--max-error", type=unit_fraction, default=None, metavar="E",
                        help="per-layer relative Frobenius error bound (default 0.1)")
    policy.add_argument("--params", type=_fractions, default=None, metavar="F",
                        help="fraction of the analysed parameters to keep, e.g. 0.5; a causal LM with --e2e takes "
                             "several, e.g. 0.9,0.8,0.7,0.5 (one load, one calibration, every fraction measured; "
                             "the first is the plan printed, written by --save and shown layer by layer)")
    policy.add_argument("--latency", type=unit_fraction, default=None, metavar="F",
                        help="the analysed layers' measured time at most F of their dense time (at --batch, --backend, "
                             "--dtype), least total error: times a sweep of ranks at every shape, plans exactly by "
                             "dynamic programming, then times the plan again to check it")
    p.add_argument("--latency-target", choices=LATENCY_TARGETS, default=None,
                   help="what --latency F budgets: 'layers' (the analysed layers' time in the matvec suite at --batch; "
                        "the default, and the only target of a model that is not a causal LM), 'decode' (a causal "
                        "LM's decode time per token at batch 1 with the key/value cache, F of the original's measured "
                        "one; the default with --e2e on a causal LM) or 'prefill' (its prefill of --prompt-tokens)")
    p.add_argument("--max-rank", type=count(1), default=None, metavar="R",
                   help="largest rank considered: layers above 2048² get a randomized SVD to R instead of an exact "
                        "one (default: exact SVD of every layer)")
    timing = p.add_argument_group("measured speedups (the matvec suite at the model's shapes and planned ranks)")
    timing.add_argument("--batch", type=count(1), default=1, metavar="N", help="columns of x (tokens at once; default 1)")
    timing.add_argument("--backend", default="numpy", help="numpy (default), torch-cpu or torch-cuda")
    timing.add_argument("--dtype", default="float32",
                        help="dtype of the timed operands: float32 (default) or float64; float16 and bfloat16 with "
                             "--backend torch-cuda")
    timing.add_argument("--min-speedup", type=positive_number, default=None, metavar="S",
                        help="factor a layer only where the measured speedup at its planned rank is >= S")
    timing.add_argument("--no-timing", action="store_true", help="plan from the spectra only (no speedups)")
    timing.add_argument("--runs", type=Path, default=None, metavar="DIR",
                        help="keep the timing runs' result files here (default: discarded)")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the plan as JSON (a new file)")
    p.add_argument("--e2e", action="store_true",
                   help="for a Hugging Face model folder: replace the planned linears by factored pairs and measure "
                        "how close the embeddings stay and the forward latency at batch 1 and 16 (needs the e2e "
                        "extra: pip install -e '.[e2e]')")
    p.add_argument("--e2e-threads", type=count(1), default=1, metavar="T", help="torch threads of the e2e timing (1)")
    p.add_argument("--calibration", default=None, metavar="SOURCE",
                   help="plan by output error on the inputs each layer sees: run the model (a Hugging Face folder) "
                        "on SOURCE, 'builtin' (48 sentences, none of them the end-to-end check's) or a text file "
                        "with one sample a line; spectra of W·S, factors by the whitened SVD; with --e2e the plain "
                        "plan of the same policy is measured beside it")
    lm = p.add_argument_group("causal language models (a GGUF file or folder, or a Hugging Face folder whose "
                              "config.json names a *ForCausalLM): --e2e reports perplexity on held-out text")
    lm.add_argument("--eval-text", default=None, metavar="FILE",
                    help="the held-out text of the perplexity: a UTF-8 file (default: the built-in Apache-2.0 and "
                         "MPL-2.0 licence texts); never the calibration text")
    lm.add_argument("--window", type=count(2), default=512, metavar="N",
                    help="tokens per window of the perplexity and of the calibration (default 512; stride = window)")
    lm.add_argument("--eval-tokens", type=count(2), default=2048, metavar="N",
                    help="perplexity on the evaluation text's first N tokens (default 2048)")
    lm.add_argument("--calibration-tokens", type=count(2), default=2048, metavar="N",
                    help="calibrate on the calibration text's first N tokens (default 2048; 'builtin' is the GPL-3 "
                         "licence text)")
    lm.add_argument("--alpha", type=_alpha, default=0.5, metavar="A",
                    help="the ASVD-style peer's exponent: inputs scaled by mean|x_j|^A (default 0.5, as ASVD)")
    lm.add_argument("--prompt-tokens", type=count(1), default=128, metavar="N",
                    help="--e2e times prefill of an N-token prompt and decode of one token on an N-token cache, batch "
                         "1, for the original and every factored model (default 128)")
    lm.add_argument("--speed-seconds", type=positive_number, default=1.0, metavar="S",
                    help="seconds of timed blocks per prefill or decode measurement (default 1.0; each of 3 rounds "
                         "measures every model once)")
    lm.add_argument("--factor-tied-head", action="store_true",
                    help="factor an output head that shares its weight with the input embedding (default: dense)")
    p.add_argument("--allocation", choices=ALLOCATIONS, default="budget",
                   help="with --params: 'budget' (default) allocates ranks by least total error; 'uniform' keeps "
                        "every layer at the fraction F of its own parameters; 'loss-ratio' gives each layer of a "
                        "kind its share of the cut by SVD-LLM V2's ratios from the truncation loss")
    p.add_argument("--report", type=Path, default=None, metavar="DIR",
                   help="write a report (report.md, report.html, figures/) to DIR: spectra, error against rank per "
                        "layer kind, the plan, and speedup against rank measured at the model's shapes")
    p.add_argument("--save", type=Path, default=None, metavar="OUT.safetensors",
                   help="write the factors of the planned layers: '<name>.B' (d x r) and '<name>.A' (r x k), "
                        "W ~= B @ A")
    p.set_defaults(handler=_run_model)


ALLOCATIONS = ("budget", "uniform", "loss-ratio")
LATENCY_TARGETS = ("layers", "decode", "prefill")


def _fractions(text: str) -> tuple[float, ...]:
    """argparse type of --params: one fraction in (0, 1], or several separated by commas (each once)."""
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r}: an empty fraction; accepted: one fraction in (0, 1] or several "
                                         "separated by commas, e.g. 0.9,0.8,0.7,0.5")
    values = tuple(unit_fraction(part) for part in parts)
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r}: a fraction given twice; accepted: each fraction once")
    return values


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: accepted a finite number >= 0, e.g. 0.5 (ASVD's)")
    return value


def _joined(fractions) -> str:
    return ",".join(f"{f:g}" for f in fractions)


def _fmt_rank(r) -> str:
    return "-" if r is None else str(r)


def _table(doc: dict) -> str:
    weights = any("weight_error" in layer for layer in doc["layers"])  # calibrated: the output error, and this
    header = ["layer", "shape", "stable r", "eff. r", "r@1%", "r@5%", "r@10%", "r@20%", "r*", "rank", "error",
              *(["w.err"] if weights else []), "params kept", "speedup"]
    rows = []
    for layer in doc["layers"]:
        eff = layer["effective_rank"]
        at = layer["rank_for_error"]
        rows.append([layer["name"], "x".join(map(str, layer["shape"])), f"{layer['stable_rank']:.1f}",
                     "-" if eff is None else f"{eff:.0f}", *(_fmt_rank(at[k]) for k in ("0.01", "0.05", "0.1", "0.2")),
                     f"{layer['break_even_rank']:.0f}", "dense" if layer["rank"] is None else str(layer["rank"]),
                     f"{layer['relative_error']:.3f}",
                     *([f"{layer['weight_error']:.3f}" if layer.get("weight_error") is not None else "-"]
                       if weights else []),
                     f"{layer['params_factored'] / layer['params_dense']:.0%}",
                     "-" if layer["speedup"] is None else f"{layer['speedup']:.2f}x"])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _check_targets(args) -> None:
    """Every output, against the input, the other outputs and the end-to-end folder, checked before any work."""
    from lowrank.model.report import FIGURES, PAGES
    from lowrank.store.files import check_output, check_output_folder

    files = {option: target for option, target in (("--json", args.json), ("--save", args.save)) if target is not None}
    for option, target in files.items():
        check_output(target, inputs=[args.path], option=option, replace=False)
    if len(files) == 2 and os.path.realpath(args.json) == os.path.realpath(args.save):
        raise InputError(f"--json {args.json} and --save {args.save} name the same file; give each its own")
    if args.save is not None and args.path.is_dir() and args.path.resolve() in args.save.resolve().parents:
        raise InputError(f"--save {args.save}: is inside the model folder {args.path}, where it would be read as "
                         "part of the model; choose a file outside it")
    for option, folder in (("--report", args.report), ("--runs", args.runs)):
        if folder is not None:
            check_output_folder(folder, inputs=[args.path], option=option)
    if args.report is not None:
        report = args.report.resolve()
        for option, target in files.items():
            inside = target.resolve().relative_to(report).parts if report in target.resolve().parents else ()
            if inside and (inside[0] == FIGURES or (len(inside) == 1 and inside[0] in PAGES)):
                raise InputError(f"{option} {target}: is one of the files --report {args.report} writes; choose "
                                 "another name")
    from lowrank.model import causal

    if args.e2e and not causal.is_causal(args.path):
        from lowrank.model import e2e

        e2e.check_folder(args.path if args.path.is_dir() else args.path.parent)


def _request(args):
    """The pipeline's request from the command line, every value checked (exit 2 otherwise)."""
    from lowrank.backends import BACKEND_NAMES, NUMPY_DTYPES, TORCH_DTYPES, available_backends
    from lowrank.model.pipeline import Request

    if args.batch < 1:
        raise InputError(f"--batch {args.batch}: accepted an integer >= 1")
    if args.latency is not None and args.no_timing:
        raise InputError(f"--latency {args.latency:g} plans from measured times: it cannot be used with --no-timing")
    if args.min_speedup is not None and (args.no_timing or args.min_speedup <= 0):
        raise InputError(f"--min-speedup {args.min_speedup}: needs timing (not --no-timing) and a value > 0, e.g. 1.2")
    if args.backend not in BACKEND_NAMES:
        raise InputError(f"--backend {args.backend!r}; accepted: {', '.join(BACKEND_NAMES)}")
    # Checked with --no-timing too: a value the command would refuse with timing is a mistake either way.
    # Half precision is timed on CUDA only (CPU BLAS has no fast float16/bfloat16 GEMV: benchmarks/engine/dtypes.py).
    timed = TORCH_DTYPES if args.backend == "torch-cuda" else NUMPY_DTYPES
    if args.dtype not in timed:
        raise InputError(f"--dtype {args.dtype!r}: accepted with --backend {args.backend}: {', '.join(timed)}")
    reason = None if args.no_timing else available_backends([args.backend])[args.backend]
    if reason is not None:
        raise InputError(f"--backend {args.backend}: {reason}")
    if args.e2e and args.e2e_threads < 1:
        raise InputError(f"--e2e-threads {args.e2e_threads}: accepted an integer >= 1")
    from lowrank.model import causal

    fractions = args.params or ()
    if len(fractions) > 1 and not (args.e2e and causal.is_causal(args.path)):
        raise InputError(f"--params {_joined(fractions)}: several fractions are measured end to end on a causal LM "
                         "(--e2e on a GGUF or a *ForCausalLM folder); here give one fraction, e.g. "
                         f"--params {fractions[0]:g}")
    if len(fractions) > 1 and args.save is not None:
        raise InputError(f"--save {args.save} writes the factors of one plan; with --params {_joined(fractions)} "
                         "give one fraction, or leave --save out")
    target = _latency_target(args, causal.is_causal(args.path))
    if args.allocation != "budget" and args.params is None:
        raise InputError(f"--allocation {args.allocation}: applies to --params F; accepted with other policies: budget")
    if causal.is_causal(args.path):
        gguf = causal.gguf_file(args.path)
        if gguf is not None:
            causal.check_gguf(gguf)
        if args.e2e or args.calibration is not None:
            causal.load_tokenizer(args.path)  # a model without one is refused before any work
        if args.calibration is not None:
            calibration_text, calibrated = causal.read_text(args.calibration, "--calibration")
            evaluation_text, evaluated = causal.read_text(args.eval_text or causal.BUILTIN, "--eval-text")
            causal.check_held_out(calibration_text, evaluation_text, calibrated, evaluated)
        elif args.eval_text is not None:
            causal.read_text(args.eval_text, "--eval-text")
        if args.e2e or args.calibration is not None:  # from the config alone, before the model is loaded
            causal.check_lengths(args.path, args.window, args.prompt_tokens if args.e2e else None)
    elif args.eval_text is not None:
        raise InputError(f"--eval-text {args.eval_text}: applies to a causal LM (perplexity), and {args.path} is "
                         "not one; accepted: a GGUF file or folder, or a folder whose config.json names a "
                         "*ForCausalLM or *LMHeadModel")
    elif args.calibration is not None:
        from lowrank.model import calibration, e2e

        calibration.read_texts(args.calibration)  # a bad file is refused before any model is loaded
        folder = args.path if args.path.is_dir() else args.path.parent
        if not (folder / "config.json").is_file():
            raise InputError(f"--calibration runs the model on the calibration texts: it needs a Hugging Face model "
                             f"folder (config.json, weights, tokenizer), and {args.path} is a bare weights file")
        e2e.check_folder(folder)
    return Request(path=args.path, include=tuple(args.include), exclude=tuple(args.exclude),
                   max_error=args.max_error, params=fractions[0] if fractions else None,
                   more_params=tuple(fractions[1:]), max_rank=args.max_rank, timing=not args.no_timing,
                   batch=args.batch, backend=args.backend, dtype=args.dtype, min_speedup=args.min_speedup,
                   runs_dir=args.runs, sweep=args.report is not None, e2e=args.e2e, e2e_threads=args.e2e_threads,
                   calibration=args.calibration, latency=args.latency, allocation=args.allocation,
                   tied_head=args.factor_tied_head, eval_text=args.eval_text, window=args.window,
                   eval_tokens=args.eval_tokens, calibration_tokens=args.calibration_tokens, alpha=args.alpha,
                   prompt_tokens=args.prompt_tokens, speed_seconds=args.speed_seconds, latency_target=target)


def _latency_target(args, is_causal: bool) -> str:
    """What --latency budgets, checked against the model and the options (exit 2 where it has no such target)."""
    target = args.latency_target
    if target is not None and args.latency is None:
        raise InputError(f"--latency-target {target}: says what --latency F budgets; give --latency F too")
    if target is None:
        return "decode" if args.e2e and is_causal else "layers"
    if target != "layers" and not is_causal:
        raise InputError(f"--latency-target {target}: {args.path} is not a causal LM, so it has no {target} step to "
                         "budget; accepted for this model: layers (the analysed layers' time in the matvec suite)")
    if target != "layers" and not args.e2e:
        raise InputError(f"--latency-target {target}: plans on the original model's measured {target} time and "
                         "measures the plan end to end: add --e2e (or use --latency-target layers)")
    if target == "layers" and args.e2e and is_causal:
        raise InputError("--latency-target layers: a causal LM's --e2e measures a plan on its decode or prefill "
                         "time; accepted with --e2e: decode or prefill (or leave --e2e out)")
    return target


def _run_model(args) -> int:
    from lowrank.model import analysis as model
    from lowrank.model import pipeline

    request = _request(args)
    _check_targets(args)  # before the analysis: a bad target must not cost minutes of work first
    out = pipeline.run(request, log=progress)
    analysis, policy, layers, about, doc, sweep = out.analysis, out.policy, out.layers, out.about, out.doc, out.sweep
    t = doc["totals"]
    print(f"{analysis.path} ({analysis.format}): {t['layers']} layer(s) analysed, {len(analysis.skipped)} tensor(s) "
          f"skipped")
    print(f"plan: {policy.describe()}")
    if "calibration" in about:
        c = about["calibration"]
        print(f"objective: the output error on {c['source']}, {c['tokens']} tokens (spectra of W·S with S Sᵀ = X Xᵀ; "
              "factors by the whitened SVD); 'error' below is the output error, 'w.err' the weight error")
    print()
    print(_table(doc))
    print()
    print(f"totals: {t['layers_factored']} of {t['layers']} layers factored; parameters {t['params_dense']:,} -> "
          f"{t['params_planned']:,} ({t['params_fraction']:.1%})")
    if t.get("model_params"):
        print(f"compression: keeps {t['params_fraction']:.1%} of the analysed linear layers' parameters and "
              f"{t['model_params_fraction']:.1%} of the whole model's ({t['model_params']:,} -> "
              f"{t['model_params_planned']:,}); {doc['compression']}")
    if t.get("factored_layers_speedup") is not None:
        print(f"measured: the factored layers together run {t['factored_layers_speedup']:.2f}x as fast as the same "
              f"layers dense (n = {args.batch}, {args.backend}, {args.dtype}; each layer weighted by its dense FLOPs)")
    if "latency" in about:
        lat = about["latency"]
        print(f"latency budget {about['latency_fraction']:g} of the layers' dense time: planned on a sweep of ranks "
              "(each factored time the slowest of its passes), "
              f"predicted {lat['predicted_fraction']:.3f}; timed again: {lat['measured_fraction']:.3f} "
              f"({'meets' if lat['meets_budget'] else 'MISSES'} the budget: {lat['measured_s'] * 1e6:.1f} of "
              f"{lat['measured_dense_s'] * 1e6:.1f} us, one product of every layer at n = {args.batch})")
        print(f"  optimiser: {lat['optimiser']}; times between measured ranks: {lat['interpolation']}")
    if "optimality_gap_bound" in about:
        print(f"total squared error {about['squared_error']:.4g}; the optimum is at most "
              f"{about['optimality_gap_bound']:.3g} lower (greedy allocation, see lowrank/model/rankplan.py)")
    if "causal_lm" in doc:
        _print_perplexity(doc["causal_lm"])
        _print_speed(doc["causal_lm"])
    for key, label in (("end_to_end", "end to end"), ("end_to_end_plain", "end to end, plain plan")):
        if key in doc:
            e = doc[key]
            print(f"{label} ({e['layers_factored']} linears factored, {e['sentences']} sentences): embedding cosine "
                  f"similarity min {e['embedding_cosine']['min']:.4f}, mean {e['embedding_cosine']['mean']:.4f}; "
                  + "; ".join(f"batch {n}: {v['dense_ms']:.2f} -> {v['factored_ms']:.2f} ms ({v['speedup']:.2f}x)"
                              for n, v in e["latency"].items()))
            predicted = {n: v for n, v in e["latency"].items() if "predicted_ms" in v}
            if predicted:
                print("  predicted from the suite's times: " + "; ".join(
                    f"batch {n}: {v['predicted_ms']:.2f} ms predicted, {v['factored_ms']:.2f} measured "
                    f"({(v['factored_ms'] / v['predicted_ms'] - 1) * 100:+.1f}%)" for n, v in predicted.items()))
            errors = list((e.get("layer_output_error") or {}).values())
            if errors:
                print(f"  held-out output error per factored layer: mean {sum(errors) / len(errors):.4f}, max "
                      f"{max(errors):.4f} (by layer kind in the report)")
    if analysis.skipped:
        reasons: dict[str, int] = {}
        for _, why in analysis.skipped:
            reasons[why] = reasons.get(why, 0) + 1
        print("skipped: " + "; ".join(f"{n} {why}" for why, n in reasons.items()))
    if args.json is not None:
        print(f"wrote {model.write_json(doc, args.json)}")
    if args.save is not None:
        print(f"wrote {model.save_factors(analysis, layers, args.save)}")
    if args.report is not None:
        from lowrank.model import report

        written = report.write(args.report, analysis, doc, sweep, _command(args), log=progress)
        print(f"wrote {written.html}")
    sys.stdout.flush()
    return EXIT_OK


def _print_perplexity(e: dict) -> None:
    print(f"perplexity on {e['text']}: {e['tokens']:,} of its {e['text_tokens']:,} tokens, windows of {e['window']} "
          f"(stride {e['stride']}), {e['scored_tokens']:,} tokens scored, {e['threads']} thread(s)")
    print(f"  original: {e['original']['perplexity']:.2f}")
    for method, m in e["methods"].items():
        t = m.get("plan_totals", {})
        kept = (f"; keeps {t['params_fraction']:.1%} of the analysed linears' parameters, "
                f"{t['model_params_fraction']:.1%} of the model's" if t.get("model_params") else "")
        print(f"  {m['label']}: {m['perplexity']:.2f} ({m['perplexity'] / e['original']['perplexity']:.2f}x the "
              f"original; {m['layers_factored']} linears factored{kept})")


def _print_speed(e: dict) -> None:
    speed = e.get("speed")
    if not speed:
        return
    print(f"speed, batch 1, {speed['threads']} thread(s), median of {speed['rounds']} interleaved rounds: prefill of "
          f"{speed['prompt_tokens']} tokens, decode of one token on a cache of {speed['cache_tokens']}")
    labels = {"original": "original", **{m: r["label"] for m, r in e["methods"].items()}}
    for key, s in speed["models"].items():
        line = (f"  {labels.get(key, key)}: prefill {s['prefill_tokens_per_s']:.0f} tokens/s "
                f"({s['prefill_speedup']:.2f}x), decode {s['decode_ms_per_token']:.2f} ms/token "
                f"({s['decode_speedup']:.2f}x, rounds {s['decode_speedup_range'][0]:.2f}-"
                f"{s['decode_speedup_range'][1]:.2f})")
        if "predicted" in s:
            p = s["predicted"]
            line += f"; predicted {p['prefill_speedup']:.2f}x and {p['decode_speedup']:.2f}x"
        print(line)
    for role, share in (speed.get("suite_share") or {}).items():
        if share >= 1:
            print(f"  WARNING: by the suite's times the analysed linears alone take {share:.2f}x the original's measured "
                  f"{role} time: the {role} predictions are not to be trusted (was the machine busy?)")
    lp = e.get("latency_plan")
    if lp:
        unit = "ms per token" if lp["target"] == "decode" else "ms per prompt"
        print(f"{lp['target']} latency budget {lp['fraction']:g} of the original's measured {lp['target']} time "
              f"({lp['original_s'] * 1e3:.3f} {unit} -> at most {lp['budget_s'] * 1e3:.3f}); the analysed layers "
              f"planned to {lp['layers_fraction']:.3f} of their dense time in the suite (n = "
              f"{lp['tokens_per_product']}):")
        for m in lp["methods"].values():
            if "measured_s" in m:
                print(f"  {m['label']}: {lp['target']} predicted {m['predicted_s'] * 1e3:.3f} {unit} "
                      f"({m['predicted_fraction']:.3f}), measured {m['measured_s'] * 1e3:.3f} "
                      f"({m['measured_fraction']:.3f} of the original in the same rounds; "
                      f"{'meets' if m['meets_budget'] else 'MISSES'} the budget)")
    for row in e.get("answer", []):
        print(f"answer: {row['text']}")


def _command(args) -> str:
    """The command line that repeats this analysis (for the report)."""
    parts = ["lowrank-bench", "model", args.path.name]
    if args.params:
        parts += ["--params", _joined(args.params)]
    if args.latency_target is not None:
        parts += ["--latency-target", args.latency_target]
    for flag, value in (("--max-error", args.max_error), ("--latency", args.latency), ("--max-rank", args.max_rank),
                        ("--min-speedup", args.min_speedup)):
        if value is not None:
            parts += [flag, f"{value:g}"]
    parts += [x for g in args.include for x in ("--include", g)] + [x for g in args.exclude for x in ("--exclude", g)]
    if args.e2e:
        parts += ["--e2e", "--e2e-threads", str(args.e2e_threads)]
    if args.calibration is not None:
        parts += ["--calibration", str(args.calibration)]
    if args.allocation != "budget":
        parts += ["--allocation", args.allocation]
    if args.factor_tied_head:
        parts.append("--factor-tied-head")
    from lowrank.model import causal

    if (args.e2e or args.calibration is not None) and causal.is_causal(args.path):
        if args.eval_text is not None:
            parts += ["--eval-text", str(args.eval_text)]
        parts += ["--window", str(args.window), "--eval-tokens", str(args.eval_tokens), "--calibration-tokens",
                  str(args.calibration_tokens), "--alpha", f"{args.alpha:g}"]
        if args.e2e:
            parts += ["--prompt-tokens", str(args.prompt_tokens), "--speed-seconds", f"{args.speed_seconds:g}"]
    if args.no_timing:
        parts.append("--no-timing")
    else:
        parts += ["--batch", str(args.batch), "--backend", args.backend, "--dtype", args.dtype]
    return shlex.join(parts)
