"""``lowrank-bench baseline``: store runs, pooled, as a named baseline."""

from __future__ import annotations

from pathlib import Path

from lowrank.cli.common import EXIT_OK, read_run


def register(subparsers) -> None:
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
    from lowrank.judge import baselines

    runs = [read_run(p) for p in args.runs]
    path = baselines.record_baseline(runs, args.runs, args.name, args.dir or baselines.DEFAULT_DIR, update=args.update)
    print(f"baseline {args.name!r} recorded: {path} ({len(runs[0]['benchmarks'])} benchmarks from {len(runs)} run(s))")
    return EXIT_OK
