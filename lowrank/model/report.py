"""The report of ``lowrank-bench model --report DIR``: spectra, error against rank, the plan, measured speedups.

Written as the suite's report is (``report.md`` and a self-contained ``report.html`` from
one :class:`~lowrank.present.report.Document`). Layers are grouped by *kind*: their name
with the block number replaced (``encoder.layer.*.attention.self.query.weight``), since a
transformer repeats a few kinds of layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from lowrank.model.analysis import ModelAnalysis
from lowrank.model.rankplan import layer_kind
from lowrank.present import plots
from lowrank.present.tables import Table

# Ranks timed for the speedup figure, beside the planned ones (each kept below min(d, k)).
SWEEP_RANKS = (4, 8, 16, 32, 64, 128, 256, 512)


kind = layer_kind  # the layer's kind: its name with block numbers replaced by ``*``


def sweep_targets(analysis: ModelAnalysis, planned: dict[tuple[int, int], set[int]]) -> dict[tuple[int, int], set[int]]:
    """The planned (shape, rank) pairs plus :data:`SWEEP_RANKS` below r* for every shape of the model."""
    out = {shape: set(ranks) for shape, ranks in planned.items()}
    for sp in analysis.spectra:
        d, k = sp.shape
        out.setdefault((d, k), set()).update(r for r in SWEEP_RANKS if r < min(d, k) and r <= 1.5 * sp.break_even_rank)
    return out


def spectra_figure(analysis: ModelAnalysis) -> Figure:
    """σ_i / σ_1 of every layer against i / min(d, k), one colour per kind."""
    kinds = sorted({kind(sp.name) for sp in analysis.spectra})
    cmap = colormaps["tab10"]
    fig = Figure(figsize=(plots.PANEL_W * 1.6, plots.PANEL_H * 1.3), layout="constrained")
    ax = fig.subplots()
    for sp in analysis.spectra:
        s = sp.singular_values
        c = cmap(kinds.index(kind(sp.name)) % 10)
        ax.semilogy(np.arange(1, s.size + 1) / min(sp.shape), s / s[0], color=c, lw=0.8, alpha=0.6)
    for i, name in enumerate(kinds):
        ax.plot([], [], color=cmap(i % 10), label=name)
    ax.set_xlabel("i / min(d, k)")
    ax.set_ylabel("σ_i / σ_1")
    ax.set_title("Singular value spectra, every analysed layer")
    ax.legend(fontsize=6, loc="lower left")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def error_figure(analysis: ModelAnalysis, ranks: dict[str, int | None]) -> Figure:
    """Relative Frobenius error against rank per kind (median over its layers, min-max band); planned ranks marked."""
    by_kind: dict[str, list] = {}
    for sp in analysis.spectra:
        by_kind.setdefault(kind(sp.name), []).append(sp)
    cmap = colormaps["tab10"]
    fig = Figure(figsize=(plots.PANEL_W * 1.6, plots.PANEL_H * 1.3), layout="constrained")
    ax = fig.subplots()
    for i, (name, sps) in enumerate(sorted(by_kind.items())):
        top = min(sp.max_rank for sp in sps)
        r = np.unique(np.linspace(1, top, 60).round().astype(int))
        errs = np.array([[sp.relative_error(int(x)) for x in r] for sp in sps])
        c = cmap(i % 10)
        ax.plot(r, np.median(errs, axis=0), color=c, label=f"{name} ({len(sps)})")
        ax.fill_between(r, errs.min(axis=0), errs.max(axis=0), color=c, alpha=0.15, lw=0)
        planned = [ranks[sp.name] for sp in sps if ranks.get(sp.name)]
        if planned:
            ax.plot(planned, [sp.relative_error(ranks[sp.name]) for sp in sps if ranks.get(sp.name)], "o", color=c,
                    ms=4, mec="black", mew=0.5)
        ax.axvline(sps[0].break_even_rank, color=c, ls=":", lw=0.8)
    ax.set_xlabel("rank r")
    ax.set_ylabel("‖W − W_r‖_F / ‖W‖_F")
    ax.set_title("Error against rank per layer kind")
    ax.legend(fontsize=6)
    ax.grid(True, alpha=0.3)
    return fig


def speedup_figure(speedups: dict[tuple[int, int, int], float], timing: dict, planned: set[tuple[int, int, int]]) -> Figure:
    """Measured dense/factored speedup against rank, one line per shape of the model; planned points circled."""
    shapes = sorted({(d, k) for d, k, _ in speedups})
    cmap = colormaps["tab10"]
    fig = Figure(figsize=(plots.PANEL_W * 1.6, plots.PANEL_H * 1.3), layout="constrained")
    ax = fig.subplots()
    for i, (d, k) in enumerate(shapes):
        pts = sorted((r, s) for (dd, kk, r), s in speedups.items() if (dd, kk) == (d, k))
        c = cmap(i % 10)
        ax.loglog([r for r, _ in pts], [s for _, s in pts], "o-", color=c, ms=3, label=f"{d}×{k}")
        mine = [(r, s) for r, s in pts if (d, k, r) in planned]
        if mine:
            ax.plot(*zip(*mine), "o", ms=9, mfc="none", mec=c, mew=1.5)
        ax.axvline(d * k / (d + k), color=c, ls=":", lw=0.8)
    ax.axhline(1.0, color="black", lw=1)
    ax.set_xlabel("rank r")
    ax.set_ylabel("speedup (dense / factored)")
    ax.set_title(f"Measured at the model's shapes: n = {timing.get('batch')}, {timing.get('backend')} "
                 f"{timing.get('dtype')}")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def plan_table(doc: dict) -> Table:
    rows = []
    for layer in doc["layers"]:
        rows.append((layer["name"], (
            "×".join(map(str, layer["shape"])), "dense" if layer["rank"] is None else str(layer["rank"]),
            f"{layer['relative_error']:.4f}", f"{layer['params_dense']:,}", f"{layer['params_factored']:,}",
            "–" if layer["speedup"] is None else f"{layer['speedup']:.2f}×", layer["reason"] or "")))
    return Table("Rank plan", "layer", ("shape", "rank", "rel. error", "params dense", "params planned", "speedup",
                                        "note"), tuple(rows),
                 footer="rel. error: ‖W − B A‖_F / ‖W‖_F from the spectrum; speedup: measured dense/factored time")


def _bytes(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def totals_lines(doc: dict, analysis: ModelAnalysis) -> list[str]:
    t = doc["totals"]
    itemsize = {sp.name: (2 if sp.dtype in ("float16", "bfloat16") else 8 if sp.dtype == "float64" else 4)
                for sp in analysis.spectra}
    dense_b = sum(layer["params_dense"] * itemsize[layer["name"]] for layer in doc["layers"])
    plan_b = sum(layer["params_factored"] * itemsize[layer["name"]] for layer in doc["layers"])
    out = [f"{t['layers_factored']} of {t['layers']} analysed layers factored",
           f"parameters {t['params_dense']:,} → {t['params_planned']:,} ({t['params_fraction']:.1%})",
           f"bytes of these layers in their own dtypes: {_bytes(dense_b)} → {_bytes(plan_b)}"]
    if t.get("factored_layers_speedup") is not None:
        timing = doc.get("timing", {})
        out.append(f"predicted time of the factored layers against the same layers dense: "
                   f"{1 / t['factored_layers_speedup']:.2f}× ({t['factored_layers_speedup']:.2f}× as fast; measured "
                   f"per shape at n = {timing.get('batch')}, {timing.get('backend')} {timing.get('dtype')}, each layer "
                   "weighted by its dense FLOPs)")
    if "latency" in doc:
        lat = doc["latency"]
        out.append(f"latency budget: the analysed layers' time at most {doc['latency_fraction']:g} of dense; planned "
                   f"on a sweep of ranks at every shape: {lat['predicted_fraction']:.3f}; the plan timed again: "
                   f"{lat['measured_fraction']:.3f} ({'meets' if lat['meets_budget'] else 'misses'} the budget)")
        out.append(f"optimiser: {lat['optimiser']}; times between measured ranks: {lat['interpolation']}")
    if "optimality_gap_bound" in doc:
        out.append(f"total squared error {doc['squared_error']:.4g}; the optimal allocation is at most "
                   f"{doc['optimality_gap_bound']:.3g} lower (greedy, lowrank/model/rankplan.py)")
    return out


def machine_line(doc: dict) -> str:
    """The plan's date, commit and machine (:mod:`lowrank.model.provenance`) as one sentence."""
    m = doc["machine"]
    threads = f", {m['threads']} measuring thread(s)" if m.get("threads") else ""
    return (f"Measured {doc.get('date', '?')} at commit `{doc.get('commit', '?')}` on {m.get('hostname')} "
            f"({m.get('cpu')}, {m.get('cpus')} logical CPUs{threads}; torch {m.get('torch')}, transformers "
            f"{m.get('transformers')}, numpy {m.get('numpy')}).")


