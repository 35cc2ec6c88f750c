"""Measure one edit of a tiny alias model in the survey's terms (Paper C; Paper A §3.3).

* reliability: the edited prompt itself now predicts the new object;
* generalization: the share of the fact's other alias prompts (every subject alias ×
  relation alias) that now predict the new object;
* locality: the share of all *other* prompts whose alias-aware correctness is unchanged,
  also reported for the facts of the subject's graph neighbours alone.

:func:`edit_graph_fact` applies the edit (left applied: call ``rome.restore`` to undo).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kedit_utils.editing.rome.functional import EditResult, edit
from kedit_utils.editing.rome.hparams import ROMEHyperParams
from kedit_utils.kg.alias_accuracy import PromptScores, score_prompts
from kedit_utils.kg.corpus import AliasCorpus
from kedit_utils.kg.deletion.requests import graph_request


@dataclass
class GraphEditReport:
    """What an edit of fact (entity, relation) did. ``broken``: triple indices whose prompts
    were all correct before and at least one is wrong after (the edited fact excluded)."""

    result: EditResult
    triple: int
    new_object: int
    reliability: bool
    generalization: float
    locality: float
    neighbour_locality: float
    acc_before: float
    acc_after: float
    broken: np.ndarray = field(repr=False)
    after: PromptScores = field(repr=False)

    def summary(self) -> dict:
        return {
            "prompt": self.result.request.prompt, "target_new": self.result.request.target_new,
            "before": self.result.before.top_token, "after": self.result.after.top_token,
            "reliability": self.reliability, "generalization": self.generalization,
            "locality": self.locality, "neighbour_locality": self.neighbour_locality,
            "acc_before": self.acc_before, "acc_after": self.acc_after,
            "broken_facts": int(self.broken.size), "seconds": self.result.seconds,
        }


def edit_graph_fact(model, tok, corpus: AliasCorpus, entity: int, relation: int, new_object,
                    hparams: ROMEHyperParams, cov, base: PromptScores | None = None,
                    subject_alias: int = 0, relation_alias: int = 0) -> GraphEditReport:
    """Apply the ROME edit (entity, relation) -> new_object and measure it (see module doc)."""
    kg, vocab = corpus.kg, corpus.vocab
    request = graph_request(kg, vocab, entity, relation, new_object, subject_alias, relation_alias)
    if base is None:
        base = score_prompts(model, corpus.prompts, corpus.prompt_object, vocab)
    result = edit(model, tok, request, hparams, cov)
    after = score_prompts(model, corpus.prompts, corpus.prompt_object, vocab)
    triple = int(np.flatnonzero((kg.triples[:, 0] == entity) & (kg.triples[:, 1] == relation))[0])
    new_obj = vocab.n_entities if isinstance(new_object, str) else int(new_object)
    own = corpus.prompts_of_triple(triple)
    hits = score_prompts(model, corpus.prompts[own], np.full(own.size, new_obj), vocab).correct
    first = subject_alias * vocab.n_aliases + relation_alias
    others = np.ones(corpus.prompts.shape[0], dtype=bool)
    others[own] = False
    neighbours = np.isin(kg.triples[corpus.prompt_triple, 0], list(kg.skeleton.neighbors(entity)))
    same = base.correct == after.correct
    per_triple_before = base.correct.reshape(kg.n_triples, -1).all(axis=1)
    per_triple_after = after.correct.reshape(kg.n_triples, -1).all(axis=1)
    broken = np.flatnonzero(per_triple_before & ~per_triple_after)
    return GraphEditReport(
        result=result, triple=triple, new_object=new_obj, reliability=bool(hits[first]),
        generalization=float(np.delete(hits, first).mean()) if hits.size > 1 else float(hits[0]),
        locality=float(same[others].mean()),
        neighbour_locality=float(same[others & neighbours].mean()) if (others & neighbours).any() else 1.0,
        acc_before=float(base.correct.mean()), acc_after=float(after.correct.mean()),
        broken=broken[broken != triple], after=after,
    )
