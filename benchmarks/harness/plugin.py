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
import json
import os
import platform
import re
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.engine import counting, driver, machine, timing
from benchmarks.engine.dtypes import dtypes_on
from benchmarks.harness import settings
from benchmarks.harness.selection import Selection
from benchmarks.matvec import grid, refine
from lowrank.backends import BACKEND_NAMES, available_backends
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
    "pytest_runtest_setup",
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
PARAM_NAMES = ("backend", "dtype", "d", "k", "rank", "batch", "cache")
# Plugin defaults of the options the timing policy replaces; a value that differs was set by the user.
PLUGIN_DEFAULTS = {"benchmark_max_time": 1.0, "benchmark_min_rounds": 5}
# Pause when the run moves from one backend to the next: numpy's OpenBLAS pool and torch's
# OpenMP pool keep spinning after their last call; measured here, 0.2 s removed the stalls
# that 1-50 ms did not (a torch call right after numpy: 27 us alone, 3.6 ms median).
SETTLE_S = 0.2


def pytest_addoption(parser):
    group = parser.getgroup("lowrank-bench")
    group.addoption("--lowrank-profile", default=None, help="benchmark profile: quick, default or full "
                    "(overrides LOWRANK_BENCH_PROFILE)")
    group.addoption("--lowrank-output", default=None, help="folder for result JSON (default results/runs; "
                    "LOWRANK_BENCH_OUTPUT)")


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
    config.addinivalue_line("markers", "single_pass: timed in the first pass of worker processes only (calls of "
                                       "milliseconds to seconds, long against the disturbances passes guard against)")
    try:
        run_settings = settings.Settings.from_env(profile=config.getoption("lowrank_profile"),
                                                  output=config.getoption("lowrank_output"))
        selection = run_settings.selection
        cases = grid.expand(selection)
        config.stash[TIMING] = _timing_policy(config, selection.profile.timing)
    except ValueError as exc:  # settings.SettingsError, selection.GridError, a bad timing option
        raise pytest.UsageError(str(exc)) from None
    status = available_backends()
    if selection.explicit_backends:
        for name in selection.backends:
            if status[name] is not None:
                raise pytest.UsageError(f"LOWRANK_BENCH_BACKENDS asks for {name!r}, which is unavailable: {status[name]}")
    if run_settings.counts and not driver.is_worker() and not _timing_disabled(config):
        try:
            counting.require_valgrind()
        except counting.CountingUnavailable as exc:
            raise pytest.UsageError(f"LOWRANK_BENCH_METRIC=instructions: {exc}") from None
    config.stash[settings.KEY] = run_settings
    processes = run_settings.processes
    prof = selection.profile
    usable = [b for b in selection.backends if status[b] is None]
    # torch too when it is loaded at all (available_backends imports it to ask for a GPU): an
    # unpinned pool in a numpy worker would be one more thread pool on the cores.
    import sys

    use_torch = any(b.startswith("torch") for b in usable) or "torch" in sys.modules
    config.stash[THREAD_PIN] = machine.ThreadPin(run_settings.threads, use_torch=use_torch)
    config.stash[RUNNABLE] = len([c for c in cases if status[c.backend] is None])
    disabled = _timing_disabled(config)
    # Driver mode: this process hands the cases to worker processes (benchmarks/engine/driver.py).
    config.stash[PROGRESS] = {"planned": None, "finished": 0, "session": None, "processes": processes,
                              "last_backend": None, "failed": None,
                              # A counted run always hands its cases to a worker: the one under valgrind.
                              "driver": not disabled and (processes > 1 or run_settings.counts)
                              and not driver.is_worker()}

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
    """Run the cases backend by backend (numpy, torch-cpu, torch-cuda), keeping their order otherwise.

    No timing is taken while another library's thread pool may still spin: each backend's
    cases run as one block, with a pause at each switch (:data:`SETTLE_S`).
    """
    order = {name: i for i, name in enumerate(BACKEND_NAMES)}
    items[:] = sorted(items, key=lambda item: order.get(_backend_of(item), -1))
    if settings.of(config).counts:
        kept = [i for i in items if i.get_closest_marker("not_counted") is None]
        if len(kept) < len(items):
            left = [i for i in items if i.get_closest_marker("not_counted") is not None]
            config.hook.pytest_deselected(items=left)
            items[:] = kept
            if not driver.is_worker():
                reasons = sorted({i.get_closest_marker("not_counted").kwargs.get("reason", "") for i in left})
                reporter = config.pluginmanager.get_plugin("terminalreporter")
                if reporter is not None:
                    reporter.write_line(f"[count] {len(left)} case(s) left out of the counted run: {'; '.join(reasons)}")
    if driver.pass_number() > 1:
        later = [i for i in items if i.get_closest_marker("single_pass") is None and not driver.leaves_out(i.nodeid)]
        if len(later) < len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in later])
            items[:] = later


