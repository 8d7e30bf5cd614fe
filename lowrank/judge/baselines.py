"""Named baselines: result files stored under ``results/baselines/`` for the gate.

A baseline is a copy of a run's pytest-benchmark JSON (raw samples included),
written compactly and atomically; an existing baseline is replaced only when the
caller says so.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path

import numpy as np

from lowrank.errors import LowRankValueError
from lowrank.judge.gate import GateConfig, counting_differences, exact_findings, instruction_finding, runs_metric
from lowrank.record import pairs, paths
from lowrank.record.atomic import write_text_atomic
from lowrank.record.suites import SUITES

DEFAULT_DIR = paths.BASELINES
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def baseline_path(name_or_path: str, directory: str | Path = DEFAULT_DIR) -> Path:
    """``results/baselines/NAME.json`` for a name; a path (containing / or ending .json) as is."""
    if "/" in name_or_path or name_or_path.endswith(".json"):
        return Path(name_or_path)
    if not _NAME.match(name_or_path):
        raise LowRankValueError(
            f"baseline name {name_or_path!r} is not accepted; use letters, digits, '.', '_' and '-'"
        )
    return Path(directory) / f"{name_or_path}.json"


def existing_baseline(name_or_path: str, directory: str | Path = DEFAULT_DIR) -> Path:
    """The file of a stored baseline; the error lists the baselines that do exist."""
    path = baseline_path(name_or_path, directory)
    if not path.is_file():
        known = sorted(p.stem for p in Path(directory).glob("*.json")) if Path(directory).is_dir() else []
        raise LowRankValueError(
            f"baseline {name_or_path!r} not found at {path}; known baselines: "
            f"{', '.join(known) if known else 'none'} (record one with: lowrank-bench baseline RUN --name NAME)"
        )
    return path


def pool_runs(runs: list[dict], sources: list) -> dict:
    """One run whose every benchmark holds the raw samples of all ``runs`` (same cases, same code).

    Separate processes land on different physical pages and cache colourings; on a
    2-core VM that alone moves a 1024² matvec by 15% from one process to the next,
    and samples from a single process never show it. Pooling the samples of several
    runs puts that between-process spread into the baseline the gate tests against
    (pyperf's many-processes rule); a paired speedup pools every run's processes the same way.
    Exact metrics must agree across the runs. A refined rank (``refined``) that not every run holds
    is left out. The runs must be of one metric; counted runs must have been counted under the same
    settings (:func:`lowrank.judge.gate.counting_differences`: the baseline keeps the first run's
    ``counting`` block, which the gate compares with its runs') and agree on every count within the
    gate's default ``instructions_tolerance`` (the first run's count is kept; a project's own gate
    settings are not read here).
    """
    if len(runs) == 1:
        return runs[0]
    counted = runs_metric(zip(sources, runs), "a baseline pools runs of one metric") == "instructions"
    first = runs[0]
    if counted:
        for src, run in zip(sources[1:], runs[1:]):
            differ = counting_differences(first, run)
            if differ:
                raise LowRankValueError(f"{src}: counted under other settings than {sources[0]} ({'; '.join(differ)}); "
                                        "a baseline pools runs counted under the same settings")
    by_id = [{b.get("param") or b["name"]: b for b in run["benchmarks"]} for run in runs]
    # A rank refined near a break-even is chosen by each run (benchmarks/matvec/refine.py): pooled where
    # every run refined it, left out where some did not, never an error.
    uneven = {k for m in by_id for k, b in m.items() if (b.get("extra_info") or {}).get("refined")
              and not all(k in other for other in by_id)}
    if uneven:
        by_id = [{k: b for k, b in m.items() if k not in uneven} for m in by_id]
        first = {**first, "benchmarks": [b for b in first["benchmarks"] if (b.get("param") or b["name"]) not in uneven]}
    extra = [k for m in by_id[1:] for k in m if k not in by_id[0]]
    if extra:
        raise LowRankValueError(f"benchmark {extra[0]!r} is not in {sources[0]}; pool only runs of the same profile")
    pooled = []
    for bench in first["benchmarks"]:
        key = bench.get("param") or bench["name"]
        others = [m.get(key) for m in by_id[1:]]
        missing = [str(src) for src, o in zip(sources[1:], others) if o is None]
        if missing:
            raise LowRankValueError(f"benchmark {key!r} of {sources[0]} is missing from {', '.join(missing)}; "
                                    "pool only runs of the same profile")
        for src, other in zip(sources[1:], others):
            suite = SUITES.get((bench.get("extra_info") or {}).get("suite"))
            # every exact metric of the suite, with the gate's default tolerances
            differ = [f.metric for f in exact_findings(key, bench, other, GateConfig(), suite)] if suite else []
            if differ:
                raise LowRankValueError(f"{src}: {key!r} differs from {sources[0]} in {', '.join(differ)}; runs of "
                                        "different code cannot be pooled")
            count = instruction_finding(key, bench, other, GateConfig()) if counted else None
            if count is not None and count.status != "unchanged":
                raise LowRankValueError(f"{src}: {key!r} counted {count.current:,.0f} instructions a call against "
                                        f"{count.baseline:,.0f} in {sources[0]} ({count.ratio - 1:+.2%}, beyond the "
                                        f"gate's {count.note}); runs of different code cannot be pooled")
        data = [t for b in [bench, *others] for t in b["stats"]["data"]]
        merged = dict(bench)
        merged["stats"] = _stats_of(data, bench["stats"].get("iterations", 1))
        ratios = [(b.get("extra_info") or {}).get("process_pair_ratios") for b in [bench, *others]]
        if all(ratios):  # a paired speedup: every run's processes, pooled as the samples are
            merged["extra_info"] = {**bench["extra_info"], **pairs.summarize([r for run in ratios for r in run])}
        pooled.append(merged)
    out = dict(first)
    out["benchmarks"] = pooled
    return out


def _stats_of(data: list[float], iterations: int) -> dict:
    """pytest-benchmark's stats fields recomputed from pooled samples."""
    a = np.sort(np.asarray(data, dtype=np.float64))
    q1, median, q3 = np.quantile(a, [0.25, 0.5, 0.75])
    return {
        "min": float(a[0]), "max": float(a[-1]), "mean": float(a.mean()),
        "stddev": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "median": float(median), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1),
        "rounds": int(a.size), "iterations": iterations, "ops": float(1.0 / a.mean()),
        "total": float(a.sum()), "data": [float(t) for t in data],
    }


