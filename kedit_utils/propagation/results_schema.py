"""The results file of Paper B's chapter (6), declared: Table 1's accuracies before and after
meta-learning (the FOMAML gain), Fig. 2's best layer (``data``), Table 2's comparison of the
meta-trained model with the editing baselines, and the chapter's further tables.

The bases and the rules (declared fields required, extra fields allowed, so the chapter may write
more) are in :mod:`kedit_utils.core.results_schema`. The scorecard validates the results file
with :func:`parse_results` before :mod:`kedit_utils.propagation.claims` reads it, and every
field a claim reads is declared here (tests/unit/test_results_schema.py checks both).
"""
from __future__ import annotations

from typing import Any

from pydantic import Field

from kedit_utils.core.results_schema import ChapterResults, Row, parse_chapter_results

Number = float | None  # an accuracy that may be unknown (no cases: written as null)


class Table1Row(Row):
    """Paper B Table 1: one scope (the parameters meta-trained) on one split."""

    scope: str
    split: str  # "id" | "ood"
    layers: str | int  # "all", "8", "2,8"
    acc_base: Number
    acc_meta: Number
    gain: Number
    n: int


class Table2Row(Row):
    """Paper B Table 2: one method's two-hop accuracy on CRE OOD and MQuAKE."""

    method: str  # "meta", "ft", "rome", "memit", "alphaedit"
    cre_ood: Number
    mquake: Number
    n: int | None
    n_mquake: int | None


class PropagationData(Row):
    """What the chapter ran on: the model, the case counts and the layer Fig. 2 chose."""

    n_layers: int | None
    chosen_layer: int | None
    swept_layers: list[int] | None = None


class PropagationResults(ChapterResults):
    """Chapter 6. ``table1``, ``table2`` and ``data`` give the scorecard's rows and are required;
    the other tables are kept as written."""

    table1: list[Table1Row]
    table2: list[Table2Row]
    data: PropagationData
    layer_sweep: list[Row] = Field(default_factory=list)
    steps_curve: list[Row] = Field(default_factory=list)
    alpha_sweep: list[Row] = Field(default_factory=list)
    question_forms: list[Row] = Field(default_factory=list)
    kg_two_hop: dict[str, Any] | None = None


SCHEMAS: dict[str, type[ChapterResults]] = {"06_meta_learning_propagation": PropagationResults}


def parse_results(chapter: str, res: dict) -> ChapterResults:
    """``res`` (the content of ``results/<chapter>.json``) as the chapter's model, e.g.
    ``parse_results("06_meta_learning_propagation", res).table1[0].gain``; raises
    :class:`~kedit_utils.core.results_schema.ResultsSchemaError` naming each missing or
    mistyped field."""
    return parse_chapter_results(SCHEMAS, chapter, res)
