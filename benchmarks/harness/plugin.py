"""pytest wiring of the benchmark suite: profile, threads, calibration, result files.

``pytest benchmarks/ --benchmark-only`` runs the profile named by
``LOWRANK_BENCH_PROFILE`` (default ``default``) and writes a pytest-benchmark JSON
to ``results/runs/`` (``LOWRANK_BENCH_OUTPUT`` or ``--lowrank-output`` to change).
The file is written under a hidden ``.partial`` name first and linked into place
only when complete, under a name that never replaces an earlier run. A ``--benchmark-json``
given by the user is honoured instead (``--benchmark-save`` is refused: the run is one pooled file).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.engine import driver, instrument, machine, timing
from benchmarks.engine.dtypes import dtypes_on
from benchmarks.harness import settings
from benchmarks.harness.selection import Selection
from benchmarks.matvec import grid
from lowrank.backends import BACKEND_NAMES
from lowrank.record import merging, pairs, plausibility
from lowrank.record.atomic import write_atomic, write_text_atomic
from lowrank.record.schema import SCHEMA_TAG

# What benchmarks/conftest.py takes from here: the hooks and the fixture.
__all__ = [
    "lowrank_run",
    "pytest_addoption",
    "pytest_benchmark_update_machine_info",
    "pytest_collection_finish",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_report_header",
    "pytest_runtest_protocol",
    "pytest_runtestloop",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
    "pytest_unconfigure",
]

OUTPUT = pytest.StashKey[dict]()
TIMING = pytest.StashKey[timing.Policy]()
PROGRESS = pytest.StashKey[dict]()
THREAD_PIN = pytest.StashKey[machine.ThreadPin]()
RUNNABLE = pytest.StashKey[int]()  # cases whose backend is available
RUN = pytest.StashKey["RunContext"]()
INSTRUMENT = pytest.StashKey[instrument.Instrument]()
PARAM_NAMES = ("backend", "dtype", "d", "k", "rank", "batch", "cache")
# Plugin defaults of the options the timing policy replaces; a value that differs was set by the user.
PLUGIN_DEFAULTS = {"benchmark_max_time": 1.0, "benchmark_min_rounds": 5}


def pytest_addoption(parser):
    group = parser.getgroup("lowrank-bench")
    group.addoption("--lowrank-profile", default=None, help="benchmark profile: quick, default or full "
                    "(overrides LOWRANK_BENCH_PROFILE)")
    group.addoption("--lowrank-output", default=None, help="folder for result JSON (default results/runs; "
                    "LOWRANK_BENCH_OUTPUT)")
    group.addoption(driver.SPEC_OPTION, default=None, metavar="SPEC", help="run as one worker process of a run, "
                    "configured by the spec file the driver wrote (benchmarks/engine/driver.py; its log shows the "
                    "command line)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # The suite's files and functions are named bench_*: the checkout's pyproject.toml says so, and an
    # installed suite (pytest --pyargs benchmarks, any working folder) has no such configuration.
    for name, pattern in (("python_files", "bench_*.py"), ("python_functions", "bench_*")):
        if pattern not in config.getini(name):
            config.addinivalue_line(name, pattern)
    config.addinivalue_line("markers", "lowrank_grid: parametrize over the profile's matvec grid")
    config.addinivalue_line("markers", "not_counted(reason): left out of counted runs (LOWRANK_BENCH_METRIC="
                            "instructions), for the reason given")
    spec_path = config.getoption("lowrank_worker")
    try:
        if spec_path:  # a worker: its settings are its spec's, whatever the environment says
            driver.enter(driver.WorkerSpec.read(spec_path))
        env = driver.current().worker_settings if driver.is_worker() else None
        run_settings = settings.Settings.from_env(env, profile=config.getoption("lowrank_profile"),
                                                  output=config.getoption("lowrank_output"))
        selection = run_settings.selection
        cases = grid.expand(selection)
        config.stash[TIMING] = _timing_policy(config, selection.profile.timing)
    except (ValueError, OSError, TypeError) as exc:  # settings.SettingsError, selection.GridError, a bad option or spec
        raise pytest.UsageError(str(exc)) from None
    config.stash[settings.KEY] = run_settings
    status = settings.backend_status(config)
    if selection.explicit_backends:
        for name in selection.backends:
            if status[name] is not None:
                raise pytest.UsageError(f"LOWRANK_BENCH_BACKENDS asks for {name!r}, which is unavailable: {status[name]}")
    measuring = instrument.for_metric(run_settings.metric)
    config.stash[INSTRUMENT] = measuring
    if not driver.is_worker() and not _timing_disabled(config):
        why = measuring.unavailable()
        if why:
            raise pytest.UsageError(f"LOWRANK_BENCH_METRIC={run_settings.metric}: {why}")
    processes = measuring.processes or run_settings.processes
    prof = selection.profile
    usable = [b for b in selection.backends if status[b] is None]
    # torch too when it is loaded at all (a suite module or a peer library may import it): an
    # unpinned pool in a numpy worker would be one more thread pool on the cores.
    import sys

    use_torch = any(b.startswith("torch") for b in usable) or "torch" in sys.modules
    config.stash[THREAD_PIN] = machine.ThreadPin(run_settings.threads, use_torch=use_torch)
    config.stash[RUNNABLE] = len([c for c in cases if status[c.backend] is None])
    disabled = _timing_disabled(config)
    # Driver mode: this process hands the cases to worker processes (benchmarks/engine/driver.py), one
    # or more alike: the process that collected every case and loaded every library never measures.
    config.stash[PROGRESS] = {"planned": None, "finished": 0, "session": None, "processes": processes,
                              "failed": None, "driver": not disabled and not driver.is_worker()}

    output = {"final": None, "temp": None}
    if not disabled and getattr(config.option, "benchmark_json", None) is None:
        out_dir = run_settings.output_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        host = re.sub(r"[^A-Za-z0-9]+", "-", platform.node() or "host").strip("-")[:24]
        name = f"{stamp}_{prof.name}_{host}"
        # A hidden, non-.json name in the same folder: never read as a result; published under its
        # final name at the end (write_atomic, never replacing an earlier run).
        output["temp"] = out_dir / f".{name}.{os.getpid()}.partial"
        output["final"] = out_dir / f"{name}.json"
        _set_benchmark_json(config, output["temp"])
    if config.stash[PROGRESS]["driver"]:
        if getattr(config.option, "benchmark_save", None) or getattr(config.option, "benchmark_autosave", False):
            raise pytest.UsageError("--benchmark-save/--benchmark-autosave: the suite writes one file per run, every "
                                    "worker process pooled, not pytest-benchmark's storage; accepted: "
                                    "--benchmark-json=PATH, or LOWRANK_BENCH_OUTPUT / --lowrank-output=FOLDER")
        # The workers time; this process writes the pooled file itself, where pytest-benchmark would have.
        output["driver_target"] = getattr(config.option, "benchmark_json", None)
        _set_benchmark_json(config, None)
    config.stash[OUTPUT] = output


def _set_benchmark_json(config, path) -> None:
    """Where pytest-benchmark writes its JSON. Its session reads the option when it is configured: a
    checkout's ``pytest benchmarks/`` configures this plugin first, but an installed suite
    (``pytest --pyargs benchmarks``) finds this conftest later, so the session is told as well."""
    config.option.benchmark_json = path
    session = getattr(config, "_benchmarksession", None)  # pytest-benchmark's BenchmarkSession, once made
    if session is not None:
        session.json = path


def _timing_policy(config, policy: timing.Policy) -> timing.Policy:
    """The profile's timing policy, with pytest-benchmark's round and time options where the user set them."""
    max_time = getattr(config.option, "benchmark_max_time", None)
    if max_time is not None and float(max_time) != PLUGIN_DEFAULTS["benchmark_max_time"]:
        policy = replace(policy, budget_s=float(max_time))
    min_rounds = getattr(config.option, "benchmark_min_rounds", None)
    if min_rounds is not None and int(min_rounds) != PLUGIN_DEFAULTS["benchmark_min_rounds"]:
        policy = replace(policy, min_rounds=int(min_rounds), max_rounds=max(policy.max_rounds, int(min_rounds)))
    return policy


def _backend_of(item) -> str | None:
    params = getattr(getattr(item, "callspec", None), "params", {}) or {}
    backend = params.get("backend")
    return backend if isinstance(backend, str) else None


def pytest_collection_modifyitems(session, config, items):
    """Run the cases backend by backend (numpy, torch-cpu, torch-cuda), keeping their order otherwise,
    without those the run's instrument leaves out (``not_counted`` cases in a counted run)."""
    order = {name: i for i, name in enumerate(BACKEND_NAMES)}
    items[:] = sorted(items, key=lambda item: order.get(_backend_of(item), -1))
    measuring = config.stash[INSTRUMENT]
    left = {item: why for item in items if (why := measuring.leaves_out(item))}
    if left:
        config.hook.pytest_deselected(items=list(left))
        items[:] = [i for i in items if i not in left]
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and not driver.is_worker():
            reporter.write_line(f"[{measuring.metric}] {len(left)} case(s) left out: {'; '.join(sorted(set(left.values())))}")


