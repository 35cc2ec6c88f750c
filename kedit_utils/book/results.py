"""Results as data: each chapter writes its headline numbers to ``results/<notebook>.json``.

The book quotes them with myst-nb ``glue`` (:func:`glue_number`), so a number is computed
once, by the run that built the page, and never retyped. ``$KEDIT_RESULTS`` overrides the
folder (the runner sets it for the kernels it starts).

Every results file follows a declared schema (issue 29 §6): :data:`RESULTS_SCHEMAS` maps each
chapter to its pydantic model, declared in the chapter's paper package
(:mod:`kedit_utils.kg.results_schema`, :mod:`kedit_utils.propagation.results_schema`,
:mod:`kedit_utils.survey.results_schema`). :func:`save_results` validates before it writes, and
:func:`validate_results` is the same check for a file read back (the scorecard, the tests).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedit_utils.core.cache import PROJECT_ROOT, _canonical, write_json_atomic
from kedit_utils.core.results_schema import ChapterResults, parse_chapter_results
from kedit_utils.kg import results_schema as paper_a_schema
from kedit_utils.propagation import results_schema as paper_b_schema
from kedit_utils.survey import results_schema as paper_c_schema

# chapter -> the model its results file follows
RESULTS_SCHEMAS: dict[str, type[ChapterResults]] = {
    **paper_a_schema.SCHEMAS, **paper_b_schema.SCHEMAS, **paper_c_schema.SCHEMAS}


def results_dir() -> Path:
    return Path(os.environ.get("KEDIT_RESULTS") or PROJECT_ROOT / "results")


def save_results(notebook: str, data: dict, parameters: dict | None = None) -> None:
    """Write ``data`` to ``results/<notebook>.json`` atomically.

    ``parameters`` (the chapter's resolved parameters, with ``profile``) are stored under
    ``meta`` so that the scorecard can say which profile built each number. Returns nothing,
    so a notebook cell ending with this call prints no path of the build machine.

    The file is validated against the chapter's schema (:data:`RESULTS_SCHEMAS`) as it will be
    read back (after the JSON round trip) before anything is written; a missing or mistyped
    field raises :class:`~kedit_utils.core.results_schema.ResultsSchemaError` naming it.
    """
    meta = {"notebook": notebook}
    if parameters is not None:
        meta["profile"] = parameters.get("profile", "unknown")
        meta["parameters"] = {k: v for k, v in parameters.items() if _jsonable(v)}
    payload = {"meta": meta, **data}
    validate_results(notebook, json.loads(json.dumps(_canonical(payload))))
    write_json_atomic(results_dir() / f"{notebook}.json", payload)


def validate_results(notebook: str, data: dict) -> ChapterResults:
    """``data`` (a results file's content) as its chapter's model (:data:`RESULTS_SCHEMAS`);
    raises :class:`~kedit_utils.core.results_schema.ResultsSchemaError` if it does not follow it."""
    return parse_chapter_results(RESULTS_SCHEMAS, notebook, data)


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


def glue_all(values: Mapping[str, Any]) -> None:
    """:func:`glue_number` of every ``name: value`` of ``values`` (a chapter section's glued
    texts and numbers, already rendered)."""
    for key, value in values.items():
        glue_number(key, value)


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
