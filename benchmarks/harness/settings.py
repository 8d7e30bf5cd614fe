"""Every ``LOWRANK_BENCH_*`` setting of a run, parsed once into one frozen, validated value.

The suite reads its environment in one place: :meth:`Settings.from_env`, called by
``benchmarks/harness/plugin.py`` when pytest starts. Everything else (the grids, the timing,
the benchmark files) reads the resulting :class:`Settings` from the pytest config
(:func:`of`). A bad value raises :class:`SettingsError` naming the variable, the value
and what is accepted; pytest shows it as a usage error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.engine import machine
from benchmarks.harness import selection as _selection
from lowrank.backends import available_backends
from lowrank.record import paths

DEFAULT_OUTPUT = paths.RUNS
# Fresh worker processes per backend, each timing every case (benchmarks/engine/driver.py); the pytest
# process that collected the cases never times, whatever the number.
DEFAULT_PROCESSES = 3
# Each process times every case of a backend again, so 20, pyperf's default number of processes, is
# already hours of a full run; more is a typo.
MAX_PROCESSES = 20

# What each variable does (quoted in errors); a test checks that every variable the suite reads is here.
VARIABLES = {
    "LOWRANK_BENCH_PROFILE": "the grid and timing profile: quick, default (default) or full",
    "LOWRANK_BENCH_BACKENDS": "comma-separated backends replacing the profile's",
    "LOWRANK_BENCH_DTYPES": "comma-separated dtypes replacing the profile's",
    "LOWRANK_BENCH_SHAPES": "comma-separated DxK shapes replacing the profile's",
    "LOWRANK_BENCH_RANKS": "comma-separated ranks replacing the profile's",
    "LOWRANK_BENCH_BATCHES": "comma-separated batch sizes replacing the profile's",
    "LOWRANK_BENCH_CACHE": "warm, cold or both",
    "LOWRANK_BENCH_THREADS": "BLAS and torch threads (default: usable cores - 1)",
    "LOWRANK_BENCH_PROCESSES": f"worker processes per backend, each timing every case (default {DEFAULT_PROCESSES}; "
                               "the pytest process itself never times)",
    "LOWRANK_BENCH_OUTPUT": "folder for the result JSON (default results/runs)",
    "LOWRANK_BENCH_METRIC": "what each case measures: time (default) or instructions (counted under valgrind's "
                            "callgrind, one pass, one thread)",
}
METRICS = ("time", "instructions")


class SettingsError(ValueError):
    """A ``LOWRANK_BENCH_*`` value that cannot be used; the message names it and what is accepted."""


@dataclass(frozen=True)
class Settings:
    """One run's settings, as the environment and the command-line options gave them."""

    selection: _selection.Selection  # profile and the cases it expands to
    threads: int  # BLAS and torch threads
    threads_explicit: bool  # LOWRANK_BENCH_THREADS was given
    processes: int  # worker processes per backend, each timing every case
    output_dir: Path  # where the result JSON goes (unless --benchmark-json names a file)
    metric: str = "time"  # "instructions": counted under callgrind (benchmarks/engine/counting.py)

    @property
    def counts(self) -> bool:
        return self.metric == "instructions"

    @classmethod
    def from_env(cls, env=None, profile: str | None = None, output: str | None = None) -> Settings:
        """Parse ``env`` (default ``os.environ``); ``profile``/``output`` are the command-line options, which win."""
        env = dict(os.environ if env is None else env)
        check_names(env)
        if profile:
            env["LOWRANK_BENCH_PROFILE"] = profile
        try:
            selection = _selection.select_from_env(env)
            threads = machine.requested_threads(env)
        except ValueError as exc:  # selection.GridError included: its message names the variable
            raise SettingsError(str(exc)) from None
        processes = _positive_int(env, "LOWRANK_BENCH_PROCESSES", DEFAULT_PROCESSES, MAX_PROCESSES)
        metric = (env.get("LOWRANK_BENCH_METRIC") or "time").strip()
        if metric not in METRICS:
            raise SettingsError(f"LOWRANK_BENCH_METRIC={metric!r}: accepted {', '.join(METRICS)}")
        if metric == "instructions":
            # Counts are the same in every pass and need one thread to be the same at all.
            if env.get("LOWRANK_BENCH_THREADS") and threads != 1:
                raise SettingsError(f"LOWRANK_BENCH_THREADS={env['LOWRANK_BENCH_THREADS']!r} with "
                                    "LOWRANK_BENCH_METRIC=instructions: accepted 1 (counted runs are single-threaded)")
            threads, processes = 1, 1
        out = output or env.get("LOWRANK_BENCH_OUTPUT") or DEFAULT_OUTPUT
        if Path(out).exists() and not Path(out).is_dir():
            raise SettingsError(f"LOWRANK_BENCH_OUTPUT={str(out)!r}: is a file; accepted: a folder for the result "
                                "JSON (created if missing), or --benchmark-json=FILE for one file")
        return cls(selection=selection, threads=threads, threads_explicit=bool(env.get("LOWRANK_BENCH_THREADS")),
                   processes=processes, output_dir=Path(out), metric=metric)


def check_names(env) -> None:
    """Refuse a ``LOWRANK_BENCH_*`` variable the suite does not read (a misspelt one would be ignored
    silently, and the run would not be the one asked for), suggesting the nearest known name."""
    import difflib

    unknown = sorted(k for k in env if k.startswith("LOWRANK_BENCH_") and k not in VARIABLES)
    if unknown:
        name = unknown[0]
        near = difflib.get_close_matches(name, VARIABLES, n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise SettingsError(f"{name}={env[name]!r} is not a setting of the suite{hint}; accepted: "
                            f"{', '.join(VARIABLES)}")


def _positive_int(env, name: str, default: int, maximum: int) -> int:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    digits = value.strip()
    # The length first: int() of thousands of digits raises before any bound is checked.
    if not digits.isdecimal() or len(digits) > len(str(maximum)) or not 1 <= int(digits) <= maximum:
        raise SettingsError(f"{name}={value!r}: accepted an integer >= 1 and <= {maximum} ({VARIABLES[name]})")
    return int(value)


KEY = pytest.StashKey[Settings]()


def of(config) -> Settings:
    """The run's settings, stored on the pytest config by ``benchmarks/harness/plugin.py``."""
    return config.stash[KEY]


STATUS_KEY = pytest.StashKey[dict]()


def backend_status(config) -> dict[str, str | None]:
    """Each of the run's backends mapped to None when usable here, else to why not; asked once a run.

    Only the run's backends are asked about: a numpy-only run (a numpy worker of any run included)
    never imports torch, whose import is most of a counted worker's start under valgrind."""
    status = config.stash.get(STATUS_KEY, None)
    if status is None:
        status = config.stash[STATUS_KEY] = available_backends(of(config).selection.backends)
    return status
