"""The report: result files in, a Markdown page, a self-contained HTML page, figures and CSVs out.

:func:`write_report` answers, for one run (the newest unless told): how much
faster ``B @ (A @ x)`` is than ``W @ x`` at each shape, rank, batch and backend;
where the measured break-even rank lies against r* = d·k/(d+k); what each rank
costs in error and memory; how close each backend comes to the calibrated
roofline; and, when more runs are given, how the run differs from the others.
:func:`write_comparison` puts two runs side by side.

The report is built once as a list of blocks and rendered twice (Markdown and
HTML), so the two pages always say the same thing. Result files are only read.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lowrank.judge import counts, gate, speedups
from lowrank.judge.speedups import STATUS_CROSSING, STATUS_FASTER, STATUS_IMPROVEMENT, STATUS_REGRESSION, format_rank
from lowrank.present import plots, sections, tables
from lowrank.present.tables import Table
from lowrank.record import paths
from lowrank.record.schema import same_metric
from lowrank.record.suites import SUITES
from lowrank.store import load as load_mod
from lowrank.store.files import relocated, staged_folder
from lowrank.store.load import LoadResult, ResultFileError, RunInfo

DEFAULT_OUTPUT = paths.REPORT
MAX_COMPARED_RUNS = 4  # older runs drawn against the report's run in figure 7


# -- document model ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class FigureBlock:
    path: Path  # the PNG, written before rendering
    caption: str


@dataclass(frozen=True)
class TableBlock:
    table: Table


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks) -> None:
        self.blocks.extend(blocks)

    def to_markdown(self, base: Path) -> str:
        out = [f"# {self.title}", ""]
        for b in self.blocks:
            if isinstance(b, Heading):
                out += ["#" * b.level + " " + b.text, ""]
            elif isinstance(b, Para):
                out += [b.text, ""]
            elif isinstance(b, Bullets):
                out += [f"- {item}" for item in b.items] + [""]
            elif isinstance(b, FigureBlock):
                rel = b.path.relative_to(base).as_posix()
                out += [f"![{b.caption}]({rel})", "", f"*{b.caption}*", ""]
            elif isinstance(b, TableBlock):
                out += [b.table.to_markdown(), ""]
        return "\n".join(out)

    def to_html(self) -> str:
        e = html.escape
        body = [f"<h1>{e(self.title)}</h1>"]
        for b in self.blocks:
            if isinstance(b, Heading):
                body.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
            elif isinstance(b, Para):
                body.append(f"<p>{_inline(b.text)}</p>")
            elif isinstance(b, Bullets):
                body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
            elif isinstance(b, FigureBlock):
                data = base64.b64encode(b.path.read_bytes()).decode("ascii")
                body.append(f'<figure><img alt="{e(b.caption)}" src="data:image/png;base64,{data}">'
                            f"<figcaption>{e(b.caption)}</figcaption></figure>")
            elif isinstance(b, TableBlock):
                body.append(b.table.to_html())
        return _HTML.format(title=e(self.title), body="\n".join(body))


def _inline(text: str) -> str:
    """HTML of a Markdown line: escape, then `code` and **bold** (all this report uses)."""
    import re

    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }}
h1, h2, h3 {{ line-height: 1.2; }} h2 {{ border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }}
table.cmp {{ border-collapse: collapse; margin: 1em 0 1.6em; font-size: 13px; font-variant-numeric: tabular-nums; }}
table.cmp caption {{ text-align: left; font-weight: 600; padding-bottom: .3em; }}
table.cmp th, table.cmp td {{ border: 1px solid #ddd; padding: 2px 8px; }}
table.cmp td {{ text-align: right; }} table.cmp thead th {{ background: #f4f4f4; }}
table.cmp tbody th {{ text-align: left; font-weight: normal; background: #fafafa; }}
table.cmp tfoot td {{ text-align: left; color: #555; font-size: 12px; border: none; padding-top: .4em; }}
td.good {{ background: #e6f2ff; }} td.bad {{ background: #fde8e4; }} td.noisy {{ background: #fff4d6; }}
figure {{ margin: 1.5em 0; }} figure img {{ max-width: 100%; }} figcaption {{ color: #555; font-size: 14px; }}
code {{ background: #f4f4f4; padding: 0 3px; }}
</style></head><body>
{body}
</body></html>
"""


# -- analysis of one load -------------------------------------------------------------------------
@dataclass
class Analysis:
    """Everything the report draws from: the load, the chosen run and the derived frames."""

    loaded: LoadResult
    run: RunInfo
    frame: pd.DataFrame  # the chosen run's rows (all suites)
    speedups: pd.DataFrame
    break_even: pd.DataFrame
    roofline: pd.DataFrame
    dtype: str


