"""``lowrank-bench``: the command line of the results tooling.

Each subcommand is registered by one small function that adds its parser and
sets ``handler``; the handler parses nothing itself, it calls the library
(:mod:`lowrank.analysis.report`, ...) and returns an exit code. To add a
subcommand (e.g. ``baseline``/``gate`` from :mod:`lowrank.analysis.gate`), write
``register(subparsers)`` in its module and append it to :func:`registrars`.

Exit codes: 0 success; 2 usage or input error, with a one-line message that
names the problem and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lowrank.errors import LowRankError

RUNS_FOLDER = Path("results") / "runs"
DEFAULT_OUTPUT = Path("results") / "report"
EXIT_OK, EXIT_USAGE = 0, 2

DESCRIPTION = """\
Turn lowrank-bench result files into tables, plots and a report.

Result files are what `pytest benchmarks/ --benchmark-only` writes to results/runs/,
and any pytest-benchmark JSON (--benchmark-json, or .benchmarks/ storage of
--benchmark-save/--benchmark-autosave). Folders are searched recursively.
Result files are only ever read.
"""


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _positive_fraction(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; accepted e.g. 0.1 or 10%") from None
    if not 0 < value < 10:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; accepted: a fraction above 0, e.g. 0.1 or 10%")
    return value


# -- report ----------------------------------------------------------------------------------------
def register_report(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write the Markdown + HTML report of one or more runs",
        description="Write report.md, report.html (figures embedded), figures/*.png and CSVs of the runs read. "
                    "The report is about one run (the newest unless --run says otherwise); other runs are "
                    "compared against it. With no PATHS, reads the newest file in results/runs/.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="result files or folders (default: newest in results/runs/)")
    p.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                   help=f"output folder, created if needed; its report files are replaced (default: {DEFAULT_OUTPUT})")
    p.add_argument("--run", default=None, metavar="RUN_ID",
                   help="the run the report is about: run id, file name or unique prefix (default: the newest)")
    p.add_argument("--keep-going", action="store_true",
                   help="skip unreadable files (they are listed in the report) instead of stopping at the first")
    p.add_argument("--bootstrap", type=int, default=200, metavar="N",
                   help="bootstrap resamples per timing for the speedup intervals (default 200; 0: use the IQRs)")
    p.set_defaults(handler=_run_report)


def _run_report(args) -> int:
    from . import load, report

    paths = args.paths
    if not paths:
        newest = load.newest_result_file(RUNS_FOLDER)
        _progress(f"[report] no files given: using the newest result file, {newest}")
        paths = [newest]
    result = report.write_report(paths, args.output, run_id=args.run, keep_going=args.keep_going,
                                 n_boot=max(0, args.bootstrap), log=_progress)
    for err in result.errors:
        _progress(f"[report] warning: skipped {err}")
    print(f"report written: {result.markdown} and {result.html} ({len(result.figures)} figures)")
    return EXIT_OK


# -- compare -------------------------------------------------------------------------------------
def register_compare(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare two runs side by side (tables and a ratio plot)",
        description="Compare run B against run A, benchmark by benchmark (matched on pytest's node id): time "
                    "ratio B/A with a 95% interval; regressions and improvements are judged exactly as "
                    "'lowrank-bench gate' judges absolute times (minimum effect AND Mann-Whitney U at alpha, "
                    "thresholds from [tool.lowrank-bench.gate] in pyproject.toml, then --threshold). Prints the "
                    "tables and writes comparison.md, comparison.html, comparison.csv and figures/run_comparison.png.",
    )
    p.add_argument("run_a", metavar="RUN_A", type=Path, help="the baseline result file")
    p.add_argument("run_b", metavar="RUN_B", type=Path, help="the result file compared with it")
    p.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"output folder (default: {DEFAULT_OUTPUT})")
    p.add_argument("--threshold", type=_positive_fraction, default=None,
                   help="smallest change reported as a regression or improvement, for every case (default: the "
                        "gate's minimum effects from pyproject.toml, else 0.1, i.e. 10%%)")
    p.add_argument("--config", type=Path, default=None,
                   help="pyproject.toml to read the gate's thresholds from (default: ./pyproject.toml when present)")
    p.set_defaults(handler=_run_compare)


def _run_compare(args) -> int:
    from . import report

    for path in (args.run_a, args.run_b):
        if path.is_dir():
            raise _InputError(f"{path}: is a folder; compare takes two result files")
    from . import gate

    if args.config is not None and not args.config.is_file():
        raise _InputError(f"--config {args.config}: no such file")
    config = gate.load_config(args.config or Path("pyproject.toml"))
    result = report.write_comparison(args.run_a, args.run_b, args.output, threshold=args.threshold, log=_progress,
                                     config=config)
    print(result.text)
    print(f"comparison written: {result.markdown} and {result.html}")
    return EXIT_OK


# -- csv -----------------------------------------------------------------------------------------
def register_csv(subparsers) -> None:
    p = subparsers.add_parser(
        "csv",
        help="write the tidy table of all benchmarks as CSV",
        description="Read result files and write one CSV row per (run, benchmark): run id, fingerprint, commit, "
                    "datetime, every param and extra_info field and the timing statistics (raw samples left out).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="result files or folders")
    p.add_argument("-o", "--output", type=Path, default=Path("results") / "results.csv",
                   help="CSV file to write (default: results/results.csv)")
    p.add_argument("--keep-going", action="store_true", help="skip unreadable files instead of stopping")
    p.set_defaults(handler=_run_csv)


def _run_csv(args) -> int:
    from . import load

    if args.output.suffix.lower() == ".json":
        raise _InputError(f"{args.output}: the CSV output must not be a .json file (result files are never written)")
    result = load.load(args.paths, keep_going=args.keep_going, log=_progress)
    for err in result.errors:
        _progress(f"[csv] warning: skipped {err}")
    path = load.to_csv(result.frame, args.output)
    print(f"wrote {path}: {load.describe_loaded(result)}")
    return EXIT_OK


# -- wiring --------------------------------------------------------------------------------------
class _InputError(LowRankError, ValueError):
    """A command-line input that cannot be used (named in the message)."""


def registrars():
    """The functions that each add one subcommand; append a module's ``register`` here to add one."""
    from . import gate_cli

    return [register_report, register_compare, register_csv, *gate_cli.registrars()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lowrank-bench", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `lowrank-bench COMMAND --help` for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in registrars():
        register(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``lowrank-bench`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 and a usage line on bad arguments
    try:
        return args.handler(args)
    except LowRankError as exc:  # every input problem: a result file, a run id, an option
        print(f"lowrank-bench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # an output folder that cannot be written, a file that vanished mid-read
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"lowrank-bench {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"lowrank-bench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
