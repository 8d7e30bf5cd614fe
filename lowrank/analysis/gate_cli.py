"""``lowrank-bench baseline``, ``gate`` and ``export``: the CI side of the command line.

Thin handlers: parse, read files through :mod:`lowrank.analysis.load` (which names
any bad file), call :mod:`~lowrank.analysis.gate`, :mod:`~lowrank.analysis.baselines`
or :mod:`~lowrank.analysis.export`, and print.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from lowrank.errors import LowRankValueError

EXIT_OK, EXIT_REGRESSION = 0, 1


def _read_run(path) -> dict:
    """A parsed result file, validated against the schema (ResultFileError names what is wrong)."""
    from . import load

    return load.read_document(path)


def register_baseline(subparsers) -> None:
    p = subparsers.add_parser(
        "baseline",
        help="store a run as a named baseline under results/baselines/",
        description="Store RUN (a result JSON with raw samples) as results/baselines/NAME.json, compactly and "
                    "atomically. Several runs of the same profile are pooled: their samples are merged case by "
                    "case, so the baseline carries the spread between processes, not only within one (3 runs are "
                    "a good default). An existing baseline is replaced only with --update.",
    )
    p.add_argument("runs", metavar="RUN", type=Path, nargs="+", help="the result file(s) to store")
    p.add_argument("--name", required=True, help="baseline name: letters, digits, '.', '_', '-'")
    p.add_argument("--dir", type=Path, default=None, help="baseline folder (default: results/baselines)")
    p.add_argument("--update", action="store_true", help="replace an existing baseline of that name")
    p.set_defaults(handler=_run_baseline)


def _run_baseline(args) -> int:
    from . import baselines

    runs = [_read_run(p) for p in args.runs]
    path = baselines.record_baseline(runs, args.runs, args.name, args.dir or baselines.DEFAULT_DIR, update=args.update)
    print(f"baseline {args.name!r} recorded: {path} ({len(runs[0]['benchmarks'])} benchmarks from {len(runs)} run(s))")
    return EXIT_OK


def register_gate(subparsers) -> None:
    p = subparsers.add_parser(
        "gate",
        help="compare a run with a baseline; exit 1 on a regression",
        description="Gate RUN against a stored baseline. Exact metrics (errors, parameters, bytes, FLOPs) must match "
                    "on any machine; same-run speedups (dense/factored) are compared on any machine; absolute "
                    "medians only when the hardware fingerprints match. A timing regresses only when it changes by "
                    "more than the minimum effect AND the change is significant on the raw samples (bootstrap "
                    "interval for speedups, Mann-Whitney U for times). Thresholds come from [tool.lowrank-bench.gate] "
                    "in pyproject.toml, then these flags. Exit codes: 0 no regression, 1 regression, 2 usage or "
                    "input error.",
    )
    p.add_argument("run", metavar="RUN", type=Path, help="the result file to check")
    p.add_argument("--baseline", required=True, metavar="NAME", help="baseline name (results/baselines/NAME.json) or path")
    p.add_argument("--confirm", type=Path, default=None, metavar="RUN2",
                   help="a re-run of (some of) the cases: a timing regression counts only if it shows in both runs")
    p.add_argument("--config", type=Path, default=None,
                   help="pyproject.toml to read thresholds from (default: ./pyproject.toml when present)")
    p.add_argument("--min-effect", type=float, default=None, help="minimum relative change of a timing (e.g. 0.1)")
    p.add_argument("--alpha", type=float, default=None, help="significance level (e.g. 0.01)")
    p.add_argument("--absolute", choices=("auto", "always", "never"), default=None,
                   help="compare absolute times: when fingerprints match (auto), always, or never")
    p.add_argument("--markdown", type=Path, default=None, help="also write a Markdown summary (CI job summaries)")
    p.add_argument("--failed-ids", type=Path, default=None,
                   help="write the ids of the cases with a timing regression, one per line (for a confirming re-run)")
    p.set_defaults(handler=_run_gate)


def _run_gate(args) -> int:
    from . import baselines, gate, gate_report

    config = args.config or Path("pyproject.toml")
    if args.config is not None and not config.is_file():
        raise LowRankValueError(f"--config {config}: no such file")
    cfg = gate.load_config(config)
    # Flags win over pyproject, pattern overrides included: a catch-all override applied last.
    if args.min_effect is not None or args.alpha is not None:
        cfg = replace(cfg, overrides=(*cfg.overrides, gate.Override(
            "*", speedup_min_effect=args.min_effect, time_min_effect=args.min_effect, alpha=args.alpha)))
    if args.absolute is not None:
        cfg = replace(cfg, absolute=args.absolute)
    cfg = gate.validate_config(cfg)
    base_path = baselines.existing_baseline(args.baseline)
    base = _read_run(base_path)
    result = gate.compare_runs(_read_run(args.run), base, cfg)
    if args.confirm is not None:
        result = gate.confirm(result, gate.compare_runs(_read_run(args.confirm), base, cfg))
    print(f"gate: {args.run} against baseline {args.baseline!r} ({base_path}); thresholds from "
          f"{config if config.is_file() else 'built-in defaults'}")
    print(gate_report.to_text(result))
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(gate_report.to_markdown(result))
    if args.failed_ids is not None:
        args.failed_ids.write_text("".join(f"{i}\n" for i in gate.cases_to_rerun(result)))
    return EXIT_REGRESSION if result.exit_code else EXIT_OK


def register_export(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a run as github-action-benchmark JSON",
        description="Write OUT/times.json (customSmallerIsBetter: median time of every case, in us) and "
                    "OUT/speedups.json (customBiggerIsBetter: dense/factored speedup of every factored case), "
                    "the generic formats of github-action-benchmark.",
    )
    p.add_argument("run", metavar="RUN", type=Path, help="the result file to export")
    p.add_argument("-o", "--output", type=Path, default=Path("results") / "export", help="output folder")
    p.set_defaults(handler=_run_export)


def _run_export(args) -> int:
    from .export import github_action_benchmark

    data = github_action_benchmark(_read_run(args.run))
    args.output.mkdir(parents=True, exist_ok=True)
    for key, name in (("customSmallerIsBetter", "times.json"), ("customBiggerIsBetter", "speedups.json")):
        (args.output / name).write_text(json.dumps(data[key], indent=1))
    print(f"wrote {args.output / 'times.json'} ({len(data['customSmallerIsBetter'])} entries) and "
          f"{args.output / 'speedups.json'} ({len(data['customBiggerIsBetter'])} entries)", file=sys.stdout)
    return EXIT_OK


def registrars():
    return [register_baseline, register_gate, register_export]
