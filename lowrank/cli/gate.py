"""``lowrank-bench gate``: a run against a stored baseline; exit 1 on a regression."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lowrank.cli.common import (
    EXIT_OK,
    EXIT_REGRESSION,
    InputError,
    add_config_argument,
    gate_config,
    level,
    min_effect,
    read_run,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gate",
        help="compare a run with a baseline; exit 1 on a regression",
        description="Gate RUN against a stored baseline, every suite as its definition says "
                    "(lowrank/record/suites/). Exact metrics (errors, parameters, bytes, FLOPs) must match "
                    "on any machine; same-run ratios (the matvec speedup dense/factored, randomized SVD against its "
                    "peer, unmerged LoRA against merged, apply against a bare product) are compared on any machine (unless "
                    "--ratios never); absolute "
                    "medians only when the hardware fingerprints match. A timing regresses only when it changes by "
                    "more than the minimum effect AND the change is significant on the raw samples (bootstrap "
                    "interval for ratios, Mann-Whitney U for times). Thresholds come from [tool.lowrank-bench.gate] "
                    "in pyproject.toml, then these flags. Exit codes: 0 no regression, 1 regression, 2 usage or "
                    "input error.",
    )
    p.add_argument("run", metavar="RUN", type=Path, help="the result file to check")
    p.add_argument("--baseline", required=True, metavar="NAME", help="baseline name (results/baselines/NAME.json) or path")
    p.add_argument("--confirm", type=Path, default=None, metavar="RUN2",
                   help="a re-run of (some of) the cases: a timing regression counts only if it shows in both runs")
    add_config_argument(p)
    p.add_argument("--min-effect", type=min_effect, default=None, help="minimum relative change of a timing (e.g. 0.1)")
    p.add_argument("--alpha", type=level, default=None, help="significance level (e.g. 0.01)")
    p.add_argument("--absolute", choices=("auto", "always", "never"), default=None,
                   help="compare absolute times: when fingerprints match (auto), always, or never")
    p.add_argument("--ratios", choices=("always", "never"), default=None,
                   help="compare same-run ratios (always, the default) or not (never: only exact metrics, and absolute "
                        "times if --absolute says so; for CI that judges timings in an A/B of the same job)")
    p.add_argument("--allow-missing", action="store_true",
                   help="accept baseline cases the run lacks (by default they fail the gate: they were not checked)")
    p.add_argument("--markdown", type=Path, default=None, help="also write a Markdown summary (CI job summaries)")
    p.add_argument("--failed-ids", type=Path, default=None,
                   help="write the ids of the cases with a timing regression, one per line (for a confirming re-run)")
    p.set_defaults(handler=_run_gate)


def _run_gate(args) -> int:
    from lowrank.judge import baselines, gate
    from lowrank.present import gate_report
    from lowrank.store.files import check_output, replace_text

    cfg, config = gate_config(args)
    # Outputs checked before any work: never an input, a result file or baseline, or a link.
    inputs = [p for p in (args.run, args.confirm, args.config, baselines.baseline_path(args.baseline)) if p]
    for option, target in (("--markdown", args.markdown), ("--failed-ids", args.failed_ids)):
        if target is not None:
            check_output(target, inputs=inputs, option=option)
    if args.markdown is not None and args.failed_ids is not None and args.markdown.resolve() == args.failed_ids.resolve():
        raise InputError(f"--markdown and --failed-ids name the same file {args.markdown}")
    # Flags win over pyproject, pattern overrides included: a catch-all override applied last.
    if args.min_effect is not None or args.alpha is not None:
        cfg = replace(cfg, overrides=(*cfg.overrides, gate.Override(
            "*", speedup_min_effect=args.min_effect, time_min_effect=args.min_effect, alpha=args.alpha)))
    if args.absolute is not None:
        cfg = replace(cfg, absolute=args.absolute)
    if args.ratios is not None:
        cfg = replace(cfg, ratios=args.ratios)
    cfg = gate.validate_config(cfg)
    base_path = baselines.existing_baseline(args.baseline)
    base, current = read_run(base_path), read_run(args.run)
    rerun = read_run(args.confirm) if args.confirm is not None else None
    gate.runs_metric([(args.run, current), (base_path, base)] + ([(args.confirm, rerun)] if rerun else []))
    result = gate.compare_runs(current, base, cfg, allow_missing=args.allow_missing)
    if rerun is not None:
        # The re-run holds only the cases to confirm: its missing cases are expected.
        result = gate.confirm(result, gate.compare_runs(rerun, base, cfg, allow_missing=True))
    print(f"gate: {args.run} against baseline {args.baseline!r} ({base_path}); thresholds from "
          f"{config if config.is_file() else 'built-in defaults'}")
    print(gate_report.to_text(result))
    if args.markdown is not None:
        replace_text(args.markdown, gate_report.to_markdown(result), inputs=inputs, option="--markdown")
    if args.failed_ids is not None:
        replace_text(args.failed_ids, "".join(f"{i}\n" for i in gate.cases_to_rerun(result)), inputs=inputs,
                     option="--failed-ids")
    return EXIT_REGRESSION if result.exit_code else EXIT_OK
