"""What the subcommands share: exit codes, progress output, argument types and the gate's configuration."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lowrank.errors import LowRankError
from lowrank.record import paths

RUNS_FOLDER = paths.RUNS
DEFAULT_OUTPUT = paths.REPORT
# 1 means a verdict (a regression, a stale file) and nothing else, so that CI never reads a crash as one.
EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
ISSUES = "the project's issue tracker"


class InputError(LowRankError, ValueError):
    """A command-line input that cannot be used (named in the message)."""


def progress(message: str) -> None:
    """One progress line on stderr (stdout carries the command's result)."""
    print(message, file=sys.stderr, flush=True)


def _fraction(text: str) -> float:
    try:
        return float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; accepted e.g. 0.1 or 10%") from None


def positive_fraction(text: str) -> float:
    """argparse type: ``0.1`` or ``10%``, above 0 and below 10 (a relative change)."""
    value = _fraction(text)
    if not 0 < value < 10:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; accepted: a fraction above 0, e.g. 0.1 or 10%")
    return value


def unit_fraction(text: str) -> float:
    """argparse type: ``0.1`` or ``10%``, in (0, 1] (a share of something, an error bound)."""
    value = _fraction(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; accepted: a fraction in (0, 1], e.g. 0.1 or 10%")
    return value


def min_effect(text: str) -> float:
    """argparse type: a minimum effect, ``0.1`` or ``10%``, finite and in [0, 10).

    NaN, infinity and negative values are refused: each would switch a gate off.
    """
    value = _fraction(text)
    if not 0 <= value < 10:  # False for NaN too
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; accepted: a finite fraction in [0, 10), "
                                         "e.g. 0.1 or 10%")
    return value


def level(text: str) -> float:
    """argparse type: a significance level in (0, 1), e.g. ``0.01``."""
    value = _fraction(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; accepted: a significance level in (0, 1), "
                                         "e.g. 0.01 or 1%")
    return value


def count(minimum: int = 1, maximum: int | None = None):
    """argparse type: an integer in [``minimum``, ``maximum``]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum or (maximum is not None and value > maximum):
            accepted = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"{value} is out of range; accepted: {accepted}")
        return value

    parse.__name__ = "integer"
    return parse


def positive_number(text: str) -> float:
    """argparse type: a finite number > 0 (a speedup, a factor)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; accepted: a finite number > 0, e.g. 1.2")
    return value


def read_run(path) -> dict:
    """A parsed result file, validated against the schema (ResultFileError names what is wrong)."""
    from lowrank.store import load

    return load.read_document(path)


def add_config_argument(parser) -> None:
    """``--config``: where the gate's thresholds come from (gate and compare judge alike)."""
    parser.add_argument("--config", type=Path, default=None,
                        help="pyproject.toml to read the gate's thresholds from (default: ./pyproject.toml when present)")


def gate_config(args):
    """The ``GateConfig`` of ``[tool.lowrank-bench.gate]`` in ``args.config`` (or ./pyproject.toml), and its path."""
    from lowrank.judge import gate

    config = args.config or Path("pyproject.toml")
    if args.config is not None and not config.is_file():
        raise InputError(f"--config {config}: no such file")
    return gate.load_config(config), config
