"""Statistics on raw timing samples: bootstrap intervals and the Mann–Whitney U test.

Used by the regression gate (and by any table that wants an interval). Timing
samples are skewed and heavy-tailed, so everything here is rank- or
median-based: no normality is assumed.
"""

from __future__ import annotations

import math

import numpy as np

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


def bootstrap_medians(samples, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` bootstrap replicates of the median of ``samples``."""
    a = _as_samples(samples)
    if a.size > MAX_BOOTSTRAP_SAMPLES:
        # An even thinning keeps the shape of the distribution (samples are in time order).
        a = np.sort(a)[np.linspace(0, a.size - 1, MAX_BOOTSTRAP_SAMPLES).round().astype(int)]
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    return np.median(a[idx], axis=1)


def ratio_interval(numerators, denominators, *, confidence: float = 0.99, n_boot: int = 1000, seed: int = 0,
                   rng: np.random.Generator | None = None, medians=None):
    """Point estimate and bootstrap percentile interval of a ratio of medians: the one ratio interval.

    ``numerators`` and ``denominators`` are sequences of sample sets; the ratio is
    Π median(numerator) / Π median(denominator), e.g. a speedup (dense/factored) or
    a change of speedup between two runs ((dense₁/factored₁) / (dense₀/factored₀)).
    The gate asks for 1 − α; the report's speedups and run ratios for 95%.
    ``rng`` (default: one seeded with ``seed``) draws the resamples in the order of the
    sets; ``medians(samples)`` may replace :func:`bootstrap_medians` for a caller that
    shares one sample set between several ratios (a dense timing against every rank).
    Returns ``(estimate, low, high)``.
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
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return point, float(low), float(high)


def mann_whitney_greater(current, baseline) -> float:
    """One-sided Mann–Whitney U p-value for "current samples tend to be larger than baseline".

    Normal approximation with tie correction (sample sets here have hundreds of values).
    """
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(_as_samples(current), _as_samples(baseline), alternative="greater").pvalue)


def median_relative_se(median, iqr, rounds) -> float:
    """Relative standard error of a median from its IQR and sample count (normal approximation).

    SE(median) ≈ 1.2533·σ/√n with σ ≈ IQR/1.349; NaN when the inputs cannot give one.
    Used where a result file kept no raw samples.
    """
    if not (median and median > 0) or iqr is None or not np.isfinite(iqr) or not rounds or rounds < 2:
        return math.nan
    return 1.2533 * (iqr / 1.349) / math.sqrt(rounds) / median
