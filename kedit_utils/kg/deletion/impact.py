"""The deletion-impact experiment (Paper A §3.4 and §4: Fig. 4, Tables 2 and 3).

Deletion is the ROME edit (e, r, o_e) -> (e, r, ``<deleted>``). For every entity e:

1. acc_pre-del: accuracy over all knowledge (every prompt of every triple) before deletion;
2. edit one fact of e;
3. acc_post-del(e): the same accuracy after the edit;
4. impact I(e) = acc_pre-del − acc_post-del(e); then an exact restore before the next entity.

Besides the paper's I(e) the sweep reports the *side effect*: the same difference with the
deleted fact's own prompts excluded (the damage to other knowledge), and ``deleted_ok``: the
share of the deleted fact's prompts (all subject × relation aliases) that now predict
``<deleted>``.

**Where the impact comes from** (issue 12's decomposition): I(e) is split exactly into the
parts of :data:`IMPACT_PARTS`, by the prompt's fact: the deleted fact's own prompts, the
subject's other facts, the facts whose *object* is e, the other facts one hop away (subject
a neighbour of e), and those farther away. Each part is (correct before − correct after) /
all prompts over its prompts, so the parts add up to I(e); ``impact_<part>`` columns.

**Which fact.** The paper fixes r to one relation; with relations assigned at random an
entity rarely has one given relation, so the rule here is: the entity's fact (as subject)
with the *lowest relation id*. Entities that are the subject of no fact (possible only for
degree ≤ 1) are skipped and counted.

**Speed.** Accuracy is evaluated on the A² distinct prompts per triple instead of all A³
sentences (the object alias only defines correctness, so both give the same accuracy), in
one batched forward; the key covariance is computed once per model and reused; the
unedited scores are computed once.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.alias_accuracy import PromptScores, entity_margins, score_prompts
from kedit_utils.kg.corpus import AliasCorpus
from kedit_utils.kg.graphs import KnowledgeGraph, hop_distances


def deletion_fact(kg: KnowledgeGraph, entity: int, relation: int | None = None) -> int | None:
    """Index of the triple that a deletion of ``entity`` edits, or None (no fact as subject):
    its fact with ``relation`` when it has one (the paper's fixed r), else its fact with the
    lowest relation id."""
    if not 0 <= entity < kg.n_entities:
        raise ParameterError("entity", entity, f"must be in [0, {kg.n_entities})")
    if relation is not None and not 0 <= relation < kg.n_relations:
        raise ParameterError("relation", relation, f"must be None or in [0, {kg.n_relations})")
    rows = np.flatnonzero(kg.triples[:, 0] == entity)
    if rows.size == 0:
        return None
    fixed = rows[kg.triples[rows, 1] == relation] if relation is not None else rows[:0]
    if fixed.size:
        return int(fixed[0])
    return int(rows[np.argmin(kg.triples[rows, 1])])


@dataclass
class DeletionOutcome:
    """One entity's deletion: the per-prompt scores after the edit and the numbers."""

    entity: int
    triple: int
    row: dict
    post: PromptScores = field(repr=False)


@dataclass
class SweepResult:
    """entities: one row per entity; by_hop / by_relation: where the broken prompts lie;
    by_margin: how many of them were answered by a thin margin before the edit."""

    entities: pd.DataFrame
    by_hop: pd.DataFrame
    by_relation: pd.DataFrame
    by_margin: pd.DataFrame
    acc_pre: float
    seconds: float


def _own_prompts(corpus: AliasCorpus, triple: int) -> np.ndarray:
    return corpus.prompts_of_triple(triple)


IMPACT_PARTS = ("own", "subject", "object", "hop1", "far")
# The tables of a sweep (SweepResult), as the caches of chapter 5's sweeps store them.
SWEEP_TABLES = ("entities", "by_hop", "by_relation", "by_margin")
# Bins of a correctly answered prompt's margin before the edit (nats: log p(object) − log p(best
# other entity), :func:`kedit_utils.kg.alias_accuracy.entity_margins`): does a deletion break the
# prompts the model answers by a hair (issue 12: the models stop training at .995)?
MARGIN_EDGES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)


