"""Worker processes: each backend timed in processes of its own, in several passes, samples pooled.

``pytest benchmarks/ --benchmark-only`` collects the cases as usual, then hands them to
worker pytest processes instead of running them itself (``pytest_runtestloop``):

* **One backend per process.** A numpy worker runs no torch operation and a torch
  worker wakes OpenBLAS's pool for no timing, so no timing is taken while the other
  library's thread pool spins.
* **Passes.** The whole selection is run ``processes`` times (pass 1: every backend,
  then pass 2, ...), except cases marked ``single_pass`` (factorizations: calls of
  milliseconds to seconds) and cases whose own calls took ``first_pass_only_s`` or more in
  pass 1 (a 4096² GEMM at n = 512, a LoRA forward of a 4096×11008 layer at n = 512:
  ``call_s`` in their record), which only pass 1 times. On a shared machine a disturbance
  lasts from milliseconds to a second and can shift every round of the cases timed
  meanwhile; separate passes, minutes apart and in fresh processes (fresh page placement,
  address-space layout, thread placement), put such a shift in one pass of a case instead of
  all of it; the reported figure stands on the least disturbed pass, and the spread of the
  per-pass medians is the between-process spread each result records (``process_medians``,
  ``process_spread``).
* **More passes for short pairs.** A factored case timed beside its dense partner where both
  calls are short (under the policy's ``long_call_s``, 10 ms; the matvec suite's warm-cache cases)
  gets extra passes after the others (two in the default profile: five processes in all), each a
  fresh worker that times only those pairs. On this project's VM a call of a few microseconds
  has two speeds, about 2× apart, that switch every few seconds to minutes while a DRAM-bound
  dense product does not move: pairing cannot cancel that, only more processes, minutes apart,
  can average it (``docs/timing.md``). For the same reason a short case beside a long partner
  (a rank-1 product beside a 4096² GEMM at n = 512) is timed in every regular pass.

The result is a normal pytest-benchmark document: each case reports the pass with the
lowest median exactly as pytest-benchmark measured it, and records the median of every
pass and their spread (see :func:`lowrank.record.merging.merge`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

# WORKER: "<pass>/<backend>" inside a worker; CALIBRATION: the driver's calibration, as a JSON
# file; OPERAND_CACHE: the folder where workers share the operands they built (benchmarks/matvec/operands.py);
# FIRST_PASS_ONLY: a file of the cases a later pass leaves out (calls too long for passes to matter).
# REFINED: a file of the ranks later passes add near each curve's break-even (benchmarks/matvec/refine.py).
# SHORT_PAIRS: a file of the cases an extra pass times (pairs of short calls), set in extra passes only.
WORKER_ENV, CALIBRATION_ENV, OPERAND_CACHE_ENV, FIRST_PASS_ONLY_ENV, REFINED_ENV, SHORT_PAIRS_ENV = \
    INTERNAL_VARIABLES = ("LOWRANK_BENCH_WORKER", "LOWRANK_BENCH_CALIBRATION", "LOWRANK_BENCH_OPERAND_CACHE",
                          "LOWRANK_BENCH_FIRST_PASS_ONLY", "LOWRANK_BENCH_REFINED", "LOWRANK_BENCH_SHORT_PAIRS")
# Options of the user's command line that name outputs: the driver writes the one result file.
_OUTPUT_OPTIONS = ("--benchmark-json", "--benchmark-save", "--benchmark-autosave", "--lowrank-output",
                   "--benchmark-histogram", "--benchmark-cprofile-dump")


def is_worker(env=os.environ) -> bool:
    return bool(env.get(WORKER_ENV))


def pass_number(env=os.environ) -> int:
    """The pass a worker process belongs to (1, 2, ...); 0 outside a worker."""
    value = env.get(WORKER_ENV, "")
    head = value.split("/", 1)[0]
    return int(head) if head.isdigit() else 0


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


def run_worker(args, backend: str, pass_no: int, workdir: Path, calibration_file: Path, log,
               prefix: tuple[str, ...] = (), extra_env: dict | None = None) -> Path | None:
    """Run one worker pytest over ``backend``'s cases; the path of its JSON (None if it wrote none).

    The worker's progress (pytest's ``[ 40%]`` line ends) is passed to ``log``; its whole
    output goes to a log file in ``workdir``. Raises :class:`WorkerFailed` when the
    worker exits with an error (the message ends with its output), and re-raises
    KeyboardInterrupt after the worker has stopped. ``prefix`` runs the worker under another
    program (valgrind, for a counted run) with ``extra_env`` added to its environment.
    """
    out = workdir / f"pass{pass_no}-{backend}.json"
    log_path = workdir / f"pass{pass_no}-{backend}.log"
    env = _worker_env(backend, pass_no, workdir, calibration_file, {"PYTHONUNBUFFERED": "1", **(extra_env or {})})
    env = _counted_env(env) if prefix else env
    cmd = [*prefix, sys.executable, "-m", "pytest", *worker_args(args), f"--benchmark-json={out}", "-q",
           "-p", "no:cacheprovider", "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name"]
    with open(log_path, "w") as sink:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        try:
            for line in proc.stdout:
                sink.write(line)
                progress = PROGRESS.search(line)
                if progress:
                    log(f"[pass {pass_no}] {backend}: {progress.group(1).strip()}%")
            code = proc.wait()
        except KeyboardInterrupt:
            # The worker got the same SIGINT: let it write what it measured, marked incomplete.
            proc.wait()
            raise
    if code not in (0, 5):
        text = log_path.read_text()
        raise WorkerFailed(f"the {backend} worker of pass {pass_no} failed (exit {code}); its output ends:\n"
                           f"{text[-3000:]}", failed_ids(text) or [f"{backend} worker of pass {pass_no}"])
    return out if out.exists() else None


def _worker_env(backend: str, pass_no: int, workdir: Path, calibration_file: Path, extra: dict) -> dict:
    """The environment of a worker process: its pass and backend, the run's calibration and operand cache."""
    return {**os.environ, WORKER_ENV: f"{pass_no}/{backend}", CALIBRATION_ENV: str(calibration_file),
            OPERAND_CACHE_ENV: str(workdir / "operands"), "LOWRANK_BENCH_BACKENDS": backend, **extra}