def analyse(loaded: LoadResult, run_id: str | None = None, n_boot: int = speedups.N_BOOT) -> Analysis:
    """Derive speedups, break-even ranks and roofline fractions for one run (default: the newest)."""
    run = _pick_run(loaded, run_id)
    frame = loaded.frame[loaded.frame["run_id"] == run.run_id]
    sp = speedups.speedups(frame, n_boot=n_boot, runs=loaded.runs)
    be = speedups.break_even(sp)
    rf = speedups.roofline(frame, loaded.runs)
    dtype = plots.primary_dtype(sp) if len(sp) else "float32"
    return Analysis(loaded, run, frame, sp, be, rf, dtype)


def _pick_run(loaded: LoadResult, run_id: str | None) -> RunInfo:
    if run_id is None:
        return loaded.runs[-1]
    matches = [r for r in loaded.runs if r.run_id == run_id or Path(r.path).name == run_id]
    if not matches:
        matches = [r for r in loaded.runs if r.run_id.startswith(run_id)]
    if len(matches) != 1:
        known = ", ".join(repr(r.run_id) for r in loaded.runs)
        what = "matches no run" if not matches else "matches several runs"
        raise ResultFileError(run_id, f"--run {what}; the runs read are: {known}")
    return matches[0]


# -- findings ---------------------------------------------------------------------------------------
def key_findings(a: Analysis) -> list[str]:
    """A few sentences: best speedup, break-even per backend and batch, error there, roofline, noise."""
    sp, be, out = a.speedups, a.break_even, []
    if sp.empty:
        return ["This run has no dense/factored pairs of the matvec suite, so there is no speedup to report."]
    if a.run.completeness:
        out.append(f"**{a.run.completeness}**: the findings below cover only the cases it finished.")
    n_flagged = int(sp["flag"].notna().sum()) if "flag" in sp else 0
    sp = speedups.plausible(sp)
    if sp.empty:
        return out + [f"Every one of the {n_flagged} speedups is flagged physically implausible; nothing to report."]
    quiet = sp[~sp["noisy"]]
    best = (quiet if len(quiet) else sp).loc[(quiet if len(quiet) else sp)["speedup"].idxmax()]
    out.append(
        f"Largest speedup{' among the steady timings' if len(quiet) < len(sp) and len(quiet) else ''}: "
        f"**{tables.fmt_ratio(best['speedup'])}×** for {best['backend']} {best['dtype']} at "
        f"{best['shape']}, rank {int(best['rank'])}, batch {int(best['batch'])} ({best['cache']} cache), "
        f"at a relative error of {best['rel_error_fro']:.2g}."
    )
    prim = be[be["dtype"] == a.dtype]
    for backend, per_backend in prim.groupby("backend", sort=True):
        pieces = []
        groups = sorted(per_backend.groupby(["batch", "cache"]), key=lambda t: (t[0][0], t[0][1] != "warm"))
        for (batch, cache), g in groups:
            pieces.append(f"batch {int(batch)} {cache}: {_break_even_span(g)}")
        largest = per_backend[(per_backend["d"] * per_backend["k"]) == (per_backend["d"] * per_backend["k"]).max()]
        ref = largest.sort_values(["batch", "cache"], key=lambda c: c.ne("warm") if c.name == "cache" else c).iloc[0]
        out.append(f"Break-even on {backend} ({a.dtype}), measured ÷ r* over the shapes: " + "; ".join(pieces)
                   + f". At {ref['shape']} (batch {int(ref['batch'])}, {ref['cache']}): {ref['text']}, "
                   f"r* = {format_rank(ref['r_star'])}.")
    ref = prim[(prim["status"] == STATUS_CROSSING) & (prim["cache"] == "warm")]
    if len(ref):
        rec = ref.loc[(ref["d"] * ref["k"]).idxmax()]
        if np.isfinite(rec["error_at_break_even"]):
            out.append(
                f"Error at the break-even rank: at {rec['shape']} ({rec['backend']}, batch {int(rec['batch'])}) "
                f"the factors that just stop paying off (r≈{format_rank(rec['measured'])}) have a relative "
                f"Frobenius error of {rec['error_at_break_even']:.2g} on this test matrix (σ_i = 1/i); a lower "
                "rank is faster but less accurate."
            )
    out.extend(_cache_finding(a))
    out.extend(_roofline_finding(a))
    noisy = int((a.frame["rel_iqr"] > speedups.NOISE_THRESHOLD).sum())
    out.append(f"{noisy} of {len(a.frame)} timings are noisy (IQR above {speedups.NOISE_THRESHOLD:.0%} of the median)"
               + ("; they are listed at the end." if noisy else "."))
    out.extend(_spread_finding(a))
    out.append(f"{n_flagged} of {len(a.speedups)} speedups are flagged physically implausible"
               + (" (listed under 'Flagged results'); no finding or figure rests on them." if n_flagged
                  else " by the cost model and this run's calibration."))
    return out


