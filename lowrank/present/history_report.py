"""``lowrank-bench history``'s output: trend figures, a change-point table, Markdown and HTML."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from lowrank.judge.history import History, Series
from lowrank.present import plots
from lowrank.present.tables import Table
from lowrank.store.load import now_iso, to_csv

# Panels per figure, and cases drawn when no case changed (the widest-ranging ones).
PANELS = 12


@dataclass(frozen=True)
class HistoryResult:
    history: History
    markdown: Path
    html: Path
    figures: list[Path]
    csv: Path


# What a series holds, by metric: (its label in tables, the y axis of its panel, the scale to it).
METRIC_LABELS = {"time": ("time (higher is slower)", "median (us)", 1e6),
                 "ratio": ("time / partner's time in the same run", "time / partner's", 1.0),
                 "instructions": ("instructions per call (counted runs; higher is more work)", "instructions per call",
                                  1.0)}


def _format(history: History, value: float) -> str:
    if history.metric == "instructions":
        return f"{value:,.0f} Ir"
    return f"{value * 1e6:,.2f} us" if history.metric == "time" else f"{value:.3f}x"


def change_table(history: History) -> Table:
    rows = []
    for c in sorted(history.changes, key=lambda c: -abs(np.log(c.ratio))):
        before, after = history.points[c.since], history.points[c.index]
        rows.append((c.case, (c.machine[:12] or "any", f"{before.label} -> {after.label}",
                              _format(history, c.before), _format(history, c.after), f"{(c.ratio - 1) * 100:+.1f}%")))
    what = METRIC_LABELS[history.metric][0]
    return Table(f"Change points ({what})", "case", ("machine", "between", "before", "after", "change"), tuple(rows),
                 footer="before/after: medians of the segments on either side of the change point")


def _drawn(history: History) -> list[Series]:
    changed = {(c.case, c.machine) for c in history.changes}
    first = [s for s in history.series if (s.case, s.machine) in changed]
    if first:
        return first
    spread = lambda s: np.nanmax(s.values) / np.nanmin(s.values) if np.isfinite(s.values).sum() > 1 else 0  # noqa: E731
    return sorted(history.series, key=spread, reverse=True)[:PANELS]


def trend_figure(history: History, series: list[Series]) -> Figure:
    """Small multiples: each case's value by commit, its segment levels, change points as red lines."""
    cols = min(3, max(1, len(series)))
    rows = -(-len(series) // cols)
    fig = Figure(figsize=(plots.PANEL_W * cols, plots.PANEL_H * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    x = np.arange(len(history.points))
    labels = [p.label.split(" ")[0] for p in history.points]
    for ax, s in zip(axes, series):
        scale = METRIC_LABELS[history.metric][2]
        ax.plot(x, s.values * scale, "o-", ms=3, lw=0.8, color="tab:blue")
        changes = sorted((c for c in history.changes if (c.case, c.machine) == (s.case, s.machine)),
                         key=lambda c: c.index)
        bounds = [0, *(c.index for c in changes), len(x)]
        for lo, hi in zip(bounds, bounds[1:]):
            ax.hlines(np.nanmedian(s.values[lo:hi]) * scale, lo - 0.4, hi - 0.6, color="0.3", lw=1.2)
        for c in changes:  # midway between the last point of the old level and the first of the new
            ax.axvline((c.since + c.index) / 2, color="tab:red", ls="--", lw=1.2)
        ax.set_title(s.case if len(s.case) < 60 else s.case[:57] + "...", fontsize=7)
        ax.set_ylabel(METRIC_LABELS[history.metric][1])
        step = max(1, len(x) // 8)
        ax.set_xticks(x[::step], labels[::step], rotation=45, fontsize=6, ha="right")
    for ax in axes[len(series):]:
        ax.set_visible(False)
    return fig


def write(history: History, out: Path, log=None, inputs=()) -> HistoryResult:
    """Write ``history.md``, ``history.html``, ``figures/trend_*.png`` and ``change_points.csv`` to ``out``.

    The files are written to a staging folder and moved in once all are written, so a failure
    leaves the old history page. ``out`` must be apart from ``inputs``, the result files read
    (:func:`lowrank.store.files.check_output_folder`).
    """
    from lowrank.store.files import relocated, staged_folder

    say = log or (lambda _m: None)
    with staged_folder(out, inputs=inputs) as staging:
        r = _write_files(history, staging, say)
    moved = lambda p: relocated(p, staging, Path(out))  # noqa: E731
    say(f"[history] wrote {moved(r.markdown)} and {moved(r.html)}")
    return HistoryResult(history, moved(r.markdown), moved(r.html), [moved(p) for p in r.figures], moved(r.csv))


def _write_files(history: History, out: Path, say) -> HistoryResult:
    import pandas as pd

    from lowrank.present.report import (
        Bullets,
        Document,
        FigureBlock,
        Heading,
        Para,
        TableBlock,
    )

    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    drawn = _drawn(history)
    figures = []
    for i in range(0, len(drawn), PANELS):
        path = fig_dir / f"trend_{i // PANELS + 1}.png"
        plots.save(trend_figure(history, drawn[i:i + PANELS]), path)
        figures.append(path)
    csv = to_csv(pd.DataFrame([{"case": c.case, "machine": c.machine, "before_point": history.points[c.since].key,
                                "after_point": history.points[c.index].key, "before": c.before, "after": c.after,
                                "ratio": c.ratio} for c in history.changes],
                              columns=["case", "machine", "before_point", "after_point", "before", "after", "ratio"]),
                 out / "change_points.csv")
    doc = Document("lowrank-bench history")
    n_runs = sum(len(p.run_ids) for p in history.points)
    doc.add(Para(f"Generated {now_iso()} from {n_runs} run(s) at {len(history.points)} commit(s), "
                 f"{history.points[0].label} to {history.points[-1].label}; {len(history.series)} series "
                 f"(metric: {history.metric})."),
            Bullets((f"{len(history.changes)} change point(s) in {len({(c.case, c.machine) for c in history.changes})} "
                     "series, found by ruptures' PELT on the log of each series, single slow runs set aside first "
                     "(lowrank/judge/history.py).", disturbed_line(history), *short_lines(history))))
    if history.changes:
        doc.add(Heading("Change points"), TableBlock(change_table(history)))
    doc.add(Heading("Trends"))
    caption = ("Each case's median by commit; grey: the level of each segment; red dashed: a change point."
               if history.changes else "No change point: the cases whose values range widest, by commit.")
    for path in figures:
        doc.add(FigureBlock(path, caption))
    md, page = out / "history.md", out / "history.html"
    md.write_text(doc.to_markdown(out), encoding="utf-8")
    page.write_text(doc.to_html(), encoding="utf-8")
    return HistoryResult(history, md, page, figures, csv)


def disturbed_line(history: History) -> str:
    """How many runs were disturbed as a whole (most cases off their series at once) and left out of detection."""
    if not history.disturbed:
        return "No run was disturbed as a whole (most cases far off their series at once)."
    labels = ", ".join(history.points[i].label for i in history.disturbed)
    return (f"{len(history.disturbed)} run(s) disturbed as a whole, most cases far off their series at once: "
            f"left out of change-point detection ({labels}).")


def short_lines(history: History) -> list[str]:
    """One line per level at an end of a series too short to place a change at (``history.short``)."""
    lines = []
    for level in history.short:
        first, last = history.points[level.first].label, history.points[level.last].label
        commits = level.last - level.first + 1
        runs = f", {level.runs} of them run" if 0 < level.runs < commits else ""
        lines.append(f"{level.case}{' on ' + level.machine[:12] if level.machine else ''}: its {level.side} "
                     f"{commits} commit(s) ({first} to {last}{runs}) are "
                     f"{(level.value / level.beside - 1) * 100:+.1f}% off the level beside them "
                     f"({_format(history, level.value)} against {_format(history, level.beside)}): a level too "
                     "short to tell from slow runs, so a change there cannot be placed; more runs will place it")
    return lines


def to_text(history: History) -> str:
    note = f"; {disturbed_line(history)}" if history.disturbed else ""
    short = "".join(f"\n{line}" for line in short_lines(history))
    if not history.changes:
        return (f"no change point in {len(history.series)} series over {len(history.points)} commit(s) "
                f"(metric {history.metric}){note}") + short
    return change_table(history).to_text() + (f"\n{disturbed_line(history)}" if history.disturbed else "") + short