def _counted_env(env: dict) -> dict:
    """A counted run's worker and preparing pass write bytecode whatever the caller's environment says:
    the preparing pass caches pytest's rewritten suite modules, so the counted worker always loads
    them (counting.compile_sources: compiled and loaded code count differently)."""
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _calibration_file(workdir: Path, calibration: dict) -> Path:
    path = workdir / "calibration.json"
    path.write_text(json.dumps(calibration))
    return path


def prepare_operands(args, backends: list[str], workdir: Path, calibration: dict, log) -> None:
    """Build every case's operands once, natively, into the shared operand cache (for a counted run).

    Under valgrind an SVD of 1024² takes minutes; the counted workers then load the operands
    this pass saved (``OPERAND_CACHE_ENV``) instead of building them. Each case runs once as a
    plain test (``--benchmark-disable``), nothing is recorded.
    """
    calibration_file = _calibration_file(workdir, calibration)
    for backend in backends:
        start = time.perf_counter()
        log(f"[prepare] {backend}: building the operands natively ...")
        env = _counted_env(_worker_env(backend, 1, workdir, calibration_file, {"LOWRANK_BENCH_METRIC": "time"}))
        plain = [a for a in worker_args(args) if a != "--benchmark-only"]  # pytest-benchmark refuses it with -disable
        cmd = [sys.executable, "-m", "pytest", *plain, "--benchmark-disable", "-q", "-p", "no:cacheprovider"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode not in (0, 5):
            raise WorkerFailed(f"preparing the {backend} operands failed (exit {proc.returncode}); its output ends:\n"
                               f"{(proc.stdout + proc.stderr)[-3000:]}")
        log(f"[prepare] {backend}: done in {time.perf_counter() - start:.1f} s")


def first_pass_only(doc: dict, threshold_s: float) -> list[str]:
    """The cases of a pass-1 document whose calls took ``threshold_s`` or more (the engine's ``call_s``):
    a disturbance of milliseconds to a second cannot shift their rounds, so later passes leave them out."""
    out = []
    for bench in doc.get("benchmarks", []):
        call_s = (bench.get("extra_info") or {}).get("call_s")
        if isinstance(call_s, (int, float)) and call_s >= threshold_s:
            out.append(bench["fullname"])
    return out


def is_short_pair(bench: dict, threshold_s: float) -> bool:
    """Whether a worker document's case is a pair (a case timed beside its partner) whose own call and
    whose partner's (``partner_call_s``) both took less than ``threshold_s``."""
    info = bench.get("extra_info") or {}
    calls = (info.get("call_s"), info.get("partner_call_s"))
    return bool(info.get("process_pair_ratios")) and all(isinstance(c, (int, float)) and c < threshold_s
                                                         for c in calls)


def short_pairs(doc: dict, chosen: Callable[[dict], bool]) -> list[str]:
    """The cases of a worker document the extra passes time: those ``chosen`` picks (:func:`is_short_pair`,
    narrowed by the suite)."""
    return [bench["fullname"] for bench in doc.get("benchmarks", []) if chosen(bench)]


def leaves_out(nodeid: str, env=os.environ) -> bool:
    """Whether this worker's pass leaves the case out: an extra pass times only the short pairs
    (:func:`short_pairs`), a later pass leaves out the long calls (:func:`first_pass_only`); the
    driver writes both listings."""
    short = env.get(SHORT_PAIRS_ENV)
    if short:
        return nodeid not in set(Path(short).read_text().splitlines())
    listing = env.get(FIRST_PASS_ONLY_ENV)
    if not listing or pass_number(env) <= 1:
        return False
    return nodeid in set(Path(listing).read_text().splitlines())


def refined_listing(env=os.environ) -> str:
    """The ranks this worker's pass adds to the matvec curves, as the driver's ``refine`` wrote them
    ("" in pass 1 and when nothing was refined)."""
    listing = env.get(REFINED_ENV)
    if not listing or pass_number(env) <= 1:
        return ""
    return Path(listing).read_text()


def _extend_listing(path: Path, names: list[str]) -> list[str]:
    """Add ``names`` to the listing at ``path`` (one case a line, kept in order, no repeats); those it added."""
    known = path.read_text().splitlines() if path.exists() else []
    added = [n for n in dict.fromkeys(names) if n not in known]
    path.write_text("\n".join(known + added))
    return added


def run_passes(args, backends: list[str], passes: int, workdir: Path, calibration: dict, docs: list, log,
               prefix: tuple[str, ...] = (), extra_env: dict | None = None,
               first_pass_only_s: float | None = None, refine: Callable[[dict], str] | None = None,
               short_pair_processes: int | None = None, short_pair: Callable[[dict], bool] | None = None) -> bool:
    """Run ``passes`` passes of one worker per backend, appending ``(pass, document)`` to ``docs``.

    ``first_pass_only_s``: cases whose calls took this long in pass 1 are not timed again.
    ``short_pair_processes`` (with ``short_pair``, which picks a worker document's cases): processes (passes) in all
    for the cases ``short_pair`` picks in the regular passes' documents (:func:`short_pairs`); the
    passes after ``passes`` time those cases only.
    ``refine(pass-1 document)``: the cases later passes add (a listing each worker reads back through
    :func:`refined_listing`; the matvec suite adds a rank near each curve's break-even).

    Returns whether every worker finished its cases. Stops at the first failed worker
    (raising :class:`WorkerFailed`) and on Ctrl-C, re-raised once the running worker has
    written its partial file, which is in ``docs`` by then (marked incomplete).
    """
    calibration_file = _calibration_file(workdir, calibration)
    complete = True
    total = max(passes, short_pair_processes or 0)
    for pass_no in range(1, total + 1):
        for backend in backends:
            start = time.perf_counter()
            what = "counting under valgrind" if prefix else "timing"
            env = dict(extra_env or {})
            listing = workdir / f"first-pass-only-{backend}.txt"
            refined = workdir / f"refined-{backend}.txt"
            short = workdir / f"short-pairs-{backend}.txt"
            if pass_no > passes:
                if not short.exists() or not short.read_text():
                    # No pair of short calls: the extra pass ran, with nothing to time (the run is complete).
                    docs.append((pass_no, {"benchmarks": []}))
                    continue
                env[SHORT_PAIRS_ENV] = str(short)
                what += f" the {len(short.read_text().splitlines())} pairs of short calls"
            log(f"[pass {pass_no}/{total}] {backend}: {what} in a fresh worker process ...")
            if pass_no > 1 and listing.exists():
                env[FIRST_PASS_ONLY_ENV] = str(listing)
            if pass_no > 1 and refined.exists():
                env[REFINED_ENV] = str(refined)
            try:
                path = run_worker(args, backend, pass_no, workdir, calibration_file, log, prefix, env)
            except KeyboardInterrupt:
                partial = workdir / f"pass{pass_no}-{backend}.json"
                if partial.exists():
                    docs.append((pass_no, json.loads(partial.read_text())))
                raise
            if path is None:
                if pass_no > passes:
                    # Pairs were listed and none came back: they have fewer processes than the run says.
                    complete = False
                    docs.append((pass_no, {"benchmarks": []}))
                    log(f"[pass {pass_no}/{total}] {backend}: no result for the listed pairs of short calls; "
                        "the run is marked incomplete")
                elif pass_no > 1 and listing.exists() and listing.read_text():
                    # Every case left was timed in pass 1 only: the pass ran, with nothing to time.
                    docs.append((pass_no, {"benchmarks": []}))
                    log(f"[pass {pass_no}/{total}] {backend}: nothing left to time (pass 1 timed the long calls)")
                else:
                    log(f"[pass {pass_no}/{total}] {backend}: no results (nothing selected?)")
                continue
            doc = json.loads(path.read_text())
            block = (doc.get("machine_info") or {}).get("lowrank_bench") or {}
            complete = complete and bool(block.get("complete", True))
            docs.append((pass_no, doc))
            log(f"[pass {pass_no}/{total}] {backend}: {len(doc.get('benchmarks', []))} cases in "
                f"{time.perf_counter() - start:.1f} s")
            if short_pair is not None and pass_no <= passes < total:
                # Refined ranks appear from pass 2 on: every regular pass adds its short pairs.
                _extend_listing(short, short_pairs(doc, short_pair))
            if first_pass_only_s is not None and pass_no < passes:
                # Pass 1's long calls, and those of the cases a later pass added (refined ranks): timed once.
                long_cases = _extend_listing(listing, first_pass_only(doc, first_pass_only_s))
                if long_cases:
                    log(f"[pass {pass_no}/{total}] {backend}: {len(long_cases)} case(s) with calls of "
                        f"{first_pass_only_s:g} s or more are not timed again in later passes")
            if pass_no == 1 and refine is not None and passes > 1:
                try:
                    listing_text = refine(doc)
                except Exception as exc:  # noqa: BLE001 -- a refinement is an extra: never lose the run to it
                    log(f"[pass 1/{total}] {backend}: no rank added near the break-even ({exc!r})")
                    listing_text = ""
                refined.write_text(listing_text)
                if listing_text:
                    log(f"[pass 1/{total}] {backend}: {len(listing_text.splitlines())} case(s) added near the "
                        "break-even, timed from pass 2 on")
    return complete
