"""Insert / modify / erase requests on chapter 1's alias knowledge graphs (Paper C's three
actions on Paper A's controlled models; issue 10 §4: "insert (a new pair), modify (another
object), erase (``<deleted>``)").

A fact (s, r, o) is asked as the two-word prompt ``"<subject alias> <relation alias>"``
(Paper A §3.2; :func:`kedit_utils.kg.deletion.requests.graph_request` builds the same
prompt). Every request carries the survey's evaluation fields, all from the graph itself:

* ``rephrase_prompts``: the same subject alias with the relation's other aliases;
* ``portability`` (kind ``alias``): the subject's other aliases with the same relation
  alias, answered with the new target (the edit must carry over to every name of the
  entity, which Paper A's corpus teaches as one entity);
* ``locality``: other facts of the graph whose subject and object are neither the edit's
  subject nor its old or new object, with their objects (alias 0).

Actions: ``modify`` gives (s, r) another entity (alias 0), ``erase`` gives it ``<deleted>``,
``insert`` gives s a relation it has no fact with and an object (``ground_truth`` None). The
targets are alias-0 tokens, as :func:`graph_request` uses; the old answer is the object's
alias 0 (the tiny models are counted right on any alias, see :mod:`kedit_utils.kg.alias_accuracy`).
"""
from __future__ import annotations

import random

import numpy as np

from kedit_utils.core.validation import ParameterError, check_choice, check_int
from kedit_utils.datasets.facts import ACTIONS, FactRequest
from kedit_utils.editing.requests import EditRequest
from kedit_utils.kg.graphs import DELETED_ENTITY, KnowledgeGraph
from kedit_utils.kg.vocabulary import Vocabulary


def _prompt(vocab: Vocabulary, s: int, r: int, sa: int = 0, ra: int = 0) -> str:
    return f"{vocab.entity_token(s, sa)} {vocab.relation_token(r, ra)}"


def kg_request(kg: KnowledgeGraph, vocab: Vocabulary, action: str, entity: int, relation: int,
               new_object: int | None = None, subject_alias: int = 0, relation_alias: int = 0,
               n_locality: int = 3, seed: int = 0) -> FactRequest:
    """One request on the graph (module docstring). ``new_object``: for modify/insert, the
    target entity (default: drawn, seeded, among the entities other than the old object and
    the subject). Raises :class:`ParameterError` naming the field for an impossible request
    (a modify/erase of a fact the entity does not have, an insert of one it has)."""
    check_choice("action", action, ACTIONS)
    check_int("entity", int(entity), minimum=0, maximum=kg.n_entities - 1)
    check_int("relation", int(relation), minimum=0, maximum=kg.n_relations - 1)
    check_int("subject_alias", subject_alias, minimum=0, maximum=vocab.n_aliases - 1)
    check_int("relation_alias", relation_alias, minimum=0, maximum=vocab.n_aliases - 1)
    s, r = int(entity), int(relation)
    old = kg.object_of.get((s, r))
    if action == "insert" and old is not None:
        raise ParameterError("relation", r, f"entity {s} already has a fact with it (object {old}); insert needs a new pair")
    if action != "insert" and old is None:
        has = [int(x) for x in kg.facts_of(s)[:, 1]]
        raise ParameterError("relation", r, f"entity {s} has no fact with relation {r}; its relations are {has}")
    rng = random.Random(f"{seed}-{s}-{r}-{action}")
    if action == "erase":
        target_entity = kg.n_entities
        target = DELETED_ENTITY
    else:
        if new_object is None:
            choices = [e for e in range(kg.n_entities) if e not in (s, old)]
            new_object = rng.choice(choices)
        check_int("new_object", int(new_object), minimum=0, maximum=kg.n_entities - 1)
        if int(new_object) == old:
            raise ParameterError("new_object", new_object, "must differ from the current object")
        target_entity = int(new_object)
        target = vocab.entity_token(target_entity, 0)
    prompt = _prompt(vocab, s, r, subject_alias, relation_alias)
    subject = vocab.entity_token(s, subject_alias)
    rephrase = tuple(_prompt(vocab, s, r, subject_alias, j) for j in range(vocab.n_aliases) if j != relation_alias)
    portability = tuple((_prompt(vocab, s, r, j, relation_alias), target)
                        for j in range(vocab.n_aliases) if j != subject_alias)
    avoid = {s, target_entity} | ({old} if old is not None else set())
    others = [(int(a), int(b), int(c)) for a, b, c in kg.triples if int(a) not in avoid and int(c) not in avoid]
    rng.shuffle(others)
    locality = tuple((_prompt(vocab, a, b), vocab.entity_token(c, 0)) for a, b, c in others[:n_locality])
    req = EditRequest(prompt=prompt, subject=subject, target_new=target,
                      ground_truth=None if old is None else vocab.entity_token(old, 0),
                      rephrase_prompts=rephrase, locality=locality, portability=portability)
    return FactRequest(action, vocab.relation_token(r, 0), req, ("alias",) * len(portability), None)


def kg_requests(kg: KnowledgeGraph, vocab: Vocabulary, action: str, n: int, seed: int = 0,
                n_locality: int = 3, entities: np.ndarray | None = None) -> list[FactRequest]:
    """``n`` requests of one action on distinct (entity, relation) pairs, seeded.

    modify/erase draw facts of the graph (one per subject while there are enough subjects);
    insert draws pairs (entity, relation) the graph does not have. ``entities`` restricts the
    subjects (e.g. those of a chapter's sample)."""
    check_choice("action", action, ACTIONS)
    check_int("n", n, minimum=0)
    rng = random.Random(seed)
    allowed = set(range(kg.n_entities)) if entities is None else {int(e) for e in entities}
    if action == "insert":
        pairs = [(s, r) for s in sorted(allowed) for r in range(kg.n_relations) if (s, r) not in kg.object_of]
    else:
        pairs = [(int(s), int(r)) for s, r, _o in kg.triples if int(s) in allowed]
    rng.shuffle(pairs)
    first, rest, seen = [], [], set()
    for p in pairs:  # one per subject first
        (rest if p[0] in seen else first).append(p)
        seen.add(p[0])
    chosen = (first + rest)[:n]
    if len(chosen) < n:
        raise ParameterError("n", n, f"the graph has only {len(chosen)} pairs for {action!r}")
    return [kg_request(kg, vocab, action, s, r, n_locality=n_locality, seed=seed) for s, r in chosen]
