"""What ``lowrank-bench ab`` prints and writes: a table of verdicts, a Markdown summary, the files of both sides."""

from __future__ import annotations

import json
from pathlib import Path

from lowrank.judge import paired
from lowrank.judge.gate import Finding, GateResult
from lowrank.present import gate_report
from lowrank.runner.ab import SIDES, AbRun, AbSettings
from lowrank.store.files import write_new_text

# Undecided cases are listed up to this many in the text and Markdown (all are in ab.json).
MAX_LISTED = 20


def _value(v: paired.PairedVerdict, x: float) -> str:
    return f"{x * 1e6:,.2f} us" if v.metric == "time" else f"{x:.3f}x"


def _row(v: paired.PairedVerdict, accepted: bool = False) -> list[str]:
    # A ratio metric is the case's time over its partner's in the same process: "slower" = lost ground.
    case = v.case if v.metric == "time" else f"{v.case} (time / partner's)"
    return [case, v.verdict + (" (accepted)" if accepted else ""), _value(v, v.base_median), _value(v, v.head_median),
            f"{(v.ratio - 1) * 100:+.1f}%", _interval(v), f"{v.rounds} (+{v.dropped} out)"]


def _bound(x: float) -> str:
    return "inf" if x == float("inf") else f"{x:.3f}" if x < 1000 else f"{x:.3g}"


def _interval(v: paired.PairedVerdict) -> str:
    """The interval of the ratio; unbounded when too few rounds are left (one round: no interval at all)."""
    return f"[{_bound(v.low)}, {_bound(v.high)}{')' if v.high == float('inf') else ']'}"


def _width(v: paired.PairedVerdict) -> float:
    """How wide the interval is (high / low): infinite when it reaches 0 or infinity."""
    return v.high / v.low if v.low > 0 else float("inf")


HEADER = ["case", "verdict", "base", "head", "change", "interval (head/base)", "rounds"]


def _text_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(HEADER), line(["-" * w for w in widths]), *map(line, rows)])


def _md_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def failing(run: AbRun) -> list[paired.PairedVerdict]:
    """The slower cases that fail the comparison: all but those ``--accept`` names."""
    j = run.judgement
    return [v for v in (j.verdicts if j else []) if v.verdict == "slower" and not run.settings.accepted(v.case)]


def exit_code(run: AbRun, correctness: list[Finding]) -> int:
    """1 when a case is slower (and not accepted) or an exact metric changed, else 0."""
    return 1 if correctness or failing(run) else 0


def summary_line(run: AbRun, correctness: list[Finding]) -> str:
    j = run.judgement
    verdict = "FAIL" if exit_code(run, correctness) else "PASS"
    counts = ", ".join(f"{j.count(v)} {v}" for v in paired.VERDICTS)
    accepted = j.count("slower") - len(failing(run))
    if accepted:
        counts += f" ({accepted} slower case(s) accepted by --accept)"
    stop = "stopped early: every case decided" if run.stopped_early else "the maximum"
    return (f"{verdict}: {counts}; {len(correctness)} exact metric(s) changed; {run.rounds} rounds ({stop}) "
            f"in {run.seconds / 60:.1f} min")


def _sections(run: AbRun) -> list[tuple[str, list[list[str]]]]:
    j = run.judgement
    changed = [v for v in j.verdicts if v.verdict in ("slower", "faster")]
    changed.sort(key=lambda v: (v.verdict != "slower", -abs(v.ratio - 1)))
    undecided = sorted((v for v in j.verdicts if v.verdict == "undecided"), key=_width, reverse=True)
    return [("Changed beyond the threshold", [_row(v, run.settings.accepted(v.case)) for v in changed]),
            ("Undecided (more rounds needed for their noise)", [_row(v) for v in undecided[:MAX_LISTED]])]


