"""Edit requests built from the facts table (chapter 7; Paper C, the survey, §4: insert, modify
and erase, scored by reliability, generalization, locality and portability).

Three kinds of :class:`FactRequest` (each gives our :class:`~kedit_utils.editing.EditRequest`
and EasyEdit's dict form, :mod:`.easyedit`, so every metric of :mod:`kedit_utils.editing.metrics`
scores them alike):

* :func:`insert_requests`: a new fact about an invented entity ("Smith Innovation PLC's
  headquarters are in the city of" → "Lyon", Paper B's CRE entities, :mod:`.invented`), with
  paraphrases and second hops derived from the object's facts ("Lyon" → France → "Euro");
* :func:`modify_requests`: a counterfactual (CounterFact/ROME style): a known fact gets
  another object of the same relation; its second hops are recomputed from the new
  object's facts ("the Eiffel Tower" → "Rome" makes the country Italy, the currency Euro);
* :func:`erase_requests`: the true object is replaced by :data:`ERASE_TARGET`,
  ``"I don't know"``, the refusal that knowledge sanitization trains (Ishibashi &
  Shimodaira 2023, the erasure data of KnowEdit/EasyEdit that the survey uses); any other
  neutral target can be passed (``"unknown"``; chapter 5's tiny models use ``<deleted>``).
  The alias prompts must then give the erase target too (portability); second hops have no
  defined answer after an erasure and are left out.

Locality prompts are other facts of the table (kept ones when a
:class:`~kedit_utils.datasets.facts.known.KnownFacts` is given) that share no entity with the
edit's chain (subject, old and new object, their countries), with the answers the table gives.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from kedit_utils.core.validation import ParameterError, check_choice, check_int
from kedit_utils.datasets import world as W
from kedit_utils.datasets.facts.easyedit import easyedit_record
from kedit_utils.datasets.facts.invented import invented_entities
from kedit_utils.datasets.facts.known import KnownFacts
from kedit_utils.datasets.facts.table import (
    COUNTRY_RELATION,
    RELATIONS,
    Fact,
    Probe,
    aliases_of,
    fact_table,
    make_fact,
    raw_triples,
    second_hops,
)
from kedit_utils.editing.requests import EditRequest

ACTIONS = ("insert", "modify", "erase")
ERASE_TARGET = "I don't know"
INSERT_RELATIONS = ("company_headquarters", "person_country")


@dataclass(frozen=True)
class FactRequest:
    """An edit request built from the table: ``request`` is our :class:`EditRequest`;
    ``portability_kinds`` names each of its portability pairs (``second_hop:<r>``, ``alias``,
    ``reverse``); ``fact`` is the table's fact (None for an insert)."""

    action: str
    relation: str
    request: EditRequest
    portability_kinds: tuple[str, ...] = ()
    fact: Fact | None = None

    def to_easyedit(self) -> dict:
        """EasyEdit's record form, with KnowEdit's keys: portability ``Reasoning`` (second
        hops), ``Subject_Aliasing``, ``Logical_Generalization`` (reverse); locality
        ``Relation_Specificity``. :func:`kedit_utils.editing.as_requests` reads it back."""
        return easyedit_record(self)


def edit_requests(requests: Sequence[FactRequest]) -> list[EditRequest]:
    """The :class:`EditRequest` of each :class:`FactRequest`."""
    return [r.request for r in requests]


def _chain(relation: str, name: str, *objects: str) -> set[str]:
    """Entities an edit touches: the subject, the objects and the countries they lead to."""
    out = {name}
    for o in objects:
        if o is None:
            continue
        out.add(o)
        c = W.country_link(o)
        if c is not None:
            out.add(c)
            country = W.COUNTRIES.get(c)
            if country is not None:
                out.add(country.capital)
    c = W.country_link(name)
    if c is not None:
        out.add(c)
    return out


def _locality(pool: Sequence[Fact], avoid: set[str], k: int, rng: random.Random) -> tuple[tuple[str, str], ...]:
    cands = [f for f in pool if f.name not in avoid and f.answer not in avoid and W.country_link(f.name) not in avoid]
    rng.shuffle(cands)
    out, seen = [], set()
    for f in cands:  # one locality prompt per relation first: unrelated facts of several kinds
        if f.relation not in seen:
            out.append((f.prompt, f.answer))
            seen.add(f.relation)
        if len(out) == k:
            break
    return tuple(out)