def pytest_collection_finish(session):
    progress = session.config.stash.get(PROGRESS, None)
    if progress is not None:
        progress["planned"] = len(session.items)
        progress["session"] = session


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    yield
    # Counted per item whatever its outcome; compared with the plan when the file is written.
    progress = item.config.stash.get(PROGRESS, None)
    if progress is not None:
        progress["finished"] += 1


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """Driver mode: hand the collected cases to worker processes (``benchmarks/engine/driver.py``), pool, write."""
    config = session.config
    progress = config.stash.get(PROGRESS, None)
    if progress is None or not progress["driver"] or session.testsfailed or config.option.collectonly:
        return None
    status = settings.backend_status(config)
    backends = [b for b in BACKEND_NAMES
                if b in status and status[b] is None and any(_backend_of(i) == b for i in session.items)]
    if not backends:
        return None  # nothing runnable to hand over (every case skipped): let pytest report the skips
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    run = RunContext(config, reporter)
    config.stash[RUN] = run
    run.calibrate()
    import tempfile

    processes = progress["processes"]
    measuring = run.instrument
    docs: list = []
    interrupted = False
    failed: tuple[str, ...] = ()
    with tempfile.TemporaryDirectory(prefix="lowrank-bench-") as tmp:
        workdir = Path(tmp)
        try:
            launch, count_dir = measuring.launch(workdir)
        except (RuntimeError, OSError) as exc:  # counting.CountingUnavailable: no compiler, no valgrind header
            raise pytest.UsageError(f"LOWRANK_BENCH_METRIC={measuring.metric}: {exc}") from None
        common = {"processes": processes, "settings": driver.user_settings(), "calibration": run.calibration,
                  "operand_cache": str(workdir / "operands"), "count_dir": count_dir}
        specs = [driver.WorkerSpec(process=p, backend=b, **common) for p in range(1, processes + 1) for b in backends]
        try:
            if measuring.prepares_operands:
                driver.prepare_operands(config.invocation_params.args, specs[:len(backends)], workdir, run.log)
            complete = driver.run_processes(config.invocation_params.args, specs, workdir, docs, run.log, launch)
        except KeyboardInterrupt:
            interrupted, complete = True, False
        except driver.WorkerFailed as exc:
            run.log(str(exc))
            failed = exc.failed or ("lowrank-bench worker",)  # operands' preparation names no test
            session.testsfailed += len(failed)
            progress["failed"] = str(exc).splitlines()[0]
            complete = False
        if docs:
            _write_merged(config, run, docs, complete, processes)
    if interrupted:
        raise KeyboardInterrupt
    _report_outcomes(reporter, docs, failed, progress.get("failed"))
    return True