def end_to_end_blocks(e: dict) -> list:
    """The end-to-end check (``model_e2e.run``'s result) as a paragraph and a latency table."""
    from lowrank.present.report import Para, TableBlock

    predicted = all("predicted_ms" in v for v in e["latency"].values())
    rows = tuple((f"batch {n}", (f"{v['tokens']}", f"{v['dense_ms']:.2f}", f"{v['factored_ms']:.2f}",
                                 f"{v['speedup']:.2f}×",
                                 *((f"{v['predicted_ms']:.2f}", f"{(v['factored_ms'] / v['predicted_ms'] - 1) * 100:+.1f}%")
                                   if predicted else ())))
                 for n, v in e["latency"].items())
    text = (f"{e['layers_factored']} linears replaced by factored pairs (`B(A(x))`, as PEFT applies LoRA); "
            f"parameters {e['params_before']:,} → {e['params_after']:,}. On {e['sentences']} fixed sentences the "
            f"embeddings (mean-pooled last hidden state) keep a cosine similarity of min "
            f"{e['embedding_cosine']['min']:.4f}, mean {e['embedding_cosine']['mean']:.4f} with the original model's; "
            f"every token's last hidden state min {e['token_cosine']['min']:.4f}, mean {e['token_cosine']['mean']:.4f}.")
    columns = ("tokens", "original (ms)", "factored (ms)", "speedup",
               *(("factored, predicted (ms)", "measured against predicted") if predicted else ()))
    footer = f"{e['timer']}; {e['threads']} torch thread(s)" + (f". Predicted: {e['prediction']}" if predicted else "")
    table = Table("Forward latency, whole model", "inputs", columns, rows, footer=footer)
    return [Para(text), TableBlock(table)]