def _spread_finding(a: Analysis) -> list[str]:
    """How far the separate processes of this run landed from each other."""
    if "process_spread" not in a.frame or a.frame["process_spread"].isna().all():
        return ["Between-process spread not measured (one process: LOWRANK_BENCH_PROCESSES=1, or an older file); "
                "separate processes of the same code differ by more than the rounds inside one."]
    spread = a.frame["process_spread"].dropna()
    processes = a.run.processes or int(a.frame["processes"].max())
    short = (a.run.timing or {}).get("short_pair_processes")
    more = (f" (a warm pair of short calls in {short}: the speedups that moved most between runs)"
            if short and short != processes else "")
    pooled = ((a.run.timing or {}).get("engine") or 0) >= 4
    reported = ("The figure reported is the median of every process's rounds pooled" if pooled
                else "The figure reported is the least disturbed process's median (timing engine 3)")
    return [f"Between processes: each case was timed in {processes} fresh worker processes{more}; their medians "
            f"differ by {spread.median():.1%} (median over cases, (max − min)/median), {int((spread > 0.05).sum())} of "
            f"{len(spread)} by more than 5%. {reported}; expect another run on this machine to land within about "
            "this spread."]


def _break_even_span(g: pd.DataFrame) -> str:
    """``"0.81–0.99 (2 of 6 shapes faster at every rank)"``: one batch/cache group of break-even ranks.

    A shape whose speedup interval holds 1 at some rank is counted as bounded, not as a crossing
    or a verdict (its cell says ``≈ r between a and b``)."""
    uncertain = g["uncertain"].fillna(False).astype(bool) if "uncertain" in g else pd.Series(False, index=g.index)
    bounded = int(uncertain.sum())
    g = g[~uncertain]
    cross = g[g["status"] == STATUS_CROSSING]
    faster = int((g["status"] == STATUS_FASTER).sum())
    other = len(g) - len(cross) - faster
    total = len(g) + bounded
    if len(cross):
        lo, hi = cross["ratio"].min(), cross["ratio"].max()
        text = f"{lo:.2f}" if math.isclose(lo, hi, rel_tol=0.005) else f"{lo:.2f}–{hi:.2f}"
    elif bounded:
        text = "no clear crossing"
    else:
        text = "none in range"
    notes = []
    if faster:
        notes.append(f"{faster} of {total} shapes faster at every measured rank")
    if other:
        notes.append(f"{other} of {total} never faster")
    if bounded:
        notes.append(f"{bounded} of {total} only bounded, the speedup's interval holding 1")
    return text + (f" ({', '.join(notes)})" if notes else "")


def _cache_finding(a: Analysis) -> list[str]:
    sp = a.speedups[a.speedups["batch"] == 1]
    if set(sp["cache"]) < {"warm", "cold"}:
        return []
    key = ["backend", "dtype", "d", "k", "rank"]
    both = sp[sp["cache"] == "warm"].merge(sp[sp["cache"] == "cold"], on=key, suffixes=("_w", "_c"))
    if both.empty:
        return []
    ratio = speedups.geometric_mean(both["speedup_c"] / both["speedup_w"])
    return [f"Cache: at batch 1 a cold cache changes the speedup by a factor of {ratio:.2f} (geometric mean over "
            f"{len(both)} cases; > 1: factoring gains more when W must come from DRAM)."]


def _roofline_finding(a: Analysis) -> list[str]:
    rf = a.roofline[(a.roofline["batch"] == a.roofline["batch"].min())] if len(a.roofline) else a.roofline
    if rf.empty or rf["roofline_fraction_calc"].isna().all():
        return ["No calibration in this run, so no roofline fractions."]
    parts = []
    for backend, g in rf.groupby("backend", sort=True):
        dense = g[(g["variant"] == "dense") & (g["cache"] == "cold")]
        dense = dense if len(dense) else g[g["variant"] == "dense"]
        parts.append(f"{backend} {tables.fmt_ratio(dense['roofline_fraction_calc'].median())}")
    above = int((rf["roofline_fraction_calc"] > 1).sum())
    text = (f"Roofline at batch {int(rf['batch'].min())}: dense W@x reaches a median fraction of "
            + ", ".join(parts) + " of this machine's calibrated roof")
    if above:
        text += f"; {above} case(s) exceed 1, i.e. their operands were served from cache, faster than DRAM"
    return [text + "."]


# -- the report -----------------------------------------------------------------------------------
@dataclass
class ReportResult:
    """What :func:`write_report` wrote."""

    out_dir: Path
    markdown: Path
    html: Path
    figures: list[Path]
    csvs: list[Path]
    run_id: str
    errors: list[ResultFileError]


