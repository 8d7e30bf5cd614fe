"""The report of ``lowrank-bench model --report DIR``: spectra, error against rank, the plan, measured speedups.

Written as the suite's report is (``report.md`` and a self-contained ``report.html`` from
one :class:`~lowrank.present.report.Document`). Layers are grouped by *kind*: their name
with the block number replaced (``encoder.layer.*.attention.self.query.weight``), since a
transformer repeats a few kinds of layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from lowrank.model.analysis import ModelAnalysis
from lowrank.present import plots
from lowrank.present.tables import Table

# Ranks timed for the speedup figure, beside the planned ones (each kept below min(d, k)).
SWEEP_RANKS = (4, 8, 16, 32, 64, 128, 256, 512)


def kind(name: str) -> str:
    """The layer's kind: its name with block numbers replaced by ``*``."""
    return re.sub(r"(?<=\.)\d+(?=\.)", "*", name)


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
    figures = []
    for name, build, caption in specs:
        path = fig_dir / name
        plots.save(build(), path)
        figures.append((path, caption))
    report = Document("lowrank-bench model report")
    policy = {"max_error": lambda: f"at most {doc['max_error']:g} relative error per layer",
              "latency": lambda: (f"the analysed layers' measured time at most {doc['latency_fraction']:.0%} of "
                                  "dense, least total squared error")}.get(
        doc.get("policy"), lambda: f"at most {doc.get('params_fraction', 0):.0%} of the analysed parameters, least total "
                                   "squared error")()
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
