"""Statistics of the deletion experiment (Paper A §4, Tables 2 and 3).

Table 2 correlates entity degree with deletion impact; here with Pearson and Spearman
coefficients, averaged over several seeds of the whole pipeline (graph, training, deletion),
and two 95 % intervals: a bootstrap over entities within each seed (how well each seed's
entities pin r down) and, with two or more seeds, Student's t-interval of the per-seed r
on Fisher's z scale (how much r moves when the graph, the training and the deletions are drawn again). Table 3
summarises the impact I (max / min / mean / std, in units of 1e-2 as the paper prints it).
"""
from __future__ import annotations

import math

import numpy as np

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


def rankdata(a) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as scipy.stats.rankdata)."""
    a = np.asarray(a, dtype=float)
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(a.size, dtype=float)
    sorted_a = a[order]
    # boundaries of runs of equal values
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_a)) + 1]
    ends = np.r_[starts[1:], a.size]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return ranks


def spearman(x, y) -> float:
    """Spearman's rho: Pearson's r of the ranks (average ranks for ties)."""
    x, y = _check_pair(x, y)
    return pearson(rankdata(x), rankdata(y))


def t_quantile(q: float, dof: int) -> float:
    """The ``q`` quantile of Student's t with ``dof`` degrees of freedom (0.5 < q < 1), by
    bisection on the tail integrated with Simpson's rule (no SciPy here); within 1e-5 of the
    tables (4.3027 for q .975 and 2 dof)."""
    check_int("dof", dof, minimum=1)
    if not 0.5 < q < 1:
        raise ParameterError("q", q, "must lie in (0.5, 1)")
    log_c = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)

    def upper_tail(t: float) -> float:  # P(T > t), t >= 0; with x = sqrt(dof) tan(θ) the
        theta = np.linspace(np.arctan(t / np.sqrt(dof)), np.pi / 2, 2001)  # density is ∝ cos^(dof-1) θ
        f = np.cos(theta) ** (dof - 1)
        h = theta[1] - theta[0]
        simpson = h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
        return float(math.exp(log_c) * math.sqrt(dof) * simpson)

    lo, hi = 0.0, 1.0
    while upper_tail(hi) > 1 - q:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if upper_tail(mid) > 1 - q else (lo, mid)
    return (lo + hi) / 2


def seed_interval(values, level: float = 0.95, correlation: bool = False) -> tuple[float, float]:
    """Student's t-interval of the mean of per-seed values; (nan, nan) for a single seed.

    correlation: the values are correlation coefficients; the interval is taken on Fisher's
    z = atanh(r) and mapped back with tanh, so it stays inside (-1, 1)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return float("nan"), float("nan")
    if correlation:
        v = np.arctanh(np.clip(v, -0.999999, 0.999999))
    half = t_quantile((1 + level) / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
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


Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n; (nan, nan) for n = 0."""
    check_float("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    if n == 0:
        return (math.nan, math.nan)
    if not 0 <= k <= n:
        raise ParameterError("k", k, f"must lie in [0, n={n}]")
    from statistics import NormalDist

    z = Z95 if level == 0.95 else NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
