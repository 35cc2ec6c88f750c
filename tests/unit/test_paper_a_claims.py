"""Paper A's claims (kedit_utils.kg.claims): every rule on hand-made results, edge cases included
(an interval touching the paper's value or 0, too few entities for a correlation, a depth missing)."""
import numpy as np
import pandas as pd

from kedit_utils.core.verdicts import AGREES, DOES_NOT, PARTLY, RULES
from kedit_utils.kg import claims

NAN = float("nan")
BA6 = claims.PAPER_A_TABLE2[("BA", 6)]  # .9348


def row(graph, layers, r, ci, seeds_ci=(NAN, NAN), n_seeds=1, **extra):
    return {"graph": graph, "layers": layers, "pearson": r, "ci_low": ci[0], "ci_high": ci[1],
            "seeds_low": seeds_ci[0], "seeds_high": seeds_ci[1], "n_seeds": n_seeds, **extra}


def test_the_paper_has_numbers_only_for_rome_at_the_subject_and_its_depths():
    assert claims.paper_r("ba", 6) == BA6 and claims.paper_r("ER", 24) == claims.PAPER_A_TABLE2[("ER", 24)]
    assert claims.paper_r("BA", 6, editor="memit") is None and claims.paper_r("BA", 6, edit_token="last") is None
    assert claims.paper_r("BA", 2) is None
    assert claims.paper_table3_text("BA", 2) == "" and claims.paper_table3_text("BA", 6).count(" / ") == 3


def test_a_table2_cell_agrees_when_its_interval_holds_the_paper_value_even_at_its_edge():
    # BA 6L: the paper's .9348; an interval ending exactly there holds it
    assert claims.table2_row_verdict(row("BA", 6, 0.9, (0.8, BA6))) == AGREES
    assert claims.table2_row_verdict(row("BA", 6, 0.9, (0.8, BA6 - 1e-4))) == PARTLY  # above 0, short of it
    assert claims.table2_row_verdict(row("BA", 6, 0.95, (BA6, 0.99))) == AGREES  # from it, at the low end
    assert claims.table2_row_verdict(row("BA", 6, 0.3, (0.0, 0.5))) == DOES_NOT  # touching 0 is not above it
    assert claims.table2_row_verdict(row("BA", 6, -0.3, (-0.5, -0.1))) == DOES_NOT  # the opposite sign
    # with several seeds the interval across seeds decides, not the tight bootstrap over entities
    assert claims.table2_row_verdict(row("BA", 6, 0.5, (0.45, 0.55), (0.1, 0.97), n_seeds=3)) == AGREES
    assert claims.table2_row_verdict(row("BA", 6, 0.5, (0.45, 0.55), (NAN, NAN), n_seeds=3)) == PARTLY
    # too few entities for a correlation (NaN r), another editor, a depth the paper lacks: no verdict
    assert claims.table2_row_verdict(row("BA", 6, NAN, (NAN, NAN))) is None
    assert claims.table2_row_verdict(row("BA", 6, 0.9, (0.8, 0.95), editor="ft_l")) is None
    assert claims.table2_row_verdict(row("BA", 2, 0.9, (0.8, 0.95))) is None


def test_the_chapters_ba_sentence_is_the_worst_of_its_ba_cells():
    agree = pd.DataFrame([row("BA", 6, 0.9, (0.8, 0.95)), row("BA", 12, 0.98, (0.9, 1.0)),
                          row("ER", 6, 0.9, (0.85, 0.95))])  # ER's verdict does not count for BA
    verdict, text = claims.table2_ba_verdict(agree)
    assert verdict == AGREES and "every BA model (2)" in text
    # an interval holding the paper's .93 but reaching below 0 agrees under the scorecard's rule,
    # so the chapter says so too (the old notebook said "no consistent positive correlation")
    wide = pd.DataFrame([row("BA", 6, 0.4, (-0.1, 0.95)), row("BA", 12, 0.5, (0.2, 0.8))])
    assert claims.table2_ba_verdict(wide)[0] == PARTLY
    failed = pd.DataFrame([row("BA", 6, 0.1, (-0.2, 0.3)), row("BA", 12, 0.5, (0.2, 0.8))])
    verdict, text = claims.table2_ba_verdict(failed)
    assert verdict == DOES_NOT and "1 of 2" in text
    assert claims.table2_ba_verdict(pd.DataFrame([row("BA", 2, 0.9, (0.8, 0.95))]))[0] is None  # no paper number
    assert claims.table2_ba_verdict(pd.DataFrame([row("BA", 6, NAN, (NAN, NAN))]))[0] is None  # too few entities


def _two_depths(ba6=(0.9, (0.85, 0.95)), ba12=(0.95, (0.9, 0.99)), er6=(0.2, (0.0, 0.4)), er12=(0.3, (0.1, 0.5))):
    return pd.DataFrame([row("BA", 6, *ba6), row("ER", 6, *er6), row("BA", 12, *ba12), row("ER", 12, *er12)])