def _report_outcomes(reporter, docs: list, failed: tuple[str, ...], why: str | None) -> None:
    """Count the workers' cases in this process's closing line, as pytest counts the tests it runs:
    each case once, failed where a worker's pytest said so, else passed where a worker recorded it.

    The driver runs no test itself; without this its line would read "no tests ran" after a good run.
    """
    if reporter is None:
        return
    timed = dict.fromkeys(b.get("fullname") or b.get("name") for _, doc in docs for b in doc.get("benchmarks", []))
    for nodeid, outcome in [*((n, "passed") for n in timed if n not in failed), *((n, "failed") for n in failed)]:
        path, _, name = nodeid.partition("::")
        longrepr = None if outcome == "passed" else f"{(why or 'a worker failed').partition(';')[0]}: its output is above"
        report = pytest.TestReport(nodeid, (path, None, name or path), {}, outcome, longrepr, "call")
        reporter.stats.setdefault(outcome, []).append(report)


def _write_merged(config, run, docs: list, complete: bool, processes: int) -> None:
    merged = merging.merge_passes(docs, recheck=run.recheck)
    block = merged.setdefault("machine_info", {}).setdefault("lowrank_bench", {})
    block.update(merging.merged_block(docs, merged, complete, processes))
    block.update({
        "flagged": len(run.flagged),
        "calibration": run.calibration or {},
        # This process pinned every backend's threads and loaded every library: its view is the run's.
        "threads": run.threads,
        "versions": machine.versions(),
    })
    block["timing"] = {**block.get("timing", {}), "processes": processes}
    progress = config.stash[PROGRESS]
    progress["complete"] = block["complete"]
    progress["planned"], progress["finished"] = block["cases_planned"], block["cases_finished"]
    progress["pooled"] = merged
    output = config.stash[OUTPUT]
    target = output.get("driver_target")
    if target is None:
        return
    write_text_atomic(target, json.dumps(merged, indent=4))  # a reader sees the old file or the whole new one


