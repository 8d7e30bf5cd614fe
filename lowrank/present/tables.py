"""Tables in the style of torch.utils.benchmark's ``Compare``: rows × columns, the unit in a footer.

A :class:`Table` is plain strings; it renders as fixed-width text (the console),
Markdown and HTML. The builders below turn the derived frames into tables with
rows = rank and columns = shape.
"""

from __future__ import annotations

import math

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lowrank.judge.speedups import (
    NOISE_THRESHOLD,
    STATUS_CROSSING,
    STATUS_FASTER,
    STATUS_IMPROVEMENT,
    STATUS_REGRESSION,
    STATUS_SLOWER,
    format_rank,
    shape_label,
)

NOISY_MARK = "!"
NON_MONOTONIC_MARK = "*"
MISSING = "–"


@dataclass(frozen=True)
class Table:
    """A titled grid of formatted cells with a row header and a footer.

    ``classes`` (same shape as the cells, optional) names a style per cell for HTML:
    ``"good"``, ``"bad"`` or ``"noisy"``.
    """

    title: str
    row_header: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    footer: str = ""
    classes: tuple[tuple[str, ...], ...] | None = field(default=None)

    def to_text(self) -> str:
        """Fixed-width, as ``torch.utils.benchmark.Compare`` prints."""
        labels = [self.row_header] + [r[0] for r in self.rows]
        lw = max(len(s) for s in labels)
        widths = [max([len(c)] + [len(r[1][j]) for r in self.rows]) for j, c in enumerate(self.columns)]
        head = f"  {self.row_header:<{lw}} | " + " | ".join(f"{c:>{w}}" for c, w in zip(self.columns, widths))
        bar = f"[{'-' * max(0, (len(head) - len(self.title) - 4) // 2)} {self.title} "
        bar += "-" * max(0, len(head) - len(bar) - 1) + "]"
        lines = [bar, head]
        for label, cells in self.rows:
            lines.append(f"  {label:<{lw}} | " + " | ".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
        if self.footer:
            lines += ["", self.footer]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        esc = lambda s: s.replace("|", "\\|")  # noqa: E731
        lines = [f"**{esc(self.title)}**", "", "| " + " | ".join(esc(c) for c in (self.row_header,) + self.columns) + " |",
                 "|" + "---|" + "---:|" * len(self.columns)]
        lines += ["| " + " | ".join(esc(c) for c in (label,) + tuple(cells)) + " |" for label, cells in self.rows]
        if self.footer:
            lines += ["", f"<sub>{esc(self.footer)}</sub>"]
        return "\n".join(lines)

    def to_html(self) -> str:
        e = html.escape
        out = [f'<table class="cmp"><caption>{e(self.title)}</caption><thead><tr><th>{e(self.row_header)}</th>']
        out += [f"<th>{e(c)}</th>" for c in self.columns]
        out.append("</tr></thead><tbody>")
        for i, (label, cells) in enumerate(self.rows):
            out.append(f"<tr><th>{e(label)}</th>")
            for j, c in enumerate(cells):
                cls = self.classes[i][j] if self.classes else ""
                out.append(f'<td class="{cls}">{e(c)}</td>' if cls else f"<td>{e(c)}</td>")
            out.append("</tr>")
        out.append("</tbody>")
        if self.footer:
            out.append(f'<tfoot><tr><td colspan="{len(self.columns) + 1}">{e(self.footer)}</td></tr></tfoot>')
        out.append("</table>")
        return "".join(out)


# -- formatting -------------------------------------------------------------------------------
def fmt_ratio(x: float) -> str:
    """3 significant figures for a ratio: 0.871, 5.62, 52.1, 274."""
    if x is None or not np.isfinite(x):
        return MISSING
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def fmt_sig(x: float, digits: int = 3) -> str:
    """``digits`` significant figures without exponents in the usual range: 0.0841, 6.548, 67.59, 558,012."""
    if x is None or not np.isfinite(x):
        return MISSING
    if x == 0:
        return "0"
    if abs(x) >= 10**digits:
        return f"{x:,.0f}"
    if abs(x) < 1e-3:
        return f"{x:.{max(1, digits - 1)}e}"
    return f"{x:.{digits}g}"


def fmt_bytes(n: float) -> str:
    """Bytes in the largest binary unit that keeps the value ≥ 1: 2 KiB, 4 MiB, 256 MiB."""
    if n is None or not np.isfinite(n):
        return MISSING
    for name, scale in reversed(BYTE_UNITS):
        if n >= scale:
            return f"{n / scale:.3g} {name}"
    return f"{n:.0f} B"


TIME_UNITS = (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0))
BYTE_UNITS = (("B", 1), ("KiB", 2**10), ("MiB", 2**20), ("GiB", 2**30))