def _describe(run: AbRun) -> list[str]:
    s, j = run.settings, run.judgement
    lines = [f"base: {run.sides['base'].description}", f"head: {run.sides['head'].description}",
             f"profile {s.profile}, {s.threads} thread(s), backends {', '.join(s.backends)}"
             + (f", -k {s.select!r}" if s.select else ""),
             f"verdicts: t interval of the per-round log ratios at {j.confidence:.6f} per case (alpha {s.alpha:g} over "
             f"{len(j.verdicts)} cases x {len(s.looks)} looks), threshold {s.threshold:.0%}"]
    if j.disturbed:
        lines.append("disturbed processes left out: "
                     + ", ".join(f"{side} {backend} round {r}" for side, backend, r in j.disturbed))
    return lines


def to_text(run: AbRun, correctness: list[Finding]) -> str:
    out = [summary_line(run, correctness), *_describe(run)]
    for title, rows in _sections(run):
        if rows:
            out += ["", f"{title}:", _text_table(rows)]
    out += [f"exact metric changed: {f.case} {f.metric}: {f.baseline} -> {f.current} ({f.note})" for f in correctness]
    return "\n".join(out)


def to_markdown(run: AbRun, correctness: list[Finding], command: str) -> str:
    out = ["# lowrank-bench ab", "", f"**{summary_line(run, correctness)}**", ""]
    out += [f"- {line}" for line in _describe(run)]
    out += ["", f"Reproduce: `{command}`"]
    for title, rows in _sections(run):
        if rows:
            out += ["", f"## {title}", "", _md_table(rows)]
    if correctness:
        out += ["", "## Exact metrics changed", "", "| case | metric | base | head | note |", "|---|---|---|---|---|"]
        out += [f"| {f.case} | {f.metric} | {f.baseline} | {f.current} | {f.note} |" for f in correctness]
    return "\n".join(out) + "\n"


def to_json(run: AbRun, correctness: list[Finding]) -> dict:
    """``ab.json``: settings, verdicts and exact changes (strict JSON: an unbounded interval's ``high`` is null)."""
    s, j = run.settings, run.judgement
    return {
        "sides": {label: {"revision": side.revision, "commit": side.commit, "python": side.python}
                  for label, side in run.sides.items()},
        "settings": {"profile": s.profile, "threads": s.threads, "backends": list(s.backends), "select": s.select,
                     "min_rounds": s.min_rounds, "max_rounds": s.max_rounds, "looks": s.looks,
                     "threshold": s.threshold, "alpha": s.alpha, "confidence": j.confidence,
                     "accept": list(s.accept)},
        "rounds": run.rounds, "seconds": run.seconds, "exit_code": exit_code(run, correctness),
        "disturbed": [list(d) for d in j.disturbed],
        "cases": [{"case": v.case, "suite": v.suite, "backend": v.backend, "metric": v.metric, "verdict": v.verdict,
                   "accepted": v.verdict == "slower" and s.accepted(v.case), "ratio": v.ratio,
                   "low": v.low, "high": None if v.high == float("inf") else v.high, "rounds": v.rounds, "dropped": v.dropped,
                   "base_median": v.base_median, "head_median": v.head_median} for v in j.verdicts],
        "exact_changed": [{"case": f.case, "metric": f.metric, "base": f.baseline, "head": f.current, "note": f.note}
                          for f in correctness],
    }


def write(folder: Path, run: AbRun, pooled: dict[str, dict], correctness: list[Finding], command: str) -> list[Path]:
    """Write ``base.json``, ``head.json``, ``ab.json`` and ``ab.md`` into ``folder``; their paths."""
    paths = []
    for label in SIDES:
        paths.append(folder / f"{label}.json")
        write_new_text(paths[-1], json.dumps(pooled[label], indent=1))
    paths.append(folder / "ab.json")
    write_new_text(paths[-1], json.dumps(to_json(run, correctness), indent=1))
    paths.append(folder / "ab.md")
    write_new_text(paths[-1], to_markdown(run, correctness, command))
    return paths


# --- a counted A/B (``--metric instructions``): one counted run a side, judged as the gate judges counts ---


def benchmark_names(doc: dict) -> dict[str, str]:
    """``id -> pytest name`` (``apply-numpy -> bench_apply_overhead[apply-numpy]``), for ``--accept`` globs."""
    return {b["param"]: b["name"] for b in doc.get("benchmarks", []) if b.get("param")}