def margin_bin_labels() -> list[str]:
    """"< 0.5", "0.5–1", ..., "≥ 8": one label per bin of :data:`MARGIN_EDGES`. The first bin
    also holds the few prompts whose top token is an alias of the object while another
    entity's aliases have more probability together (margin ≤ 0, yet counted correct)."""
    e = MARGIN_EDGES
    return [f"< {e[1]:g}"] + [f"{e[i]:g}–{e[i + 1]:g}" for i in range(1, len(e) - 1)] + [f"≥ {e[-1]:g}"]


def impact_part_of_prompts(corpus: AliasCorpus, entity: int, triple: int) -> np.ndarray:
    """Shape (n_prompts,): the index in :data:`IMPACT_PARTS` of each prompt's part for the
    deletion of ``triple`` (a fact of ``entity``): 0 own prompts, 1 the subject's other facts,
    2 facts with ``entity`` as object, 3 other facts whose subject is one hop from it, 4 the
    rest (two or more hops, or unreachable)."""
    kg = corpus.kg
    subj = kg.triples[corpus.prompt_triple, 0]
    obj = kg.triples[corpus.prompt_triple, 2]
    hops = hop_distances(kg, entity)[subj]
    part = np.full(corpus.prompts.shape[0], 4, dtype=np.int64)
    part[hops == 1] = 3
    part[obj == entity] = 2
    part[subj == entity] = 1
    part[corpus.prompt_triple == triple] = 0
    return part


def canonical_prompts(corpus: AliasCorpus) -> np.ndarray:
    """Shape (n_prompts,) bool: the canonical prompt of each fact (subject alias 0, relation
    alias 0; the prompts are triple-major, A² per triple)."""
    a2 = corpus.vocab.n_aliases ** 2
    return np.arange(corpus.prompts.shape[0]) % a2 == 0


def delete_and_measure(model, corpus: AliasCorpus, entity: int, edit_fn, base: PromptScores,
                       deleted_prompt_alias: tuple[int, int] = (0, 0), relation: int | None = None,
                       target_of=None) -> DeletionOutcome | None:
    """Delete one fact of ``entity`` with ``edit_fn``, measure, and restore.

    edit_fn(model, triple_index, (subject_alias, relation_alias)) -> restore callable; it must
    apply the deletion edit in place and return a function that restores the weights exactly.
    relation: the fixed relation of :func:`deletion_fact` (None: lowest id). target_of:
    triple -> the entity the edit writes (``deleted_ok`` checks it); None: ``<deleted>``.
    """
    kg, vocab = corpus.kg, corpus.vocab
    triple = deletion_fact(kg, entity, relation)
    if triple is None:
        return None
    target = vocab.n_entities if target_of is None else int(target_of(triple))
    t0 = time.perf_counter()
    restore = edit_fn(model, triple, deleted_prompt_alias)
    try:
        post = score_prompts(model, corpus.prompts, corpus.prompt_object, vocab)
        own = _own_prompts(corpus, triple)
        deleted_scores = score_prompts(model, corpus.prompts[own], np.full(own.size, target), vocab)
    finally:
        restore()
    others = np.ones(corpus.prompts.shape[0], dtype=bool)
    others[own] = False
    acc_pre, acc_post = base.correct.mean(), post.correct.mean()
    old = kg.triples[triple, 2]
    n = corpus.prompts.shape[0]
    change = base.correct.astype(np.int64) - post.correct.astype(np.int64)  # 1 broken, -1 fixed
    by_part = np.bincount(impact_part_of_prompts(corpus, entity, triple), weights=change, minlength=len(IMPACT_PARTS))
    canon = canonical_prompts(corpus)
    return DeletionOutcome(
        entity=entity,
        triple=triple,
        post=post,
        row={
            "entity": entity,
            "degree": int(kg.degree[entity]),
            "relation": int(kg.triples[triple, 1]),
            "old_object": int(old),
            "acc_pre": float(acc_pre),
            "acc_post": float(acc_post),
            "impact": float(acc_pre - acc_post),
            "side_effect": float(base.correct[others].mean() - post.correct[others].mean()),
            "impact_canonical": float(change[canon].mean()),
            "side_effect_canonical": float(change[canon & others].mean()),
            "fixed_relation": relation is not None and int(kg.triples[triple, 1]) == relation,
            "deleted_ok": float((deleted_scores.correct).mean()),
            "old_still_correct": float(post.correct[own].mean()),
            "old_p_after": float(post.p_object[own].mean()),
            "old_p_before": float(base.p_object[own].mean()),
            "broken": int((base.correct & ~post.correct).sum()),
            **{f"impact_{name}": float(v / n) for name, v in zip(IMPACT_PARTS, by_part)},
            "seconds": time.perf_counter() - t0,
        },
    )


