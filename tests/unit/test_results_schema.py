"""Every chapter's results file has a declared schema (issue 29 §6): the registry covers every
chapter, hand-made results follow it, a missing declared field fails with its path named, extra
fields pass, and ``save_results`` validates before it writes."""
import json
import math
import re

import numpy as np
import pytest
from results_examples import CHAPTERS, example_results  # tests/unit/results_examples.py

from kedit_utils.book import results as R
from kedit_utils.book import runner
from kedit_utils.core.results_schema import ResultsSchemaError
from kedit_utils.kg import results_schema as paper_a
from kedit_utils.propagation import results_schema as paper_b
from kedit_utils.survey import results_schema as paper_c


def test_every_chapter_has_a_schema_in_its_papers_package():
    chapters = [name for name in runner.list_notebooks() if name != "scorecard"]
    assert sorted(R.RESULTS_SCHEMAS) == sorted(chapters) == CHAPTERS
    assert set(paper_a.SCHEMAS) == {c for c in chapters if c < "06"}
    assert set(paper_b.SCHEMAS) == {"06_meta_learning_propagation"}
    assert set(paper_c.SCHEMAS) == {"07_editing_methods"}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_hand_made_results_follow_their_schema_and_keep_extra_fields(chapter):
    res = example_results(chapter)
    res["a_table_the_schema_does_not_know"] = [{"x": 1}]
    model = R.validate_results(chapter, res)
    assert model.meta.notebook == chapter and model.meta.profile == "quick"
    assert model.model_extra["a_table_the_schema_does_not_know"] == [{"x": 1}]


def _required_paths(model_cls, data, prefix=()):
    """Every (path, field) of ``data`` whose field the schema requires: the top-level fields
    and those of the first row of each list of rows (or nested model)."""
    for name, field in model_cls.model_fields.items():
        key = field.alias or name
        if field.is_required():
            yield prefix, key
        value = data.get(key)
        sub = field.annotation
        row_cls = getattr(sub, "__args__", (None,))[0] if isinstance(value, list) else sub
        if isinstance(value, list) and value and isinstance(value[0], dict) and hasattr(row_cls, "model_fields"):
            yield from _required_paths(row_cls, value[0], (*prefix, key, 0))
        elif isinstance(value, dict) and hasattr(row_cls, "model_fields"):
            yield from _required_paths(row_cls, value, (*prefix, key))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_declared_field_missing_fails_naming_it(chapter):
    res = example_results(chapter)
    paths = list(_required_paths(R.RESULTS_SCHEMAS[chapter], res))
    assert len(paths) >= 3
    for prefix, key in paths:
        broken = example_results(chapter)
        holder = broken
        for part in prefix:
            holder = holder[part]
        del holder[key]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in (*prefix, key)).lstrip(".")
        with pytest.raises(ResultsSchemaError, match=rf"(?s){chapter}.*\n  {re.escape(where)}: Field required"):
            R.validate_results(chapter, broken)


def test_the_fields_the_claims_read_are_declared():
    """A mistyped or missing measure the scorecard reads fails; null stands for a NaN."""
    res = example_results("05_deletion_impact")
    res["table2"][0]["pearson"] = None
    assert paper_a.parse_results("05_deletion_impact", res).table2[0].pearson is None
    res["table3"][0]["max"] = "big"
    with pytest.raises(ResultsSchemaError, match=r"table3\[0\]\.max"):
        paper_a.parse_results("05_deletion_impact", res)
    res = example_results("04_causal_tracing")
    res["tracing"][0]["kind"] = "residual"
    with pytest.raises(ResultsSchemaError, match=r"tracing\[0\]\.kind"):
        paper_a.parse_results("04_causal_tracing", res)
    res = example_results("06_meta_learning_propagation")
    assert paper_b.parse_results("06_meta_learning_propagation", res).data.chosen_layer == 8
    res = example_results("07_editing_methods")
    assert paper_c.parse_results("07_editing_methods", res).findings[0].holds is True
    graphs = paper_a.parse_results("01_knowledge_graphs", example_results("01_knowledge_graphs")).graphs
    assert graphs[1].max_degree == 61  # "max degree" in the file


def test_a_chapter_without_a_schema_is_refused_naming_those_with_one():
    with pytest.raises(ResultsSchemaError, match=r"'08_new'.*02_training"):
        R.validate_results("08_new", {})
    with pytest.raises(ResultsSchemaError, match="06_meta_learning_propagation.*has no declared"):
        paper_a.parse_results("06_meta_learning_propagation", {})


def test_save_results_validates_before_it_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_RESULTS", str(tmp_path))
    data = {k: v for k, v in example_results("02_training").items() if k != "meta"}
    data["table1"][0]["layers"] = np.int64(6)  # numpy scalars, as pandas hands them over
    data["table1"][0]["acc_unseen"] = float("nan")
    R.save_results("02_training", data, parameters={"profile": "paper", "seed": 0, "model": object()})
    written = json.loads((tmp_path / "02_training.json").read_text())
    assert written["meta"] == {"notebook": "02_training", "profile": "paper", "parameters": {"profile": "paper",
                                                                                           "seed": 0}}
    assert written["table1"][0]["layers"] == 6 and math.isnan(written["table1"][0]["acc_unseen"])
    assert R.validate_results("02_training", R.load_results("02_training")).meta.profile == "paper"
    del data["table1"][1]["epochs"]
    with pytest.raises(ResultsSchemaError, match=r"clustering\[0\]\.kind: Field required"):
        R.save_results("03_embeddings_pca", {"clustering": [{"graph": "ER"}]})
    with pytest.raises(ResultsSchemaError, match=r"table1\[1\]\.epochs: Field required"):
        R.save_results("02_training", data)
    assert not (tmp_path / "03_embeddings_pca.json").exists()
    assert json.loads((tmp_path / "02_training.json").read_text())["meta"]["profile"] == "paper"  # not overwritten


def _declared_only(value):
    """A validated model as a dict of its declared fields only (extra fields dropped, recursively)."""
    if isinstance(value, list):
        return [_declared_only(v) for v in value]
    if hasattr(type(value), "model_fields"):
        return {(f.alias or name): _declared_only(getattr(value, name)) for name, f in type(value).model_fields.items()}
    return value


CLAIM_CHAPTERS = ["02_training", "03_embeddings_pca", "04_causal_tracing", "05_deletion_impact",
                  "06_meta_learning_propagation", "07_editing_methods"]


@pytest.mark.parametrize("chapter", CLAIM_CHAPTERS)
def test_the_claims_read_only_declared_fields(chapter):
    """Each chapter's claims give the same rows from its results with every undeclared field
    dropped: every field a claim reads is in the schema (chapter 5 with its rule and stored
    tables too)."""
    from kedit_utils.book.scorecard import ROW_BUILDERS

    assert sorted(ROW_BUILDERS) == CLAIM_CHAPTERS
    res = example_results(chapter)
    if chapter == "05_deletion_impact":
        row = {"graph": "BA", "layers": 12, "pearson": 0.4, "ci_low": 0.3, "ci_high": 0.5, "seeds_low": 0.2,
               "seeds_high": 0.6, "n_seeds": 2, "n": 30}
        res.update(rule_table2=[{**row, "paper": 0.9}], stored_rule_table2=[row],
                   stored_table2=[{**row, "editor": "rome", "edit_token": "subject_last", "spearman": 0.3}])
    declared = _declared_only(R.validate_results(chapter, res))
    rows = [c for build in ROW_BUILDERS[chapter] for c in build(res)]
    assert rows and rows == [c for build in ROW_BUILDERS[chapter] for c in build(declared)]
