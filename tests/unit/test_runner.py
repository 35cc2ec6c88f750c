"""Runner and profiles: parameters checked before any work, clear failures, no partial output."""
import pytest

from kedit_utils import cli, profiles, runner
from kedit_utils.validation import ParameterError


def test_unknown_notebook_and_parameter_are_rejected_up_front(tmp_path):
    with pytest.raises(ParameterError, match="notebook"):
        runner.run_notebook("99_nothing", {}, output_dir=tmp_path)
    with pytest.raises(ParameterError, match="n_entites"):
        runner.run_notebook("01_knowledge_graphs", {"n_entites": 5}, output_dir=tmp_path)
    with pytest.raises(ParameterError, match="profile"):
        runner.run_notebook("01_knowledge_graphs", {"profile": "huge"}, output_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_profile_fills_only_none():
    given = {"profile": "paper", "seed": 1, "device": "cpu", "n_entities": None, "ba_m": 2}
    cfg = profiles.resolve_parameters("01_knowledge_graphs", "paper", given)
    assert cfg["n_entities"] == 200 and cfg["ba_m"] == 2 and cfg["seed"] == 1
    with pytest.raises(ParameterError, match="profile"):
        profiles.resolve_parameters("01_knowledge_graphs", "fast", given)


def test_cli_parses_literals():
    assert cli._parse_params([["a", "0.2"], ["b", "[6, 12]"], ["c", "ba"]], "paper") == {
        "profile": "paper", "a": 0.2, "b": [6, 12], "c": "ba"
    }


def test_cli_reports_bad_parameter(capsys):
    assert cli.main(["run", "01_knowledge_graphs", "-p", "bogus", "1"]) == 2
    assert "bogus" in capsys.readouterr().err
