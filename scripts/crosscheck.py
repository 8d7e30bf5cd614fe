"""Check the suite's timings against an independent timer in fresh processes.

    python scripts/crosscheck.py results/runs/RUN.json [--shape 1024x1024] [--batches 1,32]

For each warm matvec case of the run at that shape and batches (dense and every rank,
numpy and torch-cpu), a fresh process per backend builds its own operands with plain
numpy (random values of the same shapes and dtype: none of the suite's code), pins the
run's thread count, and times ``W @ x`` and ``B @ (A @ x)`` (B stored column-major; on numpy
``np.dot`` for a vector and at rank 1; on torch a batch of 2 to 64 columns at rank 64 or more
taken batch-first: the arithmetic and layout the library uses, written out here) with a bare
``time.perf_counter`` loop: 1 ms blocks, 3 processes × 30 blocks, the median of the 90 blocks
pooled (the suite's rule: every process's rounds pooled, docs/timing.md). The
table shows both figures and their ratio; the exit code is 1 when any case differs by
more than ``--tolerance`` (default 10%).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lowrank.backends import cpu_name  # noqa: E402
from lowrank.store.documents import parse  # noqa: E402
from lowrank.store.files import write_new_text  # noqa: E402
from measurement import commit  # noqa: E402

_WORKER = r"""
import json, os, statistics, sys, time
spec = json.loads(sys.argv[1])
threads = spec["threads"]
import numpy as np
torch = None
if spec["backend"] == "torch-cpu":
    import torch
    torch.set_num_threads(threads)
# After the imports: threadpoolctl limits only the pools of libraries already loaded.
from threadpoolctl import threadpool_info, threadpool_limits
threadpool_limits(threads, user_api="blas")
pools = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
rng = np.random.default_rng(0)
out = {"_blas_threads": pools}
for case in spec["cases"]:
    d, k, r, n, dtype = case["d"], case["k"], case["rank"], case["batch"], case["dtype"]
    shape_x = (k,) if n == 1 else (k, n)
    arrays = [rng.standard_normal(s).astype(dtype) for s in ([(d, k)] if r is None else [(d, r), (r, k)])]
    if r is not None:
        arrays[0] = np.asfortranarray(arrays[0])  # B column-major, as the library holds it
    x = rng.standard_normal(shape_x).astype(dtype)
    if torch is not None:
        arrays, x = [torch.from_numpy(a) for a in arrays], torch.from_numpy(x)
    if r is None:
        W = arrays[0]
        f = lambda: W @ x
    else:
        B, A = arrays
        if torch is not None and 1 < n <= 64 and r >= 64:
            f = lambda: ((x.T @ A.T) @ B.T).T
        elif torch is None and (r == 1 or n == 1):
            f = lambda: np.dot(B, np.dot(A, x))
        else:
            f = lambda: B @ (A @ x)
    for _ in range(20):
        f()
    t = time.perf_counter(); f(); single = max(time.perf_counter() - t, 1e-7)
    loops = max(1, int(1e-3 / single))
    blocks = []
    for _ in range(30):
        t = time.perf_counter()
        for _ in range(loops):
            f()
        blocks.append((time.perf_counter() - t) / loops)
    out[case["name"]] = blocks
print(json.dumps(out))
"""


def cases_of(run: dict, d: int, k: int, batches) -> dict[str, list[dict]]:
    """The run's warm matvec cases at (d, k) and ``batches``, by backend (numpy and torch-cpu)."""
    out: dict[str, list[dict]] = {}
    for b in run["benchmarks"]:
        e = b.get("extra_info") or {}
        if (e.get("suite") == "matvec" and e.get("d") == d and e.get("k") == k and e.get("batch") in batches
                and e.get("cache") == "warm" and e.get("backend") in ("numpy", "torch-cpu")):
            out.setdefault(e["backend"], []).append(
                {"name": b["name"], "d": d, "k": k, "rank": e["rank"], "batch": e["batch"], "dtype": e["dtype"],
                 "suite_median": b["stats"]["median"]})
    return out