def output_errors_by_kind(e: dict) -> dict[str, tuple[float, float, int]]:
    """The end-to-end check's held-out output errors per layer kind: (mean, max, layers)."""
    groups: dict[str, list[float]] = {}
    for name, err in (e.get("layer_output_error") or {}).items():
        groups.setdefault(kind(name), []).append(err)
    return {k: (float(np.mean(v)), float(np.max(v)), len(v)) for k, v in sorted(groups.items())}


def output_error_table(plans: dict[str, dict]) -> Table:
    """Held-out output error per layer kind, one pair of columns (mean, max) per plan (label -> end-to-end result)."""
    by_plan = {label: output_errors_by_kind(e) for label, e in plans.items()}
    kinds = sorted(set().union(*by_plan.values()))
    cell = lambda v: ("-", "-") if v is None else (f"{v[0]:.4f}", f"{v[1]:.4f}")  # noqa: E731
    rows = tuple((k, tuple(c for label in plans for c in cell(by_plan[label].get(k)))) for k in kinds)
    columns = tuple(f"{label}: {stat}" for label in plans for stat in ("mean", "max"))
    return Table("Output error per layer kind on the held-out sentences", "layer kind", columns, rows,
                 footer="‖(W − BA)X‖_F / ‖WX‖_F on the inputs each layer of the original model sees on the "
                        "end-to-end check's sentences (padding left out); '-': no layer of that kind factored")


# ---------------------------------------------------------------------------------------------- causal LMs

METHOD_COLORS = {"svd": "tab:red", "asvd": "tab:orange", "whitened": "tab:blue"}


