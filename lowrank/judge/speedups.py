"""Figures derived from the tidy frame: speedups, break-even ranks, roofline fractions, run ratios.

All functions take the frame of :func:`lowrank.store.load.load` (or any frame
with the same columns) and return new DataFrames; nothing here reads files or plots.

The speedup is the paired one where the run has it (``paired_speedup``: the factored case
timed beside its dense partner in alternating rounds: the geometric mean over processes of each
one's median round ratio, with the interval the file records; :mod:`lowrank.record.pairs`). Files from
before pairing give the unpaired ratio of medians, which is also kept beside the paired one
(``unpaired_speedup``).

Uncertainty of a ratio of medians (an unpaired speedup, or one run's time over another's):
a percentile bootstrap from the raw samples when both sides have them, else the
delta method on the IQRs (standard error of a median ≈ 1.2533·σ/√rounds with
σ ≈ IQR/1.349). Both give a 95% interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lowrank.record import pairs
from lowrank.record.stats import bootstrap_medians, iqr_ratio_interval, ratio_interval
from lowrank.store.load import RunInfo, matvec

# A timing whose IQR exceeds this fraction of its median is noisy (torch.utils.benchmark's warning level).
NOISE_THRESHOLD = 0.10
# Matching dense and factored timings: same run, backend, dtype, shape, batch and cache mode.
CASE_KEY = ["run_id", "backend", "dtype", "d", "k", "batch", "cache"]
# One speedup-vs-rank curve (one break-even rank) per machine, backend, dtype, shape, batch and cache mode.
CURVE_KEY = ["run_id", "fingerprint", "backend", "dtype", "d", "k", "batch", "cache"]
N_BOOT = 200
_Z95 = 1.959964


def shape_label(d, k) -> str:
    """``"4096×1024"``: how shapes are written in tables and plots."""
    return f"{int(d)}×{int(k)}"


# -- ratio of two medians with an interval ----------------------------------------------------
def speedup_interval(num: dict, den: dict, rng: np.random.Generator, n_boot: int = N_BOOT,
                     boot_cache: dict | None = None) -> tuple[float, float, str]:
    """95% interval of ``num.median / den.median``: (low, high, "bootstrap" or "iqr").

    ``num`` and ``den`` are mappings with ``median``, ``iqr``, ``rounds`` and ``samples``
    (an array or None). With samples on both sides the interval is
    :func:`lowrank.record.stats.ratio_interval`'s; ``boot_cache`` (keyed by each mapping's
    ``key``) re-uses the bootstrap medians of a side shared by several ratios, such as one
    dense timing against every rank. Without, the delta method on the IQRs.
    """
    ratio = num["median"] / den["median"]
    s_num, s_den = num.get("samples"), den.get("samples")
    if s_num is not None and s_den is not None and len(s_num) >= 2 and len(s_den) >= 2 and n_boot > 0:
        keys = {id(s_num): num.get("key"), id(s_den): den.get("key")}

        def medians(samples):
            key = keys.get(id(samples))
            if boot_cache is not None and key is not None:
                if key not in boot_cache:
                    boot_cache[key] = bootstrap_medians(samples, n_boot, rng)
                return boot_cache[key]
            return bootstrap_medians(samples, n_boot, rng)

        _, lo, hi = ratio_interval([s_num], [s_den], confidence=0.95, n_boot=n_boot, rng=rng, medians=medians)
        # The figure shown is the stored medians' ratio; hold it as ratio_interval holds its own estimate.
        return float(min(lo, ratio)), float(max(hi, ratio)), "bootstrap"
    _, lo, hi = iqr_ratio_interval(num, den, _Z95)
    if not np.isfinite(lo):
        return math.nan, math.nan, "none"
    return lo, hi, "iqr"


def _side(row, prefix: str, key) -> dict:
    return {"median": row[f"{prefix}median"], "iqr": row[f"{prefix}iqr"], "rounds": row[f"{prefix}rounds"],
            "samples": row[f"{prefix}samples"], "key": key}


# -- speedup ---------------------------------------------------------------------------------
def speedups(frame: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0,
             noise_threshold: float = NOISE_THRESHOLD, runs: list[RunInfo] | None = None) -> pd.DataFrame:
    """Speedup of ``B @ (A @ x)`` over ``W @ x`` for every factored case with a matching dense one.

    Parameters
    ----------
    frame : DataFrame
        Rows of :func:`~lowrank.store.load.load`; only the matvec suite is used.
    n_boot : int
        Bootstrap resamples per timing (0: use the IQR approximation only).
    seed : int
        Seed of the bootstrap, so a report is reproducible.
    noise_threshold : float
        A side is noisy when its IQR/median exceeds this.
    runs : list of RunInfo or None
        The runs' calibrations, to check pairs that carry no stored ``flag`` (files
        written before the suite checked plausibility itself); None: stored flags only.

    Returns
    -------
    DataFrame
        One row per factored case: the :data:`CASE_KEY` columns, ``fingerprint``,
        ``shape``, ``rank``, ``r_star``, ``dense_median``, ``factored_median``
        (seconds), ``speedup`` (the paired speedup, else dense median / factored median),
        ``unpaired_speedup`` = dense median / factored median, ``paired`` (which one
        ``speedup`` is), its 95% interval ``speedup_lo``/``speedup_hi`` and ``uncertainty``
        (how it was obtained: ``paired``, ``bootstrap`` or ``iqr``),
        ``dense_rel_iqr``, ``factored_rel_iqr``, ``noisy``, ``flag`` (why the pair is
        physically implausible, or None: see :mod:`lowrank.record.plausibility`),
        ``process_spread`` (the larger of the two sides' between-process spreads), the
        factored case's errors and bytes and the dense case's
        ``dense_param_bytes``/``dense_peak_bytes``.

    Examples
    --------
    A dense timing of 8 µs against a factored one of 2 µs is a speedup of 4.
    """
    mv = matvec(frame)
    cols = CASE_KEY + ["fingerprint", "variant", "rank", "median", "iqr", "rounds", "samples", "rel_iqr", "break_even_rank",
                       "paired_speedup", "paired_speedup_lo", "paired_speedup_hi", "process_speedups",
                       "rel_error_fro", "optimal_error_fro", "output_error", "param_bytes", "peak_bytes", "gbps",
                       "gflops", "flag", "process_spread", "flops", "bytes_moved"]
    mv = mv[[c for c in cols if c in mv]]
    dense = mv[mv["variant"] == "dense"].drop_duplicates(CASE_KEY)
    fact = mv[mv["variant"] == "factored"]
    out_cols = CASE_KEY + ["fingerprint", "shape", "rank", "r_star", "dense_median", "factored_median", "speedup",
                           "speedup_lo", "speedup_hi", "uncertainty", "paired", "unpaired_speedup", "process_speedups",
                           "dense_rel_iqr", "factored_rel_iqr", "noisy",
                           "flag", "process_spread", "rel_error_fro", "optimal_error_fro", "output_error", "param_bytes", "dense_param_bytes",
                           "peak_bytes", "dense_peak_bytes"]
    if dense.empty or fact.empty:
        return pd.DataFrame(columns=out_cols)
    extra_cols = [c for c in ("flag", "process_spread", "flops", "bytes_moved") if c in dense]
    d_side = dense[CASE_KEY + ["median", "iqr", "rounds", "samples", "rel_iqr", "param_bytes", "peak_bytes"]
                   + extra_cols].copy()
    d_side["dense_row"] = d_side.index
    d_side = d_side.rename(columns={c: f"dense_{c}" for c in d_side.columns if c not in CASE_KEY})
    m = fact.rename(columns={c: f"factored_{c}" for c in ("median", "iqr", "rounds", "samples", "rel_iqr")})
    m = m.merge(d_side, on=CASE_KEY, how="inner", validate="many_to_one")
    rng = np.random.default_rng(seed)
    cache: dict = {}
    lo, hi, how = [], [], []
    paired = _paired_rows(m)
    for i, r in enumerate(m.to_dict("records")):
        if paired.iloc[i]:  # the file's own interval is used: no bootstrap of the medians
            lo.append(math.nan)
            hi.append(math.nan)
            how.append("paired")
            continue
        a, b, method = speedup_interval(_side(r, "dense_", ("d", r["dense_dense_row"])), _side(r, "factored_", ("f", i)),
                                      rng, n_boot, cache)
        lo.append(a)
        hi.append(b)
        how.append(method)
    m["unpaired_speedup"] = m["dense_median"] / m["factored_median"]
    m["paired"] = paired
    m["speedup"] = np.where(paired, m.get("paired_speedup"), m["unpaired_speedup"]).astype(float)
    m["speedup_lo"] = np.where(paired, m.get("paired_speedup_lo"), lo).astype(float)
    m["speedup_hi"] = np.where(paired, m.get("paired_speedup_hi"), hi).astype(float)
    m["uncertainty"] = np.where(paired, "paired", np.asarray(how, dtype=object))
    m["noisy"] = (m["dense_rel_iqr"] > noise_threshold) | (m["factored_rel_iqr"] > noise_threshold)
    m["flag"] = _pair_flags(m, runs)
    m["process_spread"] = (m[["process_spread", "dense_process_spread"]].max(axis=1, skipna=True)
                           if "dense_process_spread" in m and "process_spread" in m else np.nan)
    m["shape"] = [shape_label(d, k) for d, k in zip(m["d"], m["k"])]
    m["r_star"] = m["d"] * m["k"] / (m["d"] + m["k"])
    m["rank"] = m["rank"].astype("int64")
    return m[[c for c in out_cols if c in m]].reset_index(drop=True)


def _paired_rows(m: pd.DataFrame) -> pd.Series:
    """Which rows carry a paired speedup and its interval (:func:`lowrank.record.pairs.is_paired`)."""
    cols = ["paired_speedup", "paired_speedup_lo", "paired_speedup_hi"]
    if not all(c in m for c in cols):
        return pd.Series(False, index=m.index)
    return pd.Series([all(pairs.is_paired({"paired_speedup": v}) for v in values)
                      for values in m[cols].itertuples(index=False)], index=m.index, dtype=bool)


def _pair_flags(m: pd.DataFrame, runs: list[RunInfo] | None) -> list:
    """Per pair: the stored flag of either side, else (with a calibration) the plausibility check."""
    from lowrank.record import plausibility

    calib = {r.run_id: r.calibration for r in runs or []}
    out = []
    for r in m.to_dict("records"):
        stored = [f for f in (r.get("flag"), r.get("dense_flag")) if isinstance(f, str) and f]
        if stored:
            out.append(stored[0])
            continue
        cal = calib.get(r.get("run_id"))
        flag = None
        if cal and all(isinstance(r.get(c), (int, float)) for c in ("flops", "bytes_moved", "dense_flops", "dense_bytes_moved")):
            common = {"backend": r["backend"], "cache": r["cache"], "calibration": cal}
            flag = (plausibility.roof_flag(dtype=r["dtype"], median_s=r["dense_median"], flops=r["dense_flops"],
                                           bytes_moved=r["dense_bytes_moved"], **common)
                    or plausibility.roof_flag(dtype=r["dtype"], median_s=r["factored_median"], flops=r["flops"],
                                              bytes_moved=r["bytes_moved"], **common)
                    or plausibility.speedup_flag(r["dense_median"] / r["factored_median"], dense_flops=r["dense_flops"],
                                                 dense_bytes=r["dense_bytes_moved"], factored_flops=r["flops"],
                                                 factored_bytes=r["bytes_moved"], **common))
        out.append(flag)
    return out


def plausible(sp: pd.DataFrame) -> pd.DataFrame:
    """The speedup rows without a plausibility flag: what findings and figures may rest on."""
    if "flag" not in sp:
        return sp
    return sp[sp["flag"].isna()]


# -- break-even rank --------------------------------------------------------------------------
STATUS_CROSSING = "crossing"
STATUS_FASTER = "faster at every rank"
STATUS_SLOWER = "slower at every rank"
STATUS_UPWARD = "no downward crossing"


def crossing_rank(ranks, values) -> tuple[float, str, int]:
    """Where ``values`` (speedups over ascending ``ranks``) first fall from above 1 to 1 or below.

    Interpolated linearly in log(rank) and log(speedup), the scale on which a
    speedup ∝ 1/rank is a straight line. Returns ``(rank, status, crossings)``:
    rank is NaN unless status is ``"crossing"``; crossings counts every change
    between "above 1" and "not above 1" (more than one: a noisy or non-monotonic curve).

    >>> crossing_rank([64, 256], [2.0, 0.5])[0]   # halfway in log-rank between 64 and 256
    128.0
    >>> crossing_rank([1, 4], [3.0, 2.0])[1]
    'faster at every rank'
    """
    r = np.asarray(ranks, dtype=float)
    s = np.asarray(values, dtype=float)
    keep = np.isfinite(r) & np.isfinite(s) & (r > 0) & (s > 0)
    r, s = r[keep], s[keep]
    order = np.argsort(r, kind="stable")
    r, s = r[order], s[order]
    if len(r) == 0:
        return math.nan, STATUS_SLOWER, 0
    above = s > 1
    crossings = int(np.count_nonzero(above[1:] != above[:-1]))
    for i in range(len(r) - 1):
        if above[i] and not above[i + 1]:
            y1, y2 = math.log(s[i]), math.log(s[i + 1])
            t = y1 / (y1 - y2)
            rank = math.exp(math.log(r[i]) + t * (math.log(r[i + 1]) - math.log(r[i])))
            return float(round(rank, 9)), STATUS_CROSSING, crossings
    if above.all():
        return math.nan, STATUS_FASTER, crossings
    if not above.any():
        return math.nan, STATUS_SLOWER, crossings
    return math.nan, STATUS_UPWARD, crossings


def break_even_range(ranks, lows, highs) -> tuple[float, float] | None:
    """Where the break-even rank may lie when some rank's speedup interval holds 1, else None.

    From where the interval's lower end falls to 1 or below (the curve may cross from there on) to
    where its upper end does (it has crossed by then): ``(a, b)``, interpolated as
    :func:`crossing_rank` interpolates. ``a`` is 0 when the lower end is at or below 1 at the
    smallest rank (it may be slower at every rank), ``b`` infinite when the upper end stays above 1
    up to the largest rank (it may be faster at every rank).

    >>> break_even_range([64, 256, 1024], [3.0, 0.9, 0.5], [3.5, 1.2, 0.7])   # 256's interval holds 1
    (226.753118023, 409.16026262)
    """
    r = np.asarray(ranks, dtype=float)
    lo = np.asarray(lows, dtype=float)
    hi = np.asarray(highs, dtype=float)
    keep = np.isfinite(r) & np.isfinite(lo) & np.isfinite(hi) & (r > 0) & (lo > 0) & (hi > 0)
    r, lo, hi = r[keep], lo[keep], hi[keep]
    if not ((lo <= 1) & (hi >= 1)).any():
        return None
    order = np.argsort(r, kind="stable")
    r, lo, hi = r[order], lo[order], hi[order]

    def first_fall(values) -> float:
        if values[0] <= 1:
            return 0.0
        measured, status, _ = crossing_rank(r, values)
        return measured if status == STATUS_CROSSING else math.inf

    return first_fall(lo), first_fall(hi)


def describe_break_even(measured: float, status: str, min_rank, max_rank, r_star: float, crossings: int = 1,
                        between: tuple[float, float] | None = None,
                        bounds: tuple[float, float] | None = None) -> str:
    """The break-even cell as a reader sees it: ``"r≈1900 (0.93× r*; between 1870 and 1950)"`` (a crossing
    and, from ``bounds``, where the ends of the speedup's interval cross), ``"≈ r between 1500 and 2048
    (…)"`` where the speedup's interval holds 1 (``between``, :func:`break_even_range`), or ``"none in
    range: …"``."""
    if between is not None:
        a, b = between
        left = f"below {int(min_rank)}" if a <= 0 else format_rank(a)
        right = f"beyond {int(max_rank)}" if not math.isfinite(b) else format_rank(b)
        if a <= 0 and not math.isfinite(b):
            span = "anywhere in the range"
        elif a <= 0:
            span = f"up to {b / r_star:.2f}× r*"
        elif not math.isfinite(b):
            span = f"from {a / r_star:.2f}× r*"
        else:
            span = f"{a / r_star:.2f}–{b / r_star:.2f}× r*"
        return f"≈ r between {left} and {right} ({span}; the speedup's interval holds 1 there)"
    if status == STATUS_CROSSING:
        note = f"; crosses 1 {crossings} times, first shown" if crossings > 1 else ""
        if bounds is not None and all(math.isfinite(b) for b in bounds) and bounds[0] < bounds[1]:
            note = f"; between {format_rank(bounds[0])} and {format_rank(bounds[1])}" + note
        return f"r≈{format_rank(measured)} ({measured / r_star:.2f}× r*{note})"
    if status == STATUS_FASTER:
        return f"none in range: faster at every rank ≤ {int(max_rank)}"
    if status == STATUS_SLOWER:
        return f"none in range: slower at every rank ≥ {int(min_rank)}"
    return "none in range: slower at low ranks, faster at high ones"


def verdict_span(rec: dict) -> tuple[float, float]:
    """Where one break-even row (:func:`break_even`) puts its curve's break-even rank, as ranks ``(a, b)``:
    a range where the interval holds 1, a crossing between the ranks where its interval's ends cross,
    "faster at every rank" beyond the top rank, "slower" below the first; NaN for a curve that is
    slower at low ranks and faster at high ones."""
    if rec.get("uncertain"):
        return float(rec["range_lo"]), float(rec["range_hi"])
    if rec["status"] == STATUS_CROSSING:
        lo, hi = rec["measured_lo"], rec["measured_hi"]
        if math.isfinite(lo) and math.isfinite(hi):
            return float(min(lo, rec["measured"])), float(max(hi, rec["measured"]))
        return float(rec["measured"]), float(rec["measured"])
    if rec["status"] == STATUS_FASTER:
        return float(rec["max_rank"]), math.inf
    if rec["status"] == STATUS_SLOWER:
        return 0.0, float(rec["min_rank"])
    return math.nan, math.nan


def verdicts_agree(a: dict, b: dict) -> bool:
    """Whether two runs' break-even rows of one curve agree: their spans (:func:`verdict_span`) meet;
    two sure verdicts of the same kind other than a crossing ("faster at every rank", ...) agree."""
    if not a.get("uncertain") and not b.get("uncertain") and a["status"] == b["status"] != STATUS_CROSSING:
        return True
    (a0, a1), (b0, b1) = verdict_span(a), verdict_span(b)
    if any(math.isnan(v) for v in (a0, a1, b0, b1)):
        return False
    return a0 <= b1 and b0 <= a1


def format_rank(r: float) -> str:
    """A rank as a reader wants it: one decimal below 10 (3.4), else the nearest integer (47, 1996, 819)."""
    if r is None or not np.isfinite(r):
        return "–"
    return f"{r:.1f}" if r < 10 else f"{int(round(r))}"


def _loglog_interp(x0: float, xs, ys) -> float:
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    ok = (xs > 0) & (ys > 0) & np.isfinite(ys)
    if not np.isfinite(x0) or ok.sum() == 0:
        return math.nan
    xs, ys = xs[ok], ys[ok]
    order = np.argsort(xs)
    return float(np.exp(np.interp(math.log(x0), np.log(xs[order]), np.log(ys[order]))))


def break_even(sp: pd.DataFrame) -> pd.DataFrame:
    """Measured break-even rank per curve (:data:`CURVE_KEY`), beside the theoretical r* = d·k/(d+k).

    ``measured`` is :func:`crossing_rank` of the speedups, ``measured_lo`` and
    ``measured_hi`` the same for the lower and upper ends of their intervals
    (NaN where those do not cross): the crossing's own uncertainty, which its ``text`` states.
    ``status`` says why ``measured`` is NaN;
    ``uncertain`` is True where some rank's speedup interval holds 1, and then
    ``range_lo``/``range_hi`` (:func:`break_even_range`) bound the break-even rank and the
    readable cell ``text`` says ``"≈ r between a and b"`` instead of choosing a side; else
    ``text`` is the crossing (``"none in range: …"`` when it never crosses).
    ``error_at_break_even`` is the relative Frobenius error interpolated at the
    measured rank; ``best_speedup`` and ``best_rank`` the fastest point of the curve.
    Points with a plausibility ``flag`` are left out (counted in ``flagged_points``).
    """
    cols = CURVE_KEY + ["shape", "r_star", "measured", "measured_lo", "measured_hi", "ratio", "status", "text",
                        "uncertain", "range_lo", "range_hi",
                        "crossings", "min_rank", "max_rank", "n_ranks", "error_at_break_even", "best_speedup",
                        "best_rank", "noisy_points", "flagged_points"]
    flagged = (sp.assign(_f=sp["flag"].notna()).groupby(CURVE_KEY)["_f"].sum().to_dict()
               if "flag" in sp and len(sp) else {})
    sp = plausible(sp)  # a physically impossible timing never moves a break-even rank
    if sp.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for key, g in sp.groupby(CURVE_KEY, sort=True):
        g = g.sort_values("rank")
        measured, status, crossings = crossing_rank(g["rank"], g["speedup"])
        lo = crossing_rank(g["rank"], g["speedup_lo"])[0]
        hi = crossing_rank(g["rank"], g["speedup_hi"])[0]
        r_star = float(g["r_star"].iloc[0])
        between = break_even_range(g["rank"], g["speedup_lo"], g["speedup_hi"])
        best = g.loc[g["speedup"].idxmax()]
        rows.append({
            **dict(zip(CURVE_KEY, key)),
            "shape": g["shape"].iloc[0],
            "r_star": r_star,
            "measured": measured,
            "measured_lo": lo,
            "measured_hi": hi,
            "ratio": measured / r_star,
            "status": status,
            "text": describe_break_even(measured, status, g["rank"].min(), g["rank"].max(), r_star, crossings,
                                        between, (lo, hi)),
            "uncertain": between is not None,
            "range_lo": between[0] if between else math.nan,
            "range_hi": between[1] if between else math.nan,
            "crossings": crossings,
            "min_rank": int(g["rank"].min()),
            "max_rank": int(g["rank"].max()),
            "n_ranks": len(g),
            "error_at_break_even": _loglog_interp(measured, g["rank"], g["rel_error_fro"]),
            "best_speedup": float(best["speedup"]),
            "best_rank": int(best["rank"]),
            "noisy_points": int(g["noisy"].sum()),
            "flagged_points": int(flagged.get(key if isinstance(key, tuple) else (key,), 0)),
        })
    return pd.DataFrame(rows, columns=cols)


# -- roofline ----------------------------------------------------------------------------------
def roofline(frame: pd.DataFrame, runs: list[RunInfo]) -> pd.DataFrame:
    """The matvec rows with their place under this machine's calibrated roofline.

    Adds ``roof_gbps`` (calibrated DRAM bandwidth, the best of STREAM copy, add and dot),
    ``roof_gflops`` (calibrated matmul peak of the backend's device in that dtype: the best library's),
    ``arithmetic_intensity`` (FLOP/byte), ``achieved_gbps``, ``achieved_gflops``,
    ``roof_seconds`` = max(bytes/bandwidth, flops/peak), ``bound``
    (``"memory"``/``"compute"``) and ``roofline_fraction_calc`` = roof_seconds / median
    (above 1: faster than DRAM allows, i.e. served from cache). NaN where the run has
    no calibration.
    """
    mv = matvec(frame).copy()
    added = ["roof_gbps", "roof_gflops", "arithmetic_intensity", "achieved_gbps", "achieved_gflops", "roof_seconds",
             "bound", "roofline_fraction_calc"]
    if mv.empty:
        return mv.reindex(columns=list(mv.columns) + [c for c in added if c not in mv])
    by_id = {r.run_id: r for r in runs}
    bw, peak = [], []
    for run_id, backend, dtype in zip(mv["run_id"], mv["backend"], mv["dtype"]):
        info = by_id.get(run_id)
        b = info.bandwidth_gbps(backend) if info else None
        p = info.peak_gflops(backend, dtype) if info else None
        bw.append(np.nan if b is None else b)
        peak.append(np.nan if p is None else p)
    mv["roof_gbps"] = np.asarray(bw, float)
    mv["roof_gflops"] = np.asarray(peak, float)
    flops = mv["flops"].astype(float)
    nbytes = mv["bytes_moved"].astype(float)
    mv["arithmetic_intensity"] = flops / nbytes
    mv["achieved_gbps"] = nbytes / mv["median"] / 1e9
    mv["achieved_gflops"] = flops / mv["median"] / 1e9
    t_mem = nbytes / (mv["roof_gbps"] * 1e9)
    t_cmp = flops / (mv["roof_gflops"] * 1e9)
    mv["roof_seconds"] = np.fmax(t_mem, t_cmp)
    mv["bound"] = np.where(t_cmp > t_mem, "compute", "memory")
    mv["roofline_fraction_calc"] = mv["roof_seconds"] / mv["median"]
    return mv


# -- run against run ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """Run B against run A: one row per benchmark present in both, and what only one of them has."""

    table: pd.DataFrame
    run_a: str
    run_b: str
    only_a: int
    only_b: int
    same_machine: bool
    threshold: float  # the minimum effect outside the per-case overrides (for counts: the tolerance)
    metric: str = "time"  # "instructions": counted runs, ratios of instructions per call (exact, no interval)
    warnings: tuple[str, ...] = ()  # what differs between the two runs' counting settings

    def counts(self) -> dict:
        return self.table["status"].value_counts().to_dict() if len(self.table) else {}


STATUS_REGRESSION = "regression"
STATUS_IMPROVEMENT = "improvement"
STATUS_NOISE = "within noise"
STATUS_SAME = "unchanged"


def time_ratios(frame: pd.DataFrame, run_a: str, run_b: str, threshold: float | None = None,
                 n_boot: int = N_BOOT, seed: int = 0, config=None) -> Comparison:
    """Time ratio B/A per benchmark (matched on pytest's ``fullname``), judged as the gate judges it.

    ``status`` comes from :func:`lowrank.judge.gate.time_finding`, the gate's own test
    of an absolute time, with the thresholds of ``config`` (a ``GateConfig``: default
    10% minimum effect at α = 0.01, per-case overrides by case id) or, when given,
    ``threshold`` for every case: ``"regression"``/``"improvement"`` when the change
    exceeds the minimum effect and is significant, ``"within noise"`` when it exceeds
    the minimum effect but is not significant, else ``"unchanged"``. So ``lowrank-bench
    compare A B`` and ``lowrank-bench gate B --baseline A`` agree on every time they both
    judge. ``ratio_lo``/``ratio_hi`` are a 95% bootstrap interval, for the figure.
    ``same_machine`` compares the fingerprints: across machines a ratio measures the
    hardware, not the code.
    """
    from dataclasses import replace

    from lowrank.judge import gate

    cfg = config if config is not None else gate.GateConfig()
    if threshold is not None:  # a flag wins over every pattern override, as in the gate
        cfg = replace(cfg, overrides=(*cfg.overrides, gate.Override("*", time_min_effect=threshold)))
    cfg = gate.validate_config(cfg)
    keep = ["fullname", "param_id", "name", "suite", "variant", "backend", "dtype", "d", "k", "rank", "batch", "cache",
            "median", "iqr", "rounds", "samples", "rel_iqr", "fingerprint"]
    a = frame[frame["run_id"] == run_a]
    b = frame[frame["run_id"] == run_b]
    a = a[[c for c in keep if c in a]].drop_duplicates("fullname")
    b = b[[c for c in keep if c in b]].drop_duplicates("fullname")
    stat = ["median", "iqr", "rounds", "samples", "rel_iqr", "fingerprint"]
    m = a.merge(b[["fullname"] + stat], on="fullname", suffixes=("_a", "_b"))
    rng = np.random.default_rng(seed)
    lo, hi, how, status, effect = [], [], [], [], []
    for r in m.to_dict("records"):
        side_a, side_b = _strip(r, "_a"), _strip(r, "_b")
        x, y, method = speedup_interval(_side(side_b, "", None), _side(side_a, "", None), rng, n_boot)
        lo.append(x)
        hi.append(y)
        how.append(method)
        case = case_id(r)
        case_cfg, _ = cfg.for_case(case)
        verdict = gate.time_finding(case, _bench(side_a), _bench(side_b), case_cfg).status
        ratio = side_b["median"] / side_a["median"]
        beyond = any(gate.beyond_min_effect(ratio, case_cfg.time_min_effect))
        status.append(verdict if verdict != STATUS_SAME or not beyond else STATUS_NOISE)
        effect.append(case_cfg.time_min_effect)
    m["ratio"] = m["median_b"] / m["median_a"]
    m["ratio_lo"], m["ratio_hi"], m["uncertainty"] = lo, hi, how
    m["noisy"] = (m["rel_iqr_a"] > NOISE_THRESHOLD) | (m["rel_iqr_b"] > NOISE_THRESHOLD)
    m["status"] = np.array(status, dtype=object)
    m["min_effect"] = effect
    if "d" in m and len(m):
        m["shape"] = [shape_label(d, k) if pd.notna(d) and pd.notna(k) else "" for d, k in zip(m["d"], m["k"])]
    fa = set(a["fingerprint"].dropna()) if "fingerprint" in a else set()
    fb = set(b["fingerprint"].dropna()) if "fingerprint" in b else set()
    m = m.drop(columns=["samples_a", "samples_b"])
    return Comparison(table=m.reset_index(drop=True), run_a=run_a, run_b=run_b,
                      only_a=int((~a["fullname"].isin(b["fullname"])).sum()),
                      only_b=int((~b["fullname"].isin(a["fullname"])).sum()),
                      same_machine=bool(fa) and fa == fb, threshold=cfg.time_min_effect if threshold is None else threshold)


def case_id(record: dict) -> str:
    """The id the gate knows a case by (pytest's parameter id), else its name."""
    for key in ("param_id", "name", "fullname"):
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _bench(side: dict) -> dict:
    """One side of a merged row as the benchmark record the gate's judgement reads."""
    samples = side.get("samples")
    return {"stats": {"median": side["median"], "iqr": side.get("iqr"), "rounds": side.get("rounds"),
                      "data": samples if samples is not None and not (isinstance(samples, float) and math.isnan(samples))
                      else None}}


def _strip(record: dict, suffix: str) -> dict:
    return {k[: -len(suffix)]: v for k, v in record.items() if k.endswith(suffix)}


def geometric_mean(values) -> float:
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.exp(np.log(v).mean())) if len(v) else math.nan