def pytest_collection_finish(session):
    progress = session.config.stash.get(PROGRESS, None)
    if progress is not None:
        progress["planned"] = len(session.items)
        progress["session"] = session


def pytest_runtest_setup(item):
    progress = item.config.stash.get(PROGRESS, None)
    backend = _backend_of(item)
    if progress is None or backend is None or _timing_disabled(item.config):
        return
    if progress["last_backend"] is not None and backend != progress["last_backend"]:
        time.sleep(SETTLE_S)
    progress["last_backend"] = backend


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
    status = available_backends()
    backends = [b for b in BACKEND_NAMES if status[b] is None and any(_backend_of(i) == b for i in session.items)]
    if not backends:
        return None  # nothing runnable to hand over (every case skipped): let pytest report the skips
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    run = RunContext(config, reporter)
    config.stash[RUN] = run
    counts = settings.of(config).counts
    if counts:
        run.calibration = {}  # nothing is timed: no roofs to check against
    else:
        run.calibrate()
    import tempfile

    passes = progress["processes"]
    # Pairs of short calls: more passes where the profile asks for them (never in a counted run,
    # whose counts no process moves, nor where the user asked for one pass).
    short_processes = passes + (0 if counts else run.selection.profile.short_pair_extra_processes)
    docs: list = []
    interrupted = False
    failed: tuple[str, ...] = ()
    with tempfile.TemporaryDirectory(prefix="lowrank-bench-") as tmp:
        prefix, extra_env = (), None
        if counts:
            count_dir = Path(tmp) / "counts"
            count_dir.mkdir()
            try:
                counting.build_hooks(count_dir)
                (count_dir / counting.BYTECODE_NOTE).write_text(counting.compile_sources())
            except counting.CountingUnavailable as exc:
                raise pytest.UsageError(f"LOWRANK_BENCH_METRIC=instructions: {exc}") from None
            prefix = tuple(counting.valgrind_command(count_dir))
            extra_env = {**counting.ENVIRONMENT, counting.COUNT_DIR_ENV: str(count_dir)}
        try:
            if counts:
                driver.prepare_operands(config.invocation_params.args, backends, Path(tmp), run.calibration, run.log)
            complete = driver.run_passes(config.invocation_params.args, backends, passes, Path(tmp), run.calibration,
                                         docs, run.log, prefix, extra_env,
                                         first_pass_only_s=None if counts else run.policy.very_long_call_s,
                                         refine=_refine_plan if run.refines else None,
                                         short_pair_processes=short_processes,
                                         short_pair=_short_pair(run.policy))
        except KeyboardInterrupt:
            interrupted, complete = True, False
        except driver.WorkerFailed as exc:
            run.log(str(exc))
            failed = exc.failed or ("lowrank-bench worker",)  # operands' preparation names no test
            session.testsfailed += len(failed)
            progress["failed"] = str(exc).splitlines()[0]
            complete = False
        if docs:
            if not counts and not interrupted:
                run.read_roofs_again()
            _write_merged(config, run, docs, complete, passes, short_processes)
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


def _short_pair(policy: timing.Policy):
    """Which cases the extra passes time: pairs whose two calls are under ``long_call_s``, in a warm cache.
    A cold-cache case (a fresh copy of its operands each call) costs about twice a warm one to time;
    with them in the two extra passes the default run went over its 15-minute budget."""
    def chosen(bench: dict) -> bool:
        return (driver.is_short_pair(bench, policy.long_call_s)
                and (bench.get("extra_info") or {}).get("cache") != "cold")
    return chosen


def _refine_plan(doc: dict) -> str:
    """The matvec ranks later passes add near each curve's break-even, from a pass-1 worker document."""
    return refine.to_lines(refine.plan(doc))