def _machine_table(runs: list[RunInfo]) -> Table:
    cols = tuple(r.run_id for r in runs)

    def row(label, fn):
        return (label, tuple(str(fn(r)) if fn(r) not in (None, "") else "–" for r in runs))

    def cal(r):
        mem = (r.calibration.get("memory") or {}).get("cpu") or {}
        return (f"copy {mem['copy_gbps']:.1f} / add {mem['add_gbps']:.1f} GB/s" if mem else "–")

    def peaks(r):
        pk = r.calibration.get("peak_gflops") or {}
        return "; ".join(f"{b} " + ", ".join(f"{dt} {v:.0f}" for dt, v in d.items()) for b, d in pk.items()) or "–"

    def timing(r):
        t = r.timing or {}
        if not t:
            return "–"
        short = t.get("short_pair_processes")
        extra = (f" ({short} for warm pairs of short calls)" if short and short != (r.processes or 1) else "")
        return (f"{r.processes or 1} process(es) per backend{extra}; ≥ {t.get('min_rounds')} rounds of "
                f"~{1e3 * t.get('round_s', 0):g} ms each")

    rows = (
        row("host", lambda r: r.host),
        row("CPU / devices", lambda r: ", ".join(sorted(set(r.devices.values()))) or r.cpu),
        row("fingerprint", lambda r: r.fingerprint),
        row("profile", lambda r: r.profile),
        row("date (UTC)", lambda r: r.datetime[:19].replace("T", " ")),
        row("commit", lambda r: (r.commit[:10] + (" (dirty)" if r.dirty else "")) if r.commit else ""),
        row("threads (BLAS / torch)", lambda r: f"{r.threads.get('blas')} / {r.threads.get('torch')}"),
        row("timing", timing),
        row("complete", lambda r: "yes" if r.complete else r.completeness),
        row("python", lambda r: r.versions.get("python")),
        row("numpy", lambda r: r.versions.get("numpy")),
        row("torch", lambda r: r.versions.get("torch")),
        row("lowrank", lambda r: r.versions.get("lowrank")),
        row("pytest-benchmark", lambda r: r.versions.get("pytest_benchmark")),
        row("memory bandwidth", cal),
        row("matmul peak GFLOP/s", peaks),
        row("benchmarks read",
            lambda r: f"{r.n_benchmarks}" + (f" ({r.n_foreign} of other suites skipped)" if r.n_foreign else "")),
    )
    return Table("Machine, versions and calibration", "", cols, rows,
                 "Calibration: STREAM-style copy/add over buffers ≥ 8× the last-level cache; square matmul peak.")


def write_report(paths, out_dir=DEFAULT_OUTPUT, run_id: str | None = None, keep_going: bool = False,
                 n_boot: int = speedups.N_BOOT, log=None) -> ReportResult:
    """Read result files and write ``report.md``, ``report.html``, ``figures/*.png`` and CSVs to ``out_dir``.

    Parameters
    ----------
    paths : iterable of str or Path
        Result files or folders.
    out_dir : str or Path
        Where to write; created if needed, its report files replaced.
    run_id : str or None
        The run the report is about (a run id, file name or unique prefix); default the newest.
        The other runs are compared against it.
    keep_going : bool
        Skip unreadable files (listed in the report) instead of stopping at the first.
    log : callable or None
        Receives progress lines.
    """
    say = log or (lambda _msg: None)
    loaded = load_mod.load(paths, keep_going=keep_going, log=say)
    load_mod.one_metric(loaded, "a report compares its runs with one another, so they must be of one metric")
    say(f"[report] read {load_mod.describe_loaded(loaded)}")
    a = analyse(loaded, run_id, n_boot=n_boot)
    say(f"[report] run {a.run.run_id}: {len(a.speedups)} speedups, {len(a.break_even)} break-even curves")
    final = Path(out_dir)
    _guard_inputs(final, loaded)
    # Written to a staging folder and moved in whole: a report that fails half-way leaves the old one.
    with staged_folder(final, inputs=[r.path for r in loaded.runs]) as out:
        result = _report_files(out, loaded, a, say)
    moved = lambda p: relocated(p, out, final)  # noqa: E731
    result = ReportResult(final, moved(result.markdown), moved(result.html), [moved(p) for p in result.figures],
                          [moved(p) for p in result.csvs], result.run_id, result.errors)
    say(f"[report] wrote {result.markdown} and {result.html}")
    return result


def _counted_report_files(out: Path, loaded: LoadResult, a: Analysis, say) -> ReportResult:
    """The report of a counted run (``LOWRANK_BENCH_METRIC=instructions``): instructions per call, no times."""
    frame = a.frame if "instructions" in a.frame else a.frame.assign(instructions=None)
    rows = frame[frame["run_id"] == a.run.run_id]
    csvs = [load_mod.to_csv(loaded.frame, out / "results.csv")]
    doc = Document("lowrank-bench report: a counted run")
    doc.add(Para(f"Generated {load_mod.now_iso()} from `{Path(a.run.path).name}`: run **{a.run.run_id}** "
                 f"({a.run.label}) counted instructions per call under valgrind's callgrind "
                 "(`LOWRANK_BENCH_METRIC=instructions`, benchmarks/engine/counting.py). Counts do not move with the "
                 "machine's load; they do not see memory bandwidth, caches, threads or GPUs. The run's `stats` are "
                 "one call under valgrind, not times: nothing here is timed."),
            Heading("Machine and versions"), TableBlock(_machine_table(loaded.runs)))
    for suite, group in rows.groupby("suite", sort=True):
        cells = tuple((str(r["param_id"]), (f"{r['instructions']:,.0f}" if pd.notna(r["instructions"]) else "-",))
                      for r in group.sort_values("param_id").to_dict("records"))
        doc.add(Heading(f"Suite {suite}"), TableBlock(Table(f"Instructions per call, suite {suite}", "case",
                                                            ("instructions",), cells,
                                                            footer="callgrind's Ir: the median of the counted loops")))
    md, page = out / "report.md", out / "report.html"
    md.write_text(doc.to_markdown(out), encoding="utf-8")
    page.write_text(doc.to_html(), encoding="utf-8")
    say("[report] a counted run: instructions per call, no timing figures")
    return ReportResult(out, md, page, [], csvs, a.run.run_id, loaded.errors)