def counted_failing(result: GateResult, names: dict[str, str], settings: AbSettings) -> list[Finding]:
    """The regressions that fail a counted A/B: every exact metric changed, and every count beyond the
    tolerance but those ``--accept`` names (by pytest name or id)."""
    def accepted(f: Finding) -> bool:
        return f.kind == "count" and (settings.accepted(names.get(f.case, f.case)) or settings.accepted(f.case))
    return [f for f in result.regressions if not accepted(f)]


def counted_summary(result: GateResult, failing_: list[Finding], seconds: float) -> str:
    verdict = "FAIL" if failing_ else "PASS"  # a case one side lacks is no verdict (compared with allow_missing)
    counts = [f for f in result.findings if f.kind == "count"]
    slower = sum(f.status == "regression" for f in counts)
    accepted = slower - sum(f.kind == "count" for f in failing_)
    fewer = sum(f.status == "improvement" for f in counts)
    n_corr = sum(f.kind == "correctness" for f in failing_)
    return (f"{verdict}: {slower} case(s) with more instructions{f' ({accepted} accepted by --accept)' if accepted else ''}, "
            f"{fewer} with fewer, {len(counts) - slower - fewer} unchanged (tolerance per case, see the table); "
            f"{n_corr} exact metric(s) changed; counted in {seconds / 60:.1f} min")


def counted_to_text(sides: dict, result: GateResult, failing_: list[Finding], seconds: float) -> str:
    out = [counted_summary(result, failing_, seconds), f"base: {sides['base'].description}",
           f"head: {sides['head'].description}", result.compared]
    if result.warnings:
        out.append("WARNING: counts made under other settings (compared all the same): " + "; ".join(result.warnings))
    for title, items in (("More instructions", result.regressions),
                         ("Fewer instructions", result.improvements)):
        if items:
            out += ["", f"{title} ({len(items)}):", gate_report.table(items)]
    return "\n".join(out)


def counted_to_json(sides: dict, settings: AbSettings, result: GateResult, failing_: list[Finding], seconds: float,
                    names: dict[str, str]) -> dict:
    return {
        "metric": "instructions",
        "sides": {label: {"revision": side.revision, "commit": side.commit, "python": side.python}
                  for label, side in sides.items()},
        "settings": {"profile": settings.profile, "backends": list(settings.backends), "select": settings.select,
                     "accept": list(settings.accept)},
        "seconds": seconds, "exit_code": 1 if failing_ else 0,
        "warnings": list(result.warnings),
        "cases": [{"case": f.case, "name": names.get(f.case), "suite": f.suite, "metric": f.metric, "status": f.status,
                   "failing": f in failing_, "base": f.baseline, "head": f.current, "ratio": f.ratio, "note": f.note}
                  for f in result.findings if f.kind == "count" or f.status != "unchanged"],
    }


def write_counted(folder: Path, docs: dict[str, dict], sides: dict, settings: AbSettings, result: GateResult,
                  failing_: list[Finding], seconds: float, command: str) -> list[Path]:
    """Write ``base.json``, ``head.json`` (each side's counted run), ``ab.json`` and ``ab.md`` into ``folder``."""
    names = benchmark_names(docs["head"])
    paths = []
    for label in SIDES:
        paths.append(folder / f"{label}.json")
        write_new_text(paths[-1], json.dumps(docs[label], indent=1))
    paths.append(folder / "ab.json")
    write_new_text(paths[-1], json.dumps(counted_to_json(sides, settings, result, failing_, seconds, names), indent=1))
    paths.append(folder / "ab.md")
    body = gate_report.to_markdown(result, title="lowrank-bench ab, counted (instructions)")
    write_new_text(paths[-1], f"**{counted_summary(result, failing_, seconds)}**\n\n- base: "
                   f"{sides['base'].description}\n- head: {sides['head'].description}\n\nReproduce: `{command}`\n\n"
                   + body)
    return paths
