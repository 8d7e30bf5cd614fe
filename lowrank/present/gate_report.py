"""Render a :class:`~lowrank.judge.gate.GateResult` for a terminal and for a CI job summary."""

from __future__ import annotations

from lowrank.judge.gate import Finding, GateResult


def _value(f: Finding, x) -> str:
    if x is None:
        return "-"
    if f.metric == "time":
        return f"{x * 1e6:,.2f} us"
    if f.kind == "count":
        return f"{x:,.0f} Ir"
    if f.is_ratio:
        return f"{x:.3g}x"
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def _change(f: Finding) -> str:
    if f.kind == "correctness":
        return "changed"
    if f.kind == "count":
        return f"{(f.ratio - 1) * 100:+.2f}% instructions"
    if f.is_ratio:
        return f"{(f.ratio - 1) * 100:+.1f}% {f.metric}"
    return f"{(f.ratio - 1) * 100:+.1f}% time"


def _evidence(f: Finding) -> str:
    if f.low is not None:
        return f"ratio {f.ratio:.3f} [{f.low:.3f}, {f.high:.3f}]"
    if f.p_value is not None:
        return f"p = {f.p_value:.2g}"
    return f.note


def _rows(findings: list[Finding]) -> list[list[str]]:
    return [[f.case, f.metric, _value(f, f.baseline), _value(f, f.current), _change(f), _evidence(f)] for f in findings]


HEADER = ["case", "metric", "baseline", "current", "change", "evidence"]


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(HEADER), line(["-" * w for w in widths]), *map(line, rows)])


def table(findings: list[Finding]) -> str:
    """The findings as a terminal table (case, metric, baseline, current, change, evidence)."""
    return _table(_rows(findings))


def summary_line(result: GateResult) -> str:
    verdict = "FAIL" if result.exit_code else "PASS"
    n_corr = sum(f.kind == "correctness" for f in result.regressions)
    missing = f", {len(result.only_baseline)} baseline case(s) missing" if result.only_baseline else ""
    # A pass that judged no timing says so in its first line, not only in the line under it.
    scope = "" if result.ratios_compared or result.absolute_compared or result.counted else (
        " (exact metrics only: no timing compared)")
    return (
        f"{verdict}{scope}: {len(result.regressions)} regression(s) ({n_corr} correctness), "
        f"{len(result.improvements)} improvement(s), {result.common} case(s) compared{missing}"
    )


def missing_line(result: GateResult) -> str:
    verdict = ("accepted (--allow-missing)" if result.allow_missing
               else "this fails the gate: they were not checked (--allow-missing to accept)")
    return (f"{len(result.only_baseline)} baseline case(s) missing from the run, e.g. {result.only_baseline[0]}; "
            f"{verdict}")


def unchanged_cases(result: GateResult) -> list[str]:
    changed = {f.case for f in result.findings if f.status != "unchanged"}
    return sorted({f.case for f in result.findings} - changed)


def to_text(result: GateResult) -> str:
    """A terminal report: verdict, what was compared, regressions and improvements in tables."""
    out = [summary_line(result), result.compared]
    if result.warnings:
        out.append("WARNING: counts made under other settings (compared all the same): " + "; ".join(result.warnings))
    if result.incomplete:
        out.append(result.incomplete)
    if result.only_baseline:
        out.append(missing_line(result))
    if result.only_current:
        out.append(f"{len(result.only_current)} new case(s) not in the baseline, e.g. {result.only_current[0]}")
    for title, items in (("Regressions", result.regressions), ("Improvements", result.improvements)):
        if items:
            out += ["", f"{title} ({len(items)}):", _table(_rows(items))]
    out += ["", f"Unchanged: {len(unchanged_cases(result))} case(s)."]
    return "\n".join(out)


def to_markdown(result: GateResult, title: str = "lowrank-bench regression gate") -> str:
    """A Markdown summary for CI job pages (GitHub's $GITHUB_STEP_SUMMARY)."""

    def md_table(findings):
        rows = _rows(findings)
        return "\n".join(
            ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
            + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        )

    icon = ":x:" if result.exit_code else ":white_check_mark:"
    out = [f"## {title}", "", f"{icon} **{summary_line(result)}**", "", f"_{result.compared}_", ""]
    if result.warnings:
        out += ["**Counts made under other settings** (compared all the same): " + "; ".join(result.warnings), ""]
    if result.incomplete:
        out += [f"**{result.incomplete}**", ""]
    if result.only_baseline:
        out += [f"**{missing_line(result)}**", ""]
    for heading, items in (("Regressions", result.regressions), ("Improvements", result.improvements)):
        out += [f"### {heading} ({len(items)})", ""]
        out += [md_table(items), ""] if items else ["None.", ""]
    same = unchanged_cases(result)
    out += [f"<details><summary>Unchanged ({len(same)})</summary>", "", *[f"- `{c}`" for c in same], "", "</details>", ""]
    return "\n".join(out)