def pick_unit(values, units) -> tuple[str, float]:
    """The largest unit in which the smallest value is still ≥ 1 (as Compare chooses one unit per table)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0], float)
    if not len(v):
        return units[0]
    low = v.min()
    chosen = units[0]
    for name, scale in units:
        if low / scale >= 1:
            chosen = (name, scale)
    return chosen


def _shape_order(frame: pd.DataFrame) -> list[str]:
    shapes = frame[["d", "k"]].drop_duplicates().astype(int)
    shapes = sorted(map(tuple, shapes.to_numpy()), key=lambda s: (s[0] * s[1], s[0]))
    return [shape_label(d, k) for d, k in shapes]


def _grid(frame: pd.DataFrame, value_fn, row_key, row_labels=None, class_fn=None):
    """Rows by ``row_key`` (sorted), columns by shape; cells ``value_fn(row)``."""
    columns = _shape_order(frame)
    keys = sorted(frame[row_key].dropna().unique())
    cells, classes = {}, {}
    for rec in frame.to_dict("records"):
        key = (rec[row_key], shape_label(rec["d"], rec["k"]))
        cells[key] = value_fn(rec)
        classes[key] = class_fn(rec) if class_fn else ""
    label = row_labels or str
    rows = tuple((label(k), tuple(cells.get((k, c), MISSING) for c in columns)) for k in keys)
    cls = tuple(tuple(classes.get((k, c), "") for c in columns) for k in keys)
    return tuple(columns), rows, cls


def group_title(backend: str, dtype: str, batch: int, cache: str) -> str:
    """``"numpy float32, batch 32, warm cache"``: the title of one group's table."""
    return f"{backend} {dtype}, batch {int(batch)}, {cache} cache"


# -- builders ---------------------------------------------------------------------------------
def speedup_table(sp: pd.DataFrame, be: pd.DataFrame | None, title: str) -> Table:
    """Speedup per rank (rows) and shape (columns) of one backend/dtype/batch/cache, with the break-even rows."""
    def cell(r):
        return fmt_ratio(r["speedup"]) + (NOISY_MARK if r["noisy"] else "")

    def cls(r):
        return "noisy" if r["noisy"] else ("good" if r["speedup"] > 1 else "bad")

    columns, rows, classes = _grid(sp, cell, "rank", class_fn=cls)
    extra_rows, extra_cls = [], []
    if be is not None and len(be):
        by_shape = {s: r for s, r in zip(be["shape"], be.to_dict("records"))}
        extra_rows.append(("break-even", tuple(short_break_even(by_shape[c]) if c in by_shape else MISSING
                                               for c in columns)))
        extra_rows.append(("r* = dk/(d+k)", tuple(format_rank(by_shape[c]["r_star"]) if c in by_shape else MISSING
                                                  for c in columns)))
        extra_cls = [("",) * len(columns)] * 2
    footer = (f"Unit: speedup × (> 1: B@(A@x) is faster): the paired speedup, the median ratio of dense and "
              "factored rounds timed alternately (dense median / factored median in files without it). "
              f"{NOISY_MARK} noisy (IQR/median > {NOISE_THRESHOLD:.0%} on either side); {MISSING} not measured. "
              "break-even: measured rank where the speedup crosses 1 (log-rank interpolation), '≈ a–b' where "
              "a speedup interval holds 1; "
              "'> R' faster at every rank up to R, '< R' slower from R up (none in range); "
              f"{NON_MONOTONIC_MARK} crosses 1 more than once (first crossing shown).")
    return Table(title, "rank", columns, rows + tuple(extra_rows), footer, classes + tuple(extra_cls))


