"""The scorecard's verdict rules and its rows, on results files written here."""
import json

import pytest

from kedit_utils import scorecard as sc
from kedit_utils.paper_numbers import PAPER_A_TABLE1, PAPER_A_TABLE2


def test_accuracy_rule():
    assert sc.verdict_accuracy([0.998, 0.997], [0.9998, 0.9941]) == sc.AGREES
    assert sc.verdict_accuracy([0.99, 0.99], [0.9998, 0.9941]) == sc.PARTLY  # 0.0098 below
    assert sc.verdict_accuracy([0.95, 0.99], [0.9998, 0.9941]) == sc.DOES_NOT


def test_correlation_rule():
    assert sc.verdict_correlation(0.93, 0.8, 0.97) == sc.AGREES
    assert sc.verdict_correlation(0.93, 0.05, 0.36) == sc.PARTLY  # sign only
    assert sc.verdict_correlation(0.93, -0.1, 0.3) == sc.DOES_NOT  # interval holds 0
    assert sc.verdict_correlation(-0.5, -0.4, -0.1) == sc.PARTLY  # negative side


def test_magnitude_rule_is_symmetric_in_ratio():
    assert sc.verdict_magnitude([1.1, 0.1], [0.6, 0.05]) == sc.AGREES  # 1.8x, 2x
    assert sc.verdict_magnitude([0.3, 0.025], [0.6, 0.05]) == sc.AGREES  # 0.5x both
    assert sc.verdict_magnitude([2.9, 0.2], [0.6, 0.05]) == sc.PARTLY  # 4.8x
    assert sc.verdict_magnitude([6.9, 0.55], [0.6, 0.05]) == sc.DOES_NOT  # 11x
    assert sc.verdict_magnitude([0.0, 0.05], [0.6, 0.05]) == sc.DOES_NOT  # nothing vs something


def test_clustering_and_location_rules():
    assert sc.verdict_clustering(0.87, -0.28) == sc.AGREES
    assert sc.verdict_clustering(0.4, 0.3) == sc.PARTLY
    assert sc.verdict_clustering(0.1, 0.3) == sc.DOES_NOT
    assert sc.verdict_location(True, True) == sc.AGREES
    assert sc.verdict_location(True, False) == sc.PARTLY
    assert sc.verdict_location(False, False) == sc.DOES_NOT


def test_claim_rejects_unknown_verdict_and_rule():
    with pytest.raises(ValueError, match="verdict"):
        sc.Claim("A", "x", "1", "1", "maybe", "accuracy", "02_training", "a")
    with pytest.raises(ValueError, match="rule"):
        sc.Claim("A", "x", "1", "1", sc.AGREES, "vibes", "02_training", "a")


def _write(folder, name, data, profile="quick"):
    (folder / f"{name}.json").write_text(json.dumps({"meta": {"profile": profile}, **data}))


def test_card_from_results(tmp_path):
    table1 = [{"graph": g, "layers": n, "acc_train": 0.999, "acc_all": 0.998} for g, n in PAPER_A_TABLE1]
    _write(tmp_path, "02_training", {"table1": table1})
    table2 = [{"graph": g, "layers": n, "pearson": 0.2, "ci_low": 0.1, "ci_high": 0.35} for g, n in PAPER_A_TABLE2]
    table3 = [{"graph": g, "layers": n, "max": 0.5, "min": 0.0, "mean": 0.06, "std": 0.1} for g, n in PAPER_A_TABLE2]
    _write(tmp_path, "05_deletion_impact", {"table2": table2, "table3": table3}, profile="paper")
    card = sc.build_scorecard(tmp_path)
    assert set(card.missing) == {"03_embeddings_pca", "04_causal_tracing"}
    assert card.profiles == {"02_training": "quick", "05_deletion_impact": "paper"}
    assert len(card.rows) == 6 + 6 + 6
    t2 = card.rows[card.rows.item.str.startswith("Table 2")].set_index("item")
    # ER (paper .21-.30) lies in [0.1, 0.35]; BA (.75-.99) does not, but the sign does
    assert (t2[t2.index.str.contains("ER")].verdict == sc.AGREES).all()
    assert (t2[t2.index.str.contains("BA")].verdict == sc.PARTLY).all()
    assert (card.rows[card.rows.rule == "accuracy"].verdict == sc.AGREES).all()
    assert sum(card.counts().values()) == len(card.rows)
    html = sc.scorecard_html(card.for_paper("A"))
    assert html.count("<tr><td>") == len(card.rows)
    assert html.count('<tr class="kedit-chapter">') == 2 and "(paper profile)" in html
    assert 'href="05_deletion_impact.html#ch5-table2"' in html


def test_every_rule_is_stated_once_on_the_page():
    page = sc.rules_html()
    for rule in sc.RULES.values():
        assert page.count(rule["what"].split(" (")[0]) >= 1
