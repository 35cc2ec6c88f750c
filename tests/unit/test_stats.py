"""Correlation and summary statistics on constructed inputs."""
import numpy as np
import pytest

from kedit_utils import stats
from kedit_utils.validation import ParameterError


def test_pearson_and_spearman_known_values():
    x = np.arange(10.0)
    assert stats.pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert stats.pearson(x, -x) == pytest.approx(-1.0)
    assert stats.spearman(x, x**3) == pytest.approx(1.0)  # monotone, not linear
    assert stats.pearson(x, x**3) < 1.0
    assert stats.pearson(x, np.ones(10)) == 0.0


def test_ranks_average_ties():
    assert stats.rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_ci_contains_the_estimate_and_shrinks_with_more_seeds():
    rng = np.random.default_rng(0)
    deg = [rng.integers(1, 30, 100) for _ in range(3)]
    imp = [d * 0.01 + rng.normal(0, 0.1, d.size) for d in deg]
    res = stats.correlation_with_ci(deg, imp, n_boot=300)
    assert res["ci_low"] < res["pearson"] < res["ci_high"]
    assert res["n_seeds"] == 3 and res["pearson"] > 0.5
    one = stats.correlation_with_ci(deg[:1], imp[:1], n_boot=300)
    assert (one["ci_high"] - one["ci_low"]) > (res["ci_high"] - res["ci_low"])


def test_impact_summary_units():
    row = stats.impact_summary([0.0, 0.002, 0.006])
    assert row["max"] == pytest.approx(0.6) and row["min"] == 0.0
    assert row["mean"] == pytest.approx(0.2 + 2 / 30, rel=1e-6)


def test_bad_inputs():
    with pytest.raises(ParameterError):
        stats.pearson([1, 2], [1, 2])
    with pytest.raises(ParameterError):
        stats.correlation_with_ci([np.arange(5)], [], n_boot=10)


def test_degree_impact_table_and_disjoint_intervals():
    import numpy as np
    import pandas as pd

    from kedit_utils.stats import degree_impact_table, disjoint_intervals

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
