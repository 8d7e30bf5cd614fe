#!/usr/bin/env python
"""Measure what counted runs achieve here: A/A agreement, and a 1% change flagged by the gate.

A measurement, never a test (the tests judge recorded counts). Two parts:

* ``aa``: ``--runs`` counted runs of the same commit (``--busy`` of them while another process
  keeps one core busy); per case, how far the runs' instructions per call differ, and how many
  cases ``lowrank-bench gate`` flags against the first run (each one a false alarm).
* ``inject``: a copy of HEAD whose ``LowRankOperator.apply`` (``--target apply``) or randomized
  SVD power iteration (``--target power``) does extra Python work, about ``--extra`` of the
  case's instructions; ``--runs`` counted runs of the affected cases gated against a counted run
  of HEAD: how often the case is flagged, and named.

    python scripts/measure_counts.py aa --runs 3 --busy 1
    python scripts/measure_counts.py inject --target apply --runs 2

Writes ``results/measurements/counts-<part>-<stamp>.json`` (a new file) and prints a summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lowrank.judge import gate  # noqa: E402
from lowrank.store.files import write_new_text  # noqa: E402

SUITES = ("benchmarks/bench_overhead.py", "benchmarks/bench_lora.py", "benchmarks/bench_factorize.py")
ENV = {"LOWRANK_BENCH_METRIC": "instructions", "LOWRANK_BENCH_PROFILE": "quick",
       "LOWRANK_BENCH_BACKENDS": "numpy,torch-cpu"}
# What each injection slows, and the cases it must be named in.
TARGETS = {
    "apply": {"file": "lowrank/operator.py", "anchor": "        try:\n            y = self.B @ (self.A @ x)\n",
              "after": False, "indent": 8, "steps": 1, "statements": True,
              "select": "apply", "suites": ("benchmarks/bench_overhead.py",), "cases": r"^apply-"},
    "power": {"file": "lowrank/factorize.py", "anchor": "    for _ in range(power_iterations):\n",
              "after": True, "indent": 8, "steps": 2,  # inside each of the q = 2 power iterations
              "select": "randomized and q2 and not sklearn and not torch_svd", "suites": ("benchmarks/bench_factorize.py",),
              "cases": r"-randomized-p010-q2$"},
}


def counted_run(tree: Path, suites, select: str | None, out: Path, busy: bool) -> tuple[dict, float]:
    """One counted run of ``suites`` in ``tree`` (its own code on PYTHONPATH); the document and seconds."""
    env = {**os.environ, **ENV, "LOWRANK_BENCH_OUTPUT": str(out), "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "pytest", *suites, "--benchmark-only", "-q", "-p", "no:cacheprovider"]
    if select:
        cmd += ["-k", select]
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    finally:
        if spinner is not None:
            spinner.kill()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"counted run failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    (path,) = sorted(out.glob("*.json"), key=lambda p: p.stat().st_mtime)[-1:]
    return json.loads(path.read_text()), seconds


def instructions(doc: dict) -> dict[str, float]:
    return {b["param"]: b["extra_info"]["instructions"] for b in doc["benchmarks"]}


def aa(args) -> dict:
    runs, seconds = [], []
    with tempfile.TemporaryDirectory(prefix="lowrank-counts-") as tmp:
        for i in range(args.runs):
            busy = i >= args.runs - args.busy
            doc, s = counted_run(REPO, SUITES, args.select, Path(tmp) / f"run{i}", busy)
            runs.append(doc)
            seconds.append(s)
            print(f"[aa] run {i + 1}/{args.runs}{' (one core kept busy)' if busy else ''}: "
                  f"{len(doc['benchmarks'])} cases in {s:.0f} s", flush=True)
    counts = [instructions(d) for d in runs]
    cases = sorted(set.intersection(*(set(c) for c in counts)))
    spread = {c: max(x[c] for x in counts) / min(x[c] for x in counts) - 1 for c in cases}
    config = gate.load_config(REPO / "pyproject.toml")
    alarms = [[f.case for f in gate.compare_runs(d, runs[0], config).findings if f.status != "unchanged"]
              for d in runs[1:]]
    worst = max(spread, key=spread.get)
    print(f"[aa] {len(cases)} cases, {args.runs} runs ({args.busy} with a busy core): spread of instructions per "
          f"call median {sorted(spread.values())[len(spread) // 2]:.4%}, worst {spread[worst]:.4%} ({worst}); "
          f"{sum(v <= 0.001 for v in spread.values())} of {len(cases)} within 0.1%; gate against run 1: "
          f"{sum(map(len, alarms))} case(s) flagged")
    return {"runs": args.runs, "busy": args.busy, "seconds": seconds, "spread": spread, "alarms": alarms,
            "tolerance": config.instructions_tolerance}


def patched_tree(tmp: Path, target: dict, iterations: int) -> Path:
    """A copy of HEAD's files (``git archive``) whose target does ``iterations`` more loop steps per call."""
    tree = tmp / "patched"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    path = tree / target["file"]
    text = path.read_text()
    if target["anchor"] not in text:
        raise SystemExit(f"{target['file']}: the injection's anchor is not there any more; update TARGETS")
    indent = " " * target["indent"]
    if target.get("statements"):  # finer than a loop (one loop step added 3% to apply's 46k instructions)
        burn = f"{indent}" + "; ".join(["_extra = x.ndim"] * iterations) + "  # injected by scripts/measure_counts.py\n"
    else:
        burn = f"{indent}for _extra in range({iterations}):  # injected by scripts/measure_counts.py\n{indent}    pass\n"
    patched = target["anchor"] + burn if target["after"] else burn + target["anchor"]
    path.write_text(text.replace(target["anchor"], patched, 1))
    return tree