def short_break_even(rec: dict) -> str:
    """The break-even cell of a speedup table: ``1934``, ``≈ 1800–2048+`` (bounded), ``> 2048``, ``< 4``."""
    status = rec["status"]
    if bool(rec.get("uncertain", False)):
        lo, hi = rec["range_lo"], rec["range_hi"]
        left = f"<{int(rec['min_rank'])}" if lo <= 0 else format_rank(lo)
        right = f"{int(rec['max_rank'])}+" if not math.isfinite(hi) else format_rank(hi)
        return f"≈ {left}–{right}"
    if status == STATUS_CROSSING:
        return format_rank(rec["measured"]) + (NON_MONOTONIC_MARK if rec.get("crossings", 1) > 1 else "")
    if status == STATUS_FASTER:
        return f"> {int(rec['max_rank'])}"
    if status == STATUS_SLOWER:
        return f"< {int(rec['min_rank'])}"
    return "?"


def time_table(rows: pd.DataFrame, title: str) -> Table:
    """Median time of dense (first row) and each rank, per shape, in one unit chosen for the table."""
    unit, scale = pick_unit(rows["median"], TIME_UNITS)
    rows = rows.assign(_row=[-1 if pd.isna(r) else int(r) for r in rows["rank"]])

    def cell(r):
        return fmt_sig(r["median"] / scale, 4) + (NOISY_MARK if r["rel_iqr"] > NOISE_THRESHOLD else "")

    columns, table_rows, classes = _grid(rows, cell, "_row", row_labels=lambda k: "dense" if k == -1 else str(k))
    footer = (f"Times are medians in {unit} per call. {NOISY_MARK} noisy (IQR/median > {NOISE_THRESHOLD:.0%}); "
              f"{MISSING} not measured.")
    return Table(title, "rank", columns, table_rows, footer)


def break_even_table(be: pd.DataFrame, title: str = "Measured break-even rank") -> Table:
    """One row per backend/dtype/batch/cache, one column per shape: measured break-even and its ratio to r*."""
    columns = _shape_order(be)
    rstar = {shape_label(d, k): d * k / (d + k) for d, k in be[["d", "k"]].drop_duplicates().to_numpy()}
    rows = [("r* (theory)", tuple(format_rank(rstar[c]) for c in columns))]
    classes = [("",) * len(columns)]
    keys = ["backend", "dtype", "batch", "cache"]
    for key, g in be.groupby(keys, sort=True):
        by_shape = {s: r for s, r in zip(g["shape"], g.to_dict("records"))}
        cells, cls = [], []
        for c in columns:
            rec = by_shape.get(c)
            if rec is None:
                cells.append(MISSING)
                cls.append("")
            elif rec["status"] == STATUS_CROSSING:
                cells.append(f"{short_break_even(rec)} ({rec['ratio']:.2f}×)")
                cls.append("")
            else:
                cells.append(short_break_even(rec))
                cls.append("good" if rec["status"] == STATUS_FASTER else "bad")
        rows.append((f"{key[0]} {key[1]} n={int(key[2])} {key[3]}", tuple(cells)))
        classes.append(tuple(cls))
    footer = ("Rank where B@(A@x) stops being faster than W@x, interpolated in log-rank (measured ÷ r* in brackets). "
              "'> R': faster at every measured rank up to R; '< R': slower at every rank from R; none in range. "
              f"{NON_MONOTONIC_MARK} the speedup crosses 1 more than once (noisy or non-monotonic): the first fall "
              "below 1 is shown.")
    return Table(title, "backend dtype batch cache", tuple(columns), tuple(rows), footer, tuple(classes))


def error_table(sp: pd.DataFrame, title: str) -> Table:
    """Relative Frobenius error per rank and shape, with measured ÷ Eckart–Young optimum."""
    def cell(r):
        opt = r["optimal_error_fro"]
        if not opt > 0:  # full rank: the optimum is 0 and what remains is rounding
            return fmt_sig(r["rel_error_fro"]) + " (full rank)"
        return f"{fmt_sig(r['rel_error_fro'])} ({r['rel_error_fro'] / opt:.2f}×)"

    one = sp.drop_duplicates(["d", "k", "rank"])
    columns, rows, _ = _grid(one, cell, "rank")
    footer = ("Unit: relative error ‖W − B·A‖_F / ‖W‖_F of the stored factors; in brackets measured ÷ "
              "Eckart–Young optimum √(Σ_{i>r} σ_i²)/‖W‖_F (1.00× is optimal). Depends on the matrix's "
              "spectrum (here σ_i = 1/i).")
    return Table(title, "rank", columns, rows, footer)


