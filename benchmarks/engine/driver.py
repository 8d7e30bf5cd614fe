"""Worker processes: every case timed in ``processes`` fresh processes, one backend at a time.

``pytest benchmarks/ --benchmark-only`` collects the cases as usual, then hands them to
worker pytest processes instead of running them itself (``pytest_runtestloop``):

* **Every process times every case.** Process 1 runs every backend, then process 2, ...; a
  case's rounds from all of them are pooled (:mod:`lowrank.record.merging`). A disturbance on
  a shared machine lasts from milliseconds to a second; processes minutes apart, each with
  fresh page placement, address-space layout and thread placement, put it in one process of
  a case instead of all of it, and the spread of the process medians says how far another
  run may land.
* **One backend per process.** A numpy worker runs no torch operation and a torch worker
  wakes OpenBLAS's pool for no timing, so no timing is taken while the other library's
  thread pool spins.
* **A worker is configured by one spec** (:class:`WorkerSpec`, a JSON file): its process
  number, backend, the run's settings, the driver's calibration and the shared operand
  folder. Its command line is written at the top of its log, and running it again by hand
  reproduces that process (``pytest ... --lowrank-worker=SPEC --benchmark-json=OUT``). Its
  results come back as its pytest-benchmark JSON.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# Options of the user's command line that name outputs: the driver writes the one result file.
_OUTPUT_OPTIONS = ("--benchmark-json", "--benchmark-save", "--benchmark-autosave", "--lowrank-output",
                   "--benchmark-histogram", "--benchmark-cprofile-dump")
SPEC_OPTION = "--lowrank-worker"
SETTINGS_PREFIX = "LOWRANK_BENCH_"


@dataclass(frozen=True)
class WorkerSpec:
    """Everything one worker process needs besides the user's pytest arguments."""

    process: int  # 1, 2, ... of ``processes``
    processes: int
    backend: str
    settings: dict  # the run's LOWRANK_BENCH_* settings as the user gave them (the worker reads no other)
    calibration: dict  # the driver's roofs, read once for every process
    operand_cache: str  # the folder where the run's processes share the operands they built
    count_dir: str | None = None  # a counted worker's folder of callgrind dumps and hooks

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def read(cls, path) -> WorkerSpec:
        return cls(**json.loads(Path(path).read_text()))

    @property
    def worker_settings(self) -> dict:
        """The settings this worker runs under: the run's, narrowed to its backend, in this process."""
        return {**self.settings, "LOWRANK_BENCH_BACKENDS": self.backend, "LOWRANK_BENCH_PROCESSES": "1"}


_current: WorkerSpec | None = None


def enter(spec: WorkerSpec) -> None:
    """Make ``spec`` this process's: called once by the plugin when pytest starts a worker."""
    global _current
    _current = spec


def current() -> WorkerSpec | None:
    """This worker's spec, or None outside a worker (the driver, or a run in one process)."""
    return _current


def is_worker() -> bool:
    return _current is not None


def process_number() -> int:
    """The process a worker is (1, 2, ...); 0 outside a worker."""
    return _current.process if _current is not None else 0


def worker_args(args) -> list[str]:
    """The user's pytest arguments without the ones that name output files (``--opt value`` and ``--opt=value``)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _OUTPUT_OPTIONS:
            skip = "=" not in arg and name not in ("--benchmark-autosave",)
            continue
        out.append(arg)
    return out


def user_settings(env=os.environ) -> dict:
    """The ``LOWRANK_BENCH_*`` variables of the driver's environment: the run's settings, for the spec."""
    return {k: v for k, v in env.items() if k.startswith(SETTINGS_PREFIX)}


class WorkerFailed(RuntimeError):
    """A worker process exited with an error; the message names it and ends with its output.

    ``failed``: the node ids the worker's pytest reported failed or in error (its short summary).
    """

    def __init__(self, message: str, failed: tuple[str, ...] = ()):
        super().__init__(message)
        self.failed = tuple(failed)


# A line of pytest's short test summary: "FAILED node-id - message" (or ERROR).
SUMMARY_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+)")


def failed_ids(output: str) -> list[str]:
    """The node ids a pytest run's short test summary names as failed or in error, in order, once each."""
    return list(dict.fromkeys(m.group(1) for m in map(SUMMARY_LINE.match, output.splitlines()) if m))


PROGRESS = re.compile(r"\[\s*(\d+)%\]\s*$")  # the end of one of pytest's -q progress lines


@dataclass(frozen=True)
class Launch:
    """How the instrument runs a worker: a program in front of Python (valgrind) and environment variables
    the process itself needs (not settings: those are in the spec); a variable set to None is removed."""

    prefix: tuple[str, ...] = ()
    env: tuple[tuple[str, str | None], ...] = ()


def worker_command(args, spec_path: Path, out: Path | None, launch: Launch = Launch()) -> list[str]:
    """The command line of one worker: the user's pytest arguments, its spec and its result file.

    ``out`` None: the cases run once each as plain tests and record nothing (``--benchmark-disable``,
    which pytest-benchmark refuses beside ``--benchmark-only``).
    """
    user = worker_args(args)
    if out is None:
        tail = ["--benchmark-disable"]
        user = [a for a in user if a != "--benchmark-only"]
    else:
        tail = [f"--benchmark-json={out}", "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name"]
    return [*launch.prefix, sys.executable, "-m", "pytest", *user, f"{SPEC_OPTION}={spec_path}", *tail, "-q",
            "-p", "no:cacheprovider"]