def inject(args) -> dict:
    target = TARGETS[args.target]
    out = {"target": args.target, "extra": args.extra, "runs": []}
    with tempfile.TemporaryDirectory(prefix="lowrank-counts-") as tmp:
        tmp = Path(tmp)
        base, s = counted_run(REPO, target["suites"], target["select"], tmp / "base", False)
        print(f"[inject] HEAD: {len(base['benchmarks'])} cases in {s:.0f} s", flush=True)
        cases = [c for c in instructions(base) if re.search(target["cases"], c)]
        # About 165 instructions a loop step here (CPython 3.11, PYTHONMALLOC=malloc; 15 steps added 6.0%
        # to apply's 46k), and about 300 to start the loop: sized from the smallest affected case.
        smallest = min(instructions(base)[c] for c in cases)
        if target.get("statements"):  # n reads of x.ndim: about 80 instructions each (a guess the run reports on)
            iterations = args.iterations or max(1, round(args.extra * smallest / 80))
        else:
            iterations = args.iterations or max(1, round((args.extra * smallest / target["steps"] - 300) / 165))
        tree = patched_tree(tmp, target, iterations)
        config = gate.load_config(REPO / "pyproject.toml")
        for i in range(args.runs):
            doc, s = counted_run(tree, target["suites"], target["select"], tmp / f"run{i}", i % 2 == 1)
            result = gate.compare_runs(doc, base, config)
            flagged = sorted(f.case for f in result.regressions)
            change = {c: instructions(doc)[c] / instructions(base)[c] - 1 for c in cases}
            out["runs"].append({"seconds": s, "flagged": flagged, "change": change})
            print(f"[inject] run {i + 1}/{args.runs}: injected size {iterations}; changes "
                  + ", ".join(f"{c} {v:+.2%}" for c, v in change.items()) + f"; gate flagged {flagged}", flush=True)
    hits = sum(set(cases) <= set(r["flagged"]) for r in out["runs"])
    print(f"[inject] {args.target}: the gate named every affected case in {hits} of {args.runs} runs")
    return {**out, "iterations": iterations, "cases": cases, "hits": hits}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("aa", help="A/A agreement of counted runs")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--busy", type=int, default=2, help="of the runs, how many with one core kept busy")
    p.add_argument("-k", dest="select", default=None, help="pytest -k selection")
    p = sub.add_parser("inject", help="a 1%% change in apply or the power iteration, gated")
    p.add_argument("--target", choices=sorted(TARGETS), default="apply")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--extra", type=float, default=0.01, help="extra work, a fraction of the case's instructions")
    p.add_argument("--iterations", type=int, default=None, help="extra loop steps (default: sized from --extra)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("measure_counts: needs valgrind", file=sys.stderr)
        return 2
    result = aa(args) if args.part == "aa" else inject(args)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
    target = REPO / "results" / "measurements" / f"counts-{args.part}-{stamp}.json"
    write_new_text(target, json.dumps({"measured": stamp, **result}, indent=1))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