def memory_table(sp: pd.DataFrame, title: str) -> Table:
    """Parameter bytes per rank and shape, with the dense matrix's bytes as the first row."""
    one = sp.drop_duplicates(["d", "k", "rank"])
    dense = one.drop_duplicates(["d", "k"]).assign(rank=-1, param_bytes=lambda f: f["dense_param_bytes"])
    both = pd.concat([dense, one], ignore_index=True)

    def cell(r):
        value = fmt_bytes(float(r["param_bytes"]))
        if r["rank"] == -1:
            return value
        return f"{value} ({100 * r['param_bytes'] / r['dense_param_bytes']:.3g}%)"

    columns, rows, _ = _grid(both, cell, "rank", row_labels=lambda k: "dense" if k == -1 else str(k))
    footer = "Unit: parameter memory (B and A together; dense: W), binary units; in brackets % of dense."
    return Table(title, "rank", columns, rows, footer)


def roofline_table(rf: pd.DataFrame, title: str = "Roofline: calibrated roofs and achieved fraction") -> Table:
    """Per backend/dtype: the roofs, and the median fraction of the roofline per variant, batch and cache."""
    rows, columns = [], ("roof GB/s", "roof GFLOP/s", "dense: median fraction", "factored: median fraction")
    for key, g in rf.groupby(["backend", "dtype", "batch", "cache"], sort=True):
        dense = g[g["variant"] == "dense"]["roofline_fraction_calc"].median()
        fact = g[g["variant"] == "factored"]["roofline_fraction_calc"].median()
        rows.append((f"{key[0]} {key[1]} n={int(key[2])} {key[3]}",
                     (fmt_sig(g["roof_gbps"].iloc[0]), fmt_sig(g["roof_gflops"].iloc[0]), fmt_ratio(dense),
                      fmt_ratio(fact))))
    footer = ("Fraction = roofline time max(bytes/bandwidth, FLOPs/peak) ÷ median, with this run's calibration "
              "(STREAM copy/add, square matmul). 1.0 is at the roof; above 1: served from cache, faster than DRAM.")
    return Table(title, "backend dtype batch cache", columns, tuple(rows), footer)


def noisy_table(frame: pd.DataFrame, limit: int = 40, threshold: float = NOISE_THRESHOLD) -> tuple[Table, int]:
    """The cases whose IQR exceeds ``threshold`` of the median, noisiest first; and how many there are.

    Beside the IQR (rounds inside one process) each row shows the between-process spread
    (``process_spread``, the passes of separate worker processes) where it was measured.
    """
    noisy = frame[frame["rel_iqr"] > threshold].sort_values("rel_iqr", ascending=False)
    unit, scale = pick_unit(noisy["median"], TIME_UNITS) if len(noisy) else TIME_UNITS[1]

    def spread(r):
        value = r.get("process_spread")
        return f"{100 * value:.0f}%" if isinstance(value, (int, float)) and np.isfinite(value) else MISSING

    rows = tuple(
        (r["name"], (fmt_sig(r["median"] / scale, 4), f"{100 * r['rel_iqr']:.0f}%", spread(r), str(int(r["rounds"]))))
        for r in noisy.head(limit).to_dict("records")
    )
    more = f" Showing {limit} of {len(noisy)}; all are in results.csv (column rel_iqr)." if len(noisy) > limit else ""
    footer = (f"Median in {unit}. IQR/median above {threshold:.0%}: re-run these, or read them with care. "
              f"Between processes: (max − min)/median of the passes' medians.{more}")
    return (Table(f"Noisy cases ({len(noisy)})", "benchmark", ("median", "IQR/median", "between processes", "rounds"),
                  rows, footer), len(noisy))


