"""Chapter 5's config and builder (Paper A §4; issue 29 §4): every parameter checked before any
work, the config's training parameters the same values the cache keys read, and the builder's
table assembly and sentences on hand-made rows."""
import numpy as np
import pandas as pd
import pytest

from kedit_utils.book import profiles
from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.deletion import chapter
from kedit_utils.kg.deletion.config import DeletionChapterConfig

NOTEBOOK = "05_deletion_impact"
QUICK = profiles.resolve_parameters(NOTEBOOK, "quick", {})


def test_the_config_resolves_the_profile_and_keeps_the_parameters_the_chapter_stored():
    config = DeletionChapterConfig.from_parameters({"seed": 0, "seeds": None, "n_boot": 50}, QUICK)
    before = {**profiles.resolve_parameters(NOTEBOOK, "quick", {"seed": 0, "device": "auto"}),
              "graph_kinds": ["er", "ba"]}  # what the notebook stored as its parameters
    assert config.parameters() == before and list(config.parameters()) == list(before)
    assert config.seeds == (0,) and config.n_boot == 50 and config.edit_tokens == ["subject_last"]
    # the models' parameters (cache keys) are the values the chapter passed before: the resolved ones
    assert config.training_params(3) == {**before, "seed": 3}
    with pytest.raises(TypeError):
        config.training["lr"] = 1.0  # read-only
    with pytest.raises(AttributeError):
        config.seeds = (1,)  # frozen


@pytest.mark.parametrize("given, name", [
    ({"seeds": []}, "seeds"),  # was "ValueError: No objects to concatenate" after the sweep
    ({"seeds": [0, 0]}, "seeds"),
    ({"seeds": [-1]}, "seeds"),
    ({"edit_layer": 6}, "edit_layer"),  # the 6-layer models have layers 0-5
    ({"edit_token": "first"}, "edit_token"),
    ({"compare_token": "subject_last"}, "compare_token"),
    ({"max_entities": 2}, "max_entities"),
    ({"n_boot": 0}, "n_boot"),
    ({"graph_kinds": []}, "graph_kinds"),
    ({"editors": ["serac"]}, "editors"),
    ({"variants": []}, "variants"),
    ({"variants": ["no such variant"]}, "variants"),
    ({"variant_layers": 1}, "variant_layers"),  # the "layer 1" variant needs two layers
    ({"rule_layers": []}, "rule_layers"),
    ({"sequence_every": 0}, "sequence_every"),
    ({"executor": "spark"}, "executor"),
    ({"n_relations": 2}, "n_relations"),  # the rule's both-directions graph needs a relation per hub fact
])
def test_a_bad_parameter_is_named_before_any_work(given, name):
    with pytest.raises(ParameterError) as err:
        DeletionChapterConfig.from_parameters(given, QUICK)
    assert err.value.name == name


def test_unknown_names_are_refused_only_when_strict():
    with pytest.raises(ParameterError, match="n_layer"):
        DeletionChapterConfig.from_parameters({"n_layer": 6}, QUICK, strict=True)
    assert DeletionChapterConfig.from_parameters({"n_layer": 6, "np": np}, QUICK).variant_layers == 6


def _entities(editor="rome", token="subject_last", n=12, slope=1.0, graph="BA"):
    degree = np.arange(1, n + 1)
    impact = slope * degree / 1000 + np.linspace(0, 1e-4, n)
    return pd.DataFrame({"editor": editor, "edit_token": token, "graph": graph, "layers": 6, "seed": 0,
                         "entity": degree, "degree": degree, "impact": impact, "side_effect": impact,
                         "deleted_ok": 0.5, "skipped": False})


def test_table2_puts_rome_first_with_the_papers_r_and_leaves_other_tokens_out():
    ents = pd.concat([_entities("memit"), _entities(), _entities(token="last"), _entities(graph="ER", slope=0.0)])
    t2 = chapter.table2(ents, "subject_last", n_boot=20, seed=0)
    assert list(zip(t2.editor.astype(str), t2.graph)) == [("rome", "BA"), ("rome", "ER"), ("memit", "BA")]
    assert t2.paper.iloc[0] == 0.9348 and np.isnan(t2.paper.iloc[2])  # no paper number for MEMIT
    assert t2.pearson.iloc[0] > 0.99 and t2.n.iloc[0] == 12
    shown = chapter.with_interval_columns(t2)
    assert "seeds_low" not in shown  # one seed: no interval across seeds to show


def test_table3_and_the_editors_table():
    done = pd.concat([_entities(), _entities(graph="ER")]).assign(impact=lambda t: t.degree / 100)
    t3 = chapter.table3(done)
    assert list(t3.columns) == ["graph", "layers", "max", "min", "mean", "std", "paper max/min/mean/std"]
    assert t3.set_index("graph").loc["BA", "max"] == pytest.approx(12.0)  # ×10⁻²: impact .12
    assert t3.set_index("graph").loc["BA", "paper max/min/mean/std"] == "0.60 / 0.00 / 0.05 / 0.08"
    assert chapter.editors_table(_entities(), 20, 0).empty and chapter.editor_verdict(pd.DataFrame()) == "not run"
    both = pd.concat([_entities(), _entities("ft_l", n=6, slope=-1.0)])
    table = chapter.editors_table(both, 50, 0)
    assert set(table.editor) == {"rome", "ft_l"} and (table.n == 6).all()  # ROME on FT-L's entities only
    assert chapter.editor_verdict(table).startswith("depends on the editor on BA 6L (ft_l vs rome)")


def test_the_sentences_say_what_did_not_run():
    curves = pd.DataFrame({"graph": "BA", "order": "high", "deleted": [0, 2], "accuracy": [0.99, 0.9]})
    seq = chapter.sequence_glue(curves)
    assert seq["seq_ba_high"] == ("0.900", None) and seq["seq_er_low"] == ("(not run)", None)
    assert seq["seq_n"] == (2, None)
    tokens = pd.DataFrame({"edit_token": ["last"], "deleted_ok": [0.8], "same-relation prompts broken": [0.2],
                           "other prompts broken": [0.01], "same-subject prompts broken": [0.1]})
    glued = chapter.token_glue(tokens)
    assert glued["deleted_ok_last"] == (0.8, ".0%") and glued["deleted_ok_subject_last"] == ("(not run)", None)
    parts = pd.DataFrame({"graph": "BA", "layers": 6, "part": ["own", "subject", "all"], "mean": [0.1, 0.3, 0.4],
                          "corr_with_degree": [0.9, 0.2, 0.5]})
    dec = chapter.decomposition_glue(parts)
    assert dec["ba_carrier"][0].startswith("`own`") and dec["ba_largest"][0].startswith("`subject`")
    assert dec["er_carrier"] == ("(not run)", None)
    sites = pd.DataFrame({"orientation": ["one"], "graph": ["BA"], "window": [1], "peak_layer": [0],
                          "peak_token": ["relation"]})
    assert chapter.site_verdict(sites).startswith("none of the 1 traces")


def test_nothing_stored_reads_as_such():
    stored = chapter.StoredPaperScale()
    assert [str(x) for x in chapter.stored_run_items(stored)] == ["No paper-scale run of this chapter is stored."]
    assert chapter.stored_run_items(chapter.StoredPaperScale(this_build_is_paper=True))[0]._repr_markdown_() == \
        "This build is the paper-scale run."
    empty = chapter.stored_parts_table2(stored, 20, 0)
    glued = chapter.stored_glue(stored, chapter.paper_rows(empty), chapter.stored_rule_table2(stored, 20, 0), None)
    assert glued["stored_table2_verdict"] == ("not decided (nothing stored)", None)
    assert glued["stored_rule_verdict"][0] == "no paper-scale run of the rule is stored"
    assert glued["stored_part_seeds"] == ("none", None)


def test_a_stored_whole_run_shows_its_provenance_table2_variants_and_rule():
    t2 = [{"editor": "rome", "graph": "BA", "layers": 6, "pearson": 0.5, "ci_low": 0.4, "ci_high": 0.6},
          {"editor": "memit", "graph": "BA", "layers": 6, "pearson": 0.1, "ci_low": 0.0, "ci_high": 0.2}]
    variants = [{"variant": "baseline", "graph": g, "pearson": 0.3, "ci_low": 0.2, "ci_high": 0.4} for g in ("BA", "ER")]
    rule = [{"graph": "BA", "layers": 6, "pearson": 0.4, "ci_low": 0.3, "ci_high": 0.5, "n_seeds": 1, "n": 60}]
    stored = chapter.StoredPaperScale(results={"table2": t2, "variants": variants, "rule_table2": rule},
                                      provenance={"commit": "a" * 40, "machine": "here"})
    items = chapter.stored_run_items(stored)
    assert len(items) == 4 and list(items[0].index) == ["commit", "machine"]
    table2 = items[1].data  # a Styler: ROME's rows only, with the paper's r
    assert list(table2.index) == [("BA", 6)] and table2.paper.iloc[0] == 0.9348
    assert list(items[2].data.columns) == ["r BA", "r ER", "low BA", "low ER", "high BA", "high ER"]
    # the stored rule's Table 2 is the stored one (not recomputed from parts)
    assert chapter.stored_rule_table2(stored, 20, 0).pearson.tolist() == [0.4]
