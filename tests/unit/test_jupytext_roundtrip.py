"""Opening and saving a notebook in JupyterLab leaves its .py byte-identical unless a cell
changed (notebooks/jupytext.toml). Saved through Jupytext's own contents manager, the one
JupyterLab uses, rooted at a copy of notebooks/ as `make lab` serves it, with the notebook
metadata JupyterLab sets once a kernel runs (kernelspec, language_info) and the cell metadata
running and viewing adds."""
import asyncio
import copy
import difflib
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
# what JupyterLab writes into the notebook metadata from the running kernel (make setup's kernel)
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (kedit)", "language": "python"}
LANGUAGE_INFO = {
    "name": "python", "version": "3.11.2", "mimetype": "text/x-python", "file_extension": ".py",
    "codemirror_mode": {"name": "ipython", "version": 3}, "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


def as_jupyterlab_saves(nb):
    """The notebook model JupyterLab sends back after running and viewing it."""
    nb = copy.deepcopy(nb)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    for i, cell in enumerate(nb.cells):
        cell.setdefault("id", f"cell-{i}")
        cell.metadata["trusted"] = True
        if cell.cell_type == "code":
            cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00.000Z"}
            cell.metadata["scrolled"] = True
            cell.metadata["jupyter"] = {"outputs_hidden": False}
    return nb


@pytest.fixture()
def served(tmp_path):
    """A copy of notebooks/ (the folder `make lab` serves) and Jupytext's contents manager on it."""
    pytest.importorskip("jupyter_server", reason="jupyter_server comes with the lab extra (make test installs it)")
    from jupytext.async_contentsmanager import AsyncTextFileContentsManager

    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    return root, AsyncTextFileContentsManager(root_dir=str(root))


def test_there_are_notebooks_and_a_jupytext_config_beside_them():
    assert len(NOTEBOOKS) >= 5
    assert (ROOT / "notebooks" / "jupytext.toml").is_file()


def test_saving_in_jupyterlab_leaves_every_notebook_byte_identical(served):
    root, cm = served

    async def roundtrip(name):
        model = await cm.get(name, content=True, type="notebook")
        saved = as_jupyterlab_saves(model["content"])
        await cm.save({"type": "notebook", "format": "json", "content": saved}, name)

    for src in NOTEBOOKS:
        asyncio.run(roundtrip(src.name))
        before, after = src.read_text(), (root / src.name).read_text()
        diff = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=1))
        assert after == before, f"{src.name} changed on save:\n{diff}"
        assert (root / src.name).read_bytes() == src.read_bytes()


def test_a_changed_cell_changes_only_that_cell(served):
    root, cm = served
    name = NOTEBOOKS[0].name

    async def edit_and_save():
        model = await cm.get(name, content=True, type="notebook")
        nb = as_jupyterlab_saves(model["content"])
        code = next(c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", []))
        code.source = code.source.replace("seed = 0", "seed = 7")
        await cm.save({"type": "notebook", "format": "json", "content": nb}, name)

    asyncio.run(edit_and_save())
    before, after = NOTEBOOKS[0].read_text().splitlines(), (root / name).read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and changed == [("seed = 0", "seed = 7")]


def test_notebooks_name_the_kernel_make_setup_installs():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r'ipykernel install --sys-prefix --name python3 --display-name "Python 3 \(kedit\)"', makefile)
    for src in NOTEBOOKS:
        header = src.read_text().split("# ---\n")[1]
        for key, value in KERNELSPEC.items():
            assert f"#     {key}: {value}\n" in header, (src.name, key)


def test_lab_override_opens_python_files_with_the_installed_jupytext_viewer():
    """kedit_utils/book/lab/overrides.json5 names a real plugin setting and a real document factory
    of the installed JupyterLab and jupytext (so an upgrade that renames either fails here)."""
    json5 = pytest.importorskip("json5", reason="json5 comes with the lab extra (make test installs it)")
    import sys

    override = json5.loads((ROOT / "kedit_utils" / "book" / "lab" / "overrides.json5").read_text())
    assert override == {"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}
    lab = Path(sys.prefix) / "share" / "jupyter" / "lab"
    schema = json5.loads((lab / "schemas" / "@jupyterlab" / "docmanager-extension" / "plugin.json").read_text())
    assert "defaultViewers" in schema["properties"]
    jupytext_js = (lab.parent / "labextensions" / "jupyterlab-jupytext" / "static").glob("*.js")
    assert any('"Jupytext Notebook"' in p.read_text(errors="ignore") for p in jupytext_js)
