"""``lowrank-bench``: the command line of the results tooling.

Each subcommand is one module of :mod:`lowrank.cli` (asv's
``commands/`` layout): ``register(subparsers)`` adds its parser and sets
``handler``; the handler calls the library (:mod:`lowrank.present.report`,
:mod:`~lowrank.judge.gate`, ...) and returns an exit code. What they share
(exit codes, argument types, the gate's ``--config``) is in ``lowrank/cli/common.py``.

Exit codes: 0 success; 1 a verdict (a regression, a changed exact metric, a stale
file); 2 usage or input error, with a one-line message that names the problem and no
traceback; 3 an internal error (a bug: the message says where to report it, and
``LOWRANK_TRACEBACK=1`` shows the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from lowrank.cli.common import EXIT_INTERNAL, EXIT_USAGE, ISSUES
from lowrank.errors import LowRankError

DESCRIPTION = """\
Turn lowrank-bench result files into tables, plots and a report.

Result files are what `pytest benchmarks/ --benchmark-only` writes to results/runs/,
and any pytest-benchmark JSON (--benchmark-json, or .benchmarks/ storage of
--benchmark-save/--benchmark-autosave). Folders are searched recursively.
Result files are only ever read.
"""


def registrars():
    """The functions that each add one subcommand, in ``--help`` order.

    A subcommand is a module of :mod:`lowrank.cli` with ``register(subparsers)``;
    to add one, write the module and list it here.
    """
    from lowrank.cli import ab, baseline, compare, csv, export, gate, history, model, report, schema

    return [m.register for m in (report, compare, csv, baseline, gate, ab, history, export, model, schema)]


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
    except Exception as exc:  # a bug, not a verdict: never exit 1
        if os.environ.get("LOWRANK_TRACEBACK"):
            traceback.print_exc()
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"lowrank-bench {args.command}: internal error: {type(exc).__name__}: {exc} (at "
              f"{Path(where.filename).name}:{where.lineno}). This is a bug: please report it at {ISSUES} with the "
              f"command line (LOWRANK_TRACEBACK=1 shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL

