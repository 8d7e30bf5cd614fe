"""Every estimator, interval and test of the project, in one module.

Timing samples are skewed and heavy-tailed, so everything here is rank- or median-based
(the Student t interval is of log ratios, one per round of an A/B run). The record layer
holds it because the benchmark suite (which may import only the record) computes the
paired speedup it writes, and every reader (report, ``compare``, ``gate``, ``ab``,
``history``) imports the record.

What is here, and who reads it:

* :func:`paired_bootstrap` / :func:`paired_summary`: a paired speedup from each process's
  round ratios (the median of every process's ratios, pooled: the merge rule of
  :mod:`lowrank.record.merging`) and its two-level bootstrap: processes resampled, then each
  one's rounds. The record stores it
  (:mod:`lowrank.record.pairs`), the gate compares two runs' with
  :func:`paired_ratio_interval`.
* :func:`bootstrap_medians` / :func:`ratio_interval`: a ratio of medians of raw sample sets
  (an unpaired speedup, a change of time between runs).
* :func:`iqr_ratio_interval` / :func:`median_relative_se`: the same from the IQR and the
  round count alone, for files that kept no raw samples (the delta method).
* :func:`mann_whitney_greater`: asv's rank test on raw samples.
* :func:`t_interval`: the Student t interval of mean log ratios (``lowrank-bench ab``).

Every bootstrap interval here is a percentile interval that contains its estimate
(:func:`percentile_interval`): the bootstrap distribution of a median is discrete, and with
few rounds its quantiles can both land on one side of the estimate. Widening to the estimate
is conservative and never changes a verdict: a verdict needs the estimate itself beyond the
minimum effect on the side of 1 that the interval excludes, and the widened end then stays on
that side of 1.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

N_BOOT = 1000
SEED = 0
# Bootstrap resamples at most this many samples per set: the median's spread is
# what matters and it is well estimated from a few hundred values; this keeps a
# gate over hundreds of cases within seconds.
MAX_BOOTSTRAP_SAMPLES = 400


def _as_samples(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    a = a[np.isfinite(a)]
    if a.size == 0:
        raise ValueError("no finite samples")
    return a


def _positive(ratios) -> np.ndarray:
    a = np.asarray(ratios if ratios is not None else [], dtype=np.float64).ravel()
    return a[np.isfinite(a) & (a > 0)]


def percentile_interval(boot, estimate: float, confidence: float) -> tuple[float, float]:
    """The two-sided percentile interval of the bootstrap replicates ``boot``, widened to hold
    ``estimate`` (see the module's note on why this is conservative and verdict-neutral)."""
    tail = (1.0 - confidence) / 2.0
    low, high = (float(v) for v in np.quantile(np.asarray(boot), [tail, 1.0 - tail]))
    return min(low, estimate), max(high, estimate)


# -- paired speedups: processes first, then rounds -------------------------------------------
def paired_sets(ratios_by_process) -> list[np.ndarray]:
    """Each process's finite positive round ratios; processes with none are left out."""
    sets = [_positive(r) for r in ratios_by_process or []]
    return [s for s in sets if s.size]


def paired_estimate(sets) -> float:
    """The paired speedup: the median of the round ratios of every process, pooled."""
    return float(np.median(np.concatenate(sets)))


def paired_bootstrap(sets, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` two-level bootstrap replicates of :func:`paired_estimate`.

    Each replicate draws as many processes as there are, with replacement, gives each drawn
    process a resample of its own rounds, and takes the median of them all, so the replicates
    spread as far as the processes disagree, not only as far as rounds scatter inside one.
    """
    width = max(s.size for s in sets)
    # Level 2 first: n_boot resamples of each process's rounds, padded with NaN to one width.
    resampled = np.full((len(sets), n_boot, width), np.nan)
    for i, s in enumerate(sets):
        resampled[i, :, :s.size] = s[rng.integers(0, s.size, size=(n_boot, s.size))]
    # Level 1: draw processes with replacement, each with one of its resamples.
    picks = rng.integers(0, len(sets), size=(n_boot, len(sets)))
    cols = rng.integers(0, n_boot, size=(n_boot, len(sets)))
    return np.nanmedian(resampled[picks, cols].reshape(n_boot, -1), axis=1)


def paired_summary(ratios_by_process, confidence: float = 0.95, n_boot: int = N_BOOT,
                   seed: int = SEED) -> tuple[list[np.ndarray], float, float, float] | None:
    """``(sets, estimate, low, high)`` of one case's paired speedup, or None without a ratio.

    >>> _, est, lo, hi = paired_summary([[2.0, 2.2, 1.8], [2.1, 2.0, 2.3]])
    >>> round(est, 4), lo <= est <= hi
    (2.05, True)
    """
    sets = paired_sets(ratios_by_process)
    if not sets:
        return None
    point = paired_estimate(sets)
    low, high = percentile_interval(paired_bootstrap(sets, n_boot, np.random.default_rng(seed)), point, confidence)
    return sets, point, low, high


def paired_ratio_interval(base_by_process, cur_by_process, confidence: float, n_boot: int = N_BOOT,
                          seed: int = SEED) -> tuple[float, float, float] | None:
    """The ratio of two runs' paired speedups (current / baseline) and its interval.

    Each run's speedup is resampled by :func:`paired_bootstrap` (processes, then rounds), the
    two independently, so the interval is as wide as the runs' processes disagree. None when
    either run has fewer than two ratios in all: one ratio resamples to itself, an interval of
    width zero that would call any change significant.
    """
    base, cur = paired_sets(base_by_process), paired_sets(cur_by_process)
    if not base or not cur or min(sum(len(p) for p in side) for side in (base, cur)) < 2:
        return None
    rng = np.random.default_rng(seed)
    boot = paired_bootstrap(cur, n_boot, rng) / paired_bootstrap(base, n_boot, rng)
    ratio = paired_estimate(cur) / paired_estimate(base)
    low, high = percentile_interval(boot, ratio, confidence)
    return ratio, low, high


def stored_ratio_interval(base: tuple[float, float, float], cur: tuple[float, float, float],
                          confidence: float, stored_confidence: float = 0.95) -> tuple[float, float, float]:
    """The ratio of two speedups from their stored ``(estimate, low, high)`` intervals alone.

    For files that kept each run's interval but not its round ratios: each interval's log
    half-width is read as ``z(stored_confidence)`` standard errors, the two are added in
    quadrature and rescaled to ``confidence``.
    """
    z_in = NormalDist().inv_cdf(0.5 + stored_confidence / 2)
    z_out = NormalDist().inv_cdf(0.5 + confidence / 2)
    se = math.hypot(*((math.log(hi) - math.log(lo)) / 2 / z_in for _, lo, hi in (base, cur)))
    ratio = cur[0] / base[0]
    return ratio, ratio * math.exp(-z_out * se), ratio * math.exp(z_out * se)


# -- ratios of medians of raw samples ----------------------------------------------------------
def bootstrap_medians(samples, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` bootstrap replicates of the median of ``samples``."""
    a = _as_samples(samples)
    if a.size > MAX_BOOTSTRAP_SAMPLES:
        # An even thinning keeps the shape of the distribution (samples are in time order).
        a = np.sort(a)[np.linspace(0, a.size - 1, MAX_BOOTSTRAP_SAMPLES).round().astype(int)]
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    return np.median(a[idx], axis=1)


def ratio_interval(numerators, denominators, *, confidence: float = 0.99, n_boot: int = N_BOOT, seed: int = SEED,
                   rng: np.random.Generator | None = None, medians=None):
    """Point estimate and bootstrap percentile interval of a ratio of medians.

    ``numerators`` and ``denominators`` are sequences of sample sets; the ratio is
    Π median(numerator) / Π median(denominator), e.g. a speedup (dense/factored) or
    a change of speedup between two runs ((dense₁/factored₁) / (dense₀/factored₀)).
    The gate asks for 1 − α; the report's speedups and run ratios for 95%.
    ``rng`` (default: one seeded with ``seed``) draws the resamples in the order of the
    sets; ``medians(samples)`` may replace :func:`bootstrap_medians` for a caller that
    shares one sample set between several ratios (a dense timing against every rank).
    Returns ``(estimate, low, high)``, the interval holding the estimate.
    """
    rng = np.random.default_rng(seed) if rng is None else rng
    draw = medians if medians is not None else (lambda samples: bootstrap_medians(samples, n_boot, rng))
    point = 1.0
    boot = np.ones(n_boot)
    for s in numerators:
        point *= float(np.median(_as_samples(s)))
        boot = boot * draw(s)
    for s in denominators:
        point /= float(np.median(_as_samples(s)))
        boot = boot / draw(s)
    low, high = percentile_interval(boot, point, confidence)
    return point, low, high


# -- without raw samples: the IQR ------------------------------------------------------------
def median_relative_se(median, iqr, rounds) -> float:
    """Relative standard error of a median from its IQR and sample count (normal approximation).

    SE(median) ≈ 1.2533·σ/√n with σ ≈ IQR/1.349; NaN when the inputs cannot give one.
    Used where a result file kept no raw samples.
    """
    if not (median and median > 0) or iqr is None or not np.isfinite(iqr) or not rounds or rounds < 2:
        return math.nan
    return 1.2533 * (iqr / 1.349) / math.sqrt(rounds) / median


def iqr_ratio_interval(num: dict, den: dict, z: float) -> tuple[float, float, float]:
    """``num.median / den.median`` and ``ratio·exp(∓z·se)`` with the relative standard errors of the
    two medians (:func:`median_relative_se` from ``median``, ``iqr``, ``rounds``) added in
    quadrature; the interval is NaN where either side cannot give one."""
    ratio = num["median"] / den["median"]
    rel = math.hypot(median_relative_se(num["median"], num.get("iqr"), num.get("rounds")),
                     median_relative_se(den["median"], den.get("iqr"), den.get("rounds")))
    if not math.isfinite(rel):
        return ratio, math.nan, math.nan
    return ratio, ratio * math.exp(-z * rel), ratio * math.exp(z * rel)


# -- tests -----------------------------------------------------------------------------------------
def mann_whitney_greater(current, baseline) -> float:
    """One-sided Mann–Whitney U p-value for "current samples tend to be larger than baseline".

    Normal approximation with tie correction (sample sets here have hundreds of values).
    """
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(_as_samples(current), _as_samples(baseline), alternative="greater").pvalue)


def t_interval(logs, confidence: float) -> tuple[float, float, float]:
    """Mean log ratio and its two-sided Student t interval, as ratios ``(estimate, low, high)``."""
    from scipy.stats import t

    a = np.asarray(logs, dtype=np.float64)
    mean = float(a.mean())
    if a.size < 2:
        return math.exp(mean), 0.0, math.inf
    se = float(a.std(ddof=1)) / math.sqrt(a.size)
    half = float(t.ppf(0.5 + confidence / 2, a.size - 1)) * se
    return _exp(mean), _exp(mean - half), _exp(mean + half)


def _exp(x: float) -> float:
    """exp that saturates: with two or three rounds and a simultaneous 99.99% level, the t
    quantile is in the hundreds and a noisy case's bound can pass exp's range (an undecided case)."""
    return math.inf if x > 709.0 else math.exp(x)