def test_the_contrast_criterion_agrees_partly_or_not_and_is_undecided_when_a_depth_is_missing():
    verdict, outcome, evidence = claims.table2_criterion(_two_depths())
    assert (verdict, outcome) == (AGREES, "reproduced") and "12 layers: BA r 0.95 [0.90, 0.99]" in evidence
    # BA above ER everywhere, but r below .8 at 12 layers: the order reproduces, not the size
    assert claims.table2_criterion(_two_depths(ba12=(0.7, (0.6, 0.8))))[:2] == (PARTLY, "not reproduced")
    # BA's interval touching ER's is not above it
    assert claims.table2_criterion(_two_depths(ba6=(0.9, (0.4, 0.95))))[:2] == (DOES_NOT, "not reproduced")
    # r exactly at the threshold passes
    assert claims.table2_criterion(_two_depths(ba6=(0.8, (0.7, 0.9))))[0] == AGREES
    # 12 layers did not run: undecided (no verdict), and said so
    only6 = _two_depths().query("layers == 6")
    verdict, outcome, evidence = claims.table2_criterion(only6)
    assert (verdict, outcome) == (None, "undecided") and "not run at 12 layers" in evidence
    # ... unless the depth that ran already fails
    failed6 = _two_depths(ba6=(0.3, (0.0, 0.5))).query("layers == 6")
    assert claims.table2_criterion(failed6)[:2] == (DOES_NOT, "not reproduced")
    assert claims.table2_criterion(pd.DataFrame())[:2] == (None, "undecided")
    # JSON nulls (a stored table) read as missing intervals; lower-case graph names are accepted
    stored = [{**r, "graph": r["graph"].lower(), "seeds_low": None, "seeds_high": None}
              for r in _two_depths().to_dict("records")]
    assert claims.table2_criterion(pd.DataFrame(stored))[0] == AGREES
    assert claims.table2_criterion_text(pd.DataFrame(), nothing="nothing here") == "nothing here"
    assert claims.table2_criterion_text(_two_depths()).startswith("reproduced (6 layers: BA r 0.90")


def test_reproduced_by_reads_each_variant_and_is_false_where_no_depth_ran():
    rows = pd.concat([_two_depths().assign(variant="a"), _two_depths(ba6=(0.3, (0.0, 0.5))).assign(variant="b")])
    assert claims.reproduced_by(rows, layers=(6,)) == {"a": True, "b": False}
    assert claims.reproduced_by(rows, layers=(24,)) == {"a": False, "b": False}


def test_table3_magnitude_within_a_factor_of_the_papers():
    p_max, _, p_mean, _ = claims.PAPER_A_TABLE3[("BA", 6)]
    assert claims.table3_row_verdict({"graph": "BA", "layers": 6, "max": p_max * 2, "mean": p_mean / 2}) == AGREES
    assert claims.table3_row_verdict({"graph": "BA", "layers": 6, "max": p_max * 5, "mean": p_mean}) == PARTLY
    assert claims.table3_row_verdict({"graph": "BA", "layers": 6, "max": p_max * 5.01, "mean": p_mean}) == DOES_NOT
    assert claims.table3_row_verdict({"graph": "BA", "layers": 6, "max": 0.0, "mean": p_mean}) == DOES_NOT
    assert claims.table3_row_verdict({"graph": "BA", "layers": 2, "max": 1.0, "mean": 1.0}) is None


def test_the_scorecard_rows_use_the_same_rules_and_add_the_criterion_where_decided():
    rule = _two_depths().to_dict("records")
    res = {"table2": [row("BA", 6, 0.9, (0.8, BA6)), row("BA", 12, NAN, (NAN, NAN)),
                      row("BA", 6, 0.9, (0.8, 0.95), editor="memit")],
           "table3": [{"graph": "BA", "layers": 6, "max": 1.0, "mean": 0.1, "min": 0.0, "std": 0.1}],
           "rule_table2": rule, "stored_table2": [], "stored_rule_table2": rule[:2]}
    rows = claims.tables23_claims(res)
    by_item = {c.item: c for c in rows}
    assert by_item["Table 2, BA 6L: Pearson r of degree and impact [95 % CI]"].verdict == AGREES
    assert not any(c.item.startswith("Table 2, BA 12L") for c in rows)  # no correlation to check
    criterion = [c for c in rows if c.rule == "contrast"]
    assert [c.item.split(":")[0] for c in criterion] == ["Table 2 under the rule"]  # stored rule: 12 layers missing
    assert criterion[0].verdict == AGREES and criterion[0].anchor == "ch5-rule-table2"
    assert "contrast" in RULES and all(c.rule in RULES for c in rows)
    assert sum(c.rule == "magnitude" for c in rows) == 1


def test_interval_text_is_one_function():
    from kedit_utils.core.stats import interval_text
    from kedit_utils.kg.deletion.statistics import compact_table2

    assert interval_text(0.1234, 0.5) == "[0.12, 0.50]" and interval_text(None, 1.0) == ""
    assert interval_text(np.nan, 1.0) == "" and interval_text(0.1, 0.2, precision=3) == "[0.100, 0.200]"
    table = compact_table2(pd.DataFrame([row("BA", 6, 0.9, (0.8, 0.95))]))
    assert list(table["CI"]) == ["[0.80, 0.95]"] and list(table["seeds CI"]) == [""]