def _timing_disabled(config) -> bool:
    return bool(config.getoption("benchmark_disable", False) or config.getoption("benchmark_skip", False))


def pytest_report_header(config):
    if settings.KEY not in config.stash:
        return None
    selection = settings.of(config).selection
    pin = config.stash[THREAD_PIN]
    policy = config.stash[TIMING]
    lines = [
        f"lowrank-bench: profile={selection.profile.name} ({selection.profile.description}); "
        f"{config.stash[RUNNABLE]} runnable cases; threads={pin.n} (BLAS and torch; "
        f"{'LOWRANK_BENCH_THREADS' if settings.of(config).threads_explicit else 'default: usable cores - 1'})",
        f"lowrank-bench: {config.stash[INSTRUMENT].metric}: each case in {config.stash[PROGRESS]['processes']} "
        f"process(es); in each, {policy.warmup_s * 1e3:g} ms of warm-up, then rounds of ~{policy.round_s * 1e3:g} ms "
        f"for {policy.budget_s * 1e3:g} ms ({policy.min_rounds} to {policy.max_rounds} rounds; a pair in ABBA "
        "order); rounds of every process pooled (docs/timing.md)",
    ]
    final = config.stash[OUTPUT]["final"]
    if final is not None:
        lines.append(f"lowrank-bench: results will be written to {final}")
    return lines


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("lowrank_grid") is None:
        return
    selection = settings.of(metafunc.config).selection
    status = settings.backend_status(metafunc.config)
    params = []
    for case in grid.expand(selection):
        reason = status[case.backend]
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(*(getattr(case, n) for n in PARAM_NAMES), id=case.id, marks=marks))
    metafunc.parametrize(PARAM_NAMES, params)


