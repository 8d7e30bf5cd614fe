"""pytest wiring of the benchmark suite: profile, threads, calibration, result files.

``pytest benchmarks/ --benchmark-only`` runs the profile named by
``LOWRANK_BENCH_PROFILE`` (default ``default``) and writes a pytest-benchmark JSON
to ``results/runs/`` (``LOWRANK_BENCH_OUTPUT`` or ``--lowrank-output`` to change).
The file is written under a hidden ``.partial`` name first and linked into place
only when complete, under a name that never replaces an earlier run. A ``--benchmark-json``
given by the user is honoured instead; ``--benchmark-save`` works alongside.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from pathlib import Path

import pytest

from lowrank.analysis.schema import SCHEMA_TAG
from lowrank.backends import available_backends

from . import grid, machine

REPO = Path(__file__).resolve().parent.parent
SELECTION = pytest.StashKey[grid.Selection]()
OUTPUT = pytest.StashKey[dict]()
PARAM_NAMES = ("backend", "dtype", "d", "k", "rank", "batch", "cache")
# Plugin defaults of the options a profile sets; a value that differs was set by the user.
PLUGIN_DEFAULTS = {"benchmark_max_time": 1.0, "benchmark_min_rounds": 5, "benchmark_min_time": 0.000005}


def pytest_addoption(parser):
    group = parser.getgroup("lowrank-bench")
    group.addoption("--lowrank-profile", default=None, help="benchmark profile: quick, default or full "
                    "(overrides LOWRANK_BENCH_PROFILE)")
    group.addoption("--lowrank-output", default=None, help="folder for result JSON (default results/runs; "
                    "LOWRANK_BENCH_OUTPUT)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "lowrank_grid: parametrize over the profile's matvec grid")
    env = dict(os.environ)
    if config.getoption("lowrank_profile"):
        env["LOWRANK_BENCH_PROFILE"] = config.getoption("lowrank_profile")
    try:
        selection = grid.select_from_env(env)
        cases = grid.expand(selection)
        threads = machine.requested_threads(env)
    except (grid.GridError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None
    status = available_backends()
    if selection.explicit_backends:
        for name in selection.backends:
            if status[name] is not None:
                raise pytest.UsageError(f"LOWRANK_BENCH_BACKENDS asks for {name!r}, which is unavailable: {status[name]}")
    config.stash[SELECTION] = selection

    prof = selection.profile
    for option, value in (("benchmark_max_time", prof.max_time), ("benchmark_min_rounds", prof.min_rounds),
                          ("benchmark_min_time", prof.min_time)):
        current = getattr(config.option, option, None)
        # pytest-benchmark keeps the time options as strings ("1.0"), the rounds as an int.
        if current is not None and float(current) == PLUGIN_DEFAULTS[option]:
            setattr(config.option, option, value if isinstance(current, int) else repr(float(value)))

    usable = [b for b in selection.backends if status[b] is None]
    config._lowrank_threads = machine.ThreadPin(threads, use_torch=any(b.startswith("torch") for b in usable))
    config._lowrank_cases = len([c for c in cases if status[c.backend] is None])

    output = {"final": None, "temp": None}
    disabled = config.getoption("benchmark_disable", False) or config.getoption("benchmark_skip", False)
    if not disabled and getattr(config.option, "benchmark_json", None) is None:
        out_dir = Path(config.getoption("lowrank_output") or env.get("LOWRANK_BENCH_OUTPUT") or REPO / "results" / "runs")
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        host = re.sub(r"[^A-Za-z0-9]+", "-", platform.node() or "host").strip("-")[:24]
        name = f"{stamp}_{prof.name}_{host}"
        # A hidden, non-.json name in the same folder: never read as a result, and
        # on the same file system so the final os.link is atomic.
        output["temp"] = out_dir / f".{name}.{os.getpid()}.partial"
        output["final"] = out_dir / f"{name}.json"
        config.option.benchmark_json = output["temp"]
    config.stash[OUTPUT] = output


def pytest_report_header(config):
    selection = config.stash.get(SELECTION, None)
    if selection is None:
        return None
    pin = config._lowrank_threads
    lines = [
        f"lowrank-bench: profile={selection.profile.name} ({selection.profile.description}); "
        f"{config._lowrank_cases} runnable cases; threads={pin.n} (BLAS and torch)",
    ]
    final = config.stash[OUTPUT]["final"]
    if final is not None:
        lines.append(f"lowrank-bench: results will be written to {final}")
    return lines


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("lowrank_grid") is None:
        return
    selection = metafunc.config.stash[SELECTION]
    status = available_backends()
    params = []
    for case in grid.expand(selection):
        reason = status[case.backend]
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(*(getattr(case, n) for n in PARAM_NAMES), id=case.id, marks=marks))
    metafunc.parametrize(PARAM_NAMES, params)


class RunContext:
    """Per-run facts the benchmarks record: threads, devices, calibration, cache sizes."""

    def __init__(self, config, reporter):
        self.config = config
        self.selection: grid.Selection = config.stash[SELECTION]
        self.threads = config._lowrank_threads.info()
        self._reporter = reporter
        self._devices: dict[str, str] = {}
        self._llc: dict[str, int] = {}
        self.calibration: dict | None = None

    def log(self, message: str) -> None:
        if self._reporter is not None:
            self._reporter.write_line(message)

    def device(self, backend: str) -> str:
        if backend not in self._devices:
            self._devices[backend] = machine.devices([backend])[backend]
        return self._devices[backend]

    def llc_bytes(self, backend: str) -> int:
        if backend not in self._llc:
            self._llc[backend] = machine.last_level_cache_bytes(backend)
        return self._llc[backend]

    def calibrate(self) -> None:
        status = available_backends()
        backend_dtypes = {
            b: grid.dtypes_for(b, self.selection) for b in self.selection.backends if status[b] is None
        }
        size = 1024 if self.selection.profile.name == "quick" else 2048
        self.log("")
        self.calibration = machine.calibrate(backend_dtypes, size, log=self.log)

    @staticmethod
    def median(benchmark) -> float | None:
        """The timed median in seconds, or None when timing was disabled (--benchmark-disable)."""
        return getattr(getattr(getattr(benchmark, "stats", None), "stats", None), "median", None) or None

    @classmethod
    def gflops(cls, benchmark, flops: int) -> float | None:
        """Achieved GFLOP/s from the median, or None when timing was disabled."""
        median = cls.median(benchmark)
        return flops / median / 1e9 if flops and median else None

    def throughput(self, benchmark, cost, backend: str, dtype: str) -> dict:
        """Achieved GFLOP/s, GB/s and roofline fraction from the median (None when timing is off)."""
        median = self.median(benchmark)
        if not median:
            return {"gflops": None, "gbps": None, "roofline_fraction": None}
        out = {"gflops": cost.flops / median / 1e9, "gbps": cost.bytes_moved / median / 1e9, "roofline_fraction": None}
        if self.calibration:
            bandwidth = machine.roof_bandwidth(self.calibration, backend)
            peak = self.calibration["peak_gflops"].get(backend, {}).get(dtype)
            if bandwidth and peak:
                out["roofline_fraction"] = cost.roofline_seconds(bandwidth, peak * 1e9) / median
        return out


@pytest.fixture(scope="session")
def lowrank_run(request):
    """The run's context; calibrates the machine once when timing is on."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    run = RunContext(request.config, reporter)
    if not request.config.getoption("benchmark_disable", False):
        run.calibrate()
    request.config._lowrank_run = run
    return run


