"""2-hop data on chapter 1's knowledge graph (Paper A §3.1's graphs, Paper B §4's CRE form):
the composed 2-hop questions of a graph, a language model's training sequences, and
CRE-like cases about *new* entities (tokens that occur in no training sentence, as CRE's
invented companies occur in no pretraining text). Chapter 6's graph section
(:mod:`kedit_utils.propagation.kg_model`) trains on them and edits with them.

    kg = build_graph(GraphSpec("ba", 200, 50, 3))
    vocab = two_hop_vocabulary(kg, n_new=400)          # one alias each, 400 new entities
    ids, pos = training_sequences(kg, vocab)           # (n, 4) ids, answer positions
    train, held = split_new_entities(kg, 400, 0.25, seed=0)
    cases = two_hop_cases(kg, vocab, held, seed=1)     # PropagationCase: edit, 2-hop question

Shapes: a training sequence is 4 token ids, ``(s, r, o, <pad>)`` or ``(s, r1, r2, o2)``;
the answer is read at position 1 or 2.
"""
from __future__ import annotations

import random

import numpy as np

from kedit_utils.core.validation import ParameterError, check_int
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.editing.requests import EditRequest
from kedit_utils.kg.graphs import KnowledgeGraph
from kedit_utils.kg.vocabulary import PAD, Vocabulary


def two_hop_vocabulary(kg: KnowledgeGraph, n_new: int) -> Vocabulary:
    """One alias per entity; entities ``kg.n_entities .. + n_new - 1`` are the new ones.

    (The vocabulary's ``<deleted>`` token is unused here.)"""
    return Vocabulary(kg.n_entities + n_new, kg.n_relations, n_aliases=1)


def two_hop_chains(kg: KnowledgeGraph) -> np.ndarray:
    """(n_chains, 5) int: every ``(s, r1, o, r2, o2)`` with ``(s, r1, o)`` and ``(o, r2, o2)``
    facts of ``kg``, in triple order then ``o``'s facts in relation order."""
    rows = []
    for s, r1, o in kg.triples.tolist():
        for _, r2, o2 in sorted(kg.facts_of(o).tolist(), key=lambda t: t[1]):
            rows.append((s, r1, o, r2, o2))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 5)


def training_sequences(kg: KnowledgeGraph, vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """The language model's data: ``(ids (n, 4), answer_position (n,))``, the first hops
    ``(s, r, o, <pad>)`` (answer at position 1) then the 2-hop questions
    ``(s, r1, r2, o2)`` (answer at position 2)."""
    ent, rel = vocab.entity_ids[:, 0], vocab.relation_ids[:, 0]
    pad = vocab.tokens.index(PAD)
    s, r, o = kg.triples.T
    one = np.stack([ent[s], rel[r], ent[o], np.full_like(s, pad)], axis=1)
    ch = two_hop_chains(kg)
    two = np.stack([ent[ch[:, 0]], rel[ch[:, 1]], rel[ch[:, 3]], ent[ch[:, 4]]], axis=1)
    ids = np.concatenate([one, two]).astype(np.int64)
    pos = np.concatenate([np.ones(len(one), np.int64), np.full(len(two), 2, np.int64)])
    return ids, pos


def two_hop_cases(kg: KnowledgeGraph, vocab: Vocabulary, entities, seed: int = 0) -> list[PropagationCase]:
    """One case per new entity in ``entities``: a seeded first hop ``(x, r1, o)`` to a graph
    entity ``o`` with facts, and the 2-hop question ``"x r1 r2"`` answered by ``r2(o)`` for one
    of ``o``'s facts (drawn). The case's single hop is the edited prompt itself."""
    rng = random.Random(f"two-hop-{seed}")
    with_facts = [e for e in range(kg.n_entities) if len(kg.facts_of(e))]
    if not with_facts:
        raise ParameterError("graph", kg.n_entities, "has no entity with a fact")
    e_tok = lambda e: vocab.entity_token(int(e), 0)  # noqa: E731
    r_tok = lambda r: vocab.relation_token(int(r), 0)  # noqa: E731
    cases = []
    for x in entities:
        x = int(x)
        if not kg.n_entities <= x < vocab.n_entities:
            raise ParameterError("entities", x, f"must be new entities in [{kg.n_entities}, {vocab.n_entities})")
        o = rng.choice(with_facts)
        r1 = rng.randrange(kg.n_relations)
        _, r2, o2 = (int(v) for v in rng.choice(kg.facts_of(o).tolist()))
        prompt = f"{e_tok(x)} {r_tok(r1)}"
        edit = EditRequest(prompt=prompt, subject=e_tok(x), target_new=e_tok(o))
        cases.append(PropagationCase(f"x{x}-r{r1}-r{r2}", (edit,), (f"{prompt} {r_tok(r2)}",), (e_tok(o2),),
                                     single_hops=((prompt, e_tok(o)),)))
    return cases


def split_new_entities(kg: KnowledgeGraph, n_new: int, eval_share: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """(meta-training, evaluation) new entities: a seeded split of the ``n_new`` entities after
    the graph's, ``eval_share`` of them (at least one) for evaluation."""
    new = list(range(kg.n_entities, kg.n_entities + n_new))
    random.Random(f"split-{seed}").shuffle(new)
    n_eval = max(1, int(round(eval_share * n_new)))
    return sorted(new[n_eval:]), sorted(new[:n_eval])


def locality_facts(kg: KnowledgeGraph, vocab: Vocabulary, n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` facts of the graph (seeded) as (prompts, answers), for the locality check."""
    check_int("n", n, minimum=0)
    rng = random.Random(f"locality-{seed}")
    triples = kg.triples.tolist()
    picks = rng.sample(triples, min(n, len(triples)))
    return ([f"{vocab.entity_token(s)} {vocab.relation_token(r)}" for s, r, _ in picks],
            [vocab.entity_token(o) for _, _, o in picks])


__all__ = ["locality_facts", "split_new_entities", "training_sequences", "two_hop_cases", "two_hop_chains",
           "two_hop_vocabulary"]