def flagged_table(sp: pd.DataFrame, limit: int = 40) -> tuple[Table, int]:
    """The speedups flagged physically implausible, with the reason; and how many there are."""
    flagged = sp[sp["flag"].notna()] if "flag" in sp else sp.iloc[0:0]
    rows = tuple(
        (f"{r['backend']} {r['dtype']} {r['shape']} r={int(r['rank'])} n={int(r['batch'])} {r['cache']}",
         (fmt_ratio(r["speedup"]), str(r["flag"])))
        for r in flagged.head(limit).to_dict("records")
    )
    more = f" Showing {limit} of {len(flagged)}." if len(flagged) > limit else ""
    footer = ("A flagged speedup is a measurement fault until shown otherwise (a stalled dense timing, or a factored "
              f"call that did not do the work); it is left out of the findings, break-even ranks and figures.{more}")
    return Table(f"Flagged results ({len(flagged)})", "case", ("speedup", "why"), rows, footer), len(flagged)


def comparison_table(cmp_rows: pd.DataFrame, title: str) -> Table:
    """Time ratio B/A per rank (rows, dense first) and shape (columns) of one backend/dtype/batch/cache."""
    rows = cmp_rows.assign(_row=[-1 if pd.isna(r) else int(r) for r in cmp_rows["rank"]])
    marks = {STATUS_REGRESSION: " ▲", STATUS_IMPROVEMENT: " ▼"}

    def cell(r):
        return fmt_ratio(r["ratio"]) + marks.get(r["status"], "") + (NOISY_MARK if r["noisy"] else "")

    def cls(r):
        return {STATUS_REGRESSION: "bad", STATUS_IMPROVEMENT: "good"}.get(r["status"], "")

    columns, table_rows, classes = _grid(rows, cell, "_row", row_labels=lambda k: "dense" if k == -1 else str(k),
                                         class_fn=cls)
    footer = ("Unit: time ratio B/A of the medians (> 1: B is slower). ▲ regression, ▼ improvement (beyond the "
              f"minimum effect and significant, as the gate judges); {NOISY_MARK} noisy on either side.")
    return Table(title, "rank", columns, table_rows, footer, classes)


def count_comparison_table(rows: pd.DataFrame, title: str) -> Table:
    """Instructions per call of two counted runs, one row per case, with the change and the gate's verdict."""
    rows = rows.sort_values("param_id" if "param_id" in rows else "fullname")
    marks = {STATUS_REGRESSION: "▲ more", STATUS_IMPROVEMENT: "▼ fewer"}
    body, classes = [], []
    for r in rows.to_dict("records"):
        body.append((str(r.get("param_id") or r["fullname"].split("::")[-1]),
                     (f"{r['instructions_a']:,.0f}", f"{r['instructions_b']:,.0f}", f"{r['ratio'] - 1:+.3%}",
                      marks.get(r["status"], ""))))
        cls = {STATUS_REGRESSION: "bad", STATUS_IMPROVEMENT: "good"}.get(r["status"], "")
        classes.append(("", "", cls, cls))
    return Table(title, "case", ("A", "B", "B/A − 1", "verdict"), tuple(body),
                 "callgrind's instructions per call (Ir); ▲/▼: beyond the instructions tolerance, as the gate judges.",
                 tuple(classes))


def top_changes_table(table: pd.DataFrame, status: str, limit: int = 15) -> Table:
    """The largest regressions (or improvements) of a run comparison, with both medians."""
    rows = table[table["status"] == status]
    rows = rows.sort_values("ratio", ascending=(status == STATUS_IMPROVEMENT)).head(limit)
    unit, scale = pick_unit(list(rows["median_a"]) + list(rows["median_b"]), TIME_UNITS)
    body = tuple(
        (r["fullname"].split("::")[-1],
         (fmt_sig(r["median_a"] / scale, 4), fmt_sig(r["median_b"] / scale, 4), fmt_ratio(r["ratio"]),
          f"{fmt_ratio(r['ratio_lo'])}–{fmt_ratio(r['ratio_hi'])}"))
        for r in rows.to_dict("records")
    )
    name = "Regressions" if status == STATUS_REGRESSION else "Improvements"
    return Table(f"{name} (largest {len(body)})", "benchmark", ("A", "B", "B/A", "95% interval"), body,
                 f"Medians in {unit}; interval from the raw samples (bootstrap) or the IQRs.")
