"""Running the benchmark suite in a subprocess: ``pytest benchmarks/... --benchmark-only``.

The suite is driven only through its documented interface (``LOWRANK_BENCH_*``
variables and ``--benchmark-json``). The caller's own ``LOWRANK_BENCH_*`` variables are
dropped first, so that a setting left in a shell never leaks into a run that names its
settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lowrank.errors import LowRankValueError

PREFIX = "LOWRANK_BENCH_"


def suite_env(settings: dict[str, str], base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without its ``LOWRANK_BENCH_*`` variables, plus ``settings``."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith(PREFIX)}
    env.update({k: str(v) for k, v in settings.items()})
    return env


def run_suite(targets, settings: dict[str, str], json_path: Path, *, cwd: Path, select: str | None = None,
              python: str = sys.executable, timeout: float | None = None, extra_env: dict | None = None) -> dict:
    """Run ``targets`` (benchmark files or folders, relative to ``cwd``) with ``settings``; the result document.

    The result is written to ``json_path`` (which must not exist) and read back. A failed run
    raises :class:`~lowrank.errors.LowRankValueError` with the end of its output.
    """
    json_path = Path(json_path)
    if json_path.exists():
        raise LowRankValueError(f"{json_path} exists; a suite run never writes over a result file")
    cmd = [python, "-m", "pytest", *map(str, targets), "--benchmark-only", "-q", "-p", "no:cacheprovider",
           f"--benchmark-json={json_path}"]
    if select:
        cmd += ["-k", select]
    env = suite_env(settings)
    env.update(extra_env or {})
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not json_path.is_file():
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise LowRankValueError(f"the suite run {' '.join(cmd[3:])} failed (exit {proc.returncode}); its output "
                                f"ends:\n{tail}")
    return json.loads(json_path.read_text())