def _write_merged(config, run, docs: list, complete: bool, passes: int, short_processes: int) -> None:
    merged = merging.merge_passes(docs, recheck=run.recheck)
    block = merged.setdefault("machine_info", {}).setdefault("lowrank_bench", {})
    block.update(merging.merged_block(docs, merged, complete, passes, short_processes))
    block.update({
        "flagged": len(run.flagged),
        "calibration": run.calibration or {},
        # This process pinned every backend's threads and loaded every library: its view is the run's.
        "threads": run.threads,
        "versions": machine.versions(),
    })
    # The extra passes count where they timed something: a run with no pair of short calls (cold cache
    # only, or a -k without one) says so, and no reader claims five processes for it.
    timed_extra = any(d.get("benchmarks") for p, d in docs if p > passes)
    block["timing"] = {**block.get("timing", {}), "processes": passes,
                       "short_pair_processes": short_processes if timed_extra else passes}
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
        f"lowrank-bench: timing: >= {policy.min_rounds} rounds of ~{policy.round_s * 1e3:g} ms per case after "
        f"{policy.warmup_s * 1e3:g} ms warm-up; each backend in fresh worker processes, "
        f"{config.stash[PROGRESS]['processes']} pass(es), the least disturbed pass reported"
        + (f"; {selection.profile.short_pair_extra_processes} more for the warm pairs of calls under "
           f"{policy.long_call_s * 1e3:g} ms" if selection.profile.short_pair_extra_processes
           and config.stash[PROGRESS]["driver"] and not settings.of(config).counts else ""),
    ]
    final = config.stash[OUTPUT]["final"]
    if final is not None:
        lines.append(f"lowrank-bench: results will be written to {final}")
    return lines


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("lowrank_grid") is None:
        return
    selection = settings.of(metafunc.config).selection
    status = available_backends()
    params = []
    for case in grid.expand(selection, refined=refine.from_lines(driver.refined_listing())):
        reason = status[case.backend]
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(*(getattr(case, n) for n in PARAM_NAMES), id=case.id, marks=marks))
    metafunc.parametrize(PARAM_NAMES, params)


