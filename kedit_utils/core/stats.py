"""Statistics of the deletion experiment (Paper A §4, Tables 2 and 3).

Table 2 correlates entity degree with deletion impact; here with Pearson and Spearman
coefficients, averaged over several seeds of the whole pipeline (graph, training, deletion),
and two 95 % intervals: a bootstrap over entities within each seed (how well each seed's
entities pin r down) and, with two or more seeds, Student's t-interval of the per-seed r
on Fisher's z scale (how much r moves when the graph, the training and the deletions are drawn again). Table 3
summarises the impact I (max / min / mean / std, in units of 1e-2 as the paper prints it).

Proportions (Paper B's accuracies, Paper C's rates) get Wilson score intervals and their
differences Newcombe's hybrid score interval (statsmodels); every verdict the book decides
also shows the smallest effect its sample can detect (:func:`detectable_difference`,
:func:`detectable_correlation`: 80 % power, two-sided 5 %), so a result that cannot decide
says so (:func:`too_few_to_tell`). Quantiles and ranks come from SciPy.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats

from kedit_utils.core.validation import ParameterError, check_float, check_int


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


def reported_interval(row) -> tuple[float, float, str]:
    """The 95 % interval a verdict reads from a Table 2 row (a mapping or a pandas row with
    n_seeds, ci_low, ci_high and, optionally, seeds_low, seeds_high): the one across seeds
    where there are two or more seeds and it is known, else the bootstrap over entities.
    Returns (low, high, "across seeds" | "over entities")."""
    get = row.get if hasattr(row, "get") else lambda k, default=None: getattr(row, k, default)
    low, high = get("seeds_low"), get("seeds_high")
    if int(get("n_seeds") or 1) >= 2 and all(v is not None and np.isfinite(v) for v in (low, high)):
        return float(low), float(high), "across seeds"
    return float(get("ci_low")), float(get("ci_high")), "over entities"


def interval_text(low, high, precision: int = 2) -> str:
    """An interval as the book writes it, ``"[low, high]"`` with ``precision`` decimals; ``""``
    when either end is missing (None or NaN, e.g. no interval across a single seed)."""
    ok = low is not None and high is not None and np.isfinite(low) and np.isfinite(high)
    return f"[{low:.{precision}f}, {high:.{precision}f}]" if ok else ""


def compact_table2(table):
    """A Table 2 frame narrowed for a page: each 95 % interval as one text column
    (:func:`interval_text`; ``CI`` over entities from ci_low / ci_high; ``seeds CI`` from
    seeds_low / seeds_high, blank for one seed), ``pearson`` shown as ``r`` and ``n_seeds`` as
    ``seeds``. Other columns pass through; the index is kept."""
    text = interval_text
    out = table.copy()
    for name, (lo, hi) in {"CI": ("ci_low", "ci_high"), "seeds CI": ("seeds_low", "seeds_high")}.items():
        if lo in out and hi in out:
            at = list(out.columns).index(lo)
            column = [text(a, b) for a, b in zip(out.pop(lo), out.pop(hi))]
            out.insert(at, name, column)
    return out.rename(columns={"pearson": "r", "n_seeds": "seeds"})


def correlation_with_ci(
    degrees: list[np.ndarray],
    impacts: list[np.ndarray],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict:
    """Degree-impact correlation over several seeds, with a bootstrap CI over entities.

    degrees, impacts: one array of shape (n_entities,) per seed of the pipeline.
    Returns pearson and spearman (means over seeds), the per-seed values, the ``level``
    percentile interval of the seed-averaged Pearson r under resampling of entities within
    each seed (ci_low, ci_high), and the t-interval of the per-seed Pearson r across seeds,
    on Fisher's z (seeds_low, seeds_high; NaN for one seed).
    """
    if len(degrees) != len(impacts) or not degrees:
        raise ParameterError("degrees/impacts", (len(degrees), len(impacts)), "one array per seed, same count")
    check_int("n_boot", n_boot, minimum=1)
    per_seed_p = [pearson(d, i) for d, i in zip(degrees, impacts)]
    per_seed_s = [spearman(d, i) for d, i in zip(degrees, impacts)]
    rng = np.random.default_rng(seed)
    boots = np.zeros(n_boot)
    for b in range(n_boot):
        vals = []
        for d, i in zip(degrees, impacts):
            idx = rng.integers(0, len(d), len(d))
            vals.append(pearson(np.asarray(d)[idx], np.asarray(i)[idx]))
        boots[b] = np.mean(vals)
    alpha = (1 - level) / 2
    seeds_low, seeds_high = seed_interval(per_seed_p, level, correlation=True)
    return {
        "pearson": float(np.mean(per_seed_p)),
        "spearman": float(np.mean(per_seed_s)),
        "pearson_per_seed": per_seed_p,
        "spearman_per_seed": per_seed_s,
        "ci_low": float(np.quantile(boots, alpha)),
        "ci_high": float(np.quantile(boots, 1 - alpha)),
        "seeds_low": seeds_low,
        "seeds_high": seeds_high,
        "n_seeds": len(degrees),
    }


def impact_summary(impacts, scale: float = 1e-2) -> dict:
    """Table 3 row: max / min / mean / std of the impacts, in units of ``scale``."""
    x = np.asarray(impacts, dtype=float) / scale
    return {"max": float(x.max()), "min": float(x.min()), "mean": float(x.mean()), "std": float(x.std())}


def degree_impact_table(frame, keys, n_boot: int = 1000, seed: int = 0):
    """Table 2 rows: one per ``keys`` group of ``frame`` (per-entity rows with columns seed,
    degree, impact, side_effect): Pearson and Spearman of degree and impact with the
    bootstrap CI over entities and the t-interval across seeds (:func:`correlation_with_ci`:
    ci_low / ci_high, seeds_low / seeds_high, NaN for one seed), the number of seeds and of
    entity rows ``n``, and Pearson of degree and side effect. A group with fewer than three
    entities in a seed gets NaN (no correlation to measure)."""
    import pandas as pd

    rows = []
    for group, part in frame.groupby(list(keys), observed=True):
        group = group if isinstance(group, tuple) else (group,)
        per_seed = [g for _, g in part.groupby("seed")]
        if min(len(g) for g in per_seed) < 3:  # too few entities for a correlation: no numbers
            nan = float("nan")
            rows.append({**dict(zip(keys, group)), "pearson": nan, "spearman": nan, "ci_low": nan, "ci_high": nan,
                         "seeds_low": nan, "seeds_high": nan, "n_seeds": len(per_seed), "n": len(part),
                         "r (side effect)": nan})
            continue
        res = correlation_with_ci([g.degree.to_numpy() for g in per_seed], [g.impact.to_numpy() for g in per_seed],
                                  n_boot=n_boot, seed=seed)
        side = correlation_with_ci([g.degree.to_numpy() for g in per_seed],
                                   [g.side_effect.to_numpy() for g in per_seed], n_boot=1, seed=seed)
        rows.append({**dict(zip(keys, group)), "pearson": res["pearson"], "spearman": res["spearman"],
                     "ci_low": res["ci_low"], "ci_high": res["ci_high"], "seeds_low": res["seeds_low"],
                     "seeds_high": res["seeds_high"], "n_seeds": res["n_seeds"],
                     "n": len(part), "r (side effect)": side["pearson"]})
    return pd.DataFrame(rows)


def disjoint_intervals(table, within=("graph", "layers"), between: str = "editor") -> list[str]:
    """Where two ``between`` values' 95 % intervals (ci_low, ci_high) do not overlap, within
    each ``within`` group: "BA 6L (ft_l vs rome)" for each such pair. Empty when every pair
    overlaps: the correlation does not measurably depend on ``between``."""
    out = []
    if len(table) == 0:
        return out
    for group, part in table.groupby(list(within)):
        rows = list(part.itertuples())
        for i, a in enumerate(rows):
            for b in rows[i + 1:]:
                if a.ci_high < b.ci_low or b.ci_high < a.ci_low:  # NaN compares False: not disjoint
                    x, y = sorted((str(getattr(a, between)), str(getattr(b, between))))
                    out.append(f"{group[0]} {group[1]}L ({x} vs {y})")
    return out


def decomposition_table(frame, parts, keys=("graph", "layers")):
    """Issue 12's decomposition: per ``keys`` group and part (columns ``impact_<part>`` of the
    per-entity rows), the mean contribution to the impact and its Pearson r with degree
    (mean over seeds), beside the whole impact's. Which part carries the degree relation?"""
    import pandas as pd

    rows = []
    for group, g in frame.groupby(list(keys)):
        group = group if isinstance(group, tuple) else (group,)
        for part in ("all", *parts):
            col = "impact" if part == "all" else f"impact_{part}"
            rs = [pearson(s.degree.to_numpy(), s[col].to_numpy()) for _, s in g.groupby("seed") if len(s) >= 3]
            rows.append({**dict(zip(keys, group)), "part": part, "mean": float(g[col].mean()),
                         "corr_with_degree": float(np.mean(rs)) if rs else float("nan")})
    return pd.DataFrame(rows)


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
