"""A paper-scale run stored part by part (issues 12 §4 and 13): each part's provenance and
schema, joining parts, and a deletion stored twice refused."""
import json

import pytest

from kedit_utils.book import stored_parts
from kedit_utils.book.stored_parts import (
    ENTITY_COLUMNS,
    combined_entities,
    load_parts,
    part_path,
    provenance_markdown,
    provenance_table,
    run_part,
    store_part,
)
from kedit_utils.book.stored_results import PROVENANCE_FIELDS, stored_dir
from kedit_utils.core.validation import ParameterError


@pytest.mark.parametrize("path", [p for p in sorted(stored_dir().glob("*.json")) if p.name.count(".") > 2],
                         ids=lambda p: p.name)
def test_every_committed_part_names_its_command_commit_machine_date_and_wall_time(path):
    data = json.loads(path.read_text())
    prov, meta = data["provenance"], data["results"]["meta"]
    assert set(PROVENANCE_FIELDS) <= set(prov)
    assert prov["command"].startswith("kedit store-part ")
    assert len(prov["commit"]) == 40 and float(prov["wall_seconds"]) > 0
    assert path == part_path(meta["notebook"], meta["profile"], meta["part"], meta["seeds"], meta["layers"])
    rows = data["results"]["entities"]
    assert rows and {row["seed"] for row in rows} == set(meta["seeds"])
    assert {row["layers"] for row in rows} == set(meta["layers"])
    assert all({"graph", "layers", "degree", "impact", "skipped"} <= set(row) <= set(ENTITY_COLUMNS) for row in rows)


def _rows(seed, editor="rome", n=4):
    return [{"editor": editor, "edit_token": "subject_last", "seed": seed, "graph": "BA", "layers": 6, "entity": e,
             "degree": e + 1, "impact": 0.01 * (e + 1), "side_effect": 0.0, "skipped": False} for e in range(n)]


def _part(seeds, rows, part="sweep"):
    return {"meta": {"notebook": "05_deletion_impact", "profile": "paper", "part": part, "seeds": seeds,
                     "layers": [6], "parameters": {}}, "entities": rows}


def test_parts_are_stored_with_provenance_joined_and_a_deletion_stored_twice_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(stored_parts, "stored_dir", lambda: tmp_path)
    store_part(_part([0], _rows(0)), "kedit store-part 05_deletion_impact sweep -p seeds [0]", "a" * 40, 10.0)
    out = store_part(_part([1], _rows(1)), "kedit store-part 05_deletion_impact sweep -p seeds [1]", "b" * 40, 20.0)
    assert out.name == "05_deletion_impact.paper.sweep.seeds-1.layers-6.json"
    parts = load_parts("05_deletion_impact", "paper", "sweep")
    assert [p["file"] for p in parts] == ["05_deletion_impact.paper.sweep.seeds-0.layers-6.json", out.name]
    table = combined_entities(parts)
    assert sorted(table.seed.unique()) == [0, 1] and len(table) == 8
    assert list(provenance_table(parts).commit) == ["a" * 40, "b" * 40]
    lines = provenance_markdown(parts).splitlines()
    assert lines[1] == ("- **sweep**, seed 1, 6 layers: `kedit store-part 05_deletion_impact sweep -p seeds [1]` at "
                        f"commit `{'b' * 12}`, {parts[1]['provenance']['date']}, 0 h 00 min on "
                        f"{parts[1]['provenance']['machine']}")
    assert load_parts("05_deletion_impact", "paper", "rule") == []
    # seed 1 again, in a file of seeds 1 and 2: the same deletions twice
    store_part(_part([1, 2], _rows(1) + _rows(2)), "kedit store-part ...", "c" * 40, 5.0)
    with pytest.raises(ParameterError, match="seeds-1-2.layers-6.json.*seeds-1.layers-6.json"):
        combined_entities(load_parts("05_deletion_impact", "paper", "sweep"))
    data = json.loads(out.read_text())
    del data["provenance"]["machine"]
    out.write_text(json.dumps(data))
    with pytest.raises(ParameterError, match="machine"):
        load_parts("05_deletion_impact", "paper", "sweep")


def test_a_bad_part_or_parameter_is_refused_before_any_work():
    with pytest.raises(ParameterError, match="part.*'table'"):
        run_part("05_deletion_impact", "table", {})
    with pytest.raises(ParameterError, match="notebook"):
        run_part("02_training", "sweep", {})
    with pytest.raises(ParameterError, match="n_layer"):
        run_part("05_deletion_impact", "sweep", {"n_layer": 6})
    with pytest.raises(ParameterError, match="executor"):
        run_part("05_deletion_impact", "sweep", {"executor": "spark"})
    with pytest.raises(ParameterError, match="compare_token"):
        run_part("05_deletion_impact", "sweep", {"compare_token": "subject_last"})