def _method_points(e: dict) -> dict[str, list[tuple[float, str]]]:
    """``{method: [(fraction of the analysed linears' parameters kept, key in e["methods"]), ...]}``, by fraction."""
    out: dict[str, list] = {}
    for key, row in e["methods"].items():
        kept = row.get("plan_totals", {}).get("params_fraction")
        if kept is not None:
            out.setdefault(row.get("method", key.split("@")[0]), []).append((kept, key))
    return {m: sorted(pts) for m, pts in out.items()}


def _method_label(e: dict, method: str, key: str) -> str:
    from lowrank.model.causal import METHOD_LABELS

    return METHOD_LABELS.get(method, e["methods"][key]["label"])


def perplexity_figure(e: dict) -> Figure:
    """Perplexity against the fraction of the analysed linears' parameters kept, one line per method, log y; the
    original model's perplexity as a horizontal line, and the answer's budgets dotted."""
    fig = Figure(figsize=(plots.PANEL_W * 1.6, plots.PANEL_H * 1.3), layout="constrained")
    ax = fig.subplots()
    original = e["original"]["perplexity"]
    for method, pts in _method_points(e).items():
        ax.semilogy([x for x, _ in pts], [e["methods"][k]["perplexity"] for _, k in pts], "o-",
                    color=METHOD_COLORS.get(method), label=_method_label(e, method, pts[0][1]))
    ax.axhline(original, color="black", lw=1.2, label=f"original ({original:.2f})")
    for budget in sorted({row["budget"] for row in e.get("answer", [])}):
        ax.axhline(budget * original, color="gray", lw=0.8, ls=":")
        ax.annotate(f"{budget:g}× original", (0, budget * original), xycoords=("axes fraction", "data"),
                    xytext=(3, 2), textcoords="offset points", fontsize=7, color="gray")
    ax.set_yscale("log")
    ax.set_xlabel("parameters kept: fraction of the analysed linear layers' (r(d+k) factored, dk dense)")
    ax.set_ylabel("perplexity (log scale)")
    ax.set_title(f"Perplexity on {e['scored_tokens']:,} held-out tokens, windows of {e['window']}")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def speed_figure(e: dict) -> Figure:
    """Decode ms per token and prefill tokens per second against the parameters kept, per method: measured (solid)
    and predicted from the suite's per-layer times (dashed); the original model as a horizontal line."""
    speed = e["speed"]
    models = speed["models"]
    fig = Figure(figsize=(plots.PANEL_W * 2.2, plots.PANEL_H * 1.3), layout="constrained")
    decode_ax, prefill_ax = fig.subplots(1, 2)
    panels = ((decode_ax, "decode_ms_per_token", lambda s: s["decode_s"] * 1e3,
               f"decode, ms per token (cache of {speed['cache_tokens']}; lower is faster)"),
              (prefill_ax, "prefill_tokens_per_s", lambda s: speed["prompt_tokens"] / s["prefill_s"],
               f"prefill, tokens per second (prompt of {speed['prompt_tokens']}; higher is faster)"))
    predicted_any = False
    for ax, _field, value, title in panels:
        for method, pts in _method_points(e).items():
            pts = [(x, k) for x, k in pts if k in models]
            if not pts:
                continue
            c = METHOD_COLORS.get(method)
            ax.plot([x for x, _ in pts], [value(models[k]) for _, k in pts], "o-", color=c,
                    label=f"{_method_label(e, method, pts[0][1])}, measured")
            # each prediction as its speedup over its own fraction's original, applied to the original drawn
            # (the first fraction's): the rounds' noise in the original moves no predicted point
            pred = [(x, _predicted_on(value, models, k)) for x, k in pts if "predicted" in models[k]]
            if pred:
                predicted_any = True
                ax.plot(*zip(*pred), "s--", color=c, mfc="none", label="predicted")
        if "original" in models:
            ax.axhline(value(models["original"]), color="black", lw=1.2, label="original, measured")
        ax.set_xlabel("parameters kept (fraction of the analysed linears')")
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
    decode_ax.set_ylabel("ms per token")
    prefill_ax.set_ylabel("tokens per second")
    decode_ax.legend(fontsize=6)
    fig.suptitle(f"Speed at batch 1, {speed['threads']} thread(s), median of {speed['rounds']} interleaved rounds"
                 + ("; dashed: predicted" if predicted_any else ""), fontsize=9)
    return fig


