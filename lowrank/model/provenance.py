"""Where and when a model plan was made: the date, the code's commit and the machine, for its JSON and report.

A plan's perplexities and tokens per second belong to one machine and one version of the code;
the plan document carries both, so a figure read later says where it came from.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import subprocess
from pathlib import Path

# The checkout this package runs from (an installed wheel has no .git above it: its commit is "unknown").
REPO = Path(__file__).resolve().parent.parent.parent


def utc_now() -> str:
    """The current time, UTC, ISO 8601 to the second (``...T...Z``)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def commit(repo: Path = REPO) -> str:
    """The checkout's short commit, with ``+changes`` when tracked files differ from it; ``unknown`` outside git
    (the measurement scripts' stamp too, through ``scripts/measurement.py``)."""
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        return sha + ("+changes" if dirty else "") if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine(threads: int | None = None) -> dict:
    """The machine: hostname, CPU, logical CPUs, the threads the measurements ran on and the library versions."""
    import numpy

    from lowrank.backends import cpu_name

    out = {"hostname": socket.gethostname(), "cpu": cpu_name(), "cpus": os.cpu_count(), "threads": threads,
           "platform": platform.platform(), "python": platform.python_version(), "numpy": numpy.__version__}
    for name in ("torch", "transformers"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = None
    return out


def stamp(threads: int | None = None) -> dict:
    """``{"date", "commit", "machine"}`` for a plan document."""
    return {"date": utc_now(), "commit": commit(), "machine": machine(threads)}
