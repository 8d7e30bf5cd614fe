"""Hand-made result documents and frames for the analysis tests (not a test module).

``bench`` builds one matvec benchmark whose fields follow the schema, with the
timing given; ``document`` wraps benchmarks in a pytest-benchmark run. ``frame``
builds the tidy frame directly, for checks against hand-computed values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lowrank.cost import break_even_rank, dense_cost, factored_cost
from lowrank.record.schema import SCHEMA_TAG


def stats(median: float, iqr: float | None = None, rounds: int = 20, samples=None) -> dict:
    """pytest-benchmark stats around ``median`` (raw ``data`` when ``samples`` is given)."""
    iqr = median * 0.02 if iqr is None else iqr
    out = {"min": median * 0.9, "max": median * 1.2, "mean": median, "stddev": iqr, "median": median, "iqr": iqr,
           "q1": median - iqr / 2, "q3": median + iqr / 2, "rounds": rounds, "iterations": 1, "ops": 1 / median,
           "total": median * rounds, "outliers": "0;0", "iqr_outliers": 0, "stddev_outliers": 0,
           "ld15iqr": median * 0.9, "hd15iqr": median * 1.1}
    if samples is not None:
        out["data"] = [float(v) for v in samples]
        out["rounds"] = len(out["data"])
    return out


def bench(d=64, k=48, rank=None, median=1e-5, backend="numpy", dtype="float32", batch=1, cache="warm",
          error=None, **stat_kw) -> dict:
    """One matvec benchmark (dense when ``rank`` is None) carrying every schema field."""
    cost = dense_cost(d, k, batch, dtype) if rank is None else factored_cost(d, k, rank, batch, dtype)
    case = f"{backend}-{dtype}-d{d:04d}-k{k:04d}-{'dense' if rank is None else f'r{rank:04d}'}-n{batch:03d}-{cache}"
    err = (0.0 if rank is None else 1.0 / (1 + rank)) if error is None else error
    info = {
        "schema": SCHEMA_TAG, "suite": "matvec", "variant": "dense" if rank is None else "factored",
        "backend": backend, "device": "test CPU", "dtype": dtype, "d": d, "k": k, "rank": rank, "batch": batch,
        "method": None if rank is None else "svd", "matrix": "power-law-1", "cache": cache, "cache_copies": 1,
        "rel_error_fro": err, "optimal_error_fro": err, "output_error": err, "params": cost.params,
        "param_bytes": cost.param_bytes, "flops": cost.flops, "bytes_moved": cost.bytes_moved,
        "break_even_rank": break_even_rank(d, k), "blas_threads": 2, "torch_threads": None, "peak_bytes": 4 * d,
        "peak_method": "tracemalloc", "gflops": cost.flops / median / 1e9, "gbps": cost.bytes_moved / median / 1e9,
        "roofline_fraction": 0.5,
    }
    return {
        "group": case, "name": f"bench_matvec[{case}]", "fullname": f"benchmarks/bench_matvec.py::bench_matvec[{case}]",
        "params": {"backend": backend, "dtype": dtype, "d": d, "k": k, "rank": rank, "batch": batch, "cache": cache},
        "param": case, "extra_info": info, "options": {}, "stats": stats(median, **stat_kw),
    }


def document(benchmarks, datetime="2026-01-02T03:04:05+00:00", fingerprint="abc123", schema=SCHEMA_TAG,
             commit="0123456789abcdef") -> dict:
    """A pytest-benchmark run holding ``benchmarks``, with this suite's run block and a calibration."""
    return {
        "machine_info": {
            "node": "testhost", "machine": "x86_64", "cpu": {"brand_raw": "Test CPU", "count": 2},
            "lowrank_bench": {
                "schema": schema, "profile": "quick", "threads": {"requested": 2, "blas": 2, "torch": 2},
                "versions": {"python": "3.11.0", "numpy": "9.9.9", "lowrank": "0.1.0", "pytest_benchmark": "5.0"},
                "devices": {"numpy": "Test CPU"},
                "calibration": {"memory": {"cpu": {"copy_gbps": 20.0, "add_gbps": 16.0}},
                                "peak_gflops": {"numpy": {"float32": 100.0, "float64": 50.0}}},
                "fingerprint": fingerprint,
            },
        },
        "commit_info": {"id": commit, "dirty": False, "branch": "main"},
        "benchmarks": list(benchmarks),
        "datetime": datetime,
        "version": "5.3.1",
    }


def small_run() -> list[dict]:
    """Dense and two ranks of one shape: speedups 4 and 0.5."""
    return [bench(rank=None, median=8e-6), bench(rank=4, median=2e-6), bench(rank=32, median=16e-6)]


def write(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


# -- frames --------------------------------------------------------------------------------------------
def row(variant="factored", rank=None, median=1e-5, d=1024, k=1024, backend="numpy", dtype="float32", batch=1,
        cache="warm", run_id="run", iqr=None, rounds=20, samples=None, error=0.1, **extra) -> dict:
    """One row of the tidy frame with what :mod:`lowrank.judge.speedups` reads."""
    iqr = median * 0.02 if iqr is None else iqr
    cost = dense_cost(d, k, batch, dtype) if rank is None else factored_cost(d, k, rank, batch, dtype)
    out = {
        "run_id": run_id, "fingerprint": "fp", "suite": "matvec", "variant": variant, "backend": backend,
        "dtype": dtype, "d": d, "k": k, "rank": rank, "batch": batch, "cache": cache, "median": median, "iqr": iqr,
        "rounds": rounds if samples is None else len(samples), "rel_iqr": iqr / median,
        "samples": None if samples is None else np.asarray(samples, float),
        "break_even_rank": d * k / (d + k), "rel_error_fro": error, "optimal_error_fro": error, "output_error": error,
        "param_bytes": cost.param_bytes, "peak_bytes": 4 * d, "flops": cost.flops, "bytes_moved": cost.bytes_moved,
        "gbps": None, "gflops": None, "name": "b", "fullname": f"b[{variant}-{rank}-{d}-{k}-{batch}-{cache}]",
    }
    out.update(extra)
    return out


def curve(speedups: dict[int, float], dense_median=1e-3, errors: dict[int, float] | None = None, **kw) -> list[dict]:
    """A dense row and one factored row per rank with exactly the given speedups."""
    rows = [row("dense", None, dense_median, error=0.0, **kw)]
    for r, s in speedups.items():
        rows.append(row("factored", r, dense_median / s, error=(errors or {}).get(r, 0.1), **kw))
    return rows


def frame(rows) -> pd.DataFrame:
    f = pd.DataFrame(rows)
    f["rank"] = f["rank"].astype("Int64")
    return f
