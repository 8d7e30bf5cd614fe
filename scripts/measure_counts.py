"""Measure what counted runs achieve here: A/A agreement, a 1% change flagged, and how long a counted A/B takes.

A measurement, never a test (the tests judge recorded counts). Two parts, each made of real
``lowrank-bench ab --metric instructions`` runs (both sides counted at once):

* ``aa``: ``--pairs`` counted A/Bs of HEAD against itself (``--busy`` of them while another process
  keeps one core busy), so 2 x pairs counted runs of one commit: per case, how far their
  instructions per call differ; what each A/B flags (each one a false alarm); how long each took.
* ``inject``: a scratch clone whose last commit makes ``LowRankOperator.apply`` (``--target apply``)
  or the randomized SVD's power iteration (``--target power``) do extra Python work, about
  ``--extra`` of the case's instructions; ``--runs`` counted A/Bs of that commit against its parent
  over the affected cases: how often each A/B flags the case, named, and how often the gate does
  (each run's head side gated against the first run's base side, as CI gates against a baseline).

    python scripts/measure_counts.py aa --pairs 3 --busy 1
    python scripts/measure_counts.py inject --target apply --runs 5

Writes ``results/measurements/counts-<part>-<stamp>.json`` (a new file) and prints a summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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

# What each injection slows, and the cases it must be named in.
TARGETS = {
    "apply": {"file": "lowrank/operator.py", "anchor": "        try:\n            y = self._product(self.B, self.A, x)\n",
              "after": False, "indent": 8, "steps": 1, "statements": True,
              "select": "apply", "cases": r"^apply-"},
    "power": {"file": "lowrank/factorize.py", "anchor": "    for _ in range(power_iterations):\n",
              "after": True, "indent": 8, "steps": 2,  # inside each of the q = 2 power iterations
              "select": "randomized and q2 and not sklearn and not torch_svd", "cases": r"-randomized-p010-q2$"},
}


def counted_ab(repo: Path, base: str, head: str, out: Path, select: str | None = None, busy: bool = False) -> dict:
    """One ``lowrank-bench ab BASE HEAD --metric instructions``: its exit code, seconds, ab.json and both sides."""
    cmd = [sys.executable, "-m", "lowrank.cli", "ab", base, head, "--metric", "instructions", "--repo", str(repo),
           "--output", str(out)]
    if select:
        cmd += ["-k", select]
    # A core kept busy until this script ends, however it ends (killed, it cannot reap the spinner).
    spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"
    spinner = subprocess.Popen([sys.executable, "-c", spin]) if busy else None
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    finally:
        if spinner is not None:
            spinner.kill()
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"counted A/B failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    (folder,) = sorted(out.iterdir(), key=lambda p: p.stat().st_mtime)[-1:]
    summary = json.loads((folder / "ab.json").read_text())
    sides = {label: json.loads((folder / f"{label}.json").read_text()) for label in ("base", "head")}
    flagged = sorted(c["case"] for c in summary["cases"] if c["metric"] == "instructions" and c["status"] != "unchanged")
    return {"exit": proc.returncode, "seconds": seconds, "flagged": flagged, "sides": sides}


def instructions(doc: dict) -> dict[str, float]:
    return {b["param"]: b["extra_info"]["instructions"] for b in doc["benchmarks"]}


def aa(args) -> dict:
    runs, abs_ = [], []
    with tempfile.TemporaryDirectory(prefix="lowrank-counts-") as tmp:
        for i in range(args.pairs):
            busy = i >= args.pairs - args.busy
            ab = counted_ab(REPO, "HEAD", "HEAD", Path(tmp) / f"ab{i}", busy=busy)
            runs += [ab["sides"]["base"], ab["sides"]["head"]]
            abs_.append({"seconds": ab["seconds"], "flagged": ab["flagged"], "busy": busy, "exit": ab["exit"]})
            print(f"[aa] counted A/B {i + 1}/{args.pairs}{' (one core kept busy)' if busy else ''}: "
                  f"{len(ab['sides']['head']['benchmarks'])} cases a side in {ab['seconds'] / 60:.1f} min; "
                  f"flagged {ab['flagged'] or 'nothing'}", flush=True)
    counts = [instructions(d) for d in runs]
    cases = sorted(set.intersection(*(set(c) for c in counts)))
    spread = {c: max(x[c] for x in counts) / min(x[c] for x in counts) - 1 for c in cases}
    config = gate.load_config(REPO / "pyproject.toml")
    alarms = [[f.case for f in gate.compare_runs(d, runs[0], config).findings if f.status != "unchanged"]
              for d in runs[1:]]
    worst = max(spread, key=spread.get)
    print(f"[aa] {len(cases)} cases, {len(runs)} counted runs ({2 * args.busy} with a busy core): spread of "
          f"instructions per call median {sorted(spread.values())[len(spread) // 2]:.4%}, worst {spread[worst]:.4%} "
          f"({worst}); {sum(v <= 0.001 for v in spread.values())} of {len(cases)} within 0.1%; A/Bs flagged "
          f"{sum(len(a['flagged']) for a in abs_)} case(s); the gate against run 1 flagged {sum(map(len, alarms))}; "
          "A/B minutes " + ", ".join(f"{a['seconds'] / 60:.1f}" for a in abs_))
    return {"pairs": args.pairs, "busy": args.busy, "abs": abs_, "spread": spread, "gate_alarms": alarms,
            "tolerance": config.instructions_tolerance, "counts": counts}


def injected_clone(tmp: Path, target: dict, iterations: int) -> Path:
    """A clone of HEAD whose last commit makes the target do ``iterations`` more steps per call."""
    tree = tmp / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(tree)], check=True)
    path = tree / target["file"]
    text = path.read_text()
    if target["anchor"] not in text:
        raise SystemExit(f"{target['file']}: the injection's anchor is not there any more; update TARGETS")
    indent = " " * target["indent"]
    if target.get("statements"):  # finer than a loop (one loop step added 3% to apply's 45k instructions)
        burn = f"{indent}" + "; ".join(["_extra = x.ndim"] * iterations) + "  # injected by scripts/measure_counts.py\n"
    else:
        burn = f"{indent}for _extra in range({iterations}):  # injected by scripts/measure_counts.py\n{indent}    pass\n"
    patched = target["anchor"] + burn if target["after"] else burn + target["anchor"]
    path.write_text(text.replace(target["anchor"], patched, 1))
    git = ["git", "-C", str(tree), "-c", "user.name=measure", "-c", "user.email=measure@localhost"]
    subprocess.run([*git, "commit", "-q", "-am", "injected extra work"], check=True)
    return tree


def inject(args) -> dict:
    target = TARGETS[args.target]
    out = {"target": args.target, "extra": args.extra, "runs": []}
    config = gate.load_config(REPO / "pyproject.toml")
    with tempfile.TemporaryDirectory(prefix="lowrank-counts-") as tmp:
        tmp = Path(tmp)
        # Size the injection from a counted run of HEAD (an A/A of the affected cases).
        sizing = counted_ab(REPO, "HEAD", "HEAD", tmp / "sizing", target["select"])
        base_counts = instructions(sizing["sides"]["base"])
        cases = [c for c in base_counts if re.search(target["cases"], c)]
        smallest = min(base_counts[c] for c in cases)
        # A read of x.ndim costs about 240 instructions on numpy (500 on torch), a loop about 107 a
        # step once running (285 steps in each of two power iterations added 0.48-0.62% to cases of
        # about 10^7) and 1,000 to start (one step added 3% to apply; CPython 3.11, PYTHONMALLOC=malloc):
        # sized from the smallest affected case; the runs report what it added.
        if target.get("statements"):
            iterations = args.iterations or max(1, round(args.extra * smallest / 240))
        else:
            iterations = args.iterations or max(1, round((args.extra * smallest / target["steps"] - 1000) / 107))
        clone = injected_clone(tmp, target, iterations)
        baseline = None
        for i in range(args.runs):
            ab = counted_ab(clone, "HEAD~1", "HEAD", tmp / f"ab{i}", target["select"], busy=i % 2 == 1)
            baseline = baseline or ab["sides"]["base"]
            gated = sorted(f.case for f in gate.compare_runs(ab["sides"]["head"], baseline, config).regressions)
            head, base = instructions(ab["sides"]["head"]), instructions(ab["sides"]["base"])
            change = {c: head[c] / base[c] - 1 for c in cases}
            out["runs"].append({"seconds": ab["seconds"], "ab_flagged": ab["flagged"], "gate_flagged": gated,
                                "change": change, "busy": i % 2 == 1})
            print(f"[inject] run {i + 1}/{args.runs}: injected size {iterations}; "
                  + ", ".join(f"{c} {v:+.2%}" for c, v in change.items())
                  + f"; the A/B flagged {ab['flagged']}, the gate {gated} ({ab['seconds'] / 60:.1f} min)", flush=True)
    hits_ab = sum(set(cases) == set(r["ab_flagged"]) for r in out["runs"])
    hits_gate = sum(set(cases) == set(r["gate_flagged"]) for r in out["runs"])
    print(f"[inject] {args.target}: the counted A/B named exactly the affected cases in {hits_ab} of {args.runs} runs, "
          f"the gate in {hits_gate}")
    return {**out, "iterations": iterations, "cases": cases, "hits_ab": hits_ab, "hits_gate": hits_gate}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("aa", help="A/A agreement of counted runs (counted A/Bs of HEAD against itself)")
    p.add_argument("--pairs", type=int, default=3, help="counted A/Bs, two counted runs each (3)")
    p.add_argument("--busy", type=int, default=1, help="of the A/Bs, how many with one core kept busy (1)")
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
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {"commit": commit, **result}
    target = REPO / "results" / "measurements" / f"counts-{args.part}-{stamp}.json"
    write_new_text(target, json.dumps({"measured": stamp, **result}, indent=1))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
