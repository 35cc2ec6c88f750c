"""Statistics of the deletion experiment (Paper A §4, Tables 2 and 3).

Table 2 correlates entity degree with deletion impact; here with Pearson and Spearman
coefficients, averaged over several seeds of the whole pipeline (graph, training, deletion),
and two 95 % intervals: a bootstrap over entities within each seed (how well each seed's
entities pin r down) and, with two or more seeds, Student's t-interval of the per-seed r on
Fisher's z scale (how much r moves when the graph, the training and the deletions are drawn
again; :func:`kedit_utils.core.stats.seed_interval`). Table 3 summarises the impact I (max /
min / mean / std, in units of 1e-2 as the paper prints it).
"""
from __future__ import annotations

import numpy as np

from kedit_utils.core.stats import interval_text, pearson, seed_interval, spearman
from kedit_utils.core.validation import ParameterError, check_int


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


def compact_table2(table):
    """A Table 2 frame narrowed for a page: each 95 % interval as one text column
    (:func:`~kedit_utils.core.stats.interval_text`; ``CI`` over entities from ci_low / ci_high; ``seeds CI`` from
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


def impact_summary(impacts, scale: float = 1e-2) -> dict:
    """Table 3 row: max / min / mean / std of the impacts, in units of ``scale``."""
    x = np.asarray(impacts, dtype=float) / scale
    return {"max": float(x.max()), "min": float(x.min()), "mean": float(x.mean()), "std": float(x.std())}


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
