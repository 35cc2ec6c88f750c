"""Every chapter runs end to end through papermill, writes its results, and the book builds."""
import json
import re

import pytest

from kedit_utils.book import runner

pytestmark = pytest.mark.slow


def test_every_chapter_executed_and_built(tiny_book):
    book, _ = tiny_book
    html = book / "_build" / "html"
    assert (html / "index.html").is_file()
    for name in runner.list_notebooks():
        page = (html / "chapters" / f"{name}.html").read_text()
        assert "Traceback" not in page
        assert "parameters" in page  # the chapter shows its parameters


def test_results_json_written(tiny_book):
    _, results = tiny_book
    for name in runner.list_notebooks():
        data = json.loads((results / f"{name}.json").read_text())
        assert data
    ch1 = json.loads((results / "01_knowledge_graphs.json").read_text())
    er, ba = ch1["graphs"]
    assert er["triples"] == ba["triples"] > 0


def test_glued_numbers_reach_the_page(tiny_book):
    book, results = tiny_book
    page = (book / "_build" / "html" / "chapters" / "01_knowledge_graphs.html").read_text()
    ch1 = json.loads((results / "01_knowledge_graphs.json").read_text())
    assert re.search(rf"\b{ch1['graphs'][1]['max degree']}\b", page)


def test_no_cdn_in_pages(tiny_book):
    book, _ = tiny_book
    for page in (book / "_build" / "html").rglob("*.html"):
        text = page.read_text()
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', text)
        assert not [s for s in scripts if s.startswith(("http:", "https:", "//"))], page


def test_failing_notebook_is_reported_with_cell_and_leaves_no_page(tmp_path):
    with pytest.raises(runner.NotebookFailed) as err:
        runner.run_notebook("01_knowledge_graphs", {"graph_kinds": ["xx"]}, output_dir=tmp_path, progress=False)
    msg = str(err.value)
    assert "01_knowledge_graphs" in msg and "cell" in msg and "graph_kinds" in msg
    assert "from kedit_utils" in msg  # the failing (code) cell's own source, not a neighbour
    assert not list(tmp_path.glob("*.ipynb"))


# The tables each tiny chapter must fill (beyond following its schema, kedit_utils.book.results.RESULTS_SCHEMAS,
# which says which keys every row has): {chapter: [table, ...]}.
NON_EMPTY = {
    "01_knowledge_graphs": ["graphs", "corpus"],
    "02_training": ["table1"],
    "03_embeddings_pca": ["clustering"],
    "04_causal_tracing": ["tracing", "rome_demos"],
    "05_deletion_impact": ["table2", "table3", "entities", "decomposition", "variants", "rule_table2", "edit_effects"],
    "06_meta_learning_propagation": ["table1"],
    "07_editing_methods": ["findings"],
}


@pytest.mark.parametrize("name", sorted(NON_EMPTY))
def test_results_follow_their_schemas(tiny_book, name):
    from kedit_utils.book.results import RESULTS_SCHEMAS, validate_results

    assert sorted(NON_EMPTY) == sorted(RESULTS_SCHEMAS)
    _, results = tiny_book
    data = json.loads((results / f"{name}.json").read_text())
    model = validate_results(name, data)
    for table in NON_EMPTY[name]:
        assert getattr(model, table), f"{name}: {table} is empty"
    if name == "03_embeddings_pca":
        assert {r.kind for r in model.clustering} == {"entity", "relation"}
    if name == "04_causal_tracing":
        assert {r.kind for r in model.tracing} == {"hidden", "mlp", "attn"}


def test_a_part_stored_from_the_command_line_gives_the_chapters_table2(tiny_book, tiny_parameters, tmp_path,
                                                                         monkeypatch):
    """``kedit store-part`` runs the function the chapter calls with the chapter's parameters:
    chapter 5's tiny sweep stored as a part (from the book's cache) gives the chapter's own
    Table 2 when the stored per-entity rows go through the chapter's function."""
    import pandas as pd

    from kedit_utils.book import cli, stored_parts, stored_results
    from kedit_utils.kg.deletion.statistics import degree_impact_table

    book, results = tiny_book
    monkeypatch.setenv("KEDIT_CACHE", str(book.parent / "cache"))
    monkeypatch.setattr(stored_parts, "stored_dir", lambda: tmp_path)
    monkeypatch.setattr(stored_results, "clean_commit", lambda: "f" * 40)
    params = {k: v for k, v in tiny_parameters["05_deletion_impact"].items() if k != "n_boot"}
    argv = ["store-part", "05_deletion_impact", "sweep", "--profile", "quick"]
    for name, value in params.items():
        argv += ["-p", name, json.dumps(value)]
    assert cli.main(argv) == 0
    (part,) = stored_parts.load_parts("05_deletion_impact", "quick", "sweep")
    assert part["provenance"]["command"].startswith("kedit store-part 05_deletion_impact sweep --profile quick -p ")
    rows = stored_parts.combined_entities([part])
    table = degree_impact_table(rows[~rows.skipped.astype(bool)], ["editor", "graph", "layers"],
                                n_boot=tiny_parameters["05_deletion_impact"]["n_boot"], seed=0)
    chapter = pd.DataFrame(json.loads((results / "05_deletion_impact.json").read_text())["table2"])
    merged = chapter.merge(table, on=["editor", "graph", "layers"], suffixes=("", "_part"))
    assert len(merged) == len(chapter) > 0
    for col in ("pearson", "ci_low", "ci_high"):
        pd.testing.assert_series_equal(merged[col], merged[f"{col}_part"], check_names=False)