def pytest_benchmark_update_machine_info(config, machine_info):
    run = getattr(config, "_lowrank_run", None)
    selection = config.stash[SELECTION]
    devices = dict(run._devices) if run else {}
    machine_info["lowrank_bench"] = {
        "schema": SCHEMA_TAG,
        "profile": selection.profile.name,
        "threads": run.threads if run else config._lowrank_threads.info(),
        "versions": machine.versions(),
        "devices": devices,
        "calibration": (run.calibration if run else None) or {},
        "fingerprint": machine.fingerprint(machine_info, devices),
    }


def pytest_sessionfinish(session):
    # Runs after pytest-benchmark's own sessionfinish wrapper has written the JSON.
    output = session.config.stash.get(OUTPUT, None)
    if not output or output["temp"] is None or not output["temp"].exists():
        return
    final: Path = output["final"]
    final.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = final, 1
    while True:
        try:
            os.link(output["temp"], candidate)  # atomic, and fails rather than replace an existing file
            break
        except FileExistsError:
            n += 1
            candidate = final.with_name(f"{final.stem}-{n}{final.suffix}")
    output["temp"].unlink()
    output["written"] = candidate


def pytest_terminal_summary(terminalreporter, config):
    output = config.stash.get(OUTPUT, None)
    if output and output.get("written"):
        terminalreporter.write_line(f"lowrank-bench: results written to {output['written']}", bold=True)


def pytest_unconfigure(config):
    pin = getattr(config, "_lowrank_threads", None)
    if pin is not None:
        pin.release()
