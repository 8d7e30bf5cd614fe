"""Report sections of the factorization-cost and LoRA-adapter suites (their ``Suite.report``).

Kept apart from :mod:`lowrank.present.report` (the matvec report): each function
takes the chosen run's rows, returns the blocks to add and writes its figures.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from lowrank.judge import time_accuracy
from lowrank.present import plots
from lowrank.present.tables import Table

METHOD_LABEL = {
    "randomized": "lowrank randomized",
    "torch_svd_lowrank": "torch.svd_lowrank",
    "sklearn_randomized_svd": "sklearn randomized_svd",
    "svd": "exact SVD",
}


def _fmt(x, spec: str) -> str:
    try:
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)
    except (TypeError, ValueError):
        return str(x)


def _table(title: str, header: str, columns, rows, footer: str) -> Table:
    return Table(title, header, tuple(columns), tuple((label, tuple(cells)) for label, cells in rows), footer)


def factorization_blocks(frame: pd.DataFrame, fig_dir: Path, say) -> tuple[list[Table], list[tuple[Path, str]]]:
    """The target-cell table (fastest configuration within 1.01x of the optimum) and time-accuracy curves."""
    if frame.empty or "suite" not in frame or not (frame["suite"] == "factorize").any():
        return [], []
    rows_in = frame[frame["suite"] == "factorize"]
    tables, figures = [], []
    cells = time_accuracy.time_accuracy_cells(rows_in)
    target = time_accuracy.TARGET_CELL
    chosen = [c for c in cells if all(c[k] == target[k] for k in time_accuracy.CELL_KEYS)] or cells[:1]
    for cell in chosen:
        best = time_accuracy.cheapest_within(rows_in, 1.01, cell)
        rows = [
            (f"{METHOD_LABEL.get(r.method, r.method)} ({r.backend})",
             [_fmt(r.median_s * 1e3, ",.1f"), _fmt(r.error_ratio_fro, ".4f"),
              "-" if r.method == "svd" else f"{_fmt(r.oversampling, '.0f')}/{_fmt(r.power_iterations, '.0f')}",
              "yes" if r.meets else "no", _fmt(r.vs_torch_svd_lowrank, ".2f")])
            for r in best.itertuples()
        ]
        name = f"{cell['d']}×{cell['k']}, r = {cell['rank']}, {cell['spectrum']}, {cell['dtype']}"
        tables.append(_table(
            f"Fastest factorization within 1.01× of the optimum — {name}", "method (backend)",
            ["time (ms)", "error / optimum", "p/q", "≤ 1.01×", "time vs torch.svd_lowrank"], rows,
            "Median of repeated calls; p = oversampling, q = power iterations; the cheapest swept configuration "
            "that reaches 1.01× (else the most accurate one)."))
    for i, cell in enumerate(chosen[:1] + [c for c in cells if c not in chosen][:1]):
        path = fig_dir / f"time_accuracy_{i + 1}.png"
        plots.save(time_accuracy.plot_time_accuracy(rows_in, cell), path)
        say(f"[report] figure {path}")
        figures.append((path, f"Time against excess error (error/optimum − 1) per method for "
                              f"{cell['d']}×{cell['k']}, r = {cell['rank']}, {cell['spectrum']} spectrum; points are "
                              "(oversampling/power-iteration) settings."))
    return tables, figures


def lora_blocks(frame: pd.DataFrame, fig_dir: Path, say) -> tuple[list[Table], list[tuple[Path, str]]]:
    """Unmerged-adapter overhead and merge → unmerge drift tables, and the overhead figure."""
    if frame.empty or "suite" not in frame or not (frame["suite"] == "lora").any():
        return [], []
    rows_in = frame[frame["suite"] == "lora"]
    tables, figures = [], []
    over = time_accuracy.lora_overhead_table(rows_in)
    if len(over):
        rows = []
        for r in over.itertuples():
            measured = r.paired_overhead if not math.isnan(r.paired_overhead) else r.overhead
            rows.append((f"{r.backend} {r.d}×{r.k} n={r.batch} r={r.rank}",
                         [_fmt(r.merged_s * 1e6, ",.1f"), _fmt(r.unmerged_s * 1e6, ",.1f"),
                          _fmt(100 * measured, "+.1f"), _fmt(100 * r.flop_overhead, ".2f")]))
        tables.append(_table("LoRA at inference: unmerged W₀x + s·B(Ax) against merged W'x", "case",
                             ["merged (µs)", "unmerged (µs)", "overhead (%)", "FLOP model (%)"], rows,
                             "Overhead from merged/unmerged pairs timed back to back (else from the two medians); "
                             "FLOP model r(d+k)/(dk)."))
        path = fig_dir / "lora_overhead.png"
        plots.save(_per_backend(rows_in, sorted(over["backend"].unique())), path)
        say(f"[report] figure {path}")
        figures.append((path, "Measured unmerged-adapter overhead against rank, with the FLOP model dashed."))
    drift = time_accuracy.drift_table(rows_in)
    if len(drift):
        rows = [(f"{r.backend} {r.dtype} ({r.precision}) {r.d}×{r.k} r={r.rank}",
                 [_fmt(r.drift_max_abs, ".2e"), _fmt(r.drift_rel, ".2e"), _fmt(r.drift_bound_ratio, ".2f"),
                  "yes" if r.within_bound else "no", _fmt(r.merge_s * 1e3, ",.2f")])
                for r in drift.itertuples()]
        tables.append(_table("Merge → unmerge round trip: drift of W₀", "case",
                             ["max |ΔW₀|", "relative to max|W₀|", "÷ (u·|W'|)", "within 2u", "merge (ms)"], rows,
                             "u: unit round-off of the dtype; rounding analysis bounds the elementwise drift by 2u·|W'|."))
    return tables, figures


def _per_backend(rows: pd.DataFrame, backends: list[str]):
    """The overhead plot with one panel per backend, so each panel's lines stay distinguishable."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0 * len(backends), 4.8), layout="constrained")
    for i, backend in enumerate(backends):
        ax = fig.add_subplot(1, len(backends), i + 1)
        time_accuracy.plot_lora_overhead(rows, backend=backend, ax=ax)
        ax.set_title(f"{backend}: unmerged overhead (dashed: FLOP model r(d+k)/(dk))", fontsize=10)
    return fig


# The report sections of the suites other than matvec, by suite name: the record does not know how it is
# presented (lowrank.record imports nothing of presentation); a suite without an entry adds no section.
SECTIONS = {
    "factorize": ("Factorization cost: randomized against exact SVD", factorization_blocks),
    "lora": ("LoRA adapters at inference: merged or unmerged", lora_blocks),
}
