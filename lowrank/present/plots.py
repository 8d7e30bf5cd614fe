"""The report's figures, one function per kind, each returning a matplotlib Figure with panels.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``),
so nothing here touches pyplot's global state or needs a display; :func:`save`
writes a PNG through the Agg canvas. Sizes that span decades are drawn on log
axes; every axis says its unit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib import colors as mcolors
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogFormatterSciNotation, LogLocator, NullFormatter

from lowrank.judge.speedups import (
    STATUS_CROSSING,
    STATUS_FASTER,
    STATUS_IMPROVEMENT,
    STATUS_NOISE,
    STATUS_REGRESSION,
    STATUS_SAME,
    Comparison,
    geometric_mean,
    shape_label,
)

DPI = 100
PANEL_W, PANEL_H = 4.6, 3.3
_SHAPE_CMAP = "tab10"


def save(fig: Figure, path) -> None:
    """Write ``fig`` as PNG (Agg), whatever matplotlib backend is configured."""
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, format="png")


def primary_dtype(frame: pd.DataFrame) -> str:
    """float32 when present (the dtype models run in), else the first dtype of the frame."""
    dtypes = list(pd.unique(frame["dtype"]))
    return "float32" if "float32" in dtypes else sorted(dtypes)[0]


def shape_colors(frame: pd.DataFrame) -> dict[str, tuple]:
    """One stable colour per shape, in order of size, so that every figure uses the same."""
    shapes = sorted({(int(d), int(k)) for d, k in frame[["d", "k"]].drop_duplicates().to_numpy()},
                    key=lambda s: (s[0] * s[1], s[0]))
    cmap = colormaps[_SHAPE_CMAP]
    return {shape_label(d, k): cmap(i % 10) for i, (d, k) in enumerate(shapes)}


def _shape_sort_key(label: str):
    d, k = (int(v) for v in label.split("×"))
    return (d * k, d)


def _panels(n_rows: int, n_cols: int, sharex=False, sharey=False, w=PANEL_W, h=PANEL_H):
    # At least 8.5 in wide, so that titles and the legend row fit above and below a single column.
    fig = Figure(figsize=(max(8.5, w * n_cols + 0.6), h * n_rows + 1.0), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=sharex, sharey=sharey)
    return fig, axes


def _batch_cache_rows(frame: pd.DataFrame) -> list[tuple[int, str]]:
    pairs = frame[["batch", "cache"]].drop_duplicates().to_numpy()
    return sorted(((int(b), str(c)) for b, c in pairs), key=lambda p: (p[0], p[1] != "warm", p[1]))


def _log2_rank_axis(ax) -> None:
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(LogLocator(base=4))  # ranks 1, 4, 16, 64, ...: the grid's own steps
    ax.xaxis.set_major_formatter(FuncFormatter(_tick))


def _tick(v: float, _pos=None) -> str:
    """Plain numbers on log axes (0.01, 16, 4096); powers of ten from 10⁴ up as 10ⁿ."""
    if v <= 0:
        return ""
    exp = math.log10(v)
    if (v >= 1e4 or v < 1e-3) and abs(exp - round(exp)) < 1e-9:
        return f"$10^{{{exp:.0f}}}$"
    return f"{v:.6g}" if 1e-3 <= v < 1e6 else f"{v:.0e}"


class _MinorTicks(LogFormatterSciNotation):
    """matplotlib's choice of which minor ticks get a label (only on short axes), written as plain numbers."""

    def __call__(self, x, pos=None):
        return _tick(x) if super().__call__(x, pos) else ""