def worker_env(launch: Launch = Launch()) -> dict:
    """A worker's environment: this one without the run's settings (the spec carries them), plus the launch's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_PREFIX)}
    env["PYTHONUNBUFFERED"] = "1"
    for name, value in launch.env:
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_worker(args, spec: WorkerSpec, workdir: Path, log, launch: Launch = Launch()) -> Path | None:
    """Run one worker pytest; the path of its JSON (None if it wrote none).

    The worker's progress (pytest's ``[ 40%]`` line ends) is passed to ``log``; its command line
    and whole output go to a log file in ``workdir``. Raises :class:`WorkerFailed` when the worker
    exits with an error (the message ends with its output), and re-raises KeyboardInterrupt after
    the worker has stopped.
    """
    name = f"process{spec.process}-{spec.backend}"
    out, log_path = workdir / f"{name}.json", workdir / f"{name}.log"
    cmd = worker_command(args, spec.write(workdir / f"{name}.spec.json"), out, launch)
    with open(log_path, "w") as sink:
        sink.write(f"$ {shlex.join(cmd)}\n")
        sink.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=worker_env(launch),
                                text=True)
        try:
            for line in proc.stdout:
                sink.write(line)
                progress = PROGRESS.search(line)
                if progress:
                    log(f"[process {spec.process}/{spec.processes}] {spec.backend}: {progress.group(1).strip()}%")
            code = proc.wait()
        except KeyboardInterrupt:
            # The worker got the same SIGINT: let it write what it measured, marked incomplete.
            proc.wait()
            raise
    if code not in (0, 5):
        text = log_path.read_text()
        raise WorkerFailed(f"the {spec.backend} worker of process {spec.process} failed (exit {code}); its log "
                           f"({log_path}) ends:\n{text[-3000:]}",
                           failed_ids(text) or [f"{spec.backend} worker of process {spec.process}"])
    return out if out.exists() else None


def prepare_operands(args, specs: list[WorkerSpec], workdir: Path, log) -> None:
    """Build every case's operands once, natively, into the shared operand folder (for a counted run).

    Under valgrind an SVD of 1024² takes minutes; the counted workers then load the operands
    this pass saved instead of building them. Each case runs once as a plain test
    (``--benchmark-disable``), nothing is recorded. The preparing pass writes bytecode, so
    that the counted worker loads the same compiled suite modules pytest rewrote here.
    """
    for spec in specs:
        start = time.perf_counter()
        log(f"[prepare] {spec.backend}: building the operands natively ...")
        path = WorkerSpec(**{**asdict(spec), "count_dir": None,
                             "settings": {**spec.settings, "LOWRANK_BENCH_METRIC": "time"}}
                          ).write(workdir / f"prepare-{spec.backend}.spec.json")
        native = Launch(env=(("PYTHONDONTWRITEBYTECODE", None),))
        cmd, env = worker_command(args, path, None, native), worker_env(native)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode not in (0, 5):
            raise WorkerFailed(f"preparing the {spec.backend} operands failed (exit {proc.returncode}); its output ends:\n"
                               f"{(proc.stdout + proc.stderr)[-3000:]}")
        log(f"[prepare] {spec.backend}: done in {time.perf_counter() - start:.1f} s")


def run_processes(args, specs: list[WorkerSpec], workdir: Path, docs: list, log, launch: Launch = Launch()) -> bool:
    """Run one worker per spec, in order (process 1 of every backend, then process 2, ...), appending
    ``(process, document)`` to ``docs``.

    Returns whether every worker finished its cases. Stops at the first failed worker (raising
    :class:`WorkerFailed`) and on Ctrl-C, re-raised once the running worker has written its
    partial file, which is in ``docs`` by then (marked incomplete).
    """
    complete = True
    what = "counting under valgrind" if launch.prefix else "timing"
    for spec in specs:
        start = time.perf_counter()
        log(f"[process {spec.process}/{spec.processes}] {spec.backend}: {what} in a fresh worker process ...")
        try:
            path = run_worker(args, spec, workdir, log, launch)
        except KeyboardInterrupt:
            partial = workdir / f"process{spec.process}-{spec.backend}.json"
            if partial.exists():
                docs.append((spec.process, json.loads(partial.read_text())))
            raise
        if path is None:
            log(f"[process {spec.process}/{spec.processes}] {spec.backend}: no results (nothing selected?)")
            continue
        doc = json.loads(path.read_text())
        block = (doc.get("machine_info") or {}).get("lowrank_bench") or {}
        complete = complete and bool(block.get("complete", True))
        docs.append((spec.process, doc))
        log(f"[process {spec.process}/{spec.processes}] {spec.backend}: {len(doc.get('benchmarks', []))} cases in "
            f"{time.perf_counter() - start:.1f} s")
    return complete
