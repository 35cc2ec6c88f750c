"""The scorecard's verdict rules and its rows, on results files written here; the page shows a
section for each paper and counts the rows it shows."""
import json
import re
from dataclasses import asdict

import pandas as pd
import pytest
from results_examples import (  # tests/unit/results_examples.py
    CHAPTERS,
    example_results,
    write_examples,
)

from kedit_utils.book import scorecard as sc
from kedit_utils.core import stats
from kedit_utils.core import verdicts as V
from kedit_utils.kg.paper_numbers import PAPER_A_TABLE1, PAPER_A_TABLE2


def test_accuracy_rule():
    assert V.verdict_accuracy([0.998, 0.997], [0.9998, 0.9941]) == V.AGREES
    assert V.verdict_accuracy([0.99, 0.99], [0.9998, 0.9941]) == V.PARTLY  # 0.0098 below
    assert V.verdict_accuracy([0.95, 0.99], [0.9998, 0.9941]) == V.DOES_NOT


def test_correlation_rule():
    assert V.verdict_correlation(0.93, 0.8, 0.97) == V.AGREES
    assert V.verdict_correlation(0.93, 0.05, 0.36) == V.PARTLY  # sign only
    assert V.verdict_correlation(0.93, -0.1, 0.3) == V.DOES_NOT  # interval holds 0
    assert V.verdict_correlation(-0.5, -0.4, -0.1) == V.PARTLY  # negative side


def test_magnitude_rule_is_symmetric_in_ratio():
    assert V.verdict_magnitude([1.1, 0.1], [0.6, 0.05]) == V.AGREES  # 1.8x, 2x
    assert V.verdict_magnitude([0.3, 0.025], [0.6, 0.05]) == V.AGREES  # 0.5x both
    assert V.verdict_magnitude([2.9, 0.2], [0.6, 0.05]) == V.PARTLY  # 4.8x
    assert V.verdict_magnitude([6.9, 0.55], [0.6, 0.05]) == V.DOES_NOT  # 11x
    assert V.verdict_magnitude([0.0, 0.05], [0.6, 0.05]) == V.DOES_NOT  # nothing vs something


def test_clustering_and_location_rules():
    assert V.verdict_clustering(0.87, -0.28) == V.AGREES
    assert V.verdict_clustering(0.4, 0.3) == V.PARTLY
    assert V.verdict_clustering(0.1, 0.3) == V.DOES_NOT
    assert V.verdict_location(True, True) == V.AGREES
    assert V.verdict_location(True, False) == V.PARTLY
    assert V.verdict_location(False, False) == V.DOES_NOT


def test_claim_rejects_unknown_verdict_and_rule():
    with pytest.raises(ValueError, match="verdict"):
        V.Claim("A", "x", "1", "1", "maybe", "accuracy", "02_training", "a")
    with pytest.raises(ValueError, match="rule"):
        V.Claim("A", "x", "1", "1", V.AGREES, "vibes", "02_training", "a")


def _write(folder, name, data, profile="quick"):
    """``data`` over the chapter's hand-made results (so the file follows its schema)."""
    (folder / f"{name}.json").write_text(json.dumps({**example_results(name, profile), **data}))


def test_card_from_results(tmp_path):
    table1 = [{"graph": g, "layers": n, "acc_train": 0.999, "acc_all": 0.998, "acc_unseen": 0.9, "seconds": 1.0,
               "epochs": 3.0} for g, n in PAPER_A_TABLE1]
    _write(tmp_path, "02_training", {"table1": table1})
    table2 = [{"editor": "rome", "graph": g, "layers": n, "pearson": 0.2, "spearman": 0.2, "ci_low": 0.1,
               "ci_high": 0.35, "seeds_low": None, "seeds_high": None, "n_seeds": 1} for g, n in PAPER_A_TABLE2]
    table3 = [{"graph": g, "layers": n, "max": 0.5, "min": 0.0, "mean": 0.06, "std": 0.1} for g, n in PAPER_A_TABLE2]
    _write(tmp_path, "05_deletion_impact", {"table2": table2, "table3": table3}, profile="paper")
    card = sc.build_scorecard(tmp_path)
    assert {"03_embeddings_pca", "04_causal_tracing"} <= set(card.missing)  # and the later chapters
    assert not {"02_training", "05_deletion_impact"} & set(card.missing)
    assert card.profiles == {"02_training": "quick", "05_deletion_impact": "paper"}
    assert len(card.rows) == 6 + 6 + 6
    t2 = card.rows[card.rows.item.str.startswith("Table 2")].set_index("item")
    # ER (paper .21-.30) lies in [0.1, 0.35]; BA (.75-.99) does not, but the sign does
    assert (t2[t2.index.str.contains("ER")].verdict == V.AGREES).all()
    assert (t2[t2.index.str.contains("BA")].verdict == V.PARTLY).all()
    assert (card.rows[card.rows.rule == "accuracy"].verdict == V.AGREES).all()
    assert sum(card.counts().values()) == len(card.rows)
    html = sc.scorecard_html(card.for_paper("A"))
    assert html.count("<tr><td>") == len(card.rows)
    assert html.count('<tr class="kedit-chapter">') == 2 and "(paper profile)" in html
    assert 'href="05_deletion_impact.html#ch5-table2"' in html


