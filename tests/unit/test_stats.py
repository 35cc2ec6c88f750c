"""Correlation and summary statistics on constructed inputs."""
import numpy as np
import pytest

from kedit_utils.core import stats
from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.deletion import statistics as deletion_stats


def test_pearson_and_spearman_known_values():
    x = np.arange(10.0)
    assert stats.pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert stats.pearson(x, -x) == pytest.approx(-1.0)
    assert stats.spearman(x, x**3) == pytest.approx(1.0)  # monotone, not linear
    assert stats.pearson(x, x**3) < 1.0
    assert stats.pearson(x, np.ones(10)) == 0.0


def test_spearman_uses_average_ranks_for_ties():
    assert stats.spearman([10, 20, 20, 5], [2.0, 3.5, 3.5, 1.0]) == pytest.approx(1.0)


def test_ci_contains_the_estimate_and_shrinks_with_more_seeds():
    rng = np.random.default_rng(0)
    deg = [rng.integers(1, 30, 100) for _ in range(3)]
    imp = [d * 0.01 + rng.normal(0, 0.1, d.size) for d in deg]
    res = deletion_stats.correlation_with_ci(deg, imp, n_boot=300)
    assert res["ci_low"] < res["pearson"] < res["ci_high"]
    assert res["n_seeds"] == 3 and res["pearson"] > 0.5
    one = deletion_stats.correlation_with_ci(deg[:1], imp[:1], n_boot=300)
    assert (one["ci_high"] - one["ci_low"]) > (res["ci_high"] - res["ci_low"])


def test_impact_summary_units():
    row = deletion_stats.impact_summary([0.0, 0.002, 0.006])
    assert row["max"] == pytest.approx(0.6) and row["min"] == 0.0
    assert row["mean"] == pytest.approx(0.2 + 2 / 30, rel=1e-6)


def test_bad_inputs():
    with pytest.raises(ParameterError):
        stats.pearson([1, 2], [1, 2])
    with pytest.raises(ParameterError):
        deletion_stats.correlation_with_ci([np.arange(5)], [], n_boot=10)


def test_degree_impact_table_and_disjoint_intervals():
    import numpy as np
    import pandas as pd

    from kedit_utils.kg.deletion.statistics import degree_impact_table, disjoint_intervals

    rng = np.random.default_rng(0)
    deg = rng.integers(1, 20, 60)
    rows = []
    for editor, slope in (("rome", 1.0), ("memit", 0.0)):
        impact = slope * deg + rng.normal(0, 1, deg.size)
        rows += [{"editor": editor, "graph": "BA", "layers": 6, "seed": 0, "degree": d, "impact": i,
                  "side_effect": i} for d, i in zip(deg, impact)]
    table = degree_impact_table(pd.DataFrame(rows), ["graph", "layers", "editor"], n_boot=200)
    assert len(table) == 2 and set(table.n) == {60}
    by = table.set_index("editor")
    assert by.pearson["rome"] > 0.9 and abs(by.pearson["memit"]) < 0.4
    assert disjoint_intervals(table) == ["BA 6L (memit vs rome)"]
    same = table.assign(ci_low=-1.0, ci_high=1.0)
    assert disjoint_intervals(same) == []


def test_seed_interval_is_the_t_interval_of_the_tables():
    # 3 seeds: mean ± t(.975, 2 dof = 4.3027) · sd / √3
    low, high = stats.seed_interval([0.1, 0.2, 0.3])
    half = 4.3027 * 0.1 / 3 ** 0.5
    assert low == pytest.approx(0.2 - half, abs=1e-4) and high == pytest.approx(0.2 + half, abs=1e-4)
    assert all(map(np.isnan, stats.seed_interval([0.5])))


def test_wilson_and_newcombe_match_the_published_examples():
    # Newcombe (1998), Statistics in Medicine 17:873, Table I and II: 81/263 -> [0.2553, 0.3662];
    # 56/70 vs 48/80: difference 0.2 with method-10 interval [0.0524, 0.3339]
    low, high = stats.wilson_interval(81, 263)
    assert (low, high) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))
    low, high = stats.difference_interval(56, 70, 48, 80)
    assert (low, high) == (pytest.approx(0.0524, abs=1e-4), pytest.approx(0.3339, abs=1e-4))
    assert all(map(np.isnan, stats.wilson_interval(0, 0)))
    assert all(map(np.isnan, stats.difference_interval(1, 2, 0, 0)))
    with pytest.raises(ParameterError, match="k"):
        stats.wilson_interval(3, 2)