def _report_files(out: Path, loaded: LoadResult, a: Analysis, say) -> ReportResult:
    """Every file of the report, written to ``out``."""
    if a.run.metric == "instructions":
        return _counted_report_files(out, loaded, a, say)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)

    csvs = [
        load_mod.to_csv(loaded.frame, out / "results.csv"),
        load_mod.to_csv(a.speedups, out / "speedups.csv"),
        load_mod.to_csv(a.break_even, out / "break_even.csv"),
        load_mod.to_csv(a.roofline.drop(columns=["samples"], errors="ignore"), out / "roofline.csv"),
    ]
    say(f"[report] wrote {len(csvs)} CSV files")

    doc = Document("lowrank-bench report")
    sources = ", ".join(f"`{Path(r.path).name}`" for r in loaded.runs)
    doc.add(Para(f"Generated {load_mod.now_iso()} from {len(loaded.runs)} run(s): {sources}. "
                 f"This report is about run **{a.run.run_id}** ({a.run.label})"
                 + ("; the others are compared against it." if len(loaded.runs) > 1 else ".")))
    if a.run.completeness:
        doc.add(Para(f"**Warning — {a.run.completeness}.** Its results are kept, but cases are missing."))
    doc.add(Heading("Key findings"), Bullets(tuple(key_findings(a))))
    doc.add(Heading("Machine and versions"), TableBlock(_machine_table(loaded.runs)))
    if len(a.break_even):
        doc.add(Heading("Break-even rank: measured against r* = d·k/(d+k)"),
                Para("Below the break-even rank `B @ (A @ x)` is faster than `W @ x`. r* is where the parameters and "
                     "FLOPs are equal; the measured rank differs because small factors stay in cache and small calls "
                     "pay a fixed overhead."),
                TableBlock(tables.break_even_table(a.break_even)))

    figures = _figures(a, loaded, fig_dir, say)
    doc.add(Heading("Figures"))
    if not figures:
        doc.add(Para("No matvec benchmarks in this run, so there is nothing to plot."))
    for path, caption in figures:
        doc.add(FigureBlock(path, caption))

    _speedup_section(doc, a)
    _cost_section(doc, a)
    for name in SUITES:  # the sections the other suites contribute (registered in present/sections.py)
        if name not in sections.SECTIONS:
            continue
        heading, blocks = sections.SECTIONS[name]
        extra_tables, extra_figures = blocks(a.frame, fig_dir, say)
        if extra_tables or extra_figures:
            doc.add(Heading(heading), *(TableBlock(t) for t in extra_tables),
                    *(FigureBlock(p, c) for p, c in extra_figures))
            figures += extra_figures
    if len(a.roofline):
        doc.add(Heading("Roofline"), TableBlock(tables.roofline_table(a.roofline)))
    if len(loaded.runs) > 1:
        _comparison_section(doc, loaded, a)
    flagged, n_flagged = tables.flagged_table(a.speedups)
    doc.add(Heading("Flagged results"))
    doc.add(TableBlock(flagged) if n_flagged else Para(
        "None: every speedup is within what the cost model and this run's calibrated roofs explain "
        "(see lowrank/record/plausibility.py)."))
    noisy, n_noisy = tables.noisy_table(a.frame)
    doc.add(Heading("Noisy cases"))
    doc.add(TableBlock(noisy) if n_noisy else Para("None: every timing has an IQR within 10% of its median."))
    _timing_appendix(doc, a)
    _files_section(doc, loaded, csvs, out)

    md_path, html_path = out / "report.md", out / "report.html"
    md_path.write_text(doc.to_markdown(out), encoding="utf-8")
    html_path.write_text(doc.to_html(), encoding="utf-8")
    return ReportResult(out, md_path, html_path, [p for p, _ in figures], csvs, a.run.run_id, loaded.errors)


def _guard_inputs(out: Path, loaded: LoadResult) -> None:
    """Refuse an output folder where a report file would replace one of the result files read."""
    names = {"report.md", "report.html", "results.csv", "speedups.csv", "break_even.csv", "roofline.csv",
             "comparison.md", "comparison.html", "comparison.csv"}
    targets = {(out / n).resolve() for n in names}
    for r in loaded.runs:
        if Path(r.path).resolve() in targets:
            raise ResultFileError(r.path, f"the output folder {out} would overwrite this result file; choose another -o")


