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

from kedit_utils.core.cache import PROJECT_ROOT, write_json_atomic


def results_dir() -> Path:
    return Path(os.environ.get("KEDIT_RESULTS") or PROJECT_ROOT / "results")


def save_results(notebook: str, data: dict, parameters: dict | None = None) -> None:
    """Write ``data`` to ``results/<notebook>.json`` atomically.

    ``parameters`` (the chapter's resolved parameters, with ``profile``) are stored under
    ``meta`` so that the scorecard can say which profile built each number. Returns nothing,
    so a notebook cell ending with this call prints no path of the build machine.
    """
    meta = {"notebook": notebook}
    if parameters is not None:
        meta["profile"] = parameters.get("profile", "unknown")
        meta["parameters"] = {k: v for k, v in parameters.items() if _jsonable(v)}
    write_json_atomic(results_dir() / f"{notebook}.json", {"meta": meta, **data})


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


def frame_records(frame) -> list[dict]:
    """A DataFrame's rows as JSON-ready dicts for :func:`save_results`: NaN becomes None and
    numpy scalars plain Python numbers (an empty frame gives [])."""
    import math

    out = []
    for row in frame.to_dict("records") if len(frame) else []:
        rec = {}
        for k, v in row.items():
            v = v.item() if hasattr(v, "item") else v
            rec[k] = None if isinstance(v, float) and not math.isfinite(v) else v
        out.append(rec)
    return out


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
    """Glue a matplotlib figure for a numbered, captioned ``{glue:figure}`` on the page.

    The figure is also shown as the cell's output, so a reader running the notebook in
    Jupyter sees it; the cell carries the ``remove-output`` tag so that the page shows it
    once, where the directive places it with its caption (see CONTRIBUTING.md).
    """
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(key, fig, display=True)
    plt.close(fig)