def _grounded(probes: Sequence[Probe], new_object: str, relation: str, known: KnownFacts | None) -> list[Probe]:
    """The second-hop probes whose single-hop facts the model knows (all when ``known`` is None).

    A probe ``second_hop:<r>`` needs the country's fact ``r``; for a city object the link
    city → country must be known too (the city's ``city_country`` fact or, for a capital,
    the country's ``country_capital`` fact)."""
    if known is None:
        return list(probes)
    rel = RELATIONS[relation]
    country = new_object if rel.object_type == "country" else W.country_of_city(new_object)
    if country is None:
        return []
    if rel.object_type == "city":
        capital = W.COUNTRIES.get(country)
        link = known.knows("city_country", new_object) or (
            capital is not None and capital.capital == new_object and known.knows("country_capital", country))
        if not link:
            return []
    out = []
    for pr in probes:
        hop = pr.kind.split(":", 1)[1]
        if hop == "country":
            out.append(replace(pr, answer=known.form("city_country", new_object, pr.answer)))
        elif known.knows(COUNTRY_RELATION[hop], country):
            out.append(replace(pr, answer=known.form(COUNTRY_RELATION[hop], country, pr.answer)))
    return out


def _pool(known: KnownFacts | None, facts: Sequence[Fact] | None) -> list[Fact]:
    if facts is not None:
        return list(facts)
    return list(known.kept) if known is not None else fact_table()


def modify_requests(facts: Sequence[Fact] | None = None, known: KnownFacts | None = None, n: int | None = None,
                    n_locality: int = 3, seed: int = 0) -> list[FactRequest]:
    """Counterfactual edits: each fact gets another object of its relation (the new object
    chosen, seeded, among those whose second hops the model knows when ``known`` is given).

    facts: the facts to modify (default: ``known.kept``, else the whole table); n: at most
    this many (spread over the relations in turn). Portability, all with the *new* answers:
    second hops recomputed from the new object (only grounded ones, see ``known``), and the
    alias and reverse prompts that the fact still carries (with ``known``: those the unedited
    model answered).
    """
    pool = _pool(known, None)
    chosen = _spread(_pool(known, facts), n, seed)
    objects: dict[str, list[str]] = {}
    for r, _s, o in raw_triples():
        objects.setdefault(r, [])
        if o not in objects[r]:
            objects[r].append(o)
    rng = random.Random(seed)
    out = []
    for f in chosen:
        cands = [o for o in objects[f.relation] if o != f.answer]
        rng.shuffle(cands)
        if not cands:
            raise ParameterError("facts", f.key, "its relation has no other object to modify it to")
        best, best_hops, best_probes = None, -1, []
        for o in cands:
            probes = _grounded(second_hops(f.relation, f.name, o), o, f.relation, known)
            hops = len(probes)
            if hops > best_hops:
                best, best_hops, best_probes = o, hops, probes
            if f.relation not in W.COUNTRY_PHRASES or hops == len(second_hops(f.relation, f.name, o)):
                break
        new = make_fact(f.relation, f.name, best, aliases_of(f.name))
        # alias / reverse probes: those the unedited model answered (still on f), with the new answer
        had = Counter(p.kind for p in f.portability if not p.kind.startswith("second_hop"))
        probes = list(best_probes)
        for p in new.portability:
            if not p.kind.startswith("second_hop") and had[p.kind] > 0 and (
                    p.kind != "alias" or any(q.prompt == p.prompt for q in f.portability)):
                probes.append(p)
        avoid = _chain(f.relation, f.name, f.answer, best)
        req = EditRequest(prompt=f.prompt, subject=f.subject, target_new=best, ground_truth=f.answer,
                          rephrase_prompts=f.paraphrases,
                          locality=_locality(pool, avoid, n_locality, rng),
                          portability=tuple((p.prompt, p.answer) for p in probes))
        out.append(FactRequest("modify", f.relation, req, tuple(p.kind for p in probes), f))
    return out


