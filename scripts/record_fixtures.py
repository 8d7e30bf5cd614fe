#!/usr/bin/env python
"""Re-record the real result files that the verdict tests read (``tests/recorded/``).

The tests of the gate, compare, baselines, pooling, confirmation and the A/B verdicts
run on these files, never on a run made during the test: a verdict computed from a run
measured on the spot is decided by how busy the machine happens to be. What the
statistics achieve on a real machine is measured by ``scripts/measure_verdicts.py``.

Each set is recorded with the real suite (``pytest benchmarks/ --benchmark-only``) and
the settings written in ``tests/recorded/MANIFEST.json``:

* ``matvec-aa``: three quick runs of the matvec suite, one thread, 1024x256 and 1024x1024,
  float32, numpy and torch-cpu; raw samples kept;
* ``suites-aa``: two quick runs of the factorize, LoRA and overhead suites, the same settings;
* ``quick``: one quick matvec run at 256x256 and 1024x256, every dtype, warm and cold caches;
* ``counts-aa``: two counted quick runs (``LOWRANK_BENCH_METRIC=instructions``) of the factorize,
  LoRA and overhead suites, numpy and torch-cpu;
* ``ab-apply``: the per-process result files of ``lowrank-bench ab`` between a commit and one
  that makes ``LowRankOperator.apply``'s benchmark do its work twice (overhead suite, numpy,
  five rounds).

A set is kept only if it is what its tests need: the A/A sets have no regression under the
project's gate configuration as CI uses it (the verdict tests then say exactly which cases
an injected change must flag), and the A/B set names the slowed case. A set that is not is
recorded again, up to ``--tries`` times; every try and its outcome go to the manifest, so
a noisy day shows there.

Re-record when the test ``tests/record/test_recorded_fixtures.py`` says so: after a change of the result
schema (``SCHEMA_TAG``) or of the timing engine (``ENGINE_VERSION``), or when a suite's
cases change. Run it on a machine as quiet as you can find (``bash scripts/setup_env.sh``
first)::

    python scripts/record_fixtures.py            # every set
    python scripts/record_fixtures.py matvec-aa  # one set
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from measure_verdicts import two_commit_repo  # noqa: E402  (scripts/, beside this file)

from benchmarks.engine.timing import ENGINE_VERSION  # noqa: E402
from lowrank.judge import (
    baselines,  # noqa: E402
    gate,  # noqa: E402
)
from lowrank.record.schema import SCHEMA_TAG  # noqa: E402
from lowrank.runner import ab  # noqa: E402
from lowrank.runner.launch import run_suite  # noqa: E402

FOLDER = REPO / "tests" / "recorded"
MANIFEST = FOLDER / "MANIFEST.json"

# One thread: a shared 2-core runner then has no BLAS/OpenMP thread fighting another process for a
# core, the main source of 10x outliers; CI's gate and A/B run this way too.
AA_ENV = {
    "LOWRANK_BENCH_PROFILE": "quick",
    "LOWRANK_BENCH_SHAPES": "1024x256,1024x1024",
    "LOWRANK_BENCH_BACKENDS": "numpy,torch-cpu",
    "LOWRANK_BENCH_DTYPES": "float32",
    "LOWRANK_BENCH_THREADS": "1",
}
QUICK_ENV = {
    "LOWRANK_BENCH_PROFILE": "quick",
    "LOWRANK_BENCH_SHAPES": "256x256,1024x256",
    "LOWRANK_BENCH_CACHE": "both",
}
# Counted runs (benchmarks/engine/counting.py): the suites whose code this library owns, both CPU backends.
COUNTS_ENV = {
    "LOWRANK_BENCH_PROFILE": "quick",
    "LOWRANK_BENCH_BACKENDS": "numpy,torch-cpu",
    "LOWRANK_BENCH_METRIC": "instructions",
}
MATVEC = ("benchmarks/bench_matvec.py",)
OTHER_SUITES = ("benchmarks/bench_factorize.py", "benchmarks/bench_lora.py", "benchmarks/bench_overhead.py")

SETS = {
    "matvec-aa": {"files": MATVEC, "env": AA_ENV, "runs": 3},
    "suites-aa": {"files": OTHER_SUITES, "env": AA_ENV, "runs": 2},
    "quick": {"files": MATVEC, "env": QUICK_ENV, "runs": 1},
    "ab-apply": {"files": ("benchmarks/bench_overhead.py",), "env": {}, "runs": 0},
    "counts-aa": {"files": OTHER_SUITES, "env": COUNTS_ENV, "runs": 2},
}

# The A/B set: the base commit times apply; the head commit's apply benchmark calls it twice.
AB_SETTINGS = ab.AbSettings(select="overhead", backends=("numpy",), min_rounds=5, max_rounds=5)
AB_SLOWED = {"bench_apply_overhead[apply-numpy]", "bench_apply_overhead[apply-numpy] vs_bare"}


def project_config(absolute: str = "never") -> gate.GateConfig:
    """The gate's thresholds from pyproject.toml, with CI's policy on absolute times."""
    return replace(gate.load_config(REPO / "pyproject.toml"), absolute=absolute)


# -- what each set must be for its tests -------------------------------------------------------------
def check_matvec_aa(runs: list[dict]) -> str | None:
    """None when the pooled first two runs against the third show no regression and no improvement (CI's
    policy, and times too): an injected 1.5x must then be all that moves (a third run 0.67x faster than
    the first two, 2026-12-02, hid a 1.5x slowdown from test_compare_and_gate_agree_on_every_time_they_both_judge)."""
    base = baselines.pool_runs(runs[:2], ["run1", "run2"])
    for absolute in ("never", "always"):
        result = gate.compare_runs(runs[2], base, project_config(absolute))
        for kind, found in (("regressions", result.regressions), ("improvements", result.improvements)):
            if found:
                return f"A/A (absolute={absolute}) has {kind}: " + ", ".join(
                    f"{f.case} {f.metric} {f.ratio:.2f}x" for f in found)
    return None


def check_suites_aa(runs: list[dict]) -> str | None:
    result = gate.compare_runs(runs[1], runs[0], project_config())
    if result.regressions:
        return "A/A has regressions: " + ", ".join(f"{f.case} {f.metric} {f.ratio:.2f}x" for f in result.regressions)
    return None


def check_counts_aa(runs: list[dict]) -> str | None:
    """None when the second counted run changes no case's instructions beyond the project's tolerance."""
    result = gate.compare_runs(runs[1], runs[0], project_config())
    changed = result.regressions + result.improvements
    if changed or not result.counted:
        return "counted A/A changed: " + ", ".join(f"{f.case} {f.metric} {f.ratio:.4f}x" for f in changed)
    return None


def check_ab(run: ab.AbRun) -> str | None:
    j = ab.judge(run)
    slower = {v.case for v in j.verdicts if v.verdict == "slower"}
    others = {v.case: v.verdict for v in j.verdicts if v.case not in AB_SLOWED and v.verdict in ("slower", "faster")}
    if "bench_apply_overhead[apply-numpy] vs_bare" not in slower or not slower <= AB_SLOWED or others:
        return f"slower: {sorted(slower)}; other cases judged changed: {others}"
    return None


# -- recording ---------------------------------------------------------------------------------------
def record_runs(name: str, folder: Path, log) -> tuple[list[dict], float]:
    spec = SETS[name]
    runs, start = [], time.perf_counter()
    for i in range(1, spec["runs"] + 1):
        t0 = time.perf_counter()
        path = folder / f"run{i}.json"
        runs.append(run_suite(spec["files"], spec["env"], path, cwd=REPO, timeout=1800))
        path.write_text(json.dumps(runs[-1], separators=(",", ":")))  # compact: the same content, a third the size
        log(f"[record] {name}: run {i}/{spec['runs']}: {len(runs[-1]['benchmarks'])} cases in "
            f"{time.perf_counter() - t0:.0f} s")
    return runs, time.perf_counter() - start


def record_ab(folder: Path, log) -> tuple[ab.AbRun, float]:
    """The A/B of a commit against one whose apply benchmark does the work twice; its per-process files."""
    with tempfile.TemporaryDirectory(prefix="lowrank-record-ab-") as tmp:
        tree = two_commit_repo(Path(tmp), slow=True)
        sides = {"base": ab.resolve(tree, "base", "HEAD~1", None), "head": ab.resolve(tree, "head", "HEAD", None)}
        work = Path(tmp) / "work"
        work.mkdir()
        t0 = time.perf_counter()
        run = ab.run_ab(tree, sides, AB_SETTINGS, work, log=log)
        seconds = time.perf_counter() - t0
    for label, docs in run.docs.items():
        for round_no, doc in docs:
            backend = doc["benchmarks"][0]["extra_info"]["backend"]
            (folder / f"{label}-{round_no:02d}-{backend}.json").write_text(json.dumps(doc, separators=(",", ":")))
    return run, seconds


def record(name: str, tries: int, log) -> dict:
    """Record one set into a fresh folder, check it, and swap it in; its manifest entry."""
    attempts = []
    for attempt in range(1, tries + 1):
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=FOLDER))
        try:
            if name == "ab-apply":
                run, seconds = record_ab(staging, log)
                problem = check_ab(run)
            else:
                runs, seconds = record_runs(name, staging, log)
                problem = {"matvec-aa": check_matvec_aa, "suites-aa": check_suites_aa,
                           "counts-aa": check_counts_aa}.get(name, lambda _: None)(runs)
            attempts.append({"try": attempt, "seconds": round(seconds, 1), "kept": problem is None,
                             "problem": problem})
            log(f"[record] {name}: try {attempt}: " + ("kept" if problem is None else f"not kept ({problem})"))
            if problem is None:
                target = FOLDER / name
                if target.exists():
                    shutil.rmtree(target)
                staging.rename(target)
                break
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    else:
        raise SystemExit(f"[record] {name}: no try of {tries} was what its tests need; the machine is too noisy "
                         f"now ({attempts[-1]['problem']}). The old set is kept.")
    spec = SETS[name]
    settings = AB_SETTINGS.__dict__ if name == "ab-apply" else spec["env"]
    return {"files": list(spec["files"]), "settings": {k: (list(v) if isinstance(v, tuple) else v)
                                                       for k, v in settings.items()},
            "recorded": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "tries": attempts}


def environment() -> dict:
    import numpy
    import torch

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    return {"schema": SCHEMA_TAG, "timing_engine": ENGINE_VERSION, "commit": commit.strip() or None,
            "machine": platform.machine(), "node": platform.node(), "python": platform.python_version(),
            "numpy": numpy.__version__, "torch": torch.__version__}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", metavar="SET", help=f"sets to record (default: all of {', '.join(SETS)})")
    parser.add_argument("--tries", type=int, default=3, help="tries per set before giving up (default 3)")
    args = parser.parse_args(argv)
    if args.tries < 1:
        parser.error(f"--tries {args.tries}: accepted an integer >= 1")
    unknown = [name for name in args.sets if name not in SETS]
    if unknown:
        parser.error(f"unknown set(s) {', '.join(map(repr, unknown))}; accepted: {', '.join(SETS)}")
    FOLDER.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {"sets": {}}
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    for name in args.sets or SETS:
        manifest["sets"][name] = {**record(name, args.tries, log), **environment()}
        manifest["about"] = ("Real result files for the verdict tests, recorded by scripts/record_fixtures.py; "
                             "re-record after a schema or timing-engine change (tests/record/test_recorded_fixtures.py says when).")
        tmp = MANIFEST.with_suffix(".partial")
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        tmp.replace(MANIFEST)
    size = sum(p.stat().st_size for p in FOLDER.rglob("*.json"))
    log(f"[record] {FOLDER.relative_to(REPO)}: {size / 2**20:.1f} MiB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