def _predicted_on(value, models: dict, key: str) -> float:
    """A model's predicted figure (``value`` of a speed record) rescaled to the drawn original: the drawn original's
    figure times the predicted one over that of the original the prediction was made from."""
    s = models[key]
    own = s.get("original_s")
    if not own or "original" not in models:
        return value(s["predicted"])
    base = {"decode_s": own["decode"], "prefill_s": own["prefill"]}
    return value(models["original"]) * value(s["predicted"]) / value(base)


def causal_table(e: dict) -> Table:
    """One row per model: parameters kept (analysed linears, whole model), perplexity, decode and prefill measured
    and, where timed, predicted."""
    speed = (e.get("speed") or {}).get("models", {})
    original = e["original"]["perplexity"]
    predicted = any("predicted" in s for s in speed.values())

    def speeds(key):
        s = speed.get(key)
        if s is None:
            return ("–",) * (6 if predicted else 4)
        p = s.get("predicted")
        cells = (f"{s['decode_s'] * 1e3:.2f}", *((f"{p['decode_s'] * 1e3:.2f}" if p else "–",) if predicted else ()),
                 f"{s['decode_speedup']:.2f}×", f"{speed_prompt(e) / s['prefill_s']:,.0f}",
                 *((f"{speed_prompt(e) / p['prefill_s']:,.0f}" if p else "–",) if predicted else ()),
                 f"{s['prefill_speedup']:.2f}×")
        return cells

    rows = [("original", ("100%", "100%", f"{original:.2f}", "1.00×", *speeds("original")))]
    for key, row in e["methods"].items():
        t = row.get("plan_totals", {})
        rows.append((row["label"], (f"{t['params_fraction']:.1%}" if t.get("params_fraction") is not None else "–",
                                    f"{t['model_params_fraction']:.1%}" if t.get("model_params_fraction") else "–",
                                    f"{row['perplexity']:,.2f}", f"{row['perplexity'] / original:,.2f}×",
                                    *speeds(key))))
    columns = ("linears kept", "model kept", "perplexity", "× original", "decode ms/token",
               *(("decode, predicted",) if predicted else ()), "decode speedup", "prefill tokens/s",
               *(("prefill, predicted",) if predicted else ()), "prefill speedup")
    sp = e.get("speed") or {}
    footer = (f"perplexity: {e.get('definition', '')}; on {e['text']}, {e['tokens']:,} tokens, windows of "
              f"{e['window']} (stride {e['stride']}). Parameters kept: of the analysed linear layers' (r(d+k) for a "
              "factored d×k layer, dk for a dense one) and of the whole model's (every tensor, a tied head once).")
    if sp:
        footer += (f" Speed: batch 1, {sp['threads']} thread(s), prefill of {sp['prompt_tokens']} tokens, decode of "
                   f"one token on a cache of {sp['cache_tokens']}; {sp['estimator']}.")
        if sp.get("prediction"):
            footer += f" Predicted: {sp['prediction']}."
        for role, share in (sp.get("suite_share") or {}).items():
            footer += (f" By the suite's times the analysed linears take {share:.2f}× the original's measured {role}"
                       + (" time: more than the whole step, so the " + role + " predictions are not to be trusted "
                          "(the machine was busy, or the suite's times do not add up in the model)."
                          if share >= 1 else " time."))
    return Table("Perplexity and speed of the original and every factored model", "model", columns, tuple(rows),
                 footer=footer)


def speed_prompt(e: dict) -> int:
    return e["speed"]["prompt_tokens"]


def causal_blocks(e: dict) -> list:
    """The causal LM's end-to-end section: the table, the decode latency plan if any, and the stated answer."""
    from lowrank.present.report import Bullets, Heading, Para, TableBlock

    blocks = [Heading("Causal LM: perplexity and speed"), TableBlock(causal_table(e))]
    if e.get("latency_plan"):
        blocks.append(Para(latency_plan_text(e["latency_plan"])))
    if e.get("answer"):
        blocks += [Heading("The answer, on this machine"), Bullets(tuple(row["text"] for row in e["answer"]))]
    return blocks


