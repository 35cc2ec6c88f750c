"""Statistics every part uses: correlations (Pearson, Spearman), the t-interval across seeds
(on Fisher's z for correlations), intervals of proportions and of their differences, the
smallest effect a sample can detect, and interval text.

Proportions (Paper B's accuracies, Paper C's rates) get Wilson score intervals and their
differences Newcombe's hybrid score interval (statsmodels); every verdict the book decides
also shows the smallest effect its sample can detect (:func:`detectable_difference`,
:func:`detectable_correlation`: 80 % power, two-sided 5 %), so a result that cannot decide
says so (:func:`too_few_to_tell`). Quantiles and ranks come from SciPy. Paper A's Table 2 and
3 statistics (degree against impact, with both intervals) are
:mod:`kedit_utils.kg.deletion.statistics`.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats

from kedit_utils.core.validation import ParameterError, check_float


def _check_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ParameterError("x, y", (x.shape, y.shape), "must be 1-d arrays of the same length")
    if x.size < 3:
        raise ParameterError("len(x)", x.size, "needs at least 3 points for a correlation")
    return x, y


def pearson(x, y) -> float:
    """Pearson's r; 0.0 when either variable is constant (no linear relation to measure)."""
    x, y = _check_pair(x, y)
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc**2).sum() * (yc**2).sum())
    return float((xc * yc).sum() / denom) if denom > 0 else 0.0


def spearman(x, y) -> float:
    """Spearman's rho: Pearson's r of the ranks (average ranks for ties)."""
    x, y = _check_pair(x, y)
    return pearson(scipy_stats.rankdata(x), scipy_stats.rankdata(y))


def seed_interval(values, level: float = 0.95, correlation: bool = False) -> tuple[float, float]:
    """Student's t-interval of the mean of per-seed values; (nan, nan) for a single seed.

    correlation: the values are correlation coefficients; the interval is taken on Fisher's
    z = atanh(r) and mapped back with tanh, so it stays inside (-1, 1)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return float("nan"), float("nan")
    if correlation:
        v = np.arctanh(np.clip(v, -0.999999, 0.999999))
    half = float(scipy_stats.t.ppf((1 + level) / 2, v.size - 1)) * v.std(ddof=1) / np.sqrt(v.size)
    low, high = v.mean() - half, v.mean() + half
    return (float(np.tanh(low)), float(np.tanh(high))) if correlation else (float(low), float(high))


def interval_text(low, high, precision: int = 2) -> str:
    """An interval as the book writes it, ``"[low, high]"`` with ``precision`` decimals; ``""``
    when either end is missing (None or NaN, e.g. no interval across a single seed)."""
    ok = low is not None and high is not None and np.isfinite(low) and np.isfinite(high)
    return f"[{low:.{precision}f}, {high:.{precision}f}]" if ok else ""


def estimate_text(value, low, high, digits: int = 2) -> str:
    """An estimate and its interval as the book's tables write them, ``"0.50 [0.24, 0.76]"``;
    ``"–"`` when the estimate is missing (None or NaN)."""
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (statsmodels' ``proportion_confint``,
    method "wilson"); (nan, nan) for n = 0."""
    from statsmodels.stats.proportion import proportion_confint

    check_float("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    if n == 0:
        return (math.nan, math.nan)
    if not 0 <= k <= n:
        raise ParameterError("k", k, f"must lie in [0, n={n}]")
    low, high = proportion_confint(k, n, alpha=1 - level, method="wilson")
    return (max(0.0, float(low)), min(1.0, float(high)))


def difference_interval(k1: int, n1: int, k2: int, n2: int, level: float = 0.95) -> tuple[float, float]:
    """Interval of p1 - p2 for two independent proportions k1/n1 and k2/n2: Newcombe's hybrid
    score interval (his method 10, from the two Wilson intervals; statsmodels'
    ``confint_proportions_2indep``, method "newcomb"); (nan, nan) when a sample is empty."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    if not n1 or not n2:
        return (math.nan, math.nan)
    for name, k, n in (("k1", k1, n1), ("k2", k2, n2)):
        if not 0 <= k <= n:
            raise ParameterError(name, k, f"must lie in [0, n={n}]")
    low, high = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff", alpha=1 - level)
    return (float(low), float(high))


def detectable_difference(n1: int, n2: int | None = None, base: float | None = None, alpha: float = 0.05,
                          power: float = 0.8, paired: bool = False) -> float:
    """The smallest difference of two proportions that samples of ``n1`` and ``n2`` cases
    detect with ``power`` at two-sided ``alpha``.

    Independent samples: statsmodels' ``NormalIndPower`` solves for Cohen's effect size h
    (h = 2 asin √p1 − 2 asin √p0), mapped back to p1 − p0: from p0 = ``base`` upward, or, with
    ``base=None`` (the default), at the worst place in [0, 1], p0 and p1 symmetric about 1/2,
    where the difference is sin(h / 2) (a rate near 0 or 1 makes smaller differences
    detectable; the worst case does not depend on the rates measured). Paired samples (the
    same cases under two conditions, ``n2`` ignored): the same on ``n1`` pairs with the
    one-sample ``NormalIndPower(ratio=0)``. ``nan`` for an empty sample; from ``base``, 1 − base
    when even the largest difference is not detectable."""
    from statsmodels.stats.power import NormalIndPower

    check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    check_float("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    if base is not None:
        check_float("base", base, low=0.0, high=1.0, high_open=True)
    n2 = n1 if n2 is None else n2
    if not n1 or not n2:
        return math.nan
    if paired:
        h = NormalIndPower().solve_power(nobs1=n1, alpha=alpha, power=power, ratio=0.0)
    else:
        h = NormalIndPower().solve_power(nobs1=n1, alpha=alpha, power=power, ratio=n2 / n1)
    if base is None:
        return math.sin(min(float(h), math.pi) / 2)
    phi = 2 * math.asin(math.sqrt(base)) + float(h)
    if phi >= math.pi:
        return 1.0 - base
    return math.sin(phi / 2) ** 2 - base


def detectable_correlation(n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest Pearson r that ``n`` points detect (against r = 0) with ``power`` at
    two-sided ``alpha``, on Fisher's z: r = tanh((z₁₋α/₂ + z_power) / √(n − 3)); nan for n ≤ 3."""
    check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    check_float("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    if n <= 3:
        return math.nan
    z = float(scipy_stats.norm.ppf(1 - alpha / 2) + scipy_stats.norm.ppf(power))
    return math.tanh(z / math.sqrt(n - 3))


def too_few_to_tell(low: float, high: float, paper_effect: float) -> bool:
    """A verdict's interval [low, high] contains both 0 and the paper's effect: the sample
    cannot tell the two apart (issue 30 §3)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return True
    return low <= 0 <= high and low <= paper_effect <= high


def detectable_text(effect: float, unit: str = "pts", scale: float = 100.0) -> str:
    """"this n detects ≥ 24.3 pts" (an effect of :func:`detectable_difference`) or
    "this n detects |r| ≥ 0.28" (``unit="r"``, ``scale=1``); "too few cases to detect any
    effect" when it is nan."""
    if not math.isfinite(effect):
        return "too few cases to detect any effect"
    if unit == "r":
        return f"this n detects |r| ≥ {effect:.2f}"
    return f"this n detects ≥ {scale * effect:.1f} {unit}"
