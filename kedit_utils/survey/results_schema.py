"""The results file of Paper C's chapter (7), declared: the survey's metrics per method and
action (its Tables 4-5 setting), the findings of §5 checked on each model, the sequential-editing
curves, reversibility and erasure.

The bases and the rules (declared fields required, extra fields allowed, so the chapter may write
more) are in :mod:`kedit_utils.core.results_schema`. :mod:`kedit_utils.survey.claims` reads the
findings through :func:`parse_results`.
"""
from __future__ import annotations

from pydantic import Field

from kedit_utils.core.results_schema import ChapterResults, Row, parse_chapter_results

Number = float | None  # a metric not measured (fluency on the alias models) is null


class MethodRow(Row):
    """One method and action on one model (:func:`kedit_utils.survey.grid.result_rows`)."""

    model: str
    method: str
    action: str
    n_edits: int
    reliability: Number
    generalization: Number
    locality: Number
    portability: Number
    fluency: Number
    seconds_per_edit: Number


class FindingRow(Row):
    """One finding of the survey's §5 on one model: holds, does not, or could not be checked (null)."""

    model: str
    claim: str
    holds: bool | None
    evidence: str


class SequentialRow(Row):
    model: str
    method: str
    n_edits: int
    reliability_first: Number
    locality: Number


class SurveyData(Row):
    model: str | None  # the pretrained model, null when it did not run
    facts: int
    known: int | None
    n_edits: int
    kg_n_edits: int


class EditingMethodsResults(ChapterResults):
    """Chapter 7. ``findings`` gives the scorecard's rows and is required."""

    findings: list[FindingRow]
    methods: list[MethodRow] = Field(default_factory=list)
    sequential: list[SequentialRow] = Field(default_factory=list)
    reversibility: list[Row] = Field(default_factory=list)
    erase: list[Row] = Field(default_factory=list)
    data: SurveyData | None = None


SCHEMAS: dict[str, type[ChapterResults]] = {"07_editing_methods": EditingMethodsResults}


def parse_results(chapter: str, res: dict) -> ChapterResults:
    """``res`` (the content of ``results/<chapter>.json``) as the chapter's model, e.g.
    ``parse_results("07_editing_methods", res).findings[0].holds``; raises
    :class:`~kedit_utils.core.results_schema.ResultsSchemaError` naming each missing or
    mistyped field."""
    return parse_chapter_results(SCHEMAS, chapter, res)