def deletion_sweep(model, corpus: AliasCorpus, edit_fn, entities=None, progress: bool = True,
                   label: dict | None = None, relation: int | None = None, target_of=None) -> SweepResult:
    """Delete one fact per entity (``entities`` default: all), one at a time, restoring between.

    Returns per-entity rows (``label`` columns such as graph/layers/seed are prepended) and
    the prompts the deletion broke, outside the deleted fact: ``by_hop`` groups them by the
    hop distance of their subject from the deleted entity (0 = the entity's other facts,
    3 = three or more hops), ``by_relation`` by whether they share the deleted relation,
    ``by_margin`` by the margin the unedited model answered them with (:data:`MARGIN_EDGES`).
    relation / target_of: which fact and which target (:func:`delete_and_measure`).
    """
    kg = corpus.kg
    entities = list(range(kg.n_entities)) if entities is None else [int(e) for e in entities]
    for e in entities:
        if not 0 <= e < kg.n_entities:
            raise ParameterError("entities", e, f"every entity must be in [0, {kg.n_entities})")
    t0 = time.perf_counter()
    base = score_prompts(model, corpus.prompts, corpus.prompt_object, corpus.vocab)
    margin = entity_margins(model, corpus.prompts, corpus.prompt_object, corpus.vocab)
    mbin = np.digitize(margin, MARGIN_EDGES[1:])  # 0 .. len(MARGIN_EDGES) - 1
    subj = kg.triples[corpus.prompt_triple, 0]
    rel = kg.triples[corpus.prompt_triple, 1]
    rows, hop_rows, rel_rows, margin_rows = [], [], [], []
    label = label or {}
    for e in tqdm(entities, desc="deleting", disable=not progress, mininterval=2):
        out = delete_and_measure(model, corpus, e, edit_fn, base, relation=relation, target_of=target_of)
        if out is None:
            rows.append({**label, "entity": e, "degree": int(kg.degree[e]), "skipped": True})
            continue
        rows.append({**label, **out.row, "skipped": False})
        broken = base.correct & ~out.post.correct
        own = np.zeros_like(broken)
        own[_own_prompts(corpus, out.triple)] = True
        hops = hop_distances(kg, e)[subj]
        hops = np.where(hops < 0, 99, np.minimum(hops, 3))
        for h in (0, 1, 2, 3):
            sel = (hops == h) & ~own
            hop_rows.append({**label, "entity": e, "hop": h, "prompts": int(sel.sum()),
                             "broken": int(broken[sel].sum())})
        for same in (True, False):
            sel = ((rel == out.row["relation"]) == same) & ~own
            rel_rows.append({**label, "entity": e, "same_relation": same, "prompts": int(sel.sum()),
                             "broken": int(broken[sel].sum())})
        for b, name in enumerate(margin_bin_labels()):  # the prompts answered before, by margin
            sel = base.correct & ~own & (mbin == b)
            margin_rows.append({**label, "entity": e, "margin_bin": name, "margin_low": MARGIN_EDGES[b],
                                "prompts": int(sel.sum()), "broken": int(broken[sel].sum())})
    return SweepResult(
        entities=pd.DataFrame(rows), by_hop=pd.DataFrame(hop_rows), by_relation=pd.DataFrame(rel_rows),
        by_margin=pd.DataFrame(margin_rows),
        acc_pre=float(base.correct.mean()), seconds=time.perf_counter() - t0,
    )