class RunContext:
    """What a benchmark asks of its run (the ``lowrank_run`` fixture): threads, devices, calibration,
    the instrument that measures it, and the plausibility of what it measured."""

    def __init__(self, config, reporter):
        self.config = config
        self.selection: Selection = settings.of(config).selection
        self.policy: timing.Policy = config.stash[TIMING]
        self.instrument: instrument.Instrument = config.stash[INSTRUMENT]
        self.threads = config.stash[THREAD_PIN].info()
        self._reporter = reporter
        self._devices: dict[str, str] = {}
        self._llc: dict[str, int] = {}
        self.calibration: dict | None = None
        self.flagged: list[tuple[str, str]] = []  # (benchmark name, why)
        self._dense: dict[str, dict] = {}  # group -> the dense case's median and cost, for the speedup check
        self._partner_plans: dict[str, timing.Plan] = {}  # group -> its dense product's warm-up (pairs)

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
        """The roofs every result is read against: read once a run, by the driver (a worker has them in its spec)."""
        if not self.instrument.reads_roofs:
            self.calibration = {}
            return
        if driver.is_worker():
            self.calibration = driver.current().calibration
            return
        status = settings.backend_status(self.config)
        backend_dtypes = {
            b: dtypes_on(b, self.selection.dtypes) for b in self.selection.backends if status[b] is None
        }
        self.log("")
        self.calibration = machine.calibrate(backend_dtypes, self._matmul_size(), log=self.log)

    def _matmul_size(self) -> int:
        return 1024 if self.selection.profile.name == "quick" else 2048

    def time(self, benchmark, call, policy: timing.Policy | None = None) -> dict:
        """Measure ``call`` with the run's instrument (:mod:`benchmarks.engine.instrument`); the record fields it adds."""
        record = self.instrument.measure(benchmark, call, policy or self.policy)
        # One process's figures; the driver replaces them with those of every process.
        median = self.median(benchmark)
        record.update({"processes": 1 if median else None, "process_medians": [median] if median else None,
                       "process_spread": None})
        return record

    def time_pair(self, benchmark, call, partner, partner_key: str) -> dict:
        """Measure ``call`` beside ``partner`` (the dense product a factored one replaces): timed, in
        alternating rounds whose ratios give the paired speedup (:mod:`lowrank.record.pairs`); counted,
        alone. The partner is warmed up once per ``partner_key`` (its group) in this process."""
        record, plan = self.instrument.measure_pair(benchmark, call, partner, self.policy,
                                                    partner_plan=self._partner_plans.get(partner_key))
        if plan is not None:
            self._partner_plans[partner_key] = plan
        ratios = record.pop("pair_ratios")
        median = self.median(benchmark)
        record.update({"processes": 1 if median else None, "process_medians": [median] if median else None,
                       "process_spread": None, **pairs.summarize([ratios] if ratios else [])})
        return record

    @property
    def measures_quality(self) -> bool:
        """Whether this process computes the untimed metrics (errors, peak memory, drift).

        They do not depend on the process, so only a run's first process computes them (an
        8192² error check takes seconds); the others time only, and the driver takes the
        metrics from the first. Not under valgrind (an SVD there takes minutes).
        """
        return self.instrument.measures_quality and driver.process_number() <= 1

    @staticmethod
    def host_work(backend: str):
        """Context for numpy work (error metrics) done for a ``backend`` case: single-threaded BLAS
        when the case is not numpy's, so that OpenBLAS's pool is not woken to spin under the
        next torch timing."""
        from contextlib import nullcontext

        from threadpoolctl import threadpool_limits

        return nullcontext() if backend == "numpy" else threadpool_limits(limits=1, user_api="blas")

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
        return self.rates(self.median(benchmark), cost.flops, cost.bytes_moved, backend, dtype)

    def rates(self, median: float | None, flops: float, bytes_moved: float, backend: str, dtype: str) -> dict:
        """GFLOP/s, GB/s and the roofline fraction max(bytes / bandwidth, flops / peak) / median of a median."""
        if not median or not self.instrument.reads_roofs:
            return {"gflops": None, "gbps": None, "roofline_fraction": None}
        out = {"gflops": flops / median / 1e9, "gbps": bytes_moved / median / 1e9, "roofline_fraction": None}
        if self.calibration:
            gbps = plausibility.bandwidth_roof(self.calibration, backend, "DRAM")
            peak = plausibility.compute_roof(self.calibration, backend, dtype)
            if gbps and peak:
                out["roofline_fraction"] = max(bytes_moved / (gbps * 1e9), flops / (peak * 1e9)) / median
        return out

    def plausibility(self, benchmark, **case) -> str | None:
        """Check a matvec result against the calibrated roofs and, for a factored case, its dense pair.

        Returns why the result is physically impossible (also counted for the run's
        summary), or None. A dense case is remembered for the factored cases of its group.
        """
        if not self.instrument.reads_roofs:
            return None
        return self._check(benchmark.name, self.median(benchmark), **case)

    def _check(self, name: str, median: float | None, *, group: str, variant: str, backend: str, dtype: str,
               cache: str, flops: float, bytes_moved: float, speedup: float | None = None) -> str | None:
        if not median:
            return None
        flag = plausibility.roof_flag(backend=backend, dtype=dtype, cache=cache, median_s=median, flops=flops,
                                      bytes_moved=bytes_moved, calibration=self.calibration)
        if variant == "dense":
            self._dense[group] = {"median": median, "flops": flops, "bytes": bytes_moved}
        elif flag is None and group in self._dense:
            dense = self._dense[group]
            # the paired speedup where the case has one (its dense partner timed beside it)
            paired = pairs.is_paired({"paired_speedup": speedup})
            flag = plausibility.speedup_flag(
                speedup if paired else dense["median"] / median, backend=backend, cache=cache, dense_flops=dense["flops"],
                dense_bytes=dense["bytes"], factored_flops=flops, factored_bytes=bytes_moved,
                calibration=self.calibration)
        if flag:
            self.flagged.append((name, flag))
        return flag

    def recheck(self, benchmarks: list[dict]) -> None:
        """On pooled results (the driver's merge), in place: the rates of the pooled median, then the
        plausibility checks."""
        self.flagged, self._dense = [], {}
        if not self.instrument.reads_roofs:
            return  # no times to check
        for bench in benchmarks:
            e, median = bench["extra_info"], bench["stats"]["median"]
            if e.get("suite") == "matvec":
                e.update(self.rates(median, e["flops"], e["bytes_moved"], e["backend"], e["dtype"]))
            elif isinstance(e.get("gflops"), (int, float)) and median:  # the other suites: GFLOP/s of their model
                flops = e.get("flops") or e.get("flops_model")
                e["gflops"] = flops / median / 1e9 if flops else None
        matvec = [b for b in benchmarks if (b.get("extra_info") or {}).get("suite") == "matvec"]
        # Dense first in each group, as the suite runs them.
        for bench in sorted(matvec, key=lambda b: b["extra_info"]["variant"] != "dense"):
            e = bench["extra_info"]
            e["flag"] = self._check(bench["name"], bench["stats"]["median"], group=bench["group"],
                                    variant=e["variant"], backend=e["backend"], dtype=e["dtype"], cache=e["cache"],
                                    flops=e["flops"], bytes_moved=e["bytes_moved"], speedup=e.get("paired_speedup"))


