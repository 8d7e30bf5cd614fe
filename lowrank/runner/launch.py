"""The one launcher of the benchmark suite in a subprocess: ``pytest benchmarks/... --benchmark-only``.

``lowrank-bench ab`` (each process of each side), ``lowrank-bench model`` (its timing), the
tests and the scripts all start the suite here. The suite is driven only through its
documented interface: ``LOWRANK_BENCH_*`` variables, ``--benchmark-json`` and ``-k``. The
caller's own ``LOWRANK_BENCH_*`` variables are dropped first unless asked to be kept, so that
a setting left in a shell never leaks into a run that names its settings.

Which suite: :func:`suite_folder`, the ``benchmarks`` package installed with this library
(a checkout's own ``benchmarks/`` in an editable install, the copy inside the wheel
otherwise), so an installed package times without a checkout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from lowrank.errors import LowRankValueError

PREFIX = "LOWRANK_BENCH_"


def suite_folder() -> Path:
    """The folder of the benchmark suite installed with this package (``benchmarks/``)."""
    spec = importlib.util.find_spec("benchmarks")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in map(Path, folders):
        if (folder / "harness" / "plugin.py").is_file():
            return folder.resolve()
    raise LowRankValueError("the benchmark suite is not installed with lowrank (no 'benchmarks' package with "
                            "harness/plugin.py on the path): reinstall lowrank-bench, or use --no-timing")


def suite_env(settings: dict[str, str], base: dict[str, str] | None = None, keep_settings: bool = False
              ) -> dict[str, str]:
    """``base`` (default: this process's environment) plus ``settings``; without ``base``'s own
    ``LOWRANK_BENCH_*`` variables unless ``keep_settings``."""
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if keep_settings or not k.startswith(PREFIX)}
    env.update({k: str(v) for k, v in settings.items()})
    return env


def launch(targets, settings: dict[str, str], *, cwd: Path, json_path: Path | None = None, select: str | None = None,
           python: str = sys.executable, timeout: float | None = None, extra_env: dict | None = None,
           keep_settings: bool = False, args=("--benchmark-only", "-q")) -> subprocess.CompletedProcess:
    """Run the suite's ``targets`` (files or folders, relative to ``cwd``) with ``settings``; the finished process.

    ``args`` go to pytest (default: time, quietly); ``json_path`` is passed as ``--benchmark-json``
    (otherwise the suite writes to its output folder); ``select`` as ``-k``. The exit code is the
    caller's to judge (5: nothing selected).
    """
    cmd = [python, "-m", "pytest", *map(str, targets), *args, "-p", "no:cacheprovider"]
    if json_path is not None:
        cmd.append(f"--benchmark-json={json_path}")
    if select:
        cmd += ["-k", select]
    env = suite_env(settings, keep_settings=keep_settings)
    env.update(extra_env or {})
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def output_tail(proc: subprocess.CompletedProcess, chars: int = 3000) -> str:
    """The end of a finished run's output, for an error message."""
    return (proc.stdout + proc.stderr)[-chars:]


def run_suite(targets, settings: dict[str, str], json_path: Path, *, cwd: Path, select: str | None = None,
              python: str = sys.executable, timeout: float | None = None, extra_env: dict | None = None) -> dict:
    """:func:`launch` into ``json_path`` (which must not exist); the result document, read back.

    A failed run raises :class:`~lowrank.errors.LowRankValueError` with the end of its output.
    """
    json_path = Path(json_path)
    if json_path.exists():
        raise LowRankValueError(f"{json_path} exists; a suite run never writes over a result file")
    proc = launch(targets, settings, cwd=cwd, json_path=json_path, select=select, python=python, timeout=timeout,
                  extra_env=extra_env)
    if proc.returncode != 0 or not json_path.is_file():
        raise LowRankValueError(f"the suite run {' '.join(map(str, targets))} failed (exit {proc.returncode}); its "
                                f"output ends:\n{output_tail(proc)}")
    return json.loads(json_path.read_text())