def _log_axis_labels(ax, axis: str = "y") -> None:
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(_tick))
    target.set_minor_formatter(_MinorTicks(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def _empty(message: str) -> Figure:
    fig = Figure(figsize=(6, 2))
    fig.text(0.5, 0.5, message, ha="center", va="center")
    return fig


# -- 1. speedup vs rank ------------------------------------------------------------------------
def speedup_vs_rank(sp: pd.DataFrame, be: pd.DataFrame, dtype: str) -> Figure:
    """Speedup of B@(A@x) over W@x against rank: panels per backend (columns) and batch/cache (rows).

    One line per shape with its 95% band; the y = 1 line; each shape's measured
    break-even rank (filled circle on y = 1) and theoretical r* (vertical tick).
    """
    sp = sp[sp["dtype"] == dtype]
    if sp.empty:
        return _empty(f"no {dtype} speedups to plot")
    be = be[be["dtype"] == dtype]
    colors = shape_colors(sp)
    backends = sorted(sp["backend"].unique())
    rows = _batch_cache_rows(sp)
    fig, axes = _panels(len(rows), len(backends), sharex=True, sharey=True)
    for i, (batch, cache) in enumerate(rows):
        for j, backend in enumerate(backends):
            ax = axes[i][j]
            part = sp[(sp["backend"] == backend) & (sp["batch"] == batch) & (sp["cache"] == cache)]
            for shape, g in sorted(part.groupby("shape"), key=lambda t: _shape_sort_key(t[0])):
                g = g.sort_values("rank")
                c = colors[shape]
                ax.fill_between(g["rank"], g["speedup_lo"], g["speedup_hi"], color=c, alpha=0.15, lw=0)
                ax.plot(g["rank"], g["speedup"], "-", color=c, lw=1.6)
                quiet = ~g["noisy"]
                ax.plot(g["rank"][quiet], g["speedup"][quiet], "o", color=c, ms=3.5)
                ax.plot(g["rank"][~quiet], g["speedup"][~quiet], "o", mfc="white", mec=c, ms=4.5)
                ax.plot([g["r_star"].iloc[0]] * 2, [0.8, 1.25], "-", color=c, lw=2.5, alpha=0.7)
            mine = be[(be["backend"] == backend) & (be["batch"] == batch) & (be["cache"] == cache)]
            for rec in mine.to_dict("records"):
                if bool(rec.get("uncertain", False)):  # the interval holds 1: a bar over where it may cross
                    left = rec["range_lo"] if rec["range_lo"] > 0 else rec["min_rank"] / 1.5
                    right = rec["range_hi"] if np.isfinite(rec["range_hi"]) else rec["max_rank"] * 1.5
                    ax.plot([left, right], [1.0, 1.0], "-", color=colors[rec["shape"]], lw=5, alpha=0.6,
                            solid_capstyle="butt", zorder=4)
                elif rec["status"] == STATUS_CROSSING:
                    ax.plot(rec["measured"], 1.0, "o", color=colors[rec["shape"]], ms=8, mec="black", mew=1.0, zorder=5)
            ax.axhline(1.0, color="black", lw=1.0, ls="--", zorder=1)
            ax.set_yscale("log")
            _log_axis_labels(ax, "y")
            _log2_rank_axis(ax)
            ax.grid(True, which="major", alpha=0.3)
            ax.set_title(f"{backend} · batch {batch} · {cache} cache", fontsize=10)
            if i == len(rows) - 1:
                ax.set_xlabel("rank r")
            if j == 0:
                ax.set_ylabel("speedup (dense ÷ factored time)")
    handles = [Line2D([], [], color=c, lw=2, label=s) for s, c in colors.items()]
    handles += [
        Line2D([], [], marker="o", ls="", color="grey", mec="black", ms=8, label="measured break-even"),
        Line2D([], [], color="grey", lw=5, alpha=0.6, label="break-even between (interval holds 1)"),
        Line2D([], [], marker="|", ls="", color="grey", ms=12, mew=2.5, label="r* = dk/(d+k)"),
        Line2D([], [], marker="o", ls="", mfc="white", mec="grey", label="noisy (IQR > 10%)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5), fontsize=9, frameon=False)
    fig.suptitle(f"Speedup of B@(A@x) over W@x vs rank ({dtype}; band: 95% interval; > 1 factoring wins)")
    return fig


# -- 2. error vs rank --------------------------------------------------------------------------
def error_vs_rank(sp: pd.DataFrame, dtype: str) -> Figure:
    """Relative Frobenius error against rank with the Eckart–Young optimum, and their ratio."""
    sp = sp[sp["dtype"] == dtype].drop_duplicates(["d", "k", "rank"])
    if sp.empty:
        return _empty(f"no {dtype} errors to plot")
    colors = shape_colors(sp)
    fig, axes = _panels(1, 2, w=5.4, h=3.8)
    ax, ax2 = axes[0]
    for shape, g in sorted(sp.groupby("shape"), key=lambda t: _shape_sort_key(t[0])):
        g = g.sort_values("rank")
        c = colors[shape]
        # At full rank the optimum is 0 (off a log axis); the measured error is then pure rounding.
        opt = g[g["optimal_error_fro"] > 0]
        ax.plot(opt["rank"], opt["optimal_error_fro"], "-", color=c, lw=2.2, alpha=0.45)
        ax.plot(g["rank"], g["rel_error_fro"], "o", color=c, ms=4, label=shape)
        ax2.plot(opt["rank"], opt["rel_error_fro"] / opt["optimal_error_fro"], "o-", color=c, ms=4, lw=1.2)
    _log2_rank_axis(ax)
    ax.set_yscale("log")
    _log_axis_labels(ax, "y")
    ax.set_xlabel("rank r")
    ax.set_ylabel("relative error ‖W − BA‖_F / ‖W‖_F")
    ax.set_title("measured (dots) and Eckart–Young optimum (lines)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(title="shape", fontsize=8, title_fontsize=8)
    _log2_rank_axis(ax2)
    ax2.axhline(1.0, color="black", lw=1.0, ls="--")
    lo, hi = ax2.get_ylim()
    ax2.set_ylim(min(lo, 0.995), max(hi, 1.005))
    ax2.yaxis.get_major_formatter().set_useOffset(False)
    ax2.set_xlabel("rank r")
    ax2.set_ylabel("measured ÷ optimal error")
    ax2.set_title("quality (1.00 = optimal; rounding shows at high rank)", fontsize=10)
    ax2.grid(True, alpha=0.3)
    fig.suptitle(f"What each rank costs in accuracy ({dtype}, matrix with σ_i = 1/i)")
    return fig


# -- 3. time vs size ---------------------------------------------------------------------------
def _rank_series(frame: pd.DataFrame, limit: int = 3) -> list[int]:
    """A few fixed ranks measured at two shapes or more, spread in log scale."""
    fact = frame[frame["variant"] == "factored"]
    counts = fact.groupby("rank")[["d", "k"]].apply(lambda g: len(g.drop_duplicates()))
    if counts.empty or counts.max() < 2:
        return []
    # Ranks measured at the most shapes (the profile's base ranks, not the per-shape r*/2 and r*).
    common = sorted(int(r) for r, n in counts.items() if n == counts.max())
    if len(common) <= limit:
        return common
    picks = np.unique(np.round(np.linspace(0, len(common) - 1, limit)).astype(int))
    return [common[i] for i in picks]


def time_vs_size(frame: pd.DataFrame, dtype: str) -> Figure:
    """Median time against matrix size (d·k elements), log-log, dense and a few ranks plus r*/2; warm cache."""
    mv = frame[frame["suite"] == "matvec"] if "suite" in frame else frame.iloc[0:0]
    mv = mv[(mv["dtype"] == dtype) & (mv["cache"] == "warm")].copy() if len(mv) else mv
    if mv.empty:
        return _empty(f"no warm {dtype} timings to plot")
    mv["size"] = mv["d"].astype(float) * mv["k"].astype(float)
    mv["half_rstar"] = (mv["d"] * mv["k"] / (mv["d"] + mv["k"]) // 2).clip(lower=1)
    ranks = _rank_series(mv)
    cmap = colormaps["viridis"]
    rank_colors = {r: cmap(0.15 + 0.7 * i / max(1, len(ranks) - 1)) for i, r in enumerate(ranks)}
    backends = sorted(mv["backend"].unique())
    batches = sorted(int(b) for b in mv["batch"].unique())
    fig, axes = _panels(len(batches), len(backends), sharex=True)
    for i, batch in enumerate(batches):
        for j, backend in enumerate(backends):
            ax = axes[i][j]
            part = mv[(mv["backend"] == backend) & (mv["batch"] == batch)]
            series = [("dense W@x", part[part["variant"] == "dense"], dict(color="black", marker="s", lw=2.2))]
            for r in ranks:
                series.append((f"r = {r}", part[part["rank"] == r], dict(color=rank_colors[r], marker="o", lw=1.4)))
            half = part[(part["variant"] == "factored") & (part["rank"] == part["half_rstar"])]
            series.append(("r = r*/2", half, dict(color="tab:red", marker="^", lw=1.4, ls="--")))
            for label, g, style in series:
                if g.empty:
                    continue
                g = g.sort_values(["size", "d"])
                ax.plot(g["size"], g["median"] * 1e6, label=label, ms=4, **style)
            ax.set_xscale("log")
            ax.set_yscale("log")
            _log_axis_labels(ax, "y")
            ax.grid(True, which="major", alpha=0.3)
            ax.set_title(f"{backend} · batch {batch}", fontsize=10)
            if i == len(batches) - 1:
                ax.set_xlabel("matrix size d·k (elements)")
            if j == 0:
                ax.set_ylabel("median time per call (µs)")
    # One legend for every panel: any of them may lack a series (a run of a few selected cases).
    legend = {}
    for row in axes:
        for ax in row:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                legend.setdefault(label, handle)
    if legend:
        fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=len(legend), fontsize=9,
                   frameon=False)
    fig.suptitle(f"Time vs size, dense and factored ({dtype}, warm cache)")
    return fig


# -- 4. memory vs rank -------------------------------------------------------------------------
def memory_vs_rank(sp: pd.DataFrame, dtype: str) -> Figure:
    """Parameter bytes and measured peak bytes of one call against rank, each shape's dense level dashed."""
    sp = sp[sp["dtype"] == dtype]
    if sp.empty:
        return _empty(f"no {dtype} cases to plot")
    colors = shape_colors(sp)
    fig, axes = _panels(1, 2, w=5.4, h=3.8)
    ax, ax2 = axes[0]
    params = sp.drop_duplicates(["d", "k", "rank"])
    for shape, g in sorted(params.groupby("shape"), key=lambda t: _shape_sort_key(t[0])):
        g = g.sort_values("rank")
        c = colors[shape]
        ax.plot(g["rank"], g["param_bytes"].astype(float) / 2**20, "o-", color=c, ms=3.5, label=shape)
        ax.axhline(float(g["dense_param_bytes"].iloc[0]) / 2**20, color=c, ls="--", lw=1.0)
        ax.plot(g["r_star"].iloc[0], float(g["dense_param_bytes"].iloc[0]) / 2**20, "D", color=c, mec="black", ms=6)
    _log2_rank_axis(ax)
    ax.set_yscale("log")
    _log_axis_labels(ax, "y")
    ax.set_xlabel("rank r")
    ax.set_ylabel("parameter memory (MiB)")
    ax.set_title("B and A (dashed: dense W; ◆ r*, where they are equal)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(title="shape", fontsize=8, title_fontsize=8)

    batch = int(sp["batch"].max())
    backend = sorted(sp["backend"].unique())[0]
    peak = sp[(sp["batch"] == batch) & (sp["backend"] == backend) & (sp["cache"] == "warm")]
    peak = peak[peak["peak_bytes"].notna()]
    for shape, g in sorted(peak.groupby("shape"), key=lambda t: _shape_sort_key(t[0])):
        g = g.sort_values("rank")
        c = colors[shape]
        ax2.plot(g["rank"], g["peak_bytes"].astype(float) / 2**10, "o-", color=c, ms=3.5)
        if pd.notna(g["dense_peak_bytes"].iloc[0]):
            ax2.axhline(float(g["dense_peak_bytes"].iloc[0]) / 2**10, color=c, ls="--", lw=1.0)
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    _log_axis_labels(ax2, "y")
    ax2.set_xlabel("rank r")
    ax2.set_ylabel("peak allocation during one call (KiB)")
    ax2.set_title(f"working memory: {backend}, batch {batch} (dashed: dense)", fontsize=10)
    ax2.grid(True, which="major", alpha=0.3)
    fig.suptitle(f"What each rank costs in memory ({dtype})")
    return fig


# -- 5. crossover map --------------------------------------------------------------------------
def crossover_map(sp: pd.DataFrame, be: pd.DataFrame, dtype: str) -> Figure:
    """Shape × rank heatmap of the speedup (log colour scale, white at 1) with the break-even contour.

    Each shape is a row of cells centred on its measured ranks; the black line
    joins the measured break-even ranks (where the speedup crosses 1) and white
    diamonds mark r*.
    """
    sp = sp[sp["dtype"] == dtype]
    if sp.empty:
        return _empty(f"no {dtype} speedups to plot")
    be = be[be["dtype"] == dtype]
    shapes = sorted(sp["shape"].unique(), key=_shape_sort_key)
    backends = sorted(sp["backend"].unique())
    rows = _batch_cache_rows(sp)
    logs = np.log10(sp["speedup"].clip(lower=1e-6).to_numpy(float))
    top = max(0.5, math.ceil(float(np.nanmax(logs)) * 2) / 2)
    bottom = min(-0.5, math.floor(float(np.nanmin(logs)) * 2) / 2)
    # White at speedup 1, each side stretched to its own extreme: faster and slower stay readable.
    norm = mcolors.TwoSlopeNorm(vmin=bottom, vcenter=0.0, vmax=top)
    cmap = colormaps["RdBu"]
    fig, axes = _panels(len(rows), len(backends), sharex=True, sharey=True, w=4.8, h=0.34 * len(shapes) + 1.0)
    mesh = None
    for i, (batch, cache) in enumerate(rows):
        for j, backend in enumerate(backends):
            ax = axes[i][j]
            part = sp[(sp["backend"] == backend) & (sp["batch"] == batch) & (sp["cache"] == cache)]
            crossings = {}
            right = 1.0
            for y, shape in enumerate(shapes):
                g = part[part["shape"] == shape].sort_values("rank")
                if g.empty:
                    continue
                r = g["rank"].to_numpy(float)
                lr = np.log2(r)
                mids = (lr[1:] + lr[:-1]) / 2
                half = (lr[1] - lr[0]) / 2 if len(lr) > 1 else 0.5
                tail = (lr[-1] - lr[-2]) / 2 if len(lr) > 1 else 0.5
                edges = 2.0 ** np.concatenate([[lr[0] - half], mids, [lr[-1] + tail]])
                values = np.log10(g["speedup"].to_numpy(float))[None, :]
                mesh = ax.pcolormesh(edges, [y - 0.45, y + 0.45], values, cmap=cmap, norm=norm, shading="flat")
                ax.plot(g["r_star"].iloc[0], y, "D", color="white", mec="black", ms=5, zorder=4)
                right = max(right, edges[-1])
                rec = be[(be["backend"] == backend) & (be["batch"] == batch) & (be["cache"] == cache)
                         & (be["shape"] == shape)]
                if len(rec) and bool(rec["uncertain"].iloc[0]):  # bounded, not crossed: the range as a bracket
                    lo_r = rec["range_lo"].iloc[0] if rec["range_lo"].iloc[0] > 0 else edges[0]
                    hi_r = rec["range_hi"].iloc[0] if np.isfinite(rec["range_hi"].iloc[0]) else edges[-1]
                    ax.plot([lo_r, hi_r], [y, y], "-", color="black", lw=1.2, zorder=5)
                    ax.plot([lo_r, hi_r], [y, y], "|", color="black", ms=10, mew=1.5, zorder=5)
                elif len(rec) and rec["status"].iloc[0] == STATUS_CROSSING:
                    crossings[y] = rec["measured"].iloc[0]
                elif len(rec) and rec["status"].iloc[0] == STATUS_FASTER:
                    ax.plot(edges[-1] * 1.15, y, ">", color="black", ms=6, zorder=5)
            for y, x in crossings.items():
                ax.plot([x, x], [y - 0.45, y + 0.45], "-", color="black", lw=2.2, zorder=5)
                if y + 1 in crossings:  # the contour runs on only between neighbouring shapes
                    ax.plot([x, crossings[y + 1]], [y + 0.45, y + 0.55], "-", color="black", lw=1.2, zorder=5)
            _log2_rank_axis(ax)
            ax.set_yticks(range(len(shapes)), shapes)
            ax.set_ylim(-0.6, len(shapes) - 0.4)
            ax.set_xlim(right=max(ax.get_xlim()[1], right * 1.5))
            ax.set_title(f"{backend} · batch {batch} · {cache} cache", fontsize=10)
            if i == len(rows) - 1:
                ax.set_xlabel("rank r")
            if j == 0:
                ax.set_ylabel("shape d×k")
    if mesh is not None:
        ticks = [t for t in range(math.floor(bottom), math.ceil(top) + 1) if bottom <= t <= top]
        if bottom > -1:
            ticks = [math.log10(0.5)] + ticks
        bar = fig.colorbar(mesh, ax=axes, shrink=0.6, ticks=ticks)
        bar.ax.set_yticklabels([f"{10 ** t:g}×" for t in ticks])
        bar.set_label("speedup (blue: factored faster, red: slower)")
    fig.suptitle(f"Crossover map ({dtype}): speedup by shape and rank\n"
                 "black bar = measured break-even (speedup 1), ◆ = r*, ▶ = faster at every measured rank",
                 fontsize=11)
    return fig


# -- 6. roofline ---------------------------------------------------------------------------------
def roofline_plot(rf: pd.DataFrame) -> Figure:
    """Achieved GFLOP/s against arithmetic intensity under the calibrated roof, per backend and dtype."""
    if rf.empty:
        return _empty("no matvec timings to plot")
    backends = sorted(rf["backend"].unique())
    dtypes = sorted(rf["dtype"].unique())
    batches = sorted(int(b) for b in rf["batch"].unique())
    cmap = colormaps["plasma"]
    batch_colors = {b: cmap(0.1 + 0.7 * i / max(1, len(batches) - 1)) for i, b in enumerate(batches)}
    fig, axes = _panels(len(dtypes), len(backends), sharex=True, sharey=True)
    for i, dtype in enumerate(dtypes):
        for j, backend in enumerate(backends):
            ax = axes[i][j]
            part = rf[(rf["backend"] == backend) & (rf["dtype"] == dtype)]
            if part.empty:
                ax.set_visible(False)
                continue
            for (variant, batch, cache), g in part.groupby(["variant", "batch", "cache"]):
                marker = "s" if variant == "dense" else "o"
                c = batch_colors[int(batch)]
                face = c if cache == "warm" else "none"
                ax.scatter(g["arithmetic_intensity"], g["achieved_gflops"], marker=marker,
                           s=22 if variant == "dense" else 12, facecolors=face,
                           edgecolors=c if variant == "factored" else "black", linewidths=0.8, alpha=0.85)
            bw, peak = part["roof_gbps"].iloc[0], part["roof_gflops"].iloc[0]
            if np.isfinite(bw) and np.isfinite(peak):
                ai = np.logspace(np.log10(part["arithmetic_intensity"].min() / 2),
                                 np.log10(max(part["arithmetic_intensity"].max() * 2, 2 * peak / bw)), 200)
                ax.plot(ai, np.minimum(peak, ai * bw), "-", color="black", lw=1.5)
                ax.text(0.98, 0.03, f"roof: DRAM {bw:.0f} GB/s, matmul peak {peak:.0f} GFLOP/s", fontsize=8,
                        ha="right", va="bottom", transform=ax.transAxes,
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.8))
            ax.set_xscale("log")
            ax.set_yscale("log")
            _log_axis_labels(ax, "x")
            _log_axis_labels(ax, "y")
            ax.grid(True, which="major", alpha=0.3)
            ax.set_title(f"{backend} · {dtype}", fontsize=10)
            if i == len(dtypes) - 1:
                ax.set_xlabel("arithmetic intensity (FLOP/byte)")
            if j == 0:
                ax.set_ylabel("achieved GFLOP/s")
    handles = [Line2D([], [], marker="o", ls="", color=c, label=f"batch {b}") for b, c in batch_colors.items()]
    handles += [
        Line2D([], [], marker="s", ls="", mfc="grey", mec="black", label="dense W@x"),
        Line2D([], [], marker="o", ls="", color="grey", label="factored"),
        Line2D([], [], marker="o", ls="", mfc="none", mec="grey", label="cold cache (hollow)"),
        Line2D([], [], color="black", label="calibrated roofline"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle("Achieved GFLOP/s against this machine's roofline (points above it ran from cache)")
    return fig


# -- 7. run vs run -----------------------------------------------------------------------------
_STATUS_COLORS = {STATUS_REGRESSION: "tab:red", STATUS_IMPROVEMENT: "tab:green", STATUS_NOISE: "tab:orange"}


def comparison_plot(comparisons: list[tuple[Comparison, str, str]]) -> Figure:
    """Time ratio B/A per case, one panel per comparison; regressions red, improvements green.

    ``comparisons`` holds ``(comparison, label_a, label_b)``. Cases are ordered by
    suite, backend, dtype, batch, cache, size and rank, with a labelled band per
    backend and dtype; the grey band is ±threshold around 1.
    """
    if not comparisons:
        return _empty("no runs to compare")
    fig = Figure(figsize=(11, 3.6 * len(comparisons) + 0.8), layout="constrained")
    axes = fig.subplots(len(comparisons), 1, squeeze=False)[:, 0]
    for ax, (cmp, label_a, label_b) in zip(axes, comparisons):
        t = cmp.table.copy()
        if t.empty:
            ax.text(0.5, 0.5, "no benchmark in common", ha="center", va="center", transform=ax.transAxes)
            continue
        t["_size"] = t["d"].astype(float) * t["k"].astype(float) if "d" in t else 0
        t["_rank"] = t["rank"].astype(float).fillna(0) if "rank" in t else 0
        sort = [c for c in ("suite", "backend", "dtype", "batch", "cache", "_size", "d", "_rank") if c in t]
        t = t.sort_values(sort, na_position="first").reset_index(drop=True)
        band = (1 / (1 + cmp.threshold), 1 + cmp.threshold)
        ax.axhspan(*band, color="grey", alpha=0.15, lw=0)
        ax.axhline(1.0, color="black", lw=1.0)
        order = [STATUS_SAME, STATUS_NOISE, STATUS_IMPROVEMENT, STATUS_REGRESSION]  # flagged cases drawn on top
        for status in [st for st in order if st in set(t["status"])]:
            g = t[t["status"] == status]
            c = _STATUS_COLORS.get(status, "0.55")
            flagged = status in (STATUS_REGRESSION, STATUS_IMPROVEMENT)
            yerr = np.vstack([(g["ratio"] - g["ratio_lo"]).clip(lower=0), (g["ratio_hi"] - g["ratio"]).clip(lower=0)])
            ax.errorbar(g.index, g["ratio"], yerr=np.nan_to_num(yerr), fmt="o", ms=5 if flagged else 2.5, color=c,
                        elinewidth=1.0 if flagged else 0.5, label=f"{status} ({len(g)})", alpha=1.0 if flagged else 0.7,
                        zorder=4 if flagged else 2)
        groups = t.groupby([t.get("suite", pd.Series("", index=t.index)), t["backend"], t["dtype"]], sort=False)
        for n, ((suite, backend, dtype), g) in enumerate(groups):
            lo, hi = g.index.min(), g.index.max()
            if n % 2:
                ax.axvspan(lo - 0.5, hi + 0.5, color="tab:blue", alpha=0.05, lw=0)
            name = f"{backend} {dtype}" if suite == "matvec" else f"{suite}: {backend}"
            # Alternate heights: narrow neighbouring groups (a suite's few cases) would print over each other.
            ax.text((lo + hi) / 2, 1.0 + 0.045 * (n % 2), name, transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=8)
        if cmp.metric != "instructions":  # counts differ by fractions of a percent: a linear axis reads them
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            _log_axis_labels(ax, "y")
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(-1, len(t))
        ax.set_xticks([])
        ax.set_xlabel("benchmark (grouped by backend and dtype; within a group by batch, cache, size, rank)")
        ax.set_ylabel("instructions B / A (> 1: B does more)" if cmp.metric == "instructions"
                      else "time ratio B / A (> 1: B slower)")
        same = "same machine" if cmp.same_machine else "DIFFERENT machines: ratios include the hardware"
        ax.set_title(f"A = {label_a}\nB = {label_b}  ({same}; geometric mean "
                     f"{geometric_mean(t['ratio']):.3f})", fontsize=9, pad=24)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
        ax.grid(True, axis="y", alpha=0.3)
    counted = all(cmp.metric == "instructions" for cmp, _, _ in comparisons)
    fig.suptitle("Run vs run: instructions per call B/A per benchmark (exact; grey band: ±tolerance)" if counted
                 else "Run vs run: time ratio per benchmark with 95% interval (grey band: ±threshold)")
    return fig



