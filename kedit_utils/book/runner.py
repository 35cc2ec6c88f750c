"""Run the chapter notebooks and build the book.

Notebooks are jupytext py:percent files in ``notebooks/`` (the only source). The runner
converts one to a notebook with jupytext, executes it with papermill (python3 kernel,
parameters from the command line and the profile), and writes the executed notebook to
``book/chapters/<name>.ipynb`` where the book reads it. Summary pages (the scorecard) are
notebooks too; they read the chapters' results and run after every chapter. Each chapter
page gets a line of downloads (its executed notebook and its results file), added by the
runner so that no chapter can forget it. Output is written to a temporary
file and renamed only on success: a failed or interrupted run leaves no half-executed page.
A failure raises :class:`NotebookFailed` naming the notebook, the cell and the error. The
kernel process's own stdout and stderr reach the terminal without ipykernel's two messages
that read as failures (:mod:`kedit_utils.book.kernel_output`).

Executed pages are artifacts too (``reuse=True``, what ``kedit book`` and ``kedit run`` do
unless given ``--rerun``): the executed notebook and its results file are kept in the
artifact cache under a key of every input of the run (:func:`page_inputs`: the notebook's
source, its parameters, the source of every module of ``kedit_utils``, the versions of the
libraries that compute, the CPU threads and whether a GPU is there, the content signature of
any file or folder a parameter names, and for a summary page the chapters' results). When
nothing of that changed, the page is the one that run computed, and no kernel starts: that
is what makes a second ``make book`` take seconds.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kedit_utils.book.profiles import PROFILE_NAMES
from kedit_utils.book.results import results_dir
from kedit_utils.core.cache import PROJECT_ROOT
from kedit_utils.core.validation import ParameterError, check_choice

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
BOOK_DIR = PROJECT_ROOT / "book"
EXECUTED_DIR = BOOK_DIR / "chapters"


class NotebookFailed(RuntimeError):
    """A chapter notebook raised: names the notebook, the cell and the error, and when the
    kernel's traceback says so, the cell's line that raised and (for an error other than a
    :class:`ParameterError`) the function of ``kedit_utils`` or a library it came from."""

    def __init__(self, notebook: str, cell: int | None, ename: str, evalue: str, source: str = "",
                 traceback: list[str] | tuple[str, ...] = ()):
        self.notebook, self.cell, self.ename, self.evalue = notebook, cell, ename, evalue
        self.line, raised_in = _traceback_places(traceback)
        where = f"cell {cell}" if cell is not None else "an unknown cell"
        lines = source.splitlines()  # IPython numbers the cell's lines from its first
        snippet = "\n    ".join(source.strip().splitlines()[:6])
        message = f"notebook {notebook!r} failed in {where}: {ename}: {evalue}"
        if snippet:
            message += f"\n  cell source:\n    {snippet}"
        if self.line is not None and 0 < self.line <= len(lines):
            statement = "\n    ".join(_statement(lines, self.line - 1))
            message += f"\n  raised by line {self.line} of the cell:\n    {statement}"
        if raised_in and ename != "ParameterError":  # a clean parameter error needs no stack
            message += f"\n  raised in: {raised_in}"
        super().__init__(message)


def _statement(lines: list[str], first: int, most: int = 4) -> list[str]:
    """The lines of the statement that starts at ``lines[first]`` (until its brackets close,
    at most ``most`` lines)."""
    out, depth = [], 0
    for line in lines[first:first + most]:
        out.append(line.rstrip())
        depth += sum(line.count(c) for c in "([{") - sum(line.count(c) for c in ")]}")
        if depth <= 0:
            break
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_FRAME = re.compile(r"Cell In\[\d+\], line (\d+)")
_FILE_FRAME = re.compile(r"File (\S+?):(\d+), in (\w+)")


def _traceback_places(traceback) -> tuple[int | None, str | None]:
    """From IPython's traceback of a failed cell: the cell's line that raised (its first
    ``Cell In[k], line L`` frame) and the innermost ``File path:line, in function`` frame."""
    frames = [_ANSI.sub("", frame) for frame in traceback or ()]
    line = next((int(m.group(1)) for f in frames if (m := _CELL_FRAME.match(f.strip()))), None)
    files = [m for f in frames if (m := _FILE_FRAME.match(f.strip()))]
    raised_in = f"{files[-1].group(1)}:{files[-1].group(2)}, in {files[-1].group(3)}" if files else None
    return line, raised_in


class BookBuildFailed(RuntimeError):
    """``jupyter-book build`` reported an error or a warning (warnings are errors)."""


# Pages computed from the chapters' results; they run after every chapter.
SUMMARY_PAGES = ("scorecard",)


def list_notebooks(folder: Path = NOTEBOOKS_DIR) -> list[str]:
    """Chapter names (``01_knowledge_graphs``, ...) in order."""
    return sorted(p.stem for p in Path(folder).glob("[0-9][0-9]_*.py"))


def list_pages(folder: Path = NOTEBOOKS_DIR) -> list[str]:
    """Every notebook the book runs, in running order: the chapters, then the summary pages."""
    return list_notebooks(folder) + [p for p in SUMMARY_PAGES if (Path(folder) / f"{p}.py").is_file()]


def notebook_path(name: str, folder: Path = NOTEBOOKS_DIR) -> Path:
    names = list_pages(folder)
    name = Path(name).stem
    if name not in names:
        raise ParameterError("notebook", name, f"must be one of {names}")
    return Path(folder) / f"{name}.py"


def chapter_title(name: str, folder: Path = NOTEBOOKS_DIR) -> str:
    """The first heading of a notebook ("2. GPT-2 models trained from scratch ...")."""
    for cell in read_notebook(name, folder).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return name


def downloads_markdown(name: str) -> str:
    """The line of downloads a chapter page shows under its title (MyST ``download`` roles;
    :func:`build_book` puts the results file where the role finds it)."""
    return (f"**Downloads:** {{download}}`executed notebook <{name}.ipynb>` · "
            f"{{download}}`results <{RESULTS_IN_BOOK}/{name}.json>` "
            f"(the numbers this page quotes, as `results/{name}.json`)")


RESULTS_IN_BOOK = "results"  # beside the executed chapters in the book's source folder


def read_notebook(name: str, folder: Path = NOTEBOOKS_DIR):
    import jupytext

    return jupytext.read(notebook_path(name, folder))


def parameter_defaults(nb) -> dict[str, Any]:
    """Names and literal values of the cell tagged ``parameters`` (must be the first code cell)."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    if not code_cells or "parameters" not in code_cells[0].metadata.get("tags", []):
        raise ValueError("the first code cell must be tagged 'parameters'")
    out = {}
    for node in ast.parse(code_cells[0].source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = ast.literal_eval(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = ast.literal_eval(node.value)
        else:
            raise ValueError(f"parameters cell: only `name = literal` lines are allowed, got {ast.dump(node)[:80]}")
    return out


def check_parameters(name: str, nb, parameters: dict[str, Any]) -> None:
    known = parameter_defaults(nb)
    for key in parameters:
        if key not in known:
            raise ParameterError(key, parameters[key], f"is not a parameter of {name}; its parameters are {sorted(known)}")
    if "profile" in parameters:
        check_choice("profile", parameters["profile"], PROFILE_NAMES)


PAGE_CACHE_KIND = "executed-pages"
VERSIONED_LIBRARIES = ("torch", "transformers", "numpy", "pandas", "networkx", "peft", "scipy", "matplotlib")


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:16]


def package_source_hash() -> str:
    """Hash of every ``.py`` file of ``kedit_utils`` (path and content): any code change
    re-executes every page."""
    pkg = PROJECT_ROOT / "kedit_utils"
    return _sha(b"".join(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes()
                         for f in sorted(pkg.rglob("*.py"))))


def path_signature(value: Any) -> Any:
    """For a parameter naming an existing file or folder: (relative name, size, mtime) of
    every file in it, hashed (a user's data or model folder that changes re-executes the
    page); ``None`` for anything else."""
    if not isinstance(value, str) or not value or len(value) > 4096:
        return None
    path = Path(value).expanduser()
    try:
        if not path.exists():
            return None
        files = [path] if path.is_file() else sorted(f for f in path.rglob("*") if f.is_file())
        return _sha("\n".join(f"{f.relative_to(path) if f != path else f.name}|{f.stat().st_size}|"
                              f"{f.stat().st_mtime_ns}" for f in files).encode())
    except OSError:
        return None


def page_inputs(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Every input of one page's run (module docstring); the page cache's key hashes it."""
    from importlib import metadata

    import torch

    versions = {}
    for lib in VERSIONED_LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    inputs = {
        "notebook": name, "source": _sha(notebook_path(name).read_bytes()), "parameters": parameters,
        "package": package_source_hash(), "python": sys.version.split()[0], "versions": versions,
        "threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
        "files": {k: sig for k, v in sorted(parameters.items()) if (sig := path_signature(v)) is not None},
    }
    from kedit_utils.book.stored_results import stored_dir

    stored = sorted(stored_dir().glob(f"{name}.*.json"))
    if stored:  # paper-scale results the page shows (kedit_utils.book.stored_results)
        inputs["stored"] = {f.name: _sha(f.read_bytes()) for f in stored}
    if name in SUMMARY_PAGES:  # computed from the chapters' results
        inputs["results"] = {f.name: _sha(f.read_bytes()) for f in sorted(results_dir().glob("*.json"))
                             if f.stem != name}
    return inputs


def run_notebook(
    name: str,
    parameters: dict[str, Any] | None = None,
    output_dir: Path = EXECUTED_DIR,
    log_output: bool = False,
    progress: bool = True,
    reuse: bool = False,
) -> Path:
    """Execute one chapter; returns the executed notebook's path.

    ``parameters`` override the notebook's ``parameters`` cell (unknown names are an error
    before anything runs). Results go to ``$KEDIT_RESULTS`` (default ``results/``).
    ``reuse``: when a run with the same inputs (:func:`page_inputs`) is in the artifact
    cache, its executed page and results file are put in place instead of running again.
    """
    parameters = dict(parameters or {})
    nb = read_notebook(name)
    name = notebook_path(name).stem
    check_parameters(name, nb, parameters)
    os.environ.setdefault("KEDIT_RESULTS", str(results_dir()))
    if not reuse:
        return _execute(name, nb, parameters, Path(output_dir), log_output, progress)
    from kedit_utils.core.cache import artifact_dir, cache_key, cached, is_complete

    inputs = page_inputs(name, parameters)
    key = cache_key(inputs)
    if is_complete(artifact_dir(PAGE_CACHE_KIND, key)):
        print(f"[kedit] {name}: same inputs as a run in the cache ({key[:12]}); its page and results are "
              "reused (--rerun executes it again)", flush=True)

    def build(tmp: Path) -> None:
        page = _execute(name, nb, parameters, tmp, log_output, progress)
        results = results_dir() / f"{name}.json"
        if results.is_file():
            shutil.copyfile(results, tmp / "results.json")
        page.rename(tmp / "page.ipynb")

    entry = cached(PAGE_CACHE_KIND, inputs, "", build)
    return _put_in_place(entry, name, Path(output_dir))


def _put_in_place(entry: Path, name: str, output_dir: Path) -> Path:
    """Copy a cached page and its results file to where a run would have written them
    (each through a temporary file and a rename)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    if (entry / "results.json").is_file():
        _copy_atomic(entry / "results.json", results_dir() / f"{name}.json")
    return _copy_atomic(entry / "page.ipynb", output_dir / f"{name}.ipynb")


def _copy_atomic(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f".{dst.name}.tmp"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    return dst


def _execute(name: str, nb, parameters: dict[str, Any], output_dir: Path, log_output: bool, progress: bool) -> Path:
    """Run the notebook with papermill; the executed page is renamed into ``output_dir``."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from kedit_utils.book.kernel_output import QuietKernelManager

    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    output_dir.mkdir(parents=True, exist_ok=True)
    final = output_dir / f"{name}.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{name}.ipynb"
        nbformat.write(nb, src)
        partial = Path(tmp) / f"{name}.out.ipynb"
        try:
            pm.execute_notebook(
                str(src), str(partial), parameters=parameters, kernel_name="python3",
                cwd=str(NOTEBOOKS_DIR), log_output=log_output, progress_bar=progress,
                kernel_manager_class=QuietKernelManager,  # the kernel's stdout/stderr without two false alarms
            )
        except PapermillExecutionError as err:
            # the failing cell's own source (the output notebook has an extra error cell on
            # top, so its index would point one cell off)
            raise NotebookFailed(name, err.exec_count, err.ename, err.evalue, err.source or "",
                                 err.traceback or ()) from None
        if name not in SUMMARY_PAGES:
            _add_downloads(partial, name)
        tmp_final = output_dir / f".{name}.ipynb.tmp"
        shutil.move(partial, tmp_final)  # same folder as the final page, so the rename is atomic
        os.replace(tmp_final, final)
    return final


def _add_downloads(path: Path, name: str) -> None:
    """Insert the downloads line after the title cell of an executed chapter."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_markdown_cell(downloads_markdown(name))
    cell.metadata["tags"] = ["kedit-downloads"]
    nb.cells.insert(1, cell)
    nbformat.write(nb, path)


def run_summaries(parameters: dict[str, Any] | None = None, output_dir: Path = EXECUTED_DIR, **kw) -> list[Path]:
    """Run the summary pages (the scorecard) on the results the chapters wrote."""
    params = {k: v for k, v in (parameters or {}).items() if k in ("profile", "seed", "device")}
    return [run_notebook(name, params, output_dir, **kw) for name in list_pages() if name in SUMMARY_PAGES]


def run_all(parameters: dict[str, Any] | None = None, output_dir: Path = EXECUTED_DIR, **kw) -> list[Path]:
    """Run every chapter in order with the same ``parameters`` (profile, seed, device ...),
    then the summary pages."""
    outs = []
    for name in list_notebooks():
        t0 = time.time()
        print(f"[kedit] running {name} ...", flush=True)
        outs.append(run_notebook(name, parameters, output_dir, **kw))
        print(f"[kedit] {name} done in {time.time() - t0:.0f} s", flush=True)
    print("[kedit] scorecard ...", flush=True)
    outs += run_summaries(parameters, output_dir, **kw)
    return outs


def copy_results_into_book(book_dir: Path = BOOK_DIR) -> None:
    """Copy ``results/<chapter>.json`` beside the executed chapters, for their download links.

    Every executed chapter must have its results file: a missing one is an error naming it
    (the page's download link would otherwise be dead)."""
    chapters = Path(book_dir) / "chapters"
    target = chapters / RESULTS_IN_BOOK
    target.mkdir(parents=True, exist_ok=True)
    for page in sorted(chapters.glob("[0-9][0-9]_*.ipynb")):
        src = results_dir() / f"{page.stem}.json"
        if not src.is_file():
            raise BookBuildFailed(f"{page.name} was executed but its results file {src.name} is missing "
                                  f"from the results folder: re-run `kedit run {page.stem}`")
        shutil.copyfile(src, target / src.name)


def build_book(book_dir: Path = BOOK_DIR, build_dir: Path | None = None) -> Path:
    """``jupyter-book build`` (warnings are errors, notebooks not re-executed); returns index.html."""
    copy_results_into_book(book_dir)
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(book_dir), "--warningiserror", "--keep-going"]
    if build_dir is not None:
        cmd += ["--path-output", str(build_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BookBuildFailed(f"jupyter-book build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    root = Path(build_dir) if build_dir is not None else Path(book_dir)
    return root / "_build" / "html" / "index.html"
