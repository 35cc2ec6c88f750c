"""Results as data: each chapter writes its headline numbers to ``results/<notebook>.json``.

The book quotes them with myst-nb ``glue`` (:func:`glue_number`), so a number is computed
once, by the run that built the page, and never retyped. ``$KEDIT_RESULTS`` overrides the
folder (the runner sets it for the kernels it starts).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .cache import PROJECT_ROOT, write_json_atomic


def results_dir() -> Path:
    return Path(os.environ.get("KEDIT_RESULTS") or PROJECT_ROOT / "results")


def save_results(notebook: str, data: dict) -> Path:
    """Write ``data`` to ``results/<notebook>.json`` atomically; returns the path."""
    return write_json_atomic(results_dir() / f"{notebook}.json", data)


def load_results(notebook: str) -> dict:
    return json.loads((results_dir() / f"{notebook}.json").read_text())


def glue_number(key: str, value: Any, fmt: str | None = None) -> Any:
    """Glue ``value`` under ``key`` for the book (no output shown); returns the value.

    ``fmt`` (e.g. ``".3f"``) is applied here, so the page shows exactly this rendering.
    """
    from myst_nb import glue

    shown = format(value, fmt) if fmt else value
    glue(key, shown, display=False)
    return value


def glue_figure(key: str, fig) -> None:
    """Glue a matplotlib figure (shown where the page uses ``{glue:figure}``)."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(key, fig, display=False)
    plt.close(fig)