class RunContext:
    """Per-run facts the benchmarks record (threads, devices, calibration, spread) and the timing engine."""

    def __init__(self, config, reporter):
        self.config = config
        self.selection: Selection = settings.of(config).selection
        self.policy: timing.Policy = config.stash[TIMING]
        self.threads = config.stash[THREAD_PIN].info()
        self._reporter = reporter
        self._devices: dict[str, str] = {}
        self._llc: dict[str, int] = {}
        self.calibration: dict | None = None
        self.flagged: list[tuple[str, str]] = []  # (benchmark name, why)
        self._dense: dict[str, dict] = {}  # group -> the dense case's median and cost, for the speedup check
        self._partner_plans: dict[str, timing.Plan] = {}  # group -> its dense product's calibration (pairs)

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
            b: dtypes_on(b, self.selection.dtypes) for b in self.selection.backends if status[b] is None
        }
        given = os.environ.get(driver.CALIBRATION_ENV)
        if given:
            # A worker: the driver calibrated once for every pass and backend.
            self.calibration = json.loads(Path(given).read_text())
            return
        self.log("")
        self.calibration = machine.calibrate(backend_dtypes, self._matmul_size(), log=self.log)
        time.sleep(SETTLE_S)  # calibration ran every backend: let their pools go quiet

    def _matmul_size(self) -> int:
        return 1024 if self.selection.profile.name == "quick" else 2048

    def read_roofs_again(self) -> None:
        """After the passes: calibrate again and keep the higher of the two readings of every roof
        (:func:`machine.with_later_reading`), which the merged results are checked against. A few
        seconds, once per run, beside the driver's workers' minutes."""
        self.log("[calibrate] the roofs again, after the passes")
        backend_dtypes = {b: tuple(d) for b, d in (self.calibration or {}).get("peak_gflops", {}).items()}
        later = machine.calibrate(backend_dtypes, self._matmul_size(), log=self.log)
        self.calibration = machine.with_later_reading(self.calibration or {}, later)

    @property
    def counts(self) -> bool:
        """Whether this run counts instructions instead of timing (``LOWRANK_BENCH_METRIC=instructions``)."""
        return settings.of(self.config).counts

    def time(self, benchmark, call, policy: timing.Policy | None = None) -> dict:
        """Time ``call`` with the run's engine (``benchmarks/engine/timing.py``), or count its instructions
        (``benchmarks/engine/counting.py``) in a counted run; the record fields it adds."""
        if self.counts and not benchmark.disabled:
            record = counting.count(call)
            # pytest-benchmark's own record of the case, from one call under valgrind: its time is
            # no time (the schema says so; readers of a counted run read "instructions").
            benchmark.pedantic(call, rounds=1, iterations=1, warmup_rounds=0)
            return {**record, **timing.empty_record(), "processes": 1, "process_medians": None,
                    "process_spread": None}
        record = timing.measure(benchmark, call, policy or self.policy)
        # One process's figures; the driver replaces them with those of every pass.
        median = self.median(benchmark)
        record.update({"processes": 1 if median else None, "process_medians": [median] if median else None,
                       "process_spread": None})
        return record

    def time_pair(self, benchmark, call, partner, partner_key: str) -> dict:
        """Time ``call`` beside ``partner`` (the dense product a factored one replaces) in alternating
        rounds (:func:`benchmarks.engine.timing.measure_pair`): ``call``'s rounds are the benchmark's
        stats, and the pair's round ratios give the paired speedup (:mod:`lowrank.record.pairs`). A
        counted run counts ``call`` alone: instructions need no partner to cancel the machine's noise.
        The partner is calibrated once per ``partner_key`` (its group) in this process."""
        if self.counts and not benchmark.disabled:
            return {**self.time(benchmark, call), **pairs.summarize([])}
        record, plan = timing.measure_pair(benchmark, call, partner, self.policy, self.selection.profile.pairing,
                                           partner_plan=self._partner_plans.get(partner_key))
        if plan is not None:
            self._partner_plans[partner_key] = plan
        ratios = record.pop("pair_ratios")
        median = self.median(benchmark)
        record.update({"processes": 1 if median else None, "process_medians": [median] if median else None,
                       "process_spread": None, **pairs.summarize([ratios] if ratios else [])})
        return record

    @property
    def refines(self) -> bool:
        """Whether later passes add ranks near each break-even: the profile asks for it, the ranks are the
        profile's (explicit ``LOWRANK_BENCH_RANKS`` are the user's grid) and nothing is counted."""
        return self.selection.profile.refine_break_even and self.selection.ranks is None and not self.counts

    def refined(self, case) -> bool:
        """Whether a matvec case's rank was added after pass 1 (:mod:`benchmarks.matvec.refine`)."""
        return case.rank is not None and case.rank not in self.selection.ranks_for(case.d, case.k)

    def measures_quality_of(self, case) -> bool:
        """:attr:`measures_quality`, and for a refined rank the first pass that times it (pass 2)."""
        return self.measures_quality or (self.refined(case) and driver.pass_number() == 2 and not self.counts)

    @property
    def dense_policy(self) -> timing.Policy:
        """The timing of a dense case on its own: every factored case of its group times it again, paired."""
        return self.selection.profile.dense_timing or self.policy

    @property
    def measures_quality(self) -> bool:
        """Whether this process computes the untimed metrics (errors, peak memory, drift).

        They do not depend on the process, so only the first pass of worker processes
        computes them (an 8192² error check takes seconds); later passes time only, and
        the driver takes the metrics from the first pass.
        """
        # A counted worker runs under valgrind, where an error check's SVD takes minutes: counts only.
        return driver.pass_number() <= 1 and not self.counts

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
        median = self.median(benchmark)
        if not median or self.counts:
            return {"gflops": None, "gbps": None, "roofline_fraction": None}
        out = {"gflops": cost.flops / median / 1e9, "gbps": cost.bytes_moved / median / 1e9, "roofline_fraction": None}
        if self.calibration:
            gbps = plausibility.bandwidth_roof(self.calibration, backend, "DRAM")
            bandwidth = gbps * 1e9 if gbps else None
            peak = plausibility.compute_roof(self.calibration, backend, dtype)
            if bandwidth and peak:
                out["roofline_fraction"] = cost.roofline_seconds(bandwidth, peak * 1e9) / median
        return out

    def plausibility(self, benchmark, **case) -> str | None:
        """Check a matvec result against the calibrated roofs and, for a factored case, its dense pair.

        Returns why the result is physically impossible (also counted for the run's
        summary), or None. A dense case is remembered for the factored cases of its group.
        """
        return None if self.counts else self._check(benchmark.name, self.median(benchmark), **case)

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
        """Re-run the plausibility checks on pooled results (the driver's merge), in place."""
        self.flagged, self._dense = [], {}
        if self.counts:
            return  # no times to check
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
        "timing": {**_policy_dict(config.stash[TIMING]), "engine": timing.ENGINE_VERSION, "settle_s": SETTLE_S},
        "metric": settings.of(config).metric,
        # A counted worker's own view (the BLAS kernel valgrind's virtual CPU made it choose); the
        # driver's merged file keeps the first worker's machine_info.
        **({"counting": counting.recorded_settings(config.stash[THREAD_PIN].info())}
           if os.environ.get(counting.COUNT_DIR_ENV) else {}),
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
                f"lowrank-bench: {len(pooled['benchmarks'])} cases pooled from {progress['processes']} passes of worker "
                f"processes; between-pass spread of medians: median {mid:.1%}, {wide} case(s) above 5%")
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