def independent_medians(backend: str, cases: list[dict], threads: int, processes: int = 3) -> dict[str, float]:
    """Per case, the median of a bare perf_counter loop's blocks in ``processes`` fresh processes, pooled."""
    spec = json.dumps({"backend": backend, "threads": threads, "cases": cases})
    runs = []
    for _ in range(processes):
        proc = subprocess.run([sys.executable, "-c", _WORKER, spec], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"the independent {backend} timer failed:\n{proc.stderr[-2000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    pools = runs[0].pop("_blas_threads")
    if pools != [threads]:
        raise RuntimeError(f"the independent {backend} timer's BLAS pools run {pools} threads, not {threads}")
    for r in runs[1:]:
        r.pop("_blas_threads")
    return {name: statistics.median(v for r in runs for v in r[name]) for name in runs[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/crosscheck.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a result file of the suite")
    parser.add_argument("--shape", default="1024x1024", help="DxK (default 1024x1024)")
    parser.add_argument("--batches", default="1,32", help="comma-separated batches (default 1,32)")
    parser.add_argument("--tolerance", type=float, default=0.10, help="largest accepted |ratio - 1| (default 0.10)")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the table, with date, commit and machine, to this new file "
                             "(e.g. results/measurements/crosscheck-YYYYMMDD-HHMM.json)")
    args = parser.parse_args(argv)
    if args.json is not None and args.json.exists():
        parser.error(f"--json {args.json}: exists; measurements are never overwritten")
    d, k = (int(v) for v in args.shape.lower().split("x"))
    batches = {int(v) for v in args.batches.split(",")}
    try:
        run = parse(Path(args.run).read_bytes())
    except (OSError, ValueError) as exc:
        print(f"{args.run}: not a readable result file ({exc})", file=sys.stderr)
        return 2
    threads = ((run.get("machine_info") or {}).get("lowrank_bench") or {}).get("threads", {}).get("requested") or 1
    by_backend = cases_of(run, d, k, batches)
    if not by_backend:
        print(f"{args.run}: no warm numpy/torch-cpu matvec cases at {d}x{k}, batches {sorted(batches)}", file=sys.stderr)
        return 2
    worst, rows = 0.0, []
    for backend, cases in sorted(by_backend.items()):
        ours = independent_medians(backend, cases, threads)
        for c in cases:
            ratio = c["suite_median"] / ours[c["name"]]
            worst = max(worst, abs(ratio - 1))
            rows.append((c["name"], c["suite_median"] * 1e6, ours[c["name"]] * 1e6, ratio))
    print(f"{'case':60s} {'suite us':>10s} {'timer us':>10s} {'ratio':>7s}")
    for name, a, b, ratio in rows:
        print(f"{name:60s} {a:10.2f} {b:10.2f} {ratio:7.3f}")
    print(f"{len(rows)} cases, threads={threads}; largest difference {worst:.1%} (tolerance {args.tolerance:.0%})")
    if args.json is not None:
        record = {"what": "the suite's medians against an independent perf_counter timer (scripts/crosscheck.py)",
                  "date": datetime.datetime.now().isoformat(timespec="seconds"), "commit": commit(),
                  "command": "python scripts/crosscheck.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "run": str(args.run), "machine": {"cpu": cpu_name(), "cpus": os.cpu_count(),
                                                    "platform": platform.platform(), "threads": threads},
                  "tolerance": args.tolerance, "largest_difference": worst,
                  "within_tolerance": sum(abs(r[3] - 1) <= args.tolerance for r in rows),
                  "cases": [{"case": n, "suite_s": a / 1e6, "timer_s": b / 1e6, "ratio": ratio}
                            for n, a, b, ratio in rows]}
        write_new_text(args.json, json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
