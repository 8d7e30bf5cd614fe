"""``lowrank-bench``: the command line of the results tooling.

Each subcommand is one module of :mod:`lowrank.cli` (asv's
``commands/`` layout): ``register(subparsers)`` adds its parser and sets
``handler``; the handler calls the library (:mod:`lowrank.present.report`,
:mod:`~lowrank.judge.gate`, ...) and returns an exit code. What they share
(exit codes, argument types, the gate's ``--config``) is in ``lowrank/cli/common.py``.

Exit codes: 0 success; 1 a verdict (a regression, a changed exact metric, a stale
file); 2 usage or input error, with a one-line message that names the problem and no
traceback; 3 an internal error (a bug: the message says where to report it, and
``LOWRANK_TRACEBACK=1`` shows the traceback); 130 interrupted (Ctrl-C or SIGTERM). On either
signal staging folders, temporary files and worktrees are removed on the way out, and the
outputs the command had not yet replaced are left as they were.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
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


class Terminated(KeyboardInterrupt):
    """SIGTERM received (a CI job cancelled, ``kill``): raised so that every ``finally`` runs, as on Ctrl-C."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"signal {signum}")


def _terminate(signum, frame):
    # A second SIGTERM while the finally blocks clean up would cut the cleanup short; SIGKILL still stops it.
    # A Python handler rather than SIG_IGN: processes started during the cleanup get the default back.
    signal.signal(signum, _ignore)
    raise Terminated(signum)


def _ignore(signum, frame):
    pass


def main(argv=None) -> int:
    """Entry point of the ``lowrank-bench`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 and a usage line on bad arguments
    # Python's default on SIGTERM is to die at once, leaving staging folders and worktrees behind.
    # Handlers can only be set from the main thread (a caller may run main() in another).
    handle = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if handle else None
    try:
        return _dispatch(args)
    finally:
        if handle and previous is not None:  # None: a handler set outside Python, which cannot be restored
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args) -> int:
    try:
        return args.handler(args)
    except LowRankError as exc:  # every input problem: a result file, a run id, an option
        print(f"lowrank-bench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # an output folder that cannot be written, a file that vanished mid-read
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"lowrank-bench {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        how = f" ({signal.Signals(exc.signum).name})" if isinstance(exc, Terminated) else ""
        print(f"lowrank-bench {args.command}: interrupted{how}", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a verdict: never exit 1
        if os.environ.get("LOWRANK_TRACEBACK"):
            traceback.print_exc()
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"lowrank-bench {args.command}: internal error: {type(exc).__name__}: {exc} (at "
              f"{Path(where.filename).name}:{where.lineno}). This is a bug: please report it at {ISSUES} with the "
              f"command line (LOWRANK_TRACEBACK=1 shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL

