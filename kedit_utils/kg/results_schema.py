"""The results files of Paper A's chapters (1-5), declared: the graphs and corpus of §3.1-3.2
(chapter 1), Table 1's accuracies (chapter 2), the alias clustering of Figs. 3 and 5 (chapter 3),
the causal-tracing peaks of Fig. 6 and the ROME demos (chapter 4), and Tables 2-3 of the deletion
sweep with its variants (chapter 5).

The bases and the rules (declared fields required, extra fields allowed) are in
:mod:`kedit_utils.core.results_schema`. The scorecard validates every results file with
:func:`parse_results` before :mod:`kedit_utils.kg.claims` reads it, and every field a claim
reads is declared here (tests/unit/test_results_schema.py checks both), so a renamed key fails
instead of emptying a row.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kedit_utils.core.results_schema import ChapterResults, Row, parse_chapter_results

Number = float | None  # a measure that may be unknown (a NaN is written as null by frame_records)


# chapter 1: the knowledge graphs and the alias corpus
class GraphStatistics(Row):
    """:meth:`kedit_utils.kg.graphs.KnowledgeGraph.statistics` of one graph."""

    graph: str
    entities: int
    relations: int
    triples: int
    mean_degree: float = Field(alias="mean degree")
    max_degree: int = Field(alias="max degree")
    min_degree: int = Field(alias="min degree")


class CorpusSizes(Row):
    """:meth:`kedit_utils.kg.corpus.AliasCorpus.sizes` of one graph's corpus at one sample."""

    graph: str
    sample_fraction: float
    triples: int
    all_sentences: int = Field(alias="all sentences")
    training_sentences: int = Field(alias="training sentences")
    prompts: int
    unseen_prompts: int = Field(alias="unseen prompts")


class KnowledgeGraphsResults(ChapterResults):
    graphs: list[GraphStatistics]
    corpus: list[CorpusSizes]


# chapter 2: Table 1
class Table1Row(Row):
    graph: str
    layers: int
    acc_train: float
    acc_all: float
    acc_unseen: float
    seconds: float
    epochs: float


class TrainingResults(ChapterResults):
    table1: list[Table1Row]


# chapter 3: Figs. 3 and 5
class ClusteringRow(Row):
    graph: str
    kind: Literal["entity", "relation"]
    sample_fraction: float
    score: float  # the silhouette of the alias groups
    nn_recall: float


class EmbeddingsResults(ChapterResults):
    clustering: list[ClusteringRow]


# chapter 4: Fig. 6 and the ROME demos
class TracingPeak(Row):
    graph: str
    layers: int
    kind: Literal["hidden", "mlp", "attn"]
    peak_layer: int
    peak_token: str  # a position name: "subject_last", "last", ...
    peak_effect: float


class RomeDemo(Row):
    model: str
    prompt: str
    target_new: str
    before: str
    after: str
    seconds: float


class CausalTracingResults(ChapterResults):
    tracing: list[TracingPeak]
    rome_demos: list[RomeDemo]


# chapter 5: Tables 2-3 and the variants
class IntervalRow(Row):
    """A Pearson r of degree and impact with its two 95 % intervals (over entities: ci_*; across
    seeds: seeds_*, null for one seed), as :func:`kedit_utils.kg.deletion.statistics.reported_interval` reads it."""

    graph: str
    layers: int
    pearson: Number
    ci_low: Number
    ci_high: Number
    seeds_low: Number
    seeds_high: Number
    n_seeds: int
    n: int | None = None  # entity rows over all seeds (the smallest |r| they detect is shown beside the verdict)


class Table2Row(IntervalRow):
    editor: str
    spearman: Number


class RuleTable2Row(IntervalRow):
    paper: Any  # the paper's r for this model (null where the paper has none)


class StoredTable2Row(IntervalRow):
    """Table 2 computed from the stored paper-scale parts (:mod:`kedit_utils.book.stored_parts`)."""

    editor: str
    edit_token: str


class Table3Row(Row):
    graph: str
    layers: int
    max: float
    min: float
    mean: float
    std: float


class EntityRow(Row):
    graph: str
    layers: int
    seed: int
    entity: int
    degree: int
    impact: Number
    side_effect: Number
    deleted_ok: Any  # whether (or how much of) the deletion reached <deleted>


class DecompositionRow(Row):
    graph: str
    layers: int
    part: str
    mean: Number
    corr_with_degree: Number


class VariantRow(Row):
    variant: str
    orientation: str
    graph: str
    layers: int
    pearson: Number
    spearman: Number
    ci_low: Number
    ci_high: Number
    mean_impact: Number
    max_impact: Number
    own_share: Number
    far_share: Number
    deleted_ok: Number
    n_seeds: int


class EditEffectRow(Row):
    setup: str
    scale: str
    deleted_ok: Number
    mean_impact: Number
    kept: Number
    n: int


class DeletionImpactResults(ChapterResults):
    """Chapter 5. ``table2`` and ``table3`` give the scorecard's rows and are required; the other
    tables are checked row by row when present (their emptiness is the tiny book test's concern)."""

    table2: list[Table2Row]
    table3: list[Table3Row]
    entities: list[EntityRow] = Field(default_factory=list)
    decomposition: list[DecompositionRow] = Field(default_factory=list)
    variants: list[VariantRow] = Field(default_factory=list)
    rule_table2: list[RuleTable2Row] = Field(default_factory=list)
    stored_table2: list[StoredTable2Row] = Field(default_factory=list)
    stored_rule_table2: list[IntervalRow] = Field(default_factory=list)
    edit_effects: list[EditEffectRow] = Field(default_factory=list)


SCHEMAS: dict[str, type[ChapterResults]] = {
    "01_knowledge_graphs": KnowledgeGraphsResults,
    "02_training": TrainingResults,
    "03_embeddings_pca": EmbeddingsResults,
    "04_causal_tracing": CausalTracingResults,
    "05_deletion_impact": DeletionImpactResults,
}


def parse_results(chapter: str, res: dict) -> ChapterResults:
    """``res`` (the content of ``results/<chapter>.json``) as the chapter's model, e.g.
    ``parse_results("05_deletion_impact", res).table2[0].pearson``; raises
    :class:`~kedit_utils.core.results_schema.ResultsSchemaError` naming each missing or
    mistyped field."""
    return parse_chapter_results(SCHEMAS, chapter, res)