def test_every_rule_is_stated_once_on_the_page():
    page = sc.rules_html()
    for rule in V.RULES.values():
        assert page.count(rule["what"].split(" (")[0]) >= 1


def test_paper_b_rows(tmp_path):
    from kedit_utils.propagation.paper_numbers import PAPER_B_TABLE1

    table1 = [{"scope": s, "split": sp, "layers": "8", "acc_base": 0.0, "acc_meta": 0.5 if sp == "id" else 0.05,
               "gain": 0.5 if sp == "id" else 0.05, "n": 100} for s, sp in PAPER_B_TABLE1]
    table2 = [{"method": m, "cre_ood": acc, "mquake": acc, "mquake_subset": acc, "seconds_per_edit": 1.0, "n": 100,
               "n_mquake": 100, "n_mquake_subset": 50}
              for m, acc in (("meta", 0.40), ("ft", 0.40), ("rome", 0.10), ("memit", 0.0), ("alphaedit", 0.38))]
    data = {"chosen_layer": 8, "n_layers": 30, "swept_layers": [2, 8]}
    _write(tmp_path, "06_meta_learning_propagation", {"table1": table1, "table2": table2, "data": data})
    rows = sc.build_scorecard(tmp_path).rows
    rows = rows[rows.chapter == "06_meta_learning_propagation"].set_index("item")
    assert len(rows) == 6 + 1 + 8 and set(rows.paper) == {"B"}
    t1 = rows[rows.index.str.startswith("Table 1")]
    # MLP in-distribution: paper +65.9 pts, ours +50 [~+40, ~+59]: the sign only
    assert t1.loc["Table 1, mlp (layer 8), in-distribution: gain of meta-learning [95 % CI]"].verdict == V.PARTLY
    # attn OOD: ours +5 [+0.3, ~+11] excludes 0 and contains the paper's +1.6
    assert t1.loc["Table 1, attn (layer 8), OOD: gain of meta-learning [95 % CI]"].verdict == V.AGREES
    assert rows.loc["Fig. 2: best layer for OOD accuracy (single-layer Attn+MLP updates)"].verdict == V.AGREES
    t2 = rows[rows.index.str.startswith("Table 2")]
    assert t2.loc["Table 2, CRE OOD: meta-trained FT minus FT [95 % CI]"].verdict == V.DOES_NOT  # 0 vs +29.7
    assert t2.loc["Table 2, CRE OOD: meta-trained FT minus ROME [95 % CI]"].verdict == V.AGREES  # +30 vs +34.2
    assert V.verdict_difference(0.3, 0.2, 0.4) == V.AGREES and V.verdict_difference(0.3, 0.05, 0.2) == V.PARTLY
    assert V.verdict_difference(0.3, -0.6, 0.6) == V.DOES_NOT  # a wide interval proves nothing
    assert V.verdict_depth(20, 30) == V.DOES_NOT and V.verdict_depth(12, 30) == V.PARTLY
    lo, hi = stats.difference_interval(50, 100, 0, 100)
    assert 0.35 < lo < 0.5 < hi < 0.65


