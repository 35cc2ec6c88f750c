"""Runner and profiles: parameters checked before any work, clear failures, no partial output."""
import pytest

from kedit_utils.book import cli, profiles, runner
from kedit_utils.core.validation import ParameterError


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


def test_scorecard_runs_after_every_chapter_and_has_the_common_parameters():
    pages = runner.list_pages()
    assert pages[:-1] == runner.list_notebooks() and pages[-1] == "scorecard"
    assert {"profile", "seed", "device"} <= set(runner.parameter_defaults(runner.read_notebook("scorecard")))


def test_every_page_starts_with_its_parameters_and_tags_its_bookkeeping():
    """The conventions of CONTRIBUTING.md: a title, then the parameters cell; glue and
    save_results calls only in cells removed from the page."""
    for name in runner.list_pages():
        nb = runner.read_notebook(name)
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), name
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            tags = set(cell.metadata.get("tags", []))
            if "save_results(" in cell.source or "glue_number(" in cell.source:
                assert "remove-cell" in tags, f"{name}: bookkeeping cell not removed:\n{cell.source[:200]}"
            if "glue_figure(" in cell.source:
                assert {"hide-input", "remove-output"} <= tags, f"{name}: figure cell not folded:\n{cell.source[:200]}"


def test_downloads_line_is_added_to_chapters(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 2. Title"),
                                         nbformat.v4.new_code_cell("1")])
    path = tmp_path / "02_training.ipynb"
    nbformat.write(nb, path)
    runner._add_downloads(path, "02_training")
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].source == "# 2. Title" and "{download}`executed notebook <02_training.ipynb>`" in cells[1].source
    assert "results/02_training.json" in cells[1].source


def test_book_build_needs_every_chapters_results(tmp_path, monkeypatch):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "02_training.ipynb").write_text("{}")
    monkeypatch.setenv("KEDIT_RESULTS", str(tmp_path / "results"))
    with pytest.raises(runner.BookBuildFailed, match="02_training.json"):
        runner.copy_results_into_book(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "02_training.json").write_text("{}")
    runner.copy_results_into_book(tmp_path)
    assert (tmp_path / "chapters" / "results" / "02_training.json").is_file()


def test_an_unchanged_page_is_reused_and_any_changed_input_runs_it_again(tmp_path, monkeypatch):
    """``reuse=True`` (kedit book, kedit run): the second run with the same inputs puts the
    cached page and results in place without executing; another parameter value, another
    content of a file a parameter names, or another package source executes again; a failed
    run caches nothing."""
    import json

    import nbformat

    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KEDIT_RESULTS", str(tmp_path / "results"))
    runs = []

    def fake_execute(name, nb, parameters, output_dir, log_output, progress):
        runs.append(dict(parameters))
        if parameters.get("n_entities") == 13:
            raise runner.NotebookFailed(name, 3, "ValueError", "boom")
        (tmp_path / "results").mkdir(exist_ok=True)
        (tmp_path / "results" / f"{name}.json").write_text(json.dumps({"run": len(runs)}))
        output_dir.mkdir(parents=True, exist_ok=True)
        page = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"run {len(runs)}")])
        nbformat.write(page, output_dir / f"{name}.ipynb")
        return output_dir / f"{name}.ipynb"

    monkeypatch.setattr(runner, "_execute", fake_execute)
    data = tmp_path / "facts.json"
    data.write_text("[1]")
    out = tmp_path / "pages"
    first = runner.run_notebook("01_knowledge_graphs", {"n_entities": 12, "seed": str(data)}, out, reuse=True)
    (tmp_path / "results" / "01_knowledge_graphs.json").unlink()
    again = runner.run_notebook("01_knowledge_graphs", {"n_entities": 12, "seed": str(data)}, out, reuse=True)
    assert len(runs) == 1 and again == first
    assert "run 1" in again.read_text()
    assert json.loads((tmp_path / "results" / "01_knowledge_graphs.json").read_text()) == {"run": 1}
    runner.run_notebook("01_knowledge_graphs", {"n_entities": 14, "seed": str(data)}, out, reuse=True)
    assert len(runs) == 2
    data.write_text("[1, 2]")
    import os
    os.utime(data, ns=(1, 1))  # another size and time: the file's signature changes
    runner.run_notebook("01_knowledge_graphs", {"n_entities": 12, "seed": str(data)}, out, reuse=True)
    assert len(runs) == 3
    monkeypatch.setattr(runner, "package_source_hash", lambda: "edited")
    runner.run_notebook("01_knowledge_graphs", {"n_entities": 12, "seed": str(data)}, out, reuse=True)
    assert len(runs) == 4
    with pytest.raises(runner.NotebookFailed):
        runner.run_notebook("01_knowledge_graphs", {"n_entities": 13}, out, reuse=True)
    with pytest.raises(runner.NotebookFailed):
        runner.run_notebook("01_knowledge_graphs", {"n_entities": 13}, out, reuse=True)
    assert len(runs) == 6  # the failure was not cached
    entries = list((tmp_path / "cache" / runner.PAGE_CACHE_KIND).iterdir())
    assert len(entries) == 4 and all((e / ".complete").is_file() for e in entries)
    assert runner.run_notebook("01_knowledge_graphs", {"n_entities": 12, "seed": str(data)}, out) and len(runs) == 7


