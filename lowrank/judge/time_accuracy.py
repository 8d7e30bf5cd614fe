"""Analysis of the factorization and LoRA suites: tidy tables and time–accuracy figures.

Every function takes either the ``"benchmarks"`` list of a pytest-benchmark JSON
(dicts with ``extra_info`` and ``stats``) or a DataFrame with one row per benchmark
whose columns are the ``extra_info`` fields and the timing statistics (``median``,
``iqr``, … in seconds), as :func:`lowrank.store.load.load` builds. Rows of other
suites are ignored. Times in the tables are seconds.

* :func:`factorization_table` — every factorization: time, error / Eckart–Young optimum.
* :func:`cheapest_within` — per method and backend, the fastest knobs within an error
  ratio (the 4096², r = 64 target of issue 6 is its default cell).
* :func:`plot_time_accuracy` — time against error ratio for one matrix and rank,
  one curve per method and backend.
* :func:`lora_overhead_table` — unmerged W₀x + s·B(Ax) against merged W'x.
* :func:`drift_table` — merge → unmerge drift of W₀ and the cost of a merge.

>>> import json                                                      # doctest: +SKIP
>>> benches = json.load(open("results/runs/run.json"))["benchmarks"]  # doctest: +SKIP
>>> cheapest_within(benches, 1.01)                                  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lowrank.record.schema import parse_tag

TIME_COLUMNS = ("median", "iqr", "q1", "q3", "min", "mean", "stddev", "rounds")
INT_COLUMNS = ("d", "k", "rank", "batch", "oversampling", "power_iterations", "sketch_width", "passes", "merged_rank",
               "rounds", "matrix_rank")
# Excess errors (ratio − 1) below this are drawn at it: the exact SVD's 1e-14 is round-off.
EXCESS_FLOOR = 1e-6
TARGET_CELL = {"d": 4096, "k": 4096, "rank": 64, "spectrum": "power-law", "dtype": "float32"}
CELL_KEYS = ("d", "k", "rank", "spectrum", "dtype")
# Drawing order and colours: ours first, the exact SVD last.
METHOD_ORDER = ("randomized", "torch_svd_lowrank", "sklearn_randomized_svd", "svd")
METHOD_LABELS = {
    "randomized": "lowrank randomized",
    "torch_svd_lowrank": "torch.svd_lowrank",
    "sklearn_randomized_svd": "sklearn randomized_svd",
    "svd": "exact SVD",
}
# Rounding bound of a merge → unmerge round trip: 2u|W'| elementwise, with a hair of slack
# for half-precision adds that torch rounds through float32.
DRIFT_BOUND = 2.0 * (1 + 1e-3)


# -- input ---------------------------------------------------------------------------------------
def benchmark_frame(data, suite: str | None = None) -> pd.DataFrame:
    """One row per benchmark of this project's schema: ``extra_info`` fields plus timing stats.

    Parameters
    ----------
    data : list of dict or pandas.DataFrame
        pytest-benchmark's ``"benchmarks"`` list, or a frame that already has the
        ``extra_info`` fields as columns (it is returned filtered, not copied twice).
    suite : str, optional
        Keep only this suite's rows (``"factorize"``, ``"lora"``, ...).
    """
    if isinstance(data, pd.DataFrame):
        frame = data
    else:
        rows = []
        for bench in data:
            extra = bench.get("extra_info") or {}
            if parse_tag(extra.get("schema")) is None:
                continue
            stats = bench.get("stats") or {}
            rows.append({
                "name": bench.get("name"),
                "param_id": bench.get("param"),
                **extra,
                **{s: stats.get(s) for s in TIME_COLUMNS},
            })
        frame = pd.DataFrame(rows)
    if frame.empty or "suite" not in frame:
        return pd.DataFrame(columns=["suite", *TIME_COLUMNS])
    if suite is not None:
        frame = frame[frame["suite"] == suite]
    frame = frame.copy()
    for name in INT_COLUMNS:
        if name in frame:
            values = pd.to_numeric(frame[name], errors="coerce")
            if np.all(np.mod(values.dropna(), 1) == 0):
                frame[name] = values.astype("Int64")  # ints that pandas widened to float around nulls
    if "median" in frame and "iqr" in frame:
        frame["rel_iqr"] = pd.to_numeric(frame["iqr"], errors="coerce") / pd.to_numeric(frame["median"], errors="coerce")
    return frame.reset_index(drop=True)


def _runs(frame: pd.DataFrame) -> list[str]:
    return ["run_id"] if "run_id" in frame and frame["run_id"].nunique() > 1 else []


# -- factorization ---------------------------------------------------------------------------------
def factorization_table(data) -> pd.DataFrame:
    """Every factorization benchmark as a tidy table, sorted by matrix, rank, backend, method and knobs.

    Columns: ``d, k, rank, spectrum, dtype, backend, method, oversampling,
    power_iterations, passes, median_s, iqr_s, q1_s, q3_s, rel_iqr, error_ratio_fro,
    rel_error_fro, optimal_error_fro, sigma_rel_error_max, gflops`` (plus ``run_id``
    when the data holds several runs). ``error_ratio_fro`` is null where the optimum
    is 0 (exact-rank matrices): read ``rel_error_fro`` there.
    """
    frame = benchmark_frame(data, "factorize")
    columns = [*_runs(frame), "d", "k", "rank", "spectrum", "dtype", "backend", "method", "oversampling",
               "power_iterations", "passes", "median_s", "iqr_s", "q1_s", "q3_s", "rel_iqr", "error_ratio_fro",
               "rel_error_fro", "optimal_error_fro", "sigma_rel_error_max", "gflops"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    out = frame.rename(columns={"median": "median_s", "iqr": "iqr_s", "q1": "q1_s", "q3": "q3_s"})
    for name in columns:
        if name not in out:
            out[name] = np.nan
    out["_order"] = out["method"].map({m: i for i, m in enumerate(METHOD_ORDER)}).fillna(len(METHOD_ORDER))
    keys = [*_runs(frame), "d", "k", "spectrum", "rank", "dtype", "backend", "_order", "power_iterations", "oversampling"]
    out = out.sort_values(keys, na_position="last", kind="stable")
    return out[columns].reset_index(drop=True)


def cheapest_within(data, max_ratio: float = 1.01, cell: dict | None = None, zero_optimum_tol: float = 1e-5) -> pd.DataFrame:
    """Per (method, backend): the fastest knobs whose error is within ``max_ratio`` × the optimum.

    Parameters
    ----------
    data : benchmark list or frame
    max_ratio : float, default 1.01
        Largest accepted ``error_ratio_fro``.
    cell : dict, optional
        Which matrix: ``d, k, rank, spectrum, dtype`` (default :data:`TARGET_CELL`, the
        issue's 4096², r = 64, σ_i = 1/i, float32).
    zero_optimum_tol : float, default 1e-5
        Where the optimum is 0 (exact-rank matrices) there is no ratio: a result
        qualifies when its relative error is at most this (round-off).

    Returns
    -------
    DataFrame with ``method, backend, oversampling, power_iterations, median_s,
    error_ratio_fro, rel_error_fro, meets, configs, vs_torch_svd_lowrank`` — one row per method and
    backend measured in the cell; ``meets`` is False (and the knobs are those of the
    most accurate configuration) when no configuration reached ``max_ratio``;
    ``vs_torch_svd_lowrank`` is the time relative to the cheapest qualifying
    ``torch.svd_lowrank`` on torch-cpu (< 1: faster).
    """
    table = factorization_table(data)
    cell = {**TARGET_CELL, **(cell or {})}
    mask = np.ones(len(table), dtype=bool)
    for key in CELL_KEYS:
        mask &= (table[key] == cell[key]).to_numpy()
    table = table[mask]
    rows = []
    for (method, backend), group in table.groupby(["method", "backend"], sort=False):
        zero = group["optimal_error_fro"].astype(float) == 0
        quality = np.where(zero, group["rel_error_fro"].astype(float), group["error_ratio_fro"].astype(float))
        limit = np.where(zero, zero_optimum_tol, max_ratio)
        ok = group[quality <= limit]
        best = ok.loc[ok["median_s"].idxmin()] if len(ok) else group.iloc[int(np.nanargmin(quality / limit))]
        rows.append({
            "method": method, "backend": backend,
            "oversampling": best["oversampling"], "power_iterations": best["power_iterations"],
            "median_s": best["median_s"], "error_ratio_fro": best["error_ratio_fro"],
            "rel_error_fro": best["rel_error_fro"], "meets": bool(len(ok)), "configs": len(group),
        })
    out = pd.DataFrame(rows, columns=["method", "backend", "oversampling", "power_iterations", "median_s",
                                      "error_ratio_fro", "rel_error_fro", "meets", "configs"])
    ref = out[(out["method"] == "torch_svd_lowrank") & (out["backend"] == "torch-cpu") & out["meets"]]
    out["vs_torch_svd_lowrank"] = out["median_s"] / float(ref["median_s"].iloc[0]) if len(ref) else np.nan
    out["_order"] = out["method"].map({m: i for i, m in enumerate(METHOD_ORDER)})
    return out.sort_values(["_order", "backend"]).drop(columns="_order").reset_index(drop=True)


def time_accuracy_cells(data) -> list[dict]:
    """The (d, k, rank, spectrum, dtype) cells present in the data, for :func:`plot_time_accuracy`."""
    table = factorization_table(data)
    if table.empty:
        return []
    cells = table[list(CELL_KEYS)].drop_duplicates().sort_values(list(CELL_KEYS))
    return [{k: (int(v) if k in ("d", "k", "rank") else v) for k, v in row.items()} for row in cells.to_dict("records")]


def plot_time_accuracy(data, cell: dict | None = None, ax=None, max_ratio: float | None = 1.01):
    """Median time against excess error (error / optimum − 1) for one matrix and rank.

    One curve per method and backend: the randomized methods' points are their (p, q)
    knobs, labelled ``p/q`` and joined along their lower envelope (the best error
    reachable within a given time); the exact SVD is a marker per backend. Both axes are
    logarithmic; excess errors below :data:`EXCESS_FLOOR` (round-off) are drawn at it.
    Where the optimum is 0 (exact-rank), the y axis is the relative error instead.
    Horizontal bars span the timing's interquartile range.

    Parameters
    ----------
    data : benchmark list or frame
    cell : dict, optional
        ``d, k, rank, spectrum, dtype``; default :data:`TARGET_CELL`.
    ax : matplotlib Axes, optional
        Drawn into when given; otherwise a new Figure is made (no pyplot state).
    max_ratio : float or None
        Draws a dotted line at this ratio (the target, 1.01: excess 0.01); None for none.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    cell = {**TARGET_CELL, **(cell or {})}
    table = factorization_table(data)
    for key in CELL_KEYS:
        table = table[table[key] == cell[key]]
    if ax is None:
        fig = Figure(figsize=(7.5, 5.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    exact_rank = bool(len(table)) and table["error_ratio_fro"].isna().all()
    table = table.copy()
    if exact_rank:
        table["_y"] = table["rel_error_fro"].astype(float)
    else:
        table["_y"] = np.maximum(table["error_ratio_fro"].astype(float) - 1.0, EXCESS_FLOOR)
    colours = {"randomized": "C0", "torch_svd_lowrank": "C1", "sklearn_randomized_svd": "C2", "svd": "C3"}
    styles = {"numpy": "-", "torch-cpu": "--", "torch-cuda": ":"}
    rank_of = {m: i for i, m in enumerate(METHOD_ORDER)}
    groups = sorted(table.groupby(["method", "backend"]), key=lambda kv: (rank_of.get(kv[0][0], 99), kv[0][1]))
    for (method, backend), group in groups:
        label = f"{METHOD_LABELS.get(method, method)} ({backend})"
        group = group.sort_values("median_s")
        x, y = group["median_s"].to_numpy(float), group["_y"].to_numpy(float)
        q1 = pd.to_numeric(group["q1_s"], errors="coerce").to_numpy(float)
        q3 = pd.to_numeric(group["q3_s"], errors="coerce").to_numpy(float)
        err = np.vstack([np.nan_to_num(x - q1), np.nan_to_num(q3 - x)]).clip(min=0)
        colour = colours.get(method, "C7")
        if method == "svd":
            marker = {"numpy": "*", "torch-cpu": "P", "torch-cuda": "X"}.get(backend, "*")
            ax.errorbar(x, y, xerr=err, fmt=marker, ms=11, color=colour, label=label)
            continue
        envelope = np.minimum.accumulate(y)
        ax.errorbar(x, y, xerr=err, fmt="o", ms=4, color=colour, alpha=0.7, linestyle="none")
        ax.plot(x, envelope, styles.get(backend, "-"), color=colour, label=label, drawstyle="steps-post")
        for xi, yi, p, q in zip(x, y, group["oversampling"], group["power_iterations"]):
            ax.annotate(f"{int(p)}/{int(q)}", (xi, yi), textcoords="offset points", xytext=(3, 3), fontsize=6, color=colour)
    if max_ratio is not None and not exact_rank:
        ax.axhline(max_ratio - 1, color="0.4", linestyle=":", linewidth=1)
        ax.annotate(f"{max_ratio:g}× optimum", (0, max_ratio - 1), xycoords=("axes fraction", "data"),
                    textcoords="offset points", xytext=(3, 2), fontsize=7, color="0.3")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("median time per factorization (s)")
    ax.set_ylabel("relative Frobenius error (optimum 0)" if exact_rank
                  else f"Frobenius error / Eckart–Young optimum − 1  (floor {EXCESS_FLOOR:g})")
    ax.set_title(f"{cell['d']}×{cell['k']}, r = {cell['rank']}, {cell['spectrum']} spectrum, {cell['dtype']}"
                 + ("  (labels: oversampling p / power iterations q)" if len(table) else "  (no data)"), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    if len(table):
        ax.legend(fontsize=7)
    return fig


# -- LoRA ------------------------------------------------------------------------------------------
def lora_overhead_table(data) -> pd.DataFrame:
    """Unmerged against merged forward, per (backend, dtype, d, k, batch, rank).

    Columns: ``backend, dtype, d, k, batch, rank, merged_s, unmerged_s, overhead,
    paired_overhead, paired_overhead_iqr, flop_overhead, merged_rel_iqr,
    unmerged_rel_iqr, unmerged_output_error``:

    * ``overhead = unmerged_s / merged_s − 1`` from the two cases' medians, which were
      timed seconds apart;
    * ``paired_overhead`` (and its IQR) from interleaved back-to-back pairs timed within
      the unmerged case — the number to quote when the two disagree, since it does not
      see the machine drift between cases (NaN when not measured);
    * ``flop_overhead = r(d + k)/(dk)``, the FLOP model.

    Rows without a merged partner are dropped.
    """
    frame = benchmark_frame(data, "lora")
    columns = ["backend", "dtype", "d", "k", "batch", "rank", "merged_s", "unmerged_s", "overhead", "paired_overhead",
               "paired_overhead_iqr", "flop_overhead", "merged_rel_iqr", "unmerged_rel_iqr", "unmerged_output_error"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    fwd = frame[frame["op"] == "forward"].copy()
    for name in ("paired_overhead", "paired_overhead_iqr"):
        if name not in fwd:
            fwd[name] = np.nan
    keys = [*_runs(frame), "backend", "dtype", "d", "k", "batch"]
    merged = fwd[fwd["variant"] == "merged"][keys + ["median", "rel_iqr"]].rename(
        columns={"median": "merged_s", "rel_iqr": "merged_rel_iqr"})
    unmerged = fwd[fwd["variant"] == "unmerged"][keys + ["rank", "median", "rel_iqr", "flop_overhead", "output_error",
                                                         "paired_overhead", "paired_overhead_iqr"]].rename(
        columns={"median": "unmerged_s", "rel_iqr": "unmerged_rel_iqr", "output_error": "unmerged_output_error"})
    out = unmerged.merge(merged, on=keys, how="inner")
    out["overhead"] = out["unmerged_s"] / out["merged_s"] - 1
    for name in ("paired_overhead", "paired_overhead_iqr"):
        out[name] = pd.to_numeric(out[name], errors="coerce")
    out = out.sort_values(keys + ["rank"]).reset_index(drop=True)
    return out[[*_runs(frame), *columns]]


def drift_table(data) -> pd.DataFrame:
    """Merge → unmerge drift of W₀ and the time of one merge, per (backend, dtype, precision, d, k, rank).

    Columns: ``backend, dtype, precision, d, k, rank, unit_roundoff, drift_max_abs,
    w0_max_abs, drift_rel`` (drift / max|W₀|), ``drift_bound_ratio`` (max elementwise
    |drift| / (u·|W'|), bounded by 2 by rounding analysis), ``within_bound``,
    ``merge_s``, ``merge_gflops``.
    """
    frame = benchmark_frame(data, "lora")
    columns = ["backend", "dtype", "precision", "d", "k", "rank", "unit_roundoff", "drift_max_abs", "w0_max_abs",
               "drift_rel", "drift_bound_ratio", "within_bound", "merge_s", "merge_gflops"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    m = frame[frame["op"] == "merge"].rename(columns={"variant": "precision", "median": "merge_s", "gflops": "merge_gflops"})
    if m.empty:
        return pd.DataFrame(columns=columns)
    m = m.copy()
    for name in columns:
        if name not in m:
            m[name] = np.nan
    m["drift_rel"] = m["drift_max_abs"] / m["w0_max_abs"]
    m["within_bound"] = m["drift_bound_ratio"] <= DRIFT_BOUND
    order = {"float32": 0, "float16": 1, "bfloat16": 2}
    m["_o"] = m["dtype"].map(order).fillna(9)
    m = m.sort_values([*_runs(frame), "backend", "_o", "precision", "d", "k", "rank"]).reset_index(drop=True)
    return m[[*_runs(frame), *columns]]


def plot_lora_overhead(data, backend: str | None = None, ax=None):
    """Measured unmerged overhead against rank, one line per (shape, batch); the FLOP model dashed.

    Plots ``paired_overhead`` where measured (else the overhead between the two cases'
    medians), with its IQR as error bars. Returns a matplotlib Figure (new unless ``ax``
    is given).
    """
    from matplotlib.figure import Figure

    table = lora_overhead_table(data)
    if backend is not None:
        table = table[table["backend"] == backend]
    if ax is None:
        fig = Figure(figsize=(7.0, 4.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for i, ((be, dtype, d, k, n), group) in enumerate(table.groupby(["backend", "dtype", "d", "k", "batch"])):
        group = group.sort_values("rank")
        colour = f"C{i % 10}"
        measured = group["paired_overhead"].fillna(group["overhead"]).astype(float)
        spread = group["paired_overhead_iqr"].fillna(0.0).astype(float) / 2
        ax.errorbar(group["rank"], 100 * measured, yerr=100 * spread, fmt="o-", color=colour, capsize=2,
                    label=f"{be} {dtype} {d}×{k} n={n}")
        ax.plot(group["rank"], 100 * group["flop_overhead"], "--", color=colour, alpha=0.5)
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=1)
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set_xlabel("LoRA rank r")
    ax.set_ylabel("unmerged time / merged time − 1  (%)")
    ax.set_title("Unmerged LoRA overhead (dashed: FLOP model r(d+k)/(dk))", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    if len(table):
        ax.legend(fontsize=6, ncol=2)
    return fig