def _figures(a: Analysis, loaded: LoadResult, fig_dir: Path, say) -> list[tuple[Path, str]]:
    # Flagged (physically implausible) speedups are never plotted as findings.
    dt, sp, be = a.dtype, speedups.plausible(a.speedups), a.break_even
    specs = [
        ("speedup_vs_rank.png", lambda: plots.speedup_vs_rank(sp, be, dt),
         f"Figure 1. Speedup of B@(A@x) over W@x against rank ({dt}); one panel per backend and batch/cache mode, "
         "one line per shape, 95% band; circles on the y = 1 line are the measured break-even ranks, ticks r*."),
        ("error_vs_rank.png", lambda: plots.error_vs_rank(sp, dt),
         "Figure 2. Relative Frobenius error against rank, measured (dots) beside the Eckart–Young optimum (lines), "
         "and their ratio."),
        ("time_vs_size.png", lambda: plots.time_vs_size(a.frame, dt),
         f"Figure 3. Median time per call against matrix size (log-log), dense and factored ({dt}, warm cache)."),
        ("memory_vs_rank.png", lambda: plots.memory_vs_rank(sp, dt),
         "Figure 4. Parameter memory of B and A against rank, with the dense level; and the peak allocation of one call."),
        ("crossover_map.png", lambda: plots.crossover_map(sp, be, dt),
         f"Figure 5. Crossover map ({dt}): speedup per shape and rank, with the measured break-even contour and r*."),
        ("roofline.png", lambda: plots.roofline_plot(a.roofline),
         "Figure 6. Achieved GFLOP/s against arithmetic intensity under this run's calibrated roofline."),
    ]
    if load_mod.matvec(a.frame).empty:
        specs = []  # nothing of the matvec suite in this run: no speed figures to draw
    elif len(sp) == 0:
        specs = specs[2:3] + specs[5:]  # dense or factored alone: times and roofline only
    others = [r for r in loaded.runs if r.run_id != a.run.run_id][-MAX_COMPARED_RUNS:]
    if others:
        cmps = [(speedups.time_ratios(loaded.frame, r.run_id, a.run.run_id), r.label, a.run.label) for r in others]
        specs.append(("run_comparison.png", lambda: plots.comparison_plot(cmps),
                      "Figure 7. Time ratio of this run over each other run, per benchmark; "
                      "red: regression, green: improvement (beyond the minimum effect and significant, as the gate judges)."))
    written = []
    for name, build, caption in specs:
        path = fig_dir / name
        fig = build()
        plots.save(fig, path)
        written.append((path, caption))
        say(f"[report] figure {path}")
    return written


def _groups(frame: pd.DataFrame):
    keys = ["backend", "dtype", "batch", "cache"]
    order = frame[keys].drop_duplicates()
    order = order.assign(_c=order["cache"].ne("warm")).sort_values(["backend", "dtype", "batch", "_c"])
    for rec in order.to_dict("records"):
        mask = np.ones(len(frame), bool)
        for k in keys:
            mask &= (frame[k] == rec[k]).to_numpy()
        yield rec, frame[mask]


def _speedup_section(doc: Document, a: Analysis) -> None:
    if a.speedups.empty:
        return
    doc.add(Heading("Speedup tables"),
            Para("Rows are ranks, columns shapes; each cell is dense median ÷ factored median. Shaded blue where "
                 "factoring is faster, red where it is slower, yellow where a timing is noisy."))
    for rec, g in _groups(a.speedups):
        be = a.break_even
        mine = be[(be["backend"] == rec["backend"]) & (be["dtype"] == rec["dtype"]) & (be["batch"] == rec["batch"])
                  & (be["cache"] == rec["cache"])]
        title = tables.group_title(rec["backend"], rec["dtype"], rec["batch"], rec["cache"])
        doc.add(TableBlock(tables.speedup_table(g, mine, f"Speedup — {title}")))


def _cost_section(doc: Document, a: Analysis) -> None:
    if a.speedups.empty:
        return
    doc.add(Heading("What each rank costs: error and memory"))
    for dtype in sorted(a.speedups["dtype"].unique()):
        g = a.speedups[a.speedups["dtype"] == dtype]
        doc.add(TableBlock(tables.error_table(g, f"Relative error of B·A — {dtype}")))
    g = a.speedups[a.speedups["dtype"] == a.dtype]
    doc.add(TableBlock(tables.memory_table(g, f"Parameter memory — {a.dtype}")))


def _comparison_section(doc: Document, loaded: LoadResult, a: Analysis) -> None:
    doc.add(Heading("Compared with the other runs"))
    items = []
    for r in [r for r in loaded.runs if r.run_id != a.run.run_id]:
        cmp = speedups.time_ratios(loaded.frame, r.run_id, a.run.run_id)
        items.append(_comparison_sentence(cmp, r.run_id, a.run.run_id))
    doc.add(Bullets(tuple(items)))
    doc.add(Para("Run `lowrank-bench compare A B` for the full side-by-side tables of two runs."))


