"""Stored paper-scale results (issue 12): provenance fields, schema, a clean tree required."""
import json
import re

import pytest

from kedit_utils.book import stored_results
from kedit_utils.book.stored_results import PROVENANCE_FIELDS, load_stored, store, stored_dir
from kedit_utils.core.validation import ParameterError

TABLE2 = {"editor", "graph", "layers", "pearson", "spearman", "ci_low", "ci_high", "n_seeds"}


@pytest.mark.parametrize("path", [p for p in sorted(stored_dir().glob("*.json")) if p.name.count(".") == 2],
                         ids=lambda p: p.name)
def test_every_committed_stored_file_names_its_command_commit_machine_date_and_wall_time(path):
    data = json.loads(path.read_text())
    prov = data["provenance"]
    assert set(PROVENANCE_FIELDS) <= set(prov)
    assert prov["command"].startswith("kedit run ") and "--store" in prov["command"]
    assert len(prov["commit"]) == 40 and float(prov["wall_seconds"]) > 0
    notebook, profile = path.name.split(".")[:2]
    assert data["results"]["meta"]["notebook"] == notebook and data["results"]["meta"]["profile"] == profile
    if notebook == "05_deletion_impact":
        assert all(TABLE2 <= set(row) for row in data["results"]["table2"])


@pytest.mark.parametrize("path", sorted(stored_dir().glob("*.json")), ids=lambda p: p.name)
def test_no_committed_stored_file_names_a_module_or_a_cache_key(path):
    """Stored runs (whole files and parts) outlive the package's layout and its cache keys
    (issue 29 §2): they name no module path or dotted module, and no artifact folder."""
    text = path.read_text()
    assert "kedit_utils" not in text
    assert not re.search(r"[\w/]+\.py\b", text)
    assert ".cache/" not in text


def test_store_wraps_the_results_unedited_and_load_checks_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr(stored_results, "stored_dir", lambda: tmp_path / "stored")
    results = {"meta": {"notebook": "05_deletion_impact", "profile": "paper"}, "table2": [{"pearson": 0.5}]}
    src = tmp_path / "05_deletion_impact.json"
    src.write_text(json.dumps(results))
    out = store("05_deletion_impact", src, "kedit run 05_deletion_impact -p profile paper --store", "a" * 40, 12.5)
    assert out.name == "05_deletion_impact.paper.json"
    loaded = load_stored("05_deletion_impact", "paper")
    assert loaded["results"] == results and loaded["provenance"]["wall_seconds"] == 12.5
    data = json.loads(out.read_text())
    del data["provenance"]["commit"]
    out.write_text(json.dumps(data))
    with pytest.raises(ParameterError, match="commit"):
        load_stored("05_deletion_impact", "paper")
    assert load_stored("02_training", "paper") is None


def test_store_refuses_a_dirty_working_tree(tmp_path):
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.txt").write_text("a")
    subprocess.run(["git", "-C", str(tmp_path), "add", "f.txt"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x"],
                   check=True)
    assert len(stored_results.clean_commit(tmp_path)) == 40
    (tmp_path / "f.txt").write_text("b")
    with pytest.raises(ParameterError, match="--store.*clean working tree"):
        stored_results.clean_commit(tmp_path)