def _is_baseline(path: Path) -> bool:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError):  # not JSON, or nested past the parser's limit: no baseline
        return False
    return isinstance(doc, dict) and isinstance(doc.get("lowrank_bench_baseline"), dict)


def _refuse_repeated_runs(runs: list[dict], sources: list) -> None:
    """Refuse the same run given twice: pooling it would count its samples twice, as if two processes agreed."""
    seen: dict = {}
    for run, source in zip(runs, sources):
        block = (run.get("machine_info") or {}).get("lowrank_bench") or {}
        key = (run.get("datetime"), json.dumps(run.get("commit_info"), sort_keys=True), block.get("fingerprint"),
               json.dumps([(b.get("stats") or {}).get("median") for b in run.get("benchmarks", [])]))
        if key in seen:
            raise LowRankValueError(f"{source}: the same run as {seen[key]} (same date, commit and medians); "
                                    "a baseline pools different runs of the same code")
        seen[key] = source


def record_baseline(runs: list[dict], sources: list, name: str, directory: str | Path = DEFAULT_DIR,
                    update: bool = False) -> Path:
    """Store the parsed runs (read from ``sources``), pooled, as baseline ``name``; returns its path.

    Several runs of the same profile make a sturdier baseline (see :func:`pool_runs`).
    """
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith(".json"):
        raise LowRankValueError(
            f"baseline name {name!r} is not accepted: a name, not a path; use letters, digits, '.', '_' and '-', "
            "without '.json' (it is stored as DIR/NAME.json)")
    from lowrank.store.files import check_output_folder

    check_output_folder(directory, option="--dir")
    target = Path(directory) / f"{name}.json"
    if target.is_symlink():
        raise LowRankValueError(f"baseline {name!r}: {target} is a symbolic link; baselines are never written "
                                "through links")
    for source in sources:
        if target.exists() and Path(source).exists() and os.path.samefile(target, source):
            raise LowRankValueError(f"baseline {name!r}: {target} is one of the runs given; a baseline never replaces "
                                    "its own input")
    if target.exists() and not update:
        raise LowRankValueError(f"baseline {name!r} already exists at {target}; pass --update to replace it")
    if target.exists() and not _is_baseline(target):
        raise LowRankValueError(f"baseline {name!r}: {target} exists and is not a baseline (no "
                                "'lowrank_bench_baseline' block); --update replaces only baselines")
    _refuse_repeated_runs(runs, sources)
    for run, source in zip(runs, sources):
        missing = [b.get("param") for b in run.get("benchmarks", []) if not b.get("stats", {}).get("data")]
        if missing:
            raise LowRankValueError(
                f"{source}: {len(missing)} benchmark(s) have no raw samples (e.g. {missing[0]!r}); the gate's "
                "significance tests need them: record a run written with --benchmark-json (the suite's default)"
            )
    stored = dict(pool_runs(runs, sources))
    stored["lowrank_bench_baseline"] = {
        "name": name,
        "sources": [str(s) for s in sources],
        "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    # Standard JSON only; replaced atomically: readers see the old baseline or the new one, never half of one.
    return write_text_atomic(target, json.dumps(stored, separators=(",", ":"), allow_nan=False))
