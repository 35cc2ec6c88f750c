"""Paper-scale results the quick build cannot compute, stored with their provenance.

The book built by ``make book`` runs every chapter on the quick profile. A paper-scale run
takes hours on a CPU, so its numbers can appear in the default book only from a committed
file that is the *unedited* output of a named command at a named commit (issue 12):
``kedit run <chapter> -p profile paper ... --store`` runs the chapter and, when it
succeeds, writes ``results/stored/<chapter>.<profile>.json``::

    {"provenance": {"command", "commit", "machine", "date", "wall_seconds"},
     "results": <the chapter's results/<chapter>.json, byte for byte as parsed JSON>}

``--store`` refuses to start when the git working tree has uncommitted changes to tracked
files (the commit would not name the code that ran). A chapter shows a stored file beside
its own numbers, marked "not computed by this build", with the provenance.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from kedit_utils.core.cache import PROJECT_ROOT, write_json_atomic
from kedit_utils.core.validation import ParameterError

PROVENANCE_FIELDS = ("command", "commit", "machine", "date", "wall_seconds")


def stored_dir() -> Path:
    """``results/stored`` of the project (committed; not ``$KEDIT_RESULTS``)."""
    return PROJECT_ROOT / "results" / "stored"


def stored_path(notebook: str, profile: str) -> Path:
    return stored_dir() / f"{notebook}.{profile}.json"


def clean_commit(root: Path = PROJECT_ROOT) -> str:
    """HEAD's commit id; ``ParameterError`` (naming ``--store``) when tracked files differ
    from it or git is unavailable: a stored result must name the code that made it."""
    try:
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.rstrip()
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as err:
        raise ParameterError("--store", True, f"needs a git checkout to name the commit ({err})") from None
    if dirty:
        raise ParameterError("--store", True, "needs a clean working tree (commit or stash first): "
                             + ", ".join(line[3:] for line in dirty.splitlines()[:5]))
    return commit


def machine() -> str:
    """This machine in words: CPU count, torch threads, GPU (if any), platform."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, {gpu}, "
            f"{platform.system()} {platform.machine()}, torch {torch.__version__}")


def write_with_provenance(out: Path, results: dict, command: str, commit: str, wall_seconds: float) -> Path:
    """Write ``{"provenance": {command, commit, machine, date, wall_seconds}, "results":
    results}`` to ``out`` atomically; returns ``out``."""
    write_json_atomic(out, {
        "provenance": {"command": command, "commit": commit, "machine": machine(),
                       "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       "wall_seconds": round(float(wall_seconds), 1)},
        "results": results,
    })
    return out


def store(notebook: str, results_file: Path, command: str, commit: str, wall_seconds: float) -> Path:
    """Write the stored file of ``results_file`` (a chapter's results, unedited) with its
    provenance; returns its path."""
    results = json.loads(Path(results_file).read_text())
    profile = results.get("meta", {}).get("profile", "unknown")
    return write_with_provenance(stored_path(notebook, profile), results, command, commit, wall_seconds)


def load_stored(notebook: str, profile: str = "paper") -> dict[str, Any] | None:
    """The stored file of ``notebook`` at ``profile`` (``None`` if there is none); a file
    without every provenance field is an error, not a silent number."""
    path = stored_path(notebook, profile)
    return read_stored(path) if path.exists() else None


def read_stored(path: Path, needs: tuple[str, ...] = ()) -> dict[str, Any]:
    """A stored file's data; ``ParameterError`` naming the file when it lacks a provenance
    field, its results or one of the result keys ``needs``."""
    data = json.loads(Path(path).read_text())
    missing = [f for f in PROVENANCE_FIELDS if f not in data.get("provenance", {})]
    if "results" not in data:
        missing.append("results")
    missing += [f"results.{k}" for k in needs if k not in data.get("results", {})]
    if missing:
        raise ParameterError("stored results", Path(path).name, f"lacks {missing}")
    return data
