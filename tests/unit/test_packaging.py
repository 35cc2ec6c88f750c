"""The frame: pip and conda name the same packages; notebooks follow the house rules."""
import re
import tomllib
from pathlib import Path

import yaml

from kedit_utils.book import profiles, runner

ROOT = Path(__file__).resolve().parents[2]
CONDA_NAMES = {"pytorch": "torch"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for reqs in pyproject["optional-dependencies"].values() for r in reqs]
    pip_names = {_name(r) for r in pyproject["dependencies"] + extras}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            conda |= {_name(d) for d in dep["pip"]}
        else:
            conda.add(CONDA_NAMES.get(_name(dep), _name(dep)))
    conda -= {"python", "pip"}
    assert conda == pip_names


def test_every_notebook_has_a_literal_parameters_cell_and_a_profile():
    names = runner.list_notebooks()
    assert names
    for name in names:
        params = runner.parameter_defaults(runner.read_notebook(name))
        assert {"profile", "seed", "device"} <= set(params), name
        assert params["profile"] == "quick"
        assert name in profiles.PROFILES


def test_every_notebook_is_in_the_book():
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for name in runner.list_notebooks():
        assert f"chapters/{name}" in toc