def test_survey_findings_rows():
    """Paper C's findings: agrees when a finding holds on both models, partly on one, does not
    on neither; a finding checked on no model gives no row."""
    from kedit_utils.book.scorecard import ROW_BUILDERS
    from kedit_utils.core.verdicts import AGREES, DOES_NOT, PARTLY, verdict_finding

    assert verdict_finding([True, True]) == AGREES
    assert verdict_finding([True, False]) == PARTLY and verdict_finding([True, None]) == PARTLY
    assert verdict_finding([False, None]) == DOES_NOT and verdict_finding([None, None]) is None
    res = {"findings": [
        {"model": "SmolLM2", "claim": "A", "holds": True, "evidence": ""},
        {"model": "KG", "claim": "A", "holds": True, "evidence": ""},
        {"model": "SmolLM2", "claim": "B", "holds": False, "evidence": ""},
        {"model": "KG", "claim": "B", "holds": None, "evidence": ""},
        {"model": "SmolLM2", "claim": "C", "holds": None, "evidence": ""}]}
    rows = [r for b in ROW_BUILDERS["07_editing_methods"] for r in b(res)]
    assert [(r.item, r.verdict) for r in rows] == [("§5: A", AGREES), ("§5: B", DOES_NOT)]
    assert all(r.anchor == "ch7-findings" and r.paper == "C" for r in rows)


def test_the_rule_table_reads_the_interval_across_seeds(tmp_path):
    rule = [{"graph": "BA", "layers": 6, "pearson": 0.5, "ci_low": 0.45, "ci_high": 0.55, "seeds_low": 0.1,
             "seeds_high": 0.97, "n_seeds": 3, "paper": 0.93},
            {"graph": "ER", "layers": 6, "pearson": 0.2, "ci_low": 0.1, "ci_high": 0.3, "seeds_low": None,
             "seeds_high": None, "n_seeds": 1, "paper": 0.25}]
    _write(tmp_path, "05_deletion_impact", {"table2": [], "table3": [], "rule_table2": rule}, profile="paper")
    rows = sc.build_scorecard(tmp_path).rows.set_index("item")
    ba = rows.loc["Table 2 under the rule, BA 6L: Pearson r [95 % CI across 3 seeds]"]
    assert ba.verdict == V.AGREES and ba.anchor == "ch5-rule-table2"  # .93 lies in [0.1, 0.97], not in [.45, .55]
    assert rows.loc["Table 2 under the rule, ER 6L: Pearson r [95 % CI over entities]"].verdict == V.AGREES


def test_stored_paper_scale_rows_come_from_the_stored_parts_table(tmp_path):
    """The chapter writes Table 2 computed from the stored parts (``stored_table2``): ROME at the
    paper's token gives rows anchored at the stored section; other editors and tokens do not."""
    row = {"graph": "BA", "layers": 12, "pearson": 0.4, "ci_low": 0.3, "ci_high": 0.5, "seeds_low": 0.2,
           "seeds_high": 0.6, "n_seeds": 2}
    stored = [{**row, "editor": "rome", "edit_token": "subject_last"}, {**row, "editor": "rome", "edit_token": "last"},
              {**row, "editor": "memit", "edit_token": "subject_last"}]
    rule = [{**row, "graph": "ER", "pearson": 0.25, "seeds_low": 0.1, "seeds_high": 0.4}]
    _write(tmp_path, "05_deletion_impact", {"table2": [], "table3": [], "stored_table2": stored,
                                            "stored_rule_table2": rule})
    rows = sc.build_scorecard(tmp_path).rows.set_index("item")
    assert list(rows.index) == [
        "Table 2 at paper scale (stored), BA 12L: Pearson r [95 % CI across 2 seeds]",
        "Table 2 under the rule at paper scale (stored), ER 12L: Pearson r [95 % CI across 2 seeds]"]
    assert (rows.anchor == "ch5-stored").all()
    assert list(rows.verdict) == [V.PARTLY, V.AGREES]  # .99 outside [.2, .6], the sign agrees; .26 inside


def _page(card, titles=None) -> dict[str, str]:
    """The page's three sections, as the scorecard notebook displays them."""
    return {paper: sc.paper_section_html(card, paper, titles) for paper in sc.PAPERS}


def _ours_cells(section: str) -> list[str]:
    return re.findall(r'<td class="kedit-ours">(.*?)</td>', section)


