#!/usr/bin/env python
"""Measure what the regression statistics achieve on this machine: false alarms and detection.

The tests check the verdicts on recorded data (``tests/recorded``), where they are fixed.
How often a real A/A comparison raises a false alarm, and how often a real slowdown is
caught, depends on the machine and the day: this script measures it, and the docs quote
its figures with the command that produced them.

``gate``: quick runs of the suite as CI makes them (one thread, every suite), each gated
against a baseline as CI gates (``--absolute never``, the project's thresholds):

* A/A: the share of runs with at least one regression (false alarms), and the cases;
* detection: each case of each run in turn slowed by ``--factor`` (its samples scaled, as a
  regression of that case alone would), and the share of those the gate flags, overall and
  for the cases whose threshold (``min_effect``) is below the factor's change.

The baseline is the stored one CI uses (``results/baselines/ci-quick.json``), or, with
``--fresh-baseline N``, N runs made first and pooled.

``ab``: ``lowrank-bench ab`` runs, each in alternating processes:

* A/A: one commit against itself (two worktrees of HEAD); any slower or faster verdict is a
  false alarm;
* detection: a commit against one whose ``LowRankOperator.apply`` benchmark does the work
  twice (the overhead suite's ``apply-numpy``), counted found when that case is slower.

Usage (after ``bash scripts/setup_env.sh``; a machine as busy as you want to measure)::

    python scripts/measure_verdicts.py gate --runs 5
    python scripts/measure_verdicts.py ab --repeats 3 -k "overhead"

Each invocation writes ``results/measurements/verdicts-<mode>-<stamp>.json`` (a new file)
and prints a summary table.
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

from lowrank.judge import (  # noqa: E402
    baselines,  # noqa: E402
    gate,
    inject,
)
from lowrank.record import paths  # noqa: E402
from lowrank.runner import ab  # noqa: E402
from lowrank.runner.launch import run_suite  # noqa: E402
from lowrank.store.files import write_new_text  # noqa: E402

OUT = REPO / paths.MEASUREMENTS
CI_ENV = {"LOWRANK_BENCH_PROFILE": "quick", "LOWRANK_BENCH_THREADS": "1"}

# The injected A/B regression: the apply benchmark calls apply twice.
APPLY_LINE = '    call = functools.partial(f.apply if variant == "apply" else bare, x)\n'
APPLY_TWICE = APPLY_LINE + '''    if variant == "apply":
        def call(v=x):  # the injected regression: apply does its work twice
            f.apply(v)
            return f.apply(v)
'''
SLOWED_CASE = "bench_apply_overhead[apply-numpy]"


def log(msg: str) -> None:
    print(msg, flush=True)


def _git(tree: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(tree), "-c", "user.name=measure", "-c", "user.email=measure@localhost", *args],
                   check=True, capture_output=True)


def two_commit_repo(folder: Path, slow: bool) -> Path:
    """A scratch repository of this checkout's code: a base commit and a head commit, the head's apply
    benchmark doing its work twice when ``slow`` (else the same code again, an empty commit)."""
    tree = folder / "repo"
    for part in ("lowrank", "benchmarks"):
        shutil.copytree(REPO / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tree / "pyproject.toml")
    _git(tree, "init", "-q")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-q", "-m", "base")
    if slow:
        bench = tree / "benchmarks" / "bench_overhead.py"
        text = bench.read_text()
        if APPLY_LINE not in text:
            raise SystemExit(f"{bench.name} no longer holds the line the injected regression changes:\n{APPLY_LINE}")
        bench.write_text(text.replace(APPLY_LINE, APPLY_TWICE))
        _git(tree, "commit", "-q", "-am", "apply twice")
    else:
        _git(tree, "commit", "-q", "--allow-empty", "-m", "same code")
    return tree


# -- gate ----------------------------------------------------------------------------------------------
def measure_gate(args) -> dict:
    cfg = replace(gate.load_config(REPO / "pyproject.toml"), absolute="never")
    with tempfile.TemporaryDirectory(prefix="lowrank-measure-") as tmp:
        def quick_run(label: str) -> dict:
            t0 = time.perf_counter()
            doc = run_suite(["benchmarks/"], CI_ENV, Path(tmp) / f"{label}.json", cwd=REPO, timeout=1800)
            log(f"[gate] {label}: {len(doc['benchmarks'])} cases in {time.perf_counter() - t0:.0f} s")
            return doc

        if args.fresh_baseline:
            pool = [quick_run(f"baseline-{i}") for i in range(1, args.fresh_baseline + 1)]
            base, base_about = baselines.pool_runs(pool, [f"baseline-{i}" for i in range(len(pool))]), \
                f"{len(pool)} fresh quick runs, pooled"
        else:
            path = baselines.existing_baseline(args.baseline, REPO / baselines.DEFAULT_DIR)
            base, base_about = json.loads(path.read_text()), str(path.relative_to(REPO))
        runs = []
        for i in range(1, args.runs + 1):
            doc = quick_run(f"run-{i}")
            result = gate.compare_runs(doc, base, cfg, allow_missing=True)
            found = sorted({f"{f.case} {f.metric}" for f in result.regressions})
            cases = sorted(gate.suite_cases(doc))
            failed, reported, missed = [], [], []
            for case in cases:
                slowed = gate.compare_runs(inject.slowed(doc, args.factor, [case]), base, cfg, allow_missing=True)
                # A slower case fails the gate when a ratio it is the numerator of drops (factored/dense,
                # ours/peer, ...); a slower reference case (dense W@x, the peer) raises its partners'
                # ratios: reported as an improvement, which does not fail the gate, as CI wants.
                new = [f for f in slowed.findings if (f.case == case or f.partner == case)
                       and f"{f.case} {f.metric}" not in found and f.status in ("regression", "improvement")]
                if any(f.status == "regression" for f in new):
                    failed.append(case)
                elif new:
                    reported.append(case)
                else:
                    missed.append(case)
            within = [c for c in cases if _threshold(cfg, c) < args.factor - 1]
            caught = set(failed) | set(reported)
            runs.append({"run": i, "cases": len(cases), "false_alarms": found, "failed": len(failed),
                         "reported_as_partner_improvement": len(reported), "missed": missed,
                         "detectable": len(within), "detected_of_detectable": len(set(within) & caught)})
            log(f"[gate] run {i}: A/A {len(found)} regression(s); {args.factor}x on one case: gate failed for "
                f"{len(failed)}, reported as a partner's improvement for {len(reported)}, missed {len(missed)} of "
                f"{len(cases)} ({len(set(within) & caught)} of the {len(within)} whose threshold is below "
                f"{args.factor - 1:.0%} detected)")
    alarms = sum(bool(r["false_alarms"]) for r in runs)
    return {"baseline": base_about, "factor": args.factor, "runs": runs,
            "summary": {"runs": len(runs), "runs_with_false_alarms": alarms,
                        "failed_share": sum(r["failed"] for r in runs) / max(1, sum(r["cases"] for r in runs)),
                        "detected_share": sum(r["failed"] + r["reported_as_partner_improvement"] for r in runs)
                        / max(1, sum(r["cases"] for r in runs)),
                        "detected_share_of_detectable": sum(r["detected_of_detectable"] for r in runs)
                        / max(1, sum(r["detectable"] for r in runs))}}


def _threshold(cfg: gate.GateConfig, case: str) -> float:
    """The smallest minimum effect a case is gated at (its time or its same-run ratio)."""
    th, _ = cfg.for_case(case)
    return min(th.speedup_min_effect, th.time_min_effect)


# -- ab ------------------------------------------------------------------------------------------------
def measure_ab(args) -> dict:
    settings = ab.AbSettings(select=args.select, backends=tuple(args.backend.split(",")),
                             min_rounds=args.min_rounds, max_rounds=args.max_rounds)
    out = {"settings": {"select": args.select, "backends": args.backend, "rounds": [args.min_rounds, args.max_rounds]},
           "aa": [], "injected": []}
    for kind, slow in (("aa", False), ("injected", True)):
        for i in range(1, args.repeats + 1):
            with tempfile.TemporaryDirectory(prefix="lowrank-measure-ab-") as tmp:
                tree = two_commit_repo(Path(tmp), slow)
                sides = {"base": ab.resolve(tree, "base", "HEAD~1", None),
                         "head": ab.resolve(tree, "head", "HEAD", None)}
                work = Path(tmp) / "work"
                work.mkdir()
                run = ab.run_ab(tree, sides, settings, work, log=lambda _m: None)
            j = run.judgement or ab.judge(run)
            changed = sorted(f"{v.case}: {v.verdict} {v.ratio:.3f}" for v in j.verdicts
                             if v.verdict in ("slower", "faster"))
            entry = {"repeat": i, "rounds": run.rounds, "seconds": round(run.seconds, 1), "changed": changed,
                     "undecided": j.count("undecided"), "cases": len(j.verdicts)}
            if slow:
                entry["found"] = any(v.verdict == "slower" and v.case.startswith(SLOWED_CASE) for v in j.verdicts)
                entry["others_flagged"] = [c for c in changed if not c.startswith(SLOWED_CASE)]
            out[kind].append(entry)
            log(f"[ab] {kind} {i}: {run.rounds} rounds, {run.seconds:.0f} s; changed: {changed or 'none'}; "
                f"{entry['undecided']} undecided of {entry['cases']}")
    out["summary"] = {
        "aa_repeats": len(out["aa"]), "aa_with_false_alarms": sum(bool(e["changed"]) for e in out["aa"]),
        "injected_repeats": len(out["injected"]), "injected_found": sum(e["found"] for e in out["injected"]),
        "injected_with_other_cases_flagged": sum(bool(e["others_flagged"]) for e in out["injected"]),
        "seconds_per_run": [e["seconds"] for e in out["aa"] + out["injected"]]}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    g = sub.add_parser("gate", help="quick runs gated against a baseline: A/A false alarms, injected detection")
    g.add_argument("--runs", type=int, default=5, help="quick runs to gate (default 5)")
    g.add_argument("--baseline", default="ci-quick", help="a stored baseline (default ci-quick, what CI uses)")
    g.add_argument("--fresh-baseline", type=int, default=0, metavar="N",
                   help="instead, pool N quick runs made first into the baseline")
    g.add_argument("--factor", type=float, default=1.5, help="the injected slowdown (default 1.5)")
    a = sub.add_parser("ab", help="A/A and injected-regression runs of lowrank-bench ab")
    a.add_argument("--repeats", type=int, default=3, help="A/A runs and injected runs, each (default 3)")
    a.add_argument("-k", dest="select", default=None, help="a pytest -k selection (default: every quick case)")
    a.add_argument("--backend", default="numpy,torch-cpu", help="backends (default numpy,torch-cpu)")
    a.add_argument("--min-rounds", type=int, default=6)
    a.add_argument("--max-rounds", type=int, default=15)
    args = parser.parse_args(argv)
    for name in ("runs", "repeats"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name} {getattr(args, name)}: accepted an integer >= 1")
    if args.mode == "gate" and (args.fresh_baseline < 0 or not args.factor > 1):
        parser.error(f"--fresh-baseline {args.fresh_baseline}, --factor {args.factor}: accepted N >= 0 and a factor > 1")
    start = time.perf_counter()
    result = measure_gate(args) if args.mode == "gate" else measure_ab(args)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    result.update(mode=args.mode, command=" ".join(["python", "scripts/measure_verdicts.py", *(argv or sys.argv[1:])]),
                  commit=commit.strip(), machine=platform.node(), seconds=round(time.perf_counter() - start),
                  date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = write_new_text(OUT / f"verdicts-{args.mode}-{stamp}.json", json.dumps(result, indent=1) + "\n")
    log(json.dumps(result["summary"], indent=1))
    log(f"[measure] wrote {path.relative_to(REPO)} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
