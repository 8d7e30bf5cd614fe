"""How fast ``LowRankOperator.apply`` is against every layout of its factors and PEFT's form: a measurement.

    python scripts/measure_layouts.py                     # the full grid, about 5 minutes on 2 vCPUs
    python scripts/measure_layouts.py --shapes 1024x1024 --ranks 1,4,16 --batches 1

For each case (backend, dtype, shape, rank, batch), one thread, the same operands timed in
interleaved rounds, one block of calls per variant a round in a rotating order, the median over
rounds of each variant's per-call time:

* ``apply``: ``lowrank.LowRankOperator(B, A).apply(x)``, what the library gives a user;
* ``B row-major @``, ``B column-major @``: the bare ``B @ (A @ x)`` with B stored each way
  (A row-major); on numpy also ``... np.dot``, the same with ``np.dot``, which calls BLAS
  where numpy's matmul runs its own loop (an inner dimension of 1);
* ``PEFT``: PEFT's LoRA form on a batch-first input X (n×k): torch, two bias-free
  ``nn.Linear`` (weights A and B as PEFT stores them, row-major), ``lora_B(lora_A(X))``;
  numpy, ``(X @ A.T) @ B.T``.

Prints a line per case and a summary (apply against the fastest bare layout, and against PEFT),
and writes every figure, with the date, commit, machine, versions and the command line, to a new
file under ``results/measurements/`` (``--json`` names another). Before the grid it runs the noise
probe (scripts/noise_probe.py, 30 s) in both layouts of its small call, and keeps both lines.
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
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402
from measurement import commit  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import lowrank  # noqa: E402
from lowrank.store.files import write_new_text  # noqa: E402

SHAPES = "1024x1024,4096x4096,8192x8192,4096x11008"
RANKS = "1,2,4,8,16,32,64,128,256"
ROUNDS = 12
BLOCK_S = 0.004  # one block: enough calls for about 4 ms


def _parse_list(text: str, name: str, parse) -> list:
    try:
        values = [parse(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"{name} {text!r}: expected comma-separated values, e.g. {RANKS if 'rank' in name else SHAPES}")
    if not values:
        raise SystemExit(f"{name} {text!r}: give at least one value")
    return values


def _shape(text: str) -> tuple[int, int]:
    d, k = (int(v) for v in text.lower().split("x"))
    if not (1 <= d <= 65536 and 1 <= k <= 65536):
        raise ValueError(text)
    return d, k


def variants(backend: str, B64: np.ndarray, A64: np.ndarray, x64: np.ndarray, dtype: str) -> dict:
    """The timed calls of one case, each a no-argument function returning the d×n (or d) result."""
    be = lowrank.get_backend(backend)
    f = lowrank.LowRankOperator(be.asarray(B64, dtype), be.asarray(A64, dtype))
    x = be.asarray(x64, dtype)
    Bc, Ac = be.asarray(np.ascontiguousarray(B64), dtype), be.asarray(np.ascontiguousarray(A64), dtype)
    Bf = be.asarray(np.asfortranarray(B64), dtype)
    if backend != "numpy":
        Bf = Bc.t().contiguous().t()
    xb = be.asarray(np.ascontiguousarray(x64.T), dtype)  # batch-first, as a framework's layer sees it
    out = {"apply": lambda: f.apply(x),
           "B row-major @": lambda: Bc @ (Ac @ x),
           "B column-major @": lambda: Bf @ (Ac @ x)}
    if x.ndim == 2:
        # The same stored factors, the product taken batch-first: ((xᵀ Aᵀ) Bᵀ)ᵀ.
        out["B column-major, batch-first"] = lambda: ((x.T @ Ac.T) @ Bf.T).T
    if backend == "numpy":
        out["B row-major np.dot"] = lambda: np.dot(Bc, np.dot(Ac, x))
        out["B column-major np.dot"] = lambda: np.dot(Bf, np.dot(Ac, x))
        out["PEFT"] = lambda: (xb @ Ac.T) @ Bc.T
    else:
        torch = be.torch
        lora_A = torch.nn.Linear(A64.shape[1], A64.shape[0], bias=False, dtype=Ac.dtype)
        lora_B = torch.nn.Linear(B64.shape[1], B64.shape[0], bias=False, dtype=Bc.dtype)
        with torch.no_grad():
            lora_A.weight.copy_(Ac)
            lora_B.weight.copy_(Bc)

        def peft():
            with torch.no_grad():
                return lora_B(lora_A(xb))
        out["PEFT"] = peft
    return out


def _block(call, loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        call()
    return (time.perf_counter() - t0) / loops


def time_case(calls: dict, rounds: int) -> dict[str, float]:
    """Median per-call seconds of each variant over ``rounds`` interleaved rounds (the order rotates)."""
    names = list(calls)
    loops = {}
    for name in names:
        for _ in range(3):
            calls[name]()
        single = max(_block(calls[name], 1), 1e-7)
        loops[name] = max(1, int(BLOCK_S / single))
    times = {name: [] for name in names}
    for i in range(rounds):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            times[name].append(_block(calls[name], loops[name]))
    return {name: statistics.median(v) for name, v in times.items()}


def _probe(seconds: float, row_major: bool) -> list[str]:
    cmd = [sys.executable, str(REPO / "scripts" / "noise_probe.py"), "--seconds", str(seconds)]
    proc = subprocess.run(cmd + (["--row-major-b"] if row_major else []), capture_output=True, text=True, check=True)
    return proc.stdout.splitlines()


def summarize(rows: list[dict]) -> dict:
    """apply against the fastest bare layout and against PEFT: worst ratios and how many cases miss 1.1x."""
    def worst(key):
        r = max(rows, key=lambda row: row[key])
        return {"ratio": r[key], "case": r["case"]}
    return {"cases": len(rows),
            "apply_vs_fastest_layout": worst("apply_vs_fastest"),
            "apply_vs_fastest_over_1.1": sum(r["apply_vs_fastest"] > 1.1 for r in rows),
            "apply_vs_peft": worst("apply_vs_peft"),
            "apply_vs_peft_over_1.1": sum(r["apply_vs_peft"] > 1.1 for r in rows),
            "row_major_vs_apply_best": max(r["row_major_vs_apply"] for r in rows)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/measure_layouts.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default=SHAPES, help=f"DxK list (default {SHAPES})")
    parser.add_argument("--ranks", default=RANKS, help=f"rank list (default {RANKS})")
    parser.add_argument("--batches", default="1,32", help="batch list (default 1,32)")
    parser.add_argument("--backends", default="numpy,torch-cpu", help="default numpy,torch-cpu")
    parser.add_argument("--dtypes", default="float32,float64", help="default float32,float64")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"interleaved rounds a case (default {ROUNDS})")
    parser.add_argument("--probe-seconds", type=float, default=30.0, help="noise probe per layout; 0 skips it")
    parser.add_argument("--json", type=Path, default=None, help="write here (a new file) instead")
    args = parser.parse_args(argv)
    try:
        shapes = _parse_list(args.shapes, "--shapes", _shape)
        ranks = _parse_list(args.ranks, "--ranks", int)
        batches = _parse_list(args.batches, "--batches", int)
    except SystemExit as exc:
        parser.error(str(exc))
    backends, dtypes = args.backends.split(","), args.dtypes.split(",")
    for b in backends:
        if b not in ("numpy", "torch-cpu"):
            parser.error(f"--backends: {b!r} is not accepted; accepted: numpy, torch-cpu")
    for t in dtypes:
        if t not in ("float32", "float64"):
            parser.error(f"--dtypes: {t!r} is not accepted; accepted: float32, float64")
    if not 3 <= args.rounds <= 1000:
        parser.error(f"--rounds {args.rounds}: accepted 3 to 1000")
    if any(r < 1 for r in ranks) or any(n < 1 for n in batches):
        parser.error("--ranks and --batches take positive integers")
    if not any(r <= min(d, k) for d, k in shapes for r in ranks):
        parser.error(f"--ranks {args.ranks}: every rank exceeds min(d, k) of every shape in --shapes {args.shapes}; "
                     "nothing to time")
    stamp = datetime.datetime.now()
    out_path = args.json or REPO / "results" / "measurements" / f"layouts-{stamp:%Y%m%d-%H%M}.json"
    if out_path.exists():
        parser.error(f"{out_path} exists; measurements are never overwritten (--json names another file)")
    if "torch-cpu" in backends:
        import torch
        torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    probe = []
    if args.probe_seconds > 0:
        probe = _probe(args.probe_seconds, row_major=True) + _probe(args.probe_seconds, row_major=False)[1:]
        for line in probe:
            print(line, flush=True)
    rng = np.random.default_rng(0)
    rows = []
    for backend in backends:
        for dtype in dtypes:
            for d, k in shapes:
                for r in [r for r in ranks if r <= min(d, k)]:
                    B64, A64 = rng.standard_normal((d, r)), rng.standard_normal((r, k))
                    for n in batches:
                        x64 = rng.standard_normal((k,) if n == 1 else (k, n))
                        med = time_case(variants(backend, B64, A64, x64, dtype), args.rounds)
                        bare = {name: t for name, t in med.items() if name.startswith("B ")}
                        best = min(bare, key=bare.get)
                        row = {"case": f"{backend}-{dtype}-d{d}-k{k}-r{r}-n{n}", "backend": backend, "dtype": dtype,
                               "d": d, "k": k, "rank": r, "batch": n, "seconds": med, "fastest_layout": best,
                               "apply_vs_fastest": med["apply"] / bare[best], "apply_vs_peft": med["apply"] / med["PEFT"],
                               "row_major_vs_apply": med["B row-major @"] / med["apply"]}
                        rows.append(row)
                        print(f"{row['case']:38s} apply {med['apply'] * 1e6:9.1f} us  fastest {best:22s} "
                              f"{bare[best] * 1e6:9.1f}  apply/fastest {row['apply_vs_fastest']:.2f}  "
                              f"apply/PEFT {row['apply_vs_peft']:.2f}  row-major@/apply "
                              f"{row['row_major_vs_apply']:.2f}", flush=True)
    summary = summarize(rows)
    print(json.dumps(summary, indent=1))
    torch_version = sys.modules["torch"].__version__ if "torch" in sys.modules else None
    record = {"what": "LowRankOperator.apply against each factor layout and PEFT's form (scripts/measure_layouts.py)",
              "date": stamp.isoformat(timespec="seconds"), "commit": commit(),
              "command": "python scripts/measure_layouts.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "machine": {"cpu": lowrank.backends.cpu_name(), "cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(), "numpy": np.__version__, "torch": torch_version,
                          "threads": 1},
              "protocol": {"rounds": args.rounds, "block_s": BLOCK_S, "estimator": "median over interleaved rounds"},
              "noise_probe": probe, "summary": summary, "cases": rows}
    write_new_text(out_path, json.dumps(record, indent=1) + "\n")
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