def test_detectable_effects_shrink_with_n_and_match_the_power_formula():
    # Cohen's h for n = 30 per arm at 80 % power, two-sided 5 %: (1.96 + 0.8416) * sqrt(2 / 30) = 0.7234
    d30 = stats.detectable_difference(30, base=0.5)
    h = 2 * np.arcsin(np.sqrt(0.5 + d30)) - 2 * np.arcsin(np.sqrt(0.5))
    assert h == pytest.approx(0.7234, abs=1e-3)
    assert stats.detectable_difference(300) < stats.detectable_difference(30) < stats.detectable_difference(5)
    assert stats.detectable_difference(30, paired=True) < d30  # n pairs vs two arms of n
    assert stats.detectable_difference(2, base=0.9) == pytest.approx(0.1)  # capped at 1 - base
    # the default is the worst place in [0, 1]: sin(h / 2), 19.7 pts for 100 cases per arm
    assert stats.detectable_difference(100) == pytest.approx(np.sin(2.8016 * np.sqrt(2 / 100) / 2), abs=1e-3)
    assert stats.detectable_difference(100) > stats.detectable_difference(100, base=0.0)
    assert np.isnan(stats.detectable_difference(0))
    # Pearson r with n = 30: tanh(2.8016 / sqrt(27)) = 0.4929
    assert stats.detectable_correlation(30) == pytest.approx(0.4929, abs=1e-3)
    assert np.isnan(stats.detectable_correlation(3))
    assert stats.too_few_to_tell(-0.1, 0.5, 0.3) and not stats.too_few_to_tell(0.1, 0.5, 0.3)
    assert not stats.too_few_to_tell(-0.4, 0.2, 0.3)  # excludes the paper's effect: decides
    assert stats.detectable_text(0.243) == "this n detects ≥ 24.3 pts"
    assert stats.detectable_text(0.28, unit="r", scale=1) == "this n detects |r| ≥ 0.28"

def test_seed_interval_is_the_t_interval_and_needs_two_seeds():
    low, high = stats.seed_interval([0.1, 0.2, 0.3])
    half = 4.302653 * 0.1 / np.sqrt(3)  # t(.975, 2) * sd / sqrt(n)
    assert (low, high) == pytest.approx((0.2 - half, 0.2 + half), abs=1e-5)
    assert all(np.isnan(stats.seed_interval([0.5])))
    # correlations: on Fisher's z, mapped back, so never outside (-1, 1) even with 2 seeds (t = 12.7)
    low, high = stats.seed_interval([0.1, 0.9], correlation=True)
    z = np.arctanh([0.1, 0.9])
    half = 12.7062 * z.std(ddof=1) / np.sqrt(2)
    assert (low, high) == pytest.approx((np.tanh(z.mean() - half), np.tanh(z.mean() + half)), abs=1e-4)
    assert -1 < low < 0.1 and 0.9 < high < 1


def test_correlation_across_seeds_widens_with_seed_to_seed_spread():
    rng = np.random.default_rng(1)
    deg = [rng.integers(1, 30, 100) for _ in range(3)]
    close = [d * 0.01 + rng.normal(0, 0.1, d.size) for d in deg]
    apart = [d * s + rng.normal(0, 0.1, d.size) for d, s in zip(deg, (0.0, 0.01, 0.05))]
    a = deletion_stats.correlation_with_ci(deg, close, n_boot=50)
    b = deletion_stats.correlation_with_ci(deg, apart, n_boot=50)
    assert a["seeds_low"] < a["pearson"] < a["seeds_high"]
    assert b["seeds_high"] - b["seeds_low"] > 2 * (a["seeds_high"] - a["seeds_low"])
    assert np.isnan(deletion_stats.correlation_with_ci(deg[:1], close[:1], n_boot=10)["seeds_low"])


def test_compact_table2_joins_each_interval_into_one_column():
    import pandas as pd

    from kedit_utils.kg.deletion.statistics import compact_table2

    t = pd.DataFrame({"pearson": [0.5, -0.05], "ci_low": [0.1, -0.3], "ci_high": [0.8, 0.2],
                      "seeds_low": [0.2, float("nan")], "seeds_high": [0.7, float("nan")],
                      "paper": [0.93, None], "n_seeds": [2, 1], "n": [400, 200]},
                     index=pd.Index(["BA", "ER"], name="graph"))
    out = compact_table2(t)
    assert list(out.columns) == ["r", "CI", "seeds CI", "paper", "seeds", "n"]
    assert out.loc["BA", "CI"] == "[0.10, 0.80]" and out.loc["ER", "CI"] == "[-0.30, 0.20]"
    assert out.loc["BA", "seeds CI"] == "[0.20, 0.70]" and out.loc["ER", "seeds CI"] == ""  # one seed: no interval
    assert out.loc["BA", "r"] == 0.5 and list(out.index) == ["BA", "ER"]
    assert "ci_low" in t  # the input is left as it was
    assert list(compact_table2(t.drop(columns=["seeds_low", "seeds_high"])).columns) == ["r", "CI", "paper", "seeds", "n"]