def _comparison_sentence(cmp: speedups.Comparison, a: str, b: str) -> str:
    c = cmp.counts()
    machine = "same machine" if cmp.same_machine else "different machines (ratios include the hardware)"
    return (f"`{b}` against `{a}` ({machine}): {len(cmp.table)} benchmarks in common, geometric-mean time ratio "
            f"{speedups.geometric_mean(cmp.table['ratio']):.3f}; {c.get(STATUS_REGRESSION, 0)} regressions and "
            f"{c.get(STATUS_IMPROVEMENT, 0)} improvements (beyond {cmp.threshold:.0%} unless a case's override says "
            "otherwise, and significant), "
            f"{c.get(speedups.STATUS_NOISE, 0)} within noise; {cmp.only_a} only in A, {cmp.only_b} only in B.")


def _timing_appendix(doc: Document, a: Analysis) -> None:
    mv = load_mod.matvec(a.frame)
    if mv.empty:
        return
    doc.add(Heading("Appendix: median times"))
    for rec, g in _groups(mv):
        title = tables.group_title(rec["backend"], rec["dtype"], rec["batch"], rec["cache"])
        doc.add(TableBlock(tables.time_table(g, f"Median time — {title}")))


def _files_section(doc: Document, loaded: LoadResult, csvs: list[Path], out: Path) -> None:
    items = [f"`{p.relative_to(out).as_posix()}`" for p in csvs]
    doc.add(Heading("Files"), Para("Tidy data next to this report (raw samples left out; see `n_samples`): "
                                   + ", ".join(items) + "."))
    if loaded.skipped_foreign:
        doc.add(Para(f"{loaded.skipped_foreign} benchmark(s) of other suites (without the lowrank-bench schema tag) "
                     "were skipped."))
    other = load_mod.describe_loaded(loaded)
    doc.add(Para(f"Read: {other}."))
    if loaded.errors:
        doc.add(Para("Files that could not be read:"), Bullets(tuple(str(e) for e in loaded.errors)))


# -- two runs side by side -----------------------------------------------------------------------
@dataclass
class ComparisonResult:
    """What :func:`write_comparison` wrote, and the comparison itself."""

    comparison: speedups.Comparison
    text: str  # console summary with the Compare-style tables
    markdown: Path
    html: Path
    figure: Path
    csv: Path


def write_comparison(path_a, path_b, out_dir=DEFAULT_OUTPUT, threshold: float | None = None,
                     n_boot: int = speedups.N_BOOT, log=None, config=None) -> ComparisonResult:
    """Compare run B against run A: ``comparison.md``/``.html``, ``figures/run_comparison.png``, ``comparison.csv``.

    Benchmarks are matched by pytest's ``fullname`` and judged as the gate judges
    absolute times (:func:`lowrank.judge.speedups.time_ratios`): with ``config`` (a
    ``GateConfig``, e.g. read from pyproject.toml) and ``threshold`` overriding its
    minimum effect for every case. The console text holds the summary and one ratio
    table per backend/dtype/batch/cache of the matvec suite.
    """
    say = log or (lambda _msg: None)
    loaded = load_mod.load([path_a, path_b], log=say)
    if len(loaded.runs) != 2:
        raise ResultFileError(f"{path_a}, {path_b}", "compare needs two different result files")
    by_path = {Path(r.path).resolve(): r for r in loaded.runs}
    a = by_path.get(Path(path_a).resolve()) or loaded.runs[0]
    b = by_path.get(Path(path_b).resolve()) or loaded.runs[1]
    counted = same_metric([(a.path, a.metric), (b.path, b.metric)], "compare takes two counted runs "
                          "(LOWRANK_BENCH_METRIC=instructions for both) or two timed runs") == "instructions"
    if counted:
        warnings = gate.counting_differences(load_mod.read_document(a.path), load_mod.read_document(b.path))
        cmp = counts.count_ratios(loaded.frame, a.run_id, b.run_id, threshold=threshold, config=config,
                                  warnings=tuple(warnings))
        for w in warnings:
            say(f"[compare] WARNING: counted under other settings: {w}")
    else:
        cmp = speedups.time_ratios(loaded.frame, a.run_id, b.run_id, threshold=threshold, n_boot=n_boot,
                                  config=config)
    final = Path(out_dir)
    _guard_inputs(final, loaded)
    with staged_folder(final, inputs=[r.path for r in loaded.runs]) as out:
        result = (_counted_comparison_files if counted else _comparison_files)(out, cmp, a, b, say)
    moved = lambda p: relocated(p, out, final)  # noqa: E731
    say(f"[compare] wrote {moved(result.markdown)} and {moved(result.html)}")
    return ComparisonResult(cmp, result.text, moved(result.markdown), moved(result.html), moved(result.figure),
                            moved(result.csv))