@pytest.fixture(scope="session")
def lowrank_run(request):
    """The run's context; calibrates the machine once when timing is on."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    run = RunContext(request.config, reporter)
    if not request.config.getoption("benchmark_disable", False):
        run.calibrate()
    request.config.stash[RUN] = run
    return run


def pytest_benchmark_update_machine_info(config, machine_info):
    run = config.stash.get(RUN, None)
    selection = settings.of(config).selection
    devices = dict(run._devices) if run else {}
    progress = config.stash[PROGRESS]
    session = progress["session"]
    interrupted = session is not None and session.exitstatus == pytest.ExitCode.INTERRUPTED
    planned = progress["planned"]
    machine_info["lowrank_bench"] = {
        "schema": SCHEMA_TAG,
        "profile": selection.profile.name,
        # An interrupted run (Ctrl-C, -x) keeps what it measured but says so: report and gate read this.
        "complete": not interrupted and planned is not None and progress["finished"] >= planned,
        "cases_planned": planned,
        "cases_finished": progress["finished"],
        "timing": {**_policy_dict(config.stash[TIMING]), "engine": timing.ENGINE_VERSION},
        "metric": settings.of(config).metric,
        # A counted worker's own view (the BLAS kernel valgrind's virtual CPU made it choose); the
        # driver's merged file keeps the first worker's machine_info.
        **config.stash[INSTRUMENT].run_fields(config.stash[THREAD_PIN].info()),
        "flagged": len(run.flagged) if run else 0,
        "threads": run.threads if run else config.stash[THREAD_PIN].info(),
        "versions": machine.versions(),
        "devices": devices,
        "calibration": (run.calibration if run else None) or {},
        "fingerprint": machine.fingerprint(machine_info, devices),
    }


def _policy_dict(policy: timing.Policy) -> dict:
    from dataclasses import asdict

    return asdict(policy)


def pytest_sessionfinish(session):
    # Runs after pytest-benchmark's own sessionfinish wrapper has written the JSON.
    output = session.config.stash.get(OUTPUT, None)
    if not output or output["temp"] is None or not output["temp"].exists():
        return
    final: Path = output["final"]
    final.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = final, 1
    while True:
        try:  # atomic, and fails rather than replace an existing file
            write_atomic(candidate, lambda tmp: shutil.copyfile(output["temp"], tmp), replace=False)
            break
        except FileExistsError:
            n += 1
            candidate = final.with_name(f"{final.stem}-{n}{final.suffix}")
    output["temp"].unlink()
    output["written"] = candidate


def pytest_terminal_summary(terminalreporter, config):
    run = config.stash.get(RUN, None)
    if run is not None and not _timing_disabled(config):
        if run.flagged:
            terminalreporter.write_line(
                f"lowrank-bench: {len(run.flagged)} result(s) flagged physically implausible "
                "(extra_info 'flag'; the report keeps them out of its findings):", yellow=True, bold=True)
            for name, why in run.flagged[:10]:
                terminalreporter.write_line(f"  {name}: {why}")
            if len(run.flagged) > 10:
                terminalreporter.write_line(f"  ... and {len(run.flagged) - 10} more")
        else:
            terminalreporter.write_line("lowrank-bench: 0 results flagged physically implausible")
    progress = config.stash.get(PROGRESS, None)
    output = config.stash.get(OUTPUT, None)
    pooled = (progress or {}).get("pooled")
    if pooled:
        spreads = sorted(b["extra_info"]["process_spread"] for b in pooled["benchmarks"]
                         if isinstance(b["extra_info"].get("process_spread"), (int, float)))
        if spreads:
            mid = spreads[len(spreads) // 2]
            wide = sum(1 for v in spreads if v > 0.05)
            terminalreporter.write_line(
                f"lowrank-bench: {len(pooled['benchmarks'])} cases pooled from {progress['processes']} worker "
                f"processes each; spread of the process medians: median {mid:.1%}, {wide} case(s) above 5%")
    incomplete = progress.get("complete") is False if progress and "complete" in progress else (
        progress and progress["planned"] is not None and progress["finished"] < progress["planned"])
    if config.option.collectonly:
        incomplete = False  # nothing was meant to run
    if progress and output and (output.get("written") or output.get("driver_target")) and incomplete:
        # Without a single finished case there is nothing to keep: say so rather than name a file.
        kept = "the file is marked incomplete" if output.get("written") else "no case finished: no file written"
        terminalreporter.write_line(
            f"lowrank-bench: INCOMPLETE run: {progress['finished'] or 0} of {progress['planned']} cases"
            + (f" ({progress['failed']})" if progress.get("failed") else "") + f"; {kept}",
            red=True, bold=True)
    if output and output.get("written"):
        terminalreporter.write_line(f"lowrank-bench: results written to {output['written']}", bold=True)


def pytest_unconfigure(config):
    pin = config.stash.get(THREAD_PIN, None)
    if pin is not None:
        pin.release()
