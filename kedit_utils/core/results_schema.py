"""What a chapter's results file (``results/<chapter>.json``) holds, declared as pydantic models,
and the one function that checks a file against its declaration (issue 29 §6).

A chapter writes its headline tables with :func:`kedit_utils.book.results.save_results`, and the
papers' claims (the scorecard rows, :mod:`kedit_utils.core.verdicts`) read them back. Each paper's
package declares the models of its chapters (:mod:`kedit_utils.kg.results_schema` for Paper A's
chapters 1-5, :mod:`kedit_utils.propagation.results_schema` for Paper B's chapter 6,
:mod:`kedit_utils.survey.results_schema` for Paper C's chapter 7) on the bases below:

* every field that a claim, the scorecard or a test reads is declared, and a declared field
  without a default is required, so a renamed key fails validation (when the chapter saves, and
  in the tests) instead of silently emptying a scorecard row;
* rows and files allow extra fields (:class:`Row`, :class:`ChapterResults`): a chapter may write
  more than its claims read without touching the schema.

A field that may be absent has a default; a field that must be present but may be unknown
(a NaN written as ``null``) is typed ``float | None`` without a default.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Row(BaseModel):
    """One row of a results table: the declared fields are checked, extra ones are kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Meta(Row):
    """``meta`` of a results file (written by ``save_results``): the notebook, the profile
    that built it and the chapter's resolved parameters."""

    notebook: str | None = None
    profile: str = "unknown"
    parameters: dict[str, Any] = Field(default_factory=dict)


class ChapterResults(Row):
    """A chapter's results file; each chapter's model adds its tables."""

    meta: Meta = Field(default_factory=Meta)


class ResultsSchemaError(ValueError):
    """A results file that does not follow its chapter's schema, or a chapter without one."""


def parse_chapter_results(schemas: Mapping[str, type[ChapterResults]], chapter: str,
                          data: Mapping[str, Any]) -> ChapterResults:
    """``data`` (a results file's content) validated against ``schemas[chapter]``.

    Raises :class:`ResultsSchemaError` naming the chapter, the model and each offending field
    (``table1[0].acc_train: Field required``) when it does not follow the schema, and naming the
    chapters that have one when ``chapter`` has none.
    """
    if chapter not in schemas:
        raise ResultsSchemaError(f"chapter {chapter!r} has no declared results schema; chapters with one: "
                                 f"{', '.join(sorted(schemas))}")
    model = schemas[chapter]
    try:
        return model.model_validate(dict(data))
    except ValidationError as err:
        problems = "\n  ".join(f"{_location(e['loc'])}: {e['msg']} (got {_short(e.get('input'))})"
                               for e in err.errors())
        raise ResultsSchemaError(f"results of {chapter} do not follow {model.__module__}.{model.__qualname__}:"
                                 f"\n  {problems}") from None


def _location(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the file)"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