def _comparison_figure_and_csv(out: Path, cmp, a: RunInfo, b: RunInfo) -> tuple[Path, Path]:
    """``figures/run_comparison.png`` and ``comparison.csv`` of a comparison, timed or counted."""
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    fig_path = fig_dir / "run_comparison.png"
    plots.save(plots.comparison_plot([(cmp, a.label, b.label)]), fig_path)
    return fig_path, load_mod.to_csv(cmp.table, out / "comparison.csv")


def _counted_comparison_files(out: Path, cmp, a: RunInfo, b: RunInfo, say) -> ComparisonResult:
    """Two counted runs side by side: instructions per call, every case in one table per suite, no times."""
    fig_path, csv = _comparison_figure_and_csv(out, cmp, a, b)
    doc = Document("lowrank-bench comparison: counted runs")
    summary = _counted_comparison_sentence(cmp)
    texts = [f"A = {a.run_id} ({a.label})", f"B = {b.run_id} ({b.label})", summary]
    doc.add(Para(f"A = `{a.run_id}` ({a.label}); B = `{b.run_id}` ({b.label}). Generated {load_mod.now_iso()}. "
                 "Instructions per call under valgrind's callgrind: they do not move with the machine's load, and "
                 "they do not see memory bandwidth, caches, threads or GPUs."), Bullets((summary,)))
    if cmp.warnings:
        items = tuple(f"counted under other settings: {w}" for w in cmp.warnings)
        doc.add(Heading("Warnings"), Bullets(items))
        texts += [f"WARNING: {w}" for w in items]
    doc.add(Heading("Machine and versions"), TableBlock(_machine_table([a, b])),
            FigureBlock(fig_path, "Instructions per call B/A per benchmark; red: more instructions beyond the "
                                  "tolerance, green: fewer; grey band: ±tolerance."))
    texts.append("")
    for suite, g in cmp.table.groupby("suite", sort=True):
        t = tables.count_comparison_table(g, f"Instructions per call B/A — suite {suite}")
        doc.add(TableBlock(t))
        texts += [t.to_text(), ""]
    md, page = out / "comparison.md", out / "comparison.html"
    md.write_text(doc.to_markdown(out), encoding="utf-8")
    page.write_text(doc.to_html(), encoding="utf-8")
    say("[compare] counted runs: instructions per call judged as the gate judges counts")
    return ComparisonResult(cmp, "\n".join(texts), md, page, fig_path, csv)


def _counted_comparison_sentence(cmp: speedups.Comparison) -> str:
    c = cmp.counts()
    return (f"`{cmp.run_b}` against `{cmp.run_a}`: {len(cmp.table)} counted benchmarks in common, geometric-mean "
            f"instructions ratio {speedups.geometric_mean(cmp.table['ratio']):.5f}; "
            f"{c.get(STATUS_REGRESSION, 0)} with more instructions and {c.get(STATUS_IMPROVEMENT, 0)} with fewer "
            f"(beyond {cmp.threshold:.2%} unless a case's override says otherwise); "
            f"{cmp.only_a} only in A, {cmp.only_b} only in B.")


def _comparison_files(out: Path, cmp, a: RunInfo, b: RunInfo, say) -> ComparisonResult:
    fig_path, csv = _comparison_figure_and_csv(out, cmp, a, b)

    doc = Document("lowrank-bench comparison")
    summary = _comparison_sentence(cmp, a.run_id, b.run_id)
    doc.add(Para(f"A = `{a.run_id}` ({a.label}); B = `{b.run_id}` ({b.label}). Generated {load_mod.now_iso()}."),
            Bullets((summary,)), Heading("Machine and versions"), TableBlock(_machine_table([a, b])),
            FigureBlock(fig_path, "Time ratio B/A per benchmark with its 95% interval; red: regression, green: "
                                  "improvement; grey band: ±threshold."))
    texts = [f"A = {a.run_id} ({a.label})", f"B = {b.run_id} ({b.label})", summary, ""]
    for status in (STATUS_REGRESSION, STATUS_IMPROVEMENT):
        if (cmp.table["status"] == status).any():
            t = tables.top_changes_table(cmp.table, status)
            doc.add(TableBlock(t))
            texts += [t.to_text(), ""]
    mv = cmp.table[cmp.table["suite"] == "matvec"] if "suite" in cmp.table else cmp.table.iloc[0:0]
    if len(mv):
        doc.add(Heading("Time ratio B/A per case"))
        for rec, g in _groups(mv):
            t = tables.comparison_table(g, "B/A — " + tables.group_title(rec["backend"], rec["dtype"], rec["batch"],
                                                                          rec["cache"]))
            doc.add(TableBlock(t))
            texts += [t.to_text(), ""]
    md, page = out / "comparison.md", out / "comparison.html"
    md.write_text(doc.to_markdown(out), encoding="utf-8")
    page.write_text(doc.to_html(), encoding="utf-8")
    return ComparisonResult(cmp, "\n".join(texts), md, page, fig_path, csv)
