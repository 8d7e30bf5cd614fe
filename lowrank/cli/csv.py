"""``lowrank-bench csv``: the tidy table of all benchmarks as CSV."""

from __future__ import annotations

from pathlib import Path

from lowrank.cli.common import EXIT_OK, InputError, progress
from lowrank.record import paths


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "csv",
        help="write the tidy table of all benchmarks as CSV",
        description="Read result files and write one CSV row per (run, benchmark): run id, fingerprint, commit, "
                    "datetime, every param and extra_info field and the timing statistics (raw samples left out).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="result files or folders")
    p.add_argument("-o", "--output", type=Path, default=paths.CSV,
                   help="CSV file to write (default: results/results.csv)")
    p.add_argument("--keep-going", action="store_true", help="skip unreadable files instead of stopping")
    p.set_defaults(handler=_run_csv)


def _run_csv(args) -> int:
    from lowrank.store import load
    from lowrank.store.files import check_output

    if args.output.name.lower().endswith((".json", ".json.gz")):
        # A folder of runs is searched for these names: a CSV so named would be read back as a broken run.
        raise InputError(f"-o {args.output}: the CSV output must not be named .json or .json.gz (those are result "
                         "files, never written); accepted: a name such as results.csv")
    inputs = [p for p in map(Path, args.paths) if p.is_file()]
    check_output(args.output, inputs=inputs, option="-o")
    result = load.load(args.paths, keep_going=args.keep_going, log=progress)
    load.one_metric(result, "a CSV table holds runs of one metric")
    for err in result.errors:
        progress(f"[csv] warning: skipped {err}")
    path = load.to_csv(result.frame, args.output, inputs=inputs)
    print(f"wrote {path}: {load.describe_loaded(result)}")
    return EXIT_OK