def test_the_scorecards_inputs_include_the_chapters_results(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_RESULTS", str(tmp_path))
    (tmp_path / "02_training.json").write_text("{}")
    before = runner.page_inputs("scorecard", {})
    assert runner.page_inputs("01_knowledge_graphs", {}).get("results") is None
    (tmp_path / "02_training.json").write_text('{"a": 1}')
    assert runner.page_inputs("scorecard", {})["results"] != before["results"]


IPYKERNEL_TCP_WARNING = ("[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication "
                         "(including code and outputs) is sent in plain text and is susceptible to eavesdropping. Use "
                         "IPC transport or launch with kernel manager-provisioned CurveZMQ keys to enable transport "
                         "encryption.\n")


@pytest.mark.parametrize("chunk", [1, 7, 64, 100_000])
def test_kernel_output_drops_ipykernels_two_false_alarms_and_passes_everything_else(chunk):
    """What the chapter kernel writes to its own stdout/stderr (kedit_utils.book.kernel_output):
    the TCP warning and the KeyboardInterrupt line of the shutdown are dropped, however the
    text is split; a worker's progress bar, a real kernel error and a traceback pass as written."""
    from kedit_utils.book.kernel_output import NoiseFilter

    bar = "Training:  10%|#         | 1/10\rTraining: 100%|##########| 10/10\n"
    handler_error = "[IPKernelApp] ERROR | Exception in message handler:\n"
    traceback = "Traceback (most recent call last):\n  File \"worker.py\", line 3\nKeyboardInterrupt\n"
    lookalike = "KeyboardInterrupt caught in kernel while training: not ipykernel's line\n"
    crash = "Fatal Python error: Segmentation fault"  # the last words, without a newline
    kept = bar + handler_error + traceback + lookalike + crash
    text = (IPYKERNEL_TCP_WARNING + bar + "KeyboardInterrupt caught in kernel\n" + handler_error + traceback
            + "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.\n" + lookalike + crash)
    out = []
    noise = NoiseFilter(out.append)
    for i in range(0, len(text), chunk):
        noise.feed(text[i:i + chunk])
    noise.close()
    assert "".join(out) == kept


def test_kernel_output_shows_a_progress_bar_as_it_is_drawn():
    """A segment that cannot be a dropped line is passed on before its end arrives."""
    from kedit_utils.book.kernel_output import NoiseFilter, is_kernel_noise

    out = []
    noise = NoiseFilter(out.append)
    noise.feed("\rJobs:  50%|#####     | 1/2")
    assert "".join(out) == "\rJobs:  50%|#####     | 1/2"
    noise.feed("\n[IPKernelApp] WARNING | Kernel is running")  # a new segment that may be the warning: held back
    assert "".join(out) == "\rJobs:  50%|#####     | 1/2\n"
    assert is_kernel_noise(IPYKERNEL_TCP_WARNING.rstrip("\n")) and is_kernel_noise("KeyboardInterrupt caught in kernel")
    assert not is_kernel_noise("[IPKernelApp] WARNING | something else") and not is_kernel_noise("KeyboardInterrupt")


# IPython's traceback of a cell whose line 6 calls a function of a module that raises (as papermill reports it)
IPYTHON_TRACEBACK = [
    "\x1b[31m---------------------------------------------------------------------------\x1b[39m",
    "\x1b[31mKeyError\x1b[39m                                  Traceback (most recent call last)",
    "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[4]\x1b[39m\x1b[32m, line 6\x1b[39m\n"
    "\x1b[32m      5\x1b[39m y = 2\n"
    "\x1b[32m----> \x1b[39m\x1b[32m6\x1b[39m table = build(\n",
    "\x1b[36mFile \x1b[39m\x1b[32m~/kedit/kedit_utils/kg/graphs.py:88\x1b[39m, in "
    "\x1b[36mbuild\x1b[39m\x1b[34m(rows)\x1b[39m\n"
    "\x1b[32m----> \x1b[39m\x1b[32m88\x1b[39m     return rows[\x1b[33m'k'\x1b[39m]\n",
    "\x1b[31mKeyError\x1b[39m: 'k'"]
CELL = "import os\n\nx = 1\n\ny = 2\ntable = build(\n    {'a': 1},\n)\nprint(table)"


def test_a_failed_cell_names_the_line_that_raised_and_where_it_came_from():
    failed = runner.NotebookFailed("02_training", 4, "KeyError", "'k'", CELL, IPYTHON_TRACEBACK)
    message = str(failed)
    assert message.startswith("notebook '02_training' failed in cell 4: KeyError: 'k'\n  cell source:\n    import os")
    assert "raised by line 6 of the cell:\n    table = build(\n        {'a': 1},\n    )" in message
    assert "print(table)" not in message.split("raised by")[1]  # the statement only
    assert message.endswith("raised in: ~/kedit/kedit_utils/kg/graphs.py:88, in build") and failed.line == 6
    # a clean parameter error: the line, not the stack; without a traceback: the message as before
    clean = str(runner.NotebookFailed("02_training", 4, "ParameterError", "parameter 'x' ...", CELL, IPYTHON_TRACEBACK))
    assert "raised by line 6" in clean and "raised in" not in clean
    assert str(runner.NotebookFailed("02_training", 3, "ValueError", "boom")) == \
        "notebook '02_training' failed in cell 3: ValueError: boom"