def margin_breakage(by_margin: pd.DataFrame, keys=("graph", "layers")) -> pd.DataFrame:
    """Share of the prompts in each margin bin that deletions broke (the deleted fact's own
    prompts left out), over every entity of each ``keys`` group: one row per group and bin,
    ``{*keys, margin_bin, margin_low, prompts, broken, share}``; bins in order."""
    keys = list(keys)
    g = by_margin.groupby(keys + ["margin_low", "margin_bin"], as_index=False)[["prompts", "broken"]].sum()
    g["share"] = g.broken / g.prompts.clip(lower=1)
    return g.sort_values(keys + ["margin_low"]).reset_index(drop=True)


def margin_breakage_wide(table: pd.DataFrame, index) -> pd.DataFrame:
    """:func:`margin_breakage`'s rows as a table to show: one row per ``index`` group, one
    column per margin bin (its label), the share broken in %."""
    wide = table.assign(share=100 * table.share).pivot_table(index=list(index), columns="margin_low", values="share")
    wide.columns = [margin_bin_labels()[MARGIN_EDGES.index(low)] for low in wide.columns]
    return wide


def margin_contrast(by_margin: pd.DataFrame, thin_below: float = 1.0, thick_from: float = 4.0) -> dict[str, float]:
    """Everything in ``by_margin`` pooled: the share broken among prompts answered by less
    than ``thin_below`` nats (``thin_share``) and by ``thick_from`` or more (``thick_share``),
    and the thin prompts' part of all prompts (``thin_of_all``) and of the broken ones
    (``thin_of_broken``)."""
    pooled = margin_breakage(by_margin, keys=[]).set_index("margin_low")
    thin, thick = pooled[pooled.index < thin_below], pooled[pooled.index >= thick_from]
    return {"thin_share": thin.broken.sum() / max(thin.prompts.sum(), 1),
            "thick_share": thick.broken.sum() / max(thick.prompts.sum(), 1),
            "thin_of_all": thin.prompts.sum() / max(pooled.prompts.sum(), 1),
            "thin_of_broken": thin.broken.sum() / max(pooled.broken.sum(), 1)}


def sweep_summary(entities: pd.DataFrame, by_relation: pd.DataFrame, by_hop: pd.DataFrame,
                  keys=("edit_token", "graph", "layers")) -> pd.DataFrame:
    """One row per ``keys`` group of a sweep: does the deletion work, and what does it break.

    entities / by_relation / by_hop: :class:`SweepResult` tables (skipped entities are
    ignored). Columns: deleted_ok and old_still_correct (means over entities), mean impact
    and side effect (×10⁻²), the share of prompts broken (pooled over entities) among those
    sharing the deleted relation, the others, those about the same subject (hop 0: the
    entity's other facts) and those about its neighbours (hop 1), and the Spearman
    correlation of degree and impact (mean over seeds).
    """
    keys = list(keys)
    done = entities[~entities.skipped.astype(bool)] if "skipped" in entities else entities
    rows = []
    for group, part in done.groupby(keys):
        sel = pd.DataFrame([dict(zip(keys, group))])
        rel, hop = by_relation.merge(sel, on=keys), by_hop.merge(sel, on=keys)
        same, other = rel[rel.same_relation.astype(bool)], rel[~rel.same_relation.astype(bool)]
        hop0, hop1 = hop[hop.hop == 0], hop[hop.hop == 1]
        rows.append({
            **dict(zip(keys, group)),
            "deleted_ok": part.deleted_ok.mean(),
            "old_still_correct": part.old_still_correct.mean(),
            "mean impact (1e-2)": 100 * part.impact.mean(),
            "mean side effect (1e-2)": 100 * part.side_effect.mean(),
            "same-relation prompts broken": same.broken.sum() / max(same.prompts.sum(), 1),
            "other prompts broken": other.broken.sum() / max(other.prompts.sum(), 1),
            "same-subject prompts broken": hop0.broken.sum() / max(hop0.prompts.sum(), 1),
            "neighbour prompts broken": hop1.broken.sum() / max(hop1.prompts.sum(), 1),
            "spearman(degree, impact)": float(np.mean([
                g[["degree", "impact"]].corr(method="spearman").iloc[0, 1] for _, g in part.groupby("seed")
            ])) if "seed" in part else part[["degree", "impact"]].corr(method="spearman").iloc[0, 1],
        })
    return pd.DataFrame(rows)