def test_the_page_has_a_section_per_paper_and_counts_the_rows_it_shows(tmp_path):
    """On hand-made results for every chapter: a section per paper, each with a chapter heading
    row naming its profile and at least one row with a number; the count sentence's n_rows is
    the number of rows the three sections render, and the verdict counts add up to it."""
    write_examples(tmp_path)
    card = sc.build_scorecard(tmp_path)
    assert card.missing == []
    sections = _page(card)
    assert set(sections) == {"A", "B", "C"}
    for paper, section in sections.items():
        ours = _ours_cells(section)
        assert ours and any(re.search(r"\d", cell) for cell in ours), f"paper {paper}: no numeric row"
        assert section.count('<tr class="kedit-chapter">') == card.rows[card.rows.paper == paper].chapter.nunique()
        assert "(quick profile)" in section
    numbers = sc.card_numbers(card)
    shown = sum(section.count("<tr><td>") for section in sections.values())
    assert numbers["n_rows"] == shown == len(card.rows)
    assert numbers["n_agrees"] + numbers["n_partly"] + numbers["n_does_not"] == shown
    assert numbers["profiles"] == '"quick"' and numbers["mixed_note"] == ""


def test_a_paper_without_results_says_so_and_lists_its_chapters(tmp_path):
    write_examples(tmp_path, ["02_training", "07_editing_methods"])
    card = sc.build_scorecard(tmp_path)
    sections = _page(card, {"06_meta_learning_propagation": "6. Meta-learning"})
    assert "<tr><td>" not in sections["B"] and "No chapter of Paper B" in sections["B"]
    assert "Not run yet, so not on the card: 6. Meta-learning" in sections["B"]
    assert "03_embeddings_pca" in sections["A"] and "06_meta" not in sections["A"]
    assert sc.card_numbers(card)["n_rows"] == sum(s.count("<tr><td>") for s in sections.values())
    with pytest.raises(ValueError, match="paper 'D'"):
        card.for_paper("D")


def test_mixed_profiles_are_said(tmp_path):
    write_examples(tmp_path, ["02_training"])
    _write(tmp_path, "07_editing_methods", {}, profile="paper")
    numbers = sc.card_numbers(sc.build_scorecard(tmp_path))
    assert numbers["profiles"] == '"paper" and "quick"' and "different profiles" in numbers["mixed_note"]


def test_a_renamed_key_fails_the_card_instead_of_emptying_a_row(tmp_path):
    from kedit_utils.core.results_schema import ResultsSchemaError

    write_examples(tmp_path)
    res = example_results("02_training")
    res["table1"][0]["accuracy_train"] = res["table1"][0].pop("acc_train")
    (tmp_path / "02_training.json").write_text(json.dumps(res))
    with pytest.raises(ResultsSchemaError, match=r"(?s)02_training.*table1\[0\]\.acc_train: Field required"):
        sc.build_scorecard(tmp_path)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_hand_made_chapter_gives_rows_where_it_has_builders(tmp_path, chapter):
    write_examples(tmp_path, [chapter])
    rows = sc.build_scorecard(tmp_path).rows
    assert (len(rows) > 0) == (chapter in sc.ROW_BUILDERS)


def test_a_row_shows_what_its_sample_detects_and_says_when_it_cannot_tell():
    """Issue 30 §3 on the card: a Table 2 row shows the smallest |r| its entities detect; a
    Paper B row of two cases, whose interval holds both 0 and the paper's gain, reads "too few
    cases to tell" beside its verdict."""
    from kedit_utils.kg import claims as A
    from kedit_utils.propagation import claims as B

    row = {"graph": "BA", "layers": 6, "pearson": 0.3, "ci_low": -0.1, "ci_high": 0.6, "seeds_low": None,
           "seeds_high": None, "n_seeds": 1, "n": 30, "editor": "rome", "spearman": 0.3}
    detectable, decided = A.table2_row_power(row)
    assert detectable == "this n detects |r| ≥ 0.49" and decided  # [-0.1, 0.6] rules out the paper's .93
    assert A.table2_row_power({**row, "ci_high": 0.95}) == (detectable, False)  # holds 0 and .93: cannot tell
    assert A.table2_row_power({**row, "ci_low": 0.85, "ci_high": 0.97}) == (detectable, True)
    claims = B.table1_claims({"table1": [{"scope": "attn", "split": "ood", "layers": "8", "acc_base": 0.0,
                                          "acc_meta": 0.0, "gain": 0.0, "n": 2}]})
    card = sc.Scorecard(pd.DataFrame([asdict(c) for c in claims]), {"06_meta_learning_propagation": "quick"}, [])
    page = sc.scorecard_html(card)
    assert "too few cases to tell" in page and "this n detects ≥" in page