def erase_requests(facts: Sequence[Fact] | None = None, known: KnownFacts | None = None, n: int | None = None,
                   erase_target: str = ERASE_TARGET, n_locality: int = 3, seed: int = 0) -> list[FactRequest]:
    """Erasures: ``target_new`` = ``erase_target``, ``ground_truth`` = the true object (the
    answer that must no longer be produced); portability = the alias prompts, which must give
    the erase target too (module docstring)."""
    if not isinstance(erase_target, str) or not erase_target.strip():
        raise ParameterError("erase_target", erase_target, "must be a non-empty string")
    pool = _pool(known, None)
    chosen = _spread(_pool(known, facts), n, seed)
    rng = random.Random(seed)
    out = []
    for f in chosen:
        aliases = [p for p in f.portability if p.kind == "alias"]
        avoid = _chain(f.relation, f.name, f.answer)
        req = EditRequest(prompt=f.prompt, subject=f.subject, target_new=erase_target, ground_truth=f.answer,
                          rephrase_prompts=f.paraphrases, locality=_locality(pool, avoid, n_locality, rng),
                          portability=tuple((p.prompt, erase_target) for p in aliases))
        out.append(FactRequest("erase", f.relation, req, tuple(p.kind for p in aliases), f))
    return out


def insert_requests(n: int, known: KnownFacts | None = None, relations: Sequence[str] = INSERT_RELATIONS,
                    n_locality: int = 3, seed: int = 0) -> list[FactRequest]:
    """``n`` new facts about invented entities, spread over ``relations`` in turn (company
    headquarters → a city, a person's country → a country). The object is drawn, seeded, among
    those of the table whose second hops the model knows (all when ``known`` is None);
    portability = those second hops ("The currency of the country that hosts Smith Innovation
    PLC's headquarters is the" → "Euro"). ``ground_truth`` is None (nothing was known)."""
    check_int("n", n, minimum=0)
    rels = [check_choice("relations", r, [x for x in RELATIONS if RELATIONS[x].subject_type in ("company", "person")])
            for r in relations]
    if not rels:
        raise ParameterError("relations", relations, "must name at least one relation")
    pool = _pool(known, None)
    rng = random.Random(seed)
    counts = Counter(rels[i % len(rels)] for i in range(n))
    names = {kind: invented_entities(kind, sum(c for r, c in counts.items() if RELATIONS[r].subject_type == kind), seed)
             for kind in ("company", "person")}
    objects: dict[str, list[str]] = {}
    for r, _s, o in raw_triples():
        if r in rels and o not in objects.setdefault(r, []):
            objects[r].append(o)
    out = []
    used = Counter()
    for i in range(n):
        rel = rels[i % len(rels)]
        kind = RELATIONS[rel].subject_type
        name = names[kind][used[kind]]
        used[kind] += 1
        cands = list(objects[rel])
        rng.shuffle(cands)
        best, best_probes = cands[0], []
        for o in cands:
            probes = _grounded(second_hops(rel, name, o), o, rel, known)
            if len(probes) > len(best_probes):
                best, best_probes = o, probes
            if len(probes) == len(second_hops(rel, name, o)) and probes:
                break
        f = make_fact(rel, name, best)
        avoid = _chain(rel, name, best)
        req = EditRequest(prompt=f.prompt, subject=f.subject, target_new=best, ground_truth=None,
                          rephrase_prompts=f.paraphrases, locality=_locality(pool, avoid, n_locality, rng),
                          portability=tuple((p.prompt, p.answer) for p in best_probes))
        out.append(FactRequest("insert", rel, req, tuple(p.kind for p in best_probes), None))
    return out


def _spread(facts: Sequence[Fact], n: int | None, seed: int) -> list[Fact]:
    """At most ``n`` facts, taken from the relations in turn (seeded order within each)."""
    if n is None:
        return list(facts)
    check_int("n", n, minimum=0)
    by_rel: dict[str, list[Fact]] = {}
    for f in facts:
        by_rel.setdefault(f.relation, []).append(f)
    rng = random.Random(seed)
    for v in by_rel.values():
        rng.shuffle(v)
    out, i = [], 0
    while len(out) < n and any(i < len(v) for v in by_rel.values()):
        for v in by_rel.values():
            if i < len(v) and len(out) < n:
                out.append(v[i])
        i += 1
    return out


def make_requests(action: str, n: int, known: KnownFacts | None = None, seed: int = 0, **kwargs) -> list[FactRequest]:
    """``n`` requests of one action (``insert``, ``modify`` or ``erase``) from the (known) facts."""
    check_choice("action", action, ACTIONS)
    if action == "insert":
        return insert_requests(n, known, seed=seed, **kwargs)
    if action == "modify":
        return modify_requests(None, known, n, seed=seed, **kwargs)
    return erase_requests(None, known, n, seed=seed, **kwargs)


__all__ = ["ACTIONS", "ERASE_TARGET", "FactRequest", "INSERT_RELATIONS", "edit_requests", "erase_requests",
           "insert_requests", "make_requests", "modify_requests"]