def latency_plan_text(lp: dict) -> str:
    """A decode or prefill latency plan (``causal_lm["latency_plan"]``) in one paragraph."""
    per = "; ".join(f"{m['label']}: predicted {m['predicted_s'] * 1e3:.2f} ms, measured {m['measured_s'] * 1e3:.2f} ms "
                    f"({m['measured_fraction']:.3f} of the original, {'meets' if m['meets_budget'] else 'MISSES'} "
                    "the budget)" for m in lp["methods"].values() if "measured_s" in m)
    return (f"Planned under a {lp['target']} latency budget: {lp['target']} time at most {lp['fraction']:g} of the "
            f"original's measured {lp['original_s'] * 1e3:.2f} ms ({lp['budget_s'] * 1e3:.2f} ms). {lp['how']} "
            + (per + "." if per else ""))


# What write() puts in its folder (and replaces there): ``model`` refuses a --json or --save among them.
PAGES = ("report.md", "report.html")
FIGURES = "figures"


@dataclass(frozen=True)
class ModelReport:
    markdown: Path
    html: Path
    figures: list[Path]


def write(out: Path, analysis: ModelAnalysis, doc: dict, sweep: dict | None, command: str, log=None) -> ModelReport:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` of a model's plan to ``out``.

    Staged and moved in once complete: a failure leaves the old report.
    """
    from lowrank.store.files import relocated, staged_folder

    say = log or (lambda _m: None)
    with staged_folder(out, option="--report") as staging:
        r = _write_files(staging, analysis, doc, sweep, command)
    moved = lambda p: relocated(p, staging, Path(out))  # noqa: E731
    say(f"[model] wrote {moved(r.markdown)} and {moved(r.html)}")
    return ModelReport(moved(r.markdown), moved(r.html), [moved(p) for p in r.figures])


def _write_files(out: Path, analysis: ModelAnalysis, doc: dict, sweep: dict | None, command: str) -> ModelReport:
    from lowrank.present.report import Bullets, Document, FigureBlock, Heading, Para, TableBlock
    from lowrank.store.load import now_iso

    fig_dir = out / FIGURES
    fig_dir.mkdir(parents=True, exist_ok=True)
    ranks = {layer["name"]: layer["rank"] for layer in doc["layers"]}
    planned = {(*layer["shape"], layer["rank"]) for layer in doc["layers"] if layer["rank"] is not None}
    specs = [("model_spectra.png", lambda: spectra_figure(analysis),
              "Figure 1. Normalised singular value spectra of every analysed layer, coloured by kind."),
             ("model_error_vs_rank.png", lambda: error_figure(analysis, ranks),
              "Figure 2. Relative Frobenius error against rank per layer kind: the median over its layers, the "
              "band from the best to the worst; dots: the planned ranks; dotted: r*.")]
    if sweep:
        specs.append(("model_speedup_vs_rank.png", lambda: speedup_figure(sweep, doc.get("timing", {}), planned),
                      "Figure 3. Measured speedup (dense/factored) against rank at the model's own shapes; circled: "
                      "the planned ranks; dotted: r* of each shape; below 1 factoring is slower."
                      + (" Under the latency budget: the sweep the plan was made on, each factored time the slowest "
                         "of its passes." if doc.get("policy") == "latency" else "")))
    causal_lm = doc.get("causal_lm")
    if causal_lm:
        specs.append(("model_perplexity_vs_params.png", lambda: perplexity_figure(causal_lm),
                      f"Figure {len(specs) + 1}. Perplexity on the held-out text against the parameters kept (the "
                      "fraction of the analysed linear layers' parameters), one line per method, log scale; black: "
                      "the original model; dotted: the answer's perplexity budgets."))
        if causal_lm.get("speed"):
            specs.append(("model_speed_vs_params.png", lambda: speed_figure(causal_lm),
                          f"Figure {len(specs) + 1}. Decode (ms per token, batch 1, with the key/value cache) and "
                          "prefill (tokens per second) against the parameters kept, one colour per method: measured "
                          "(solid) and, where the suite was timed, predicted from its per-layer times (dashed; "
                          "each prediction's speedup over its own rounds' original applied to the original drawn); "
                          "black: the original model, measured in the first fraction's rounds."))
    figures = []
    for name, build, caption in specs:
        path = fig_dir / name
        plots.save(build(), path)
        figures.append((path, caption))
    report = Document("lowrank-bench model report")
    policy = {"max_error": lambda: f"at most {doc['max_error']:g} relative error per layer",
              "latency": lambda: (f"the analysed layers' measured time at most {doc['latency_fraction']:.0%} of "
                                  "dense, least total squared error" if doc.get("latency_target", "layers") == "layers"
                                  else f"the causal LM's {doc['latency_target']} time at most "
                                       f"{doc['latency_fraction']:.0%} of the original's measured one, least total "
                                       "squared error")}.get(
        doc.get("policy"), lambda: f"at most {doc.get('params_fraction', 0):.0%} of the analysed parameters, least total "
                                   "squared error")()
    if causal_lm and causal_lm.get("fractions"):
        policy += (f" (the first of the fractions {', '.join(f'{f:g}' for f in causal_lm['fractions'])}, each "
                   "measured end to end below; the totals, figures of the layers and the plan table are the first's)")
    report.add(Para(f"Generated {now_iso()} by `{command}`. Checkpoint `{Path(doc['checkpoint']).name}` "
                    f"({doc['format']}); plan: {policy}."),
               *([Para(machine_line(doc))] if "machine" in doc else []),
               Heading("Totals"), Bullets(tuple(totals_lines(doc, analysis))))
    if doc.get("skipped"):
        reasons: dict[str, int] = {}
        for s in doc["skipped"]:
            reasons[s["why"]] = reasons.get(s["why"], 0) + 1
        report.add(Para("Skipped: " + "; ".join(f"{n} tensor(s): {why}" for why, n in reasons.items()) + "."))
    if "calibration" in doc:
        c = doc["calibration"]
        report.add(Para(f"Planned by output error on {c['source']} ({c['tokens']} tokens): spectra of W·S with "
                        f"S Sᵀ = X Xᵀ, factors by the {c['factors']} (ridge {c['ridge']:g}); the plan's errors are "
                        "output errors."))
    if causal_lm:
        report.add(*causal_blocks(causal_lm))
    if "end_to_end" in doc:
        report.add(Heading("End to end"), *end_to_end_blocks(doc["end_to_end"]))
    if "end_to_end_plain" in doc:
        plain, ours = doc["end_to_end_plain"], doc["end_to_end"]
        rows = tuple((label, (f"{e['layers_factored']}", f"{e['params_after']:,}", f"{e['embedding_cosine']['mean']:.4f}",
                              f"{e['embedding_cosine']['min']:.4f}", f"{e['token_cosine']['mean']:.4f}"))
                     for label, e in (("plain SVD, by weight error", plain), ("data-aware, by output error", ours)))
        report.add(Heading("Plain against data-aware, same policy"),
                   TableBlock(Table("The two plans on the held-out sentences", "plan",
                                    ("linears factored", "parameters", "embedding cosine (mean)",
                                     "embedding cosine (min)", "token cosine (mean)"), rows,
                                    footer="held out: the end-to-end check's sentences, none of them a calibration "
                                           "sample")))
        if plain.get("layer_output_error") and ours.get("layer_output_error"):
            report.add(TableBlock(output_error_table({"plain": plain, "data-aware": ours})))
    elif doc.get("end_to_end", {}).get("layer_output_error"):
        report.add(TableBlock(output_error_table({"factored": doc["end_to_end"]})))
    report.add(Heading("Figures"), *(FigureBlock(p, c) for p, c in figures))
    report.add(Heading("Plan"), TableBlock(plan_table(doc)))
    md, page = (out / name for name in PAGES)
    md.write_text(report.to_markdown(out), encoding="utf-8")
    page.write_text(report.to_html(), encoding="utf-8")
    return ModelReport(md, page, [p for p, _ in figures])
