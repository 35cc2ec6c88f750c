"""The facts table of chapter 7 (Paper C, the survey, §4: insert, modify and erase, scored by
reliability, generalization, locality and portability) and its edit requests.

**Where the data comes from**: the relations' prompt templates below and the tables of
:mod:`.world` were written by hand for this book from general knowledge; nothing is
downloaded. Which of these facts a model *knows* is measured, not assumed:
:func:`known_facts` asks the model every fact's prompt and every portability prompt and
keeps what it answers, so a chapter says "N of M facts kept".

A :class:`Fact` has a subject, a relation, a prompt that contains the subject and ends where
the object starts, the true object, 2-3 paraphrase prompts, and portability probes that use
the fact (Paper C's portability; PropMEND/CRE second hops as in Paper B):

* ``second_hop:<r>``: a 2-hop prompt through the object's country, r ∈ capital, currency,
  language, continent ("The currency of the country where the Eiffel Tower is located is
  the" → "Euro"); for a city object also ``second_hop:country`` ("The Eiffel Tower is
  located in the country of" → "France");
* ``alias``: the same prompt with another name of the subject ("La Tour Eiffel ...");
* ``reverse``: the reverse relation where it is one-to-one ("Paris is the capital city of"
  → "France"; "Bill Gates is the founder of" → "Microsoft").

Three kinds of :class:`FactRequest` (each gives our :class:`~kedit_utils.editing.EditRequest`
and EasyEdit's dict form, so every metric of :mod:`kedit_utils.editing.metrics` scores them alike):

* :func:`insert_requests`: a new fact about an invented entity ("Smith Innovation PLC's
  headquarters are in the city of" → "Lyon", Paper B's CRE entities), with paraphrases and
  second hops derived from the object's facts ("Lyon" → France → "Euro");
* :func:`modify_requests`: a counterfactual (CounterFact/ROME style): a known fact gets
  another object of the same relation; its second hops are recomputed from the new
  object's facts ("the Eiffel Tower" → "Rome" makes the country Italy, the currency Euro);
* :func:`erase_requests`: the true object is replaced by :data:`ERASE_TARGET`,
  ``"I don't know"``, the refusal that knowledge sanitization trains (Ishibashi &
  Shimodaira 2023, the erasure data of KnowEdit/EasyEdit that the survey uses); any other
  neutral target can be passed (``"unknown"``; chapter 5's tiny models use ``<deleted>``).
  The alias prompts must then give the erase target too (portability); second hops have no
  defined answer after an erasure and are left out.

Locality prompts are other facts of the table (kept ones when a :class:`KnownFacts` is
given) that share no entity with the edit's chain (subject, old and new object, their
countries), with the answers the table gives.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from kedit_utils.core.validation import ParameterError, check_choice, check_int
from kedit_utils.datasets import world as W
from kedit_utils.editing.requests import EditRequest

ACTIONS = ("insert", "modify", "erase")
ERASE_TARGET = "I don't know"
CHECK_MODES = ("teacher_forced", "generation")


@dataclass(frozen=True)
class Relation:
    """A relation's templates (``{}`` = the subject's name).

    template: the edit prompt; paraphrases: other phrasings (generalization);
    reverse: a template on the *object* whose answer is the subject (one-to-one relations);
    country_cloze: for a relation whose object is a city, a prompt whose answer is the
        city's country (the first of its second hops).
    """

    name: str
    subject_type: str
    object_type: str
    template: str
    paraphrases: tuple[str, ...]
    reverse: str | None = None
    country_cloze: str | None = None


RELATIONS: dict[str, Relation] = {r.name: r for r in (
    Relation("city_country", "city", "country", "The city of {} is in the country of",
             ("{} is a city in the country of", "{} is located in the country of")),
    Relation("country_capital", "country", "city", "The capital of {} is",
             ("The capital city of {} is", "The seat of the government of {} is in"),
             reverse="{} is the capital city of"),
    Relation("country_currency", "country", "currency", "The currency of {} is the",
             ("The official currency of {} is the", "The money used in {} is the")),
    Relation("country_language", "country", "language", "In {}, the official language is",
             ("The official language of {} is", "The main language spoken in {} is")),
    Relation("country_continent", "country", "continent", "{} is located in the continent of",
             ("{} is a country in the continent of", "{} is part of the continent of")),
    Relation("landmark_city", "landmark", "city", "{} is located in the city of",
             ("{} can be found in the city of", "The city where {} stands is"),
             country_cloze="{} is located in the country of"),
    Relation("person_country", "person", "country", "{} was born in the country of",
             ("{} was a citizen of the country of", "{} came from the country of")),
    Relation("person_occupation", "person", "occupation", "{} is best known as a",
             ("{} worked as a", "By profession, {} was a")),
    Relation("company_founder", "company", "person", "The founder of {} was",
             ("{} was founded by", "{} was started by"), reverse="{} is the founder of"),
    Relation("company_headquarters", "company", "city", "The headquarters of {} are in the city of",
             ("{} is headquartered in the city of", "{}'s headquarters is in the city of"),
             country_cloze="The headquarters of {} are in the country of"),
)}

# relation of a country's second hop → the relation of the facts table that states it
COUNTRY_RELATION = {"capital": "country_capital", "currency": "country_currency",
                    "language": "country_language", "continent": "country_continent"}


@dataclass(frozen=True)
class Probe:
    """A portability prompt and its answer; ``kind`` is ``second_hop:<r>``, ``alias`` or ``reverse``."""

    kind: str
    prompt: str
    answer: str


@dataclass(frozen=True)
class Fact:
    """One fact of the table. ``name``: the subject's name in the tables (article in lower
    case); ``subject``: as it appears in ``prompt``."""

    relation: str
    name: str
    subject: str
    prompt: str
    answer: str
    paraphrases: tuple[str, ...]
    portability: tuple[Probe, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.relation, self.name)


# --------------------------------------------------------------------------- the table
def _raw_triples() -> list[tuple[str, str, str]]:
    """(relation, subject name, object) of every fact the tables state."""
    out = []
    for c in W.CITIES:
        out.append(("city_country", c, W.CITIES[c]))
    for name, c in W.COUNTRIES.items():
        for hop in W.SECOND_HOPS:
            value = getattr(c, hop)
            if value is not None:
                out.append((COUNTRY_RELATION[hop], name, value))
    for lm, city in W.LANDMARKS.items():
        out.append(("landmark_city", lm, city))
    for p, (country, occupation) in W.PEOPLE.items():
        if country is not None:
            out.append(("person_country", p, country))
        if occupation is not None:
            out.append(("person_occupation", p, occupation))
    for co, (founder, hq) in W.COMPANIES.items():
        if founder is not None:
            out.append(("company_founder", co, founder))
        if hq is not None:
            out.append(("company_headquarters", co, hq))
    return out


def aliases_of(name: str) -> tuple[str, ...]:
    """Other names of an entity of the tables."""
    if name in W.COUNTRIES:
        return W.COUNTRIES[name].aliases
    for table in (W.CITY_ALIASES, W.LANDMARK_ALIASES, W.PERSON_ALIASES, W.COMPANY_ALIASES):
        if name in table:
            return table[name]
    return ()


def _second_hops(relation: str, subject_name: str, obj: str) -> list[Probe]:
    """The 2-hop probes of (subject, relation, obj), computed from obj's facts in the tables."""
    rel = RELATIONS[relation]
    out = []
    if relation not in W.COUNTRY_PHRASES:
        return out
    if rel.country_cloze is not None:
        country = W.country_of_city(obj)
        if country is not None:
            text, _ = W.render(rel.country_cloze, subject_name)
            out.append(Probe("second_hop:country", text, country))
    for hop in W.SECOND_HOPS:
        got = W.compose_two_hop(relation, subject_name, hop, first_object=obj)
        if got is not None:
            out.append(Probe(f"second_hop:{hop}", got[0], got[1]))
    return out


def make_fact(relation: str, name: str, obj: str, aliases: Iterable[str] = ()) -> Fact:
    """A :class:`Fact` from a relation, a subject name and an object (probes computed from
    the tables: second hops from the object's facts, aliases, the reverse relation)."""
    check_choice("relation", relation, list(RELATIONS))
    rel = RELATIONS[relation]
    if not name or not obj:
        raise ParameterError("fact", (relation, name, obj), "subject and object must be non-empty")
    prompt, subject = W.render(rel.template, name)
    paraphrases = tuple(W.render(t, name)[0] for t in rel.paraphrases)
    probes = _second_hops(relation, name, obj)
    for alias in aliases:
        probes.append(Probe("alias", W.render(rel.template, alias)[0], obj))
    if rel.reverse is not None:
        probes.append(Probe("reverse", W.render(rel.reverse, obj)[0], name))
    return Fact(relation, name, subject, prompt, obj, paraphrases, tuple(probes))


def fact_table(relations: Sequence[str] | None = None) -> list[Fact]:
    """Every fact of the built-in table (optionally of some relations only), in a fixed order."""
    rels = list(RELATIONS) if relations is None else [check_choice("relations", r, list(RELATIONS)) for r in relations]
    return [make_fact(r, s, o, aliases_of(s)) for r, s, o in _raw_triples() if r in rels]


# --------------------------------------------------------------------------- checked on the model
@dataclass(frozen=True)
class KnownFacts:
    """What :func:`known_facts` measured.

    kept: the facts whose prompt the model answers, each with only the probes it answers;
    total / known: per relation, facts checked and kept; dropped: count by reason
        (``prompt`` = the fact itself, ``<probe kind>`` = a portability probe removed);
    probes_total: per probe kind, how many were checked (of facts whose prompt is known);
    mode: how "answers" was decided; keys: the (relation, name) of the kept facts;
    forms: (relation, name) → the answer's form the model gave.
    """

    kept: tuple[Fact, ...]
    total: dict[str, int]
    known: dict[str, int]
    dropped: dict[str, int]
    probes_total: dict[str, int]
    mode: str
    keys: frozenset = field(default_factory=frozenset)
    forms: dict = field(default_factory=dict)

    def share(self, relation: str | None = None) -> float:
        """Share of facts kept, of one relation or of all."""
        if relation is None:
            n = sum(self.total.values())
            return sum(self.known.values()) / n if n else float("nan")
        n = self.total.get(relation, 0)
        return self.known.get(relation, 0) / n if n else float("nan")

    def knows(self, relation: str, name: str) -> bool:
        """Whether the model answered the table's fact (relation, name)."""
        return (relation, name) in self.keys

    def form(self, relation: str, name: str, default: str) -> str:
        """The form in which the model gave the fact's answer (``default`` when not kept)."""
        return self.forms.get((relation, name), default)

    def rows(self) -> list[dict]:
        """One row per relation: facts, kept, share (for the chapter's table)."""
        return [{"relation": r, "facts": self.total[r], "kept": self.known.get(r, 0),
                 "share": self.share(r)} for r in self.total]


def answered(model, tok, pairs: Sequence[tuple[str, str]], mode: str = "teacher_forced",
             max_new_tokens: int = 10) -> list[bool]:
    """Per (prompt, answer): does the model give the answer?

    ``teacher_forced`` (the default): every answer token is the argmax when the prompt is
    followed by the answer's earlier tokens, i.e. greedy decoding *starts with* the answer.
    It is what ``rewrite_acc``/``portability`` measure (:func:`kedit_utils.editing.metrics.token_accuracy`),
    so a kept fact scores 1.0 on its ground truth before any edit; it is stricter than
    containment (which accepts "the city of Paris" or an answer after other words) and
    costs one forward pass per batch of prompts. ``generation``: the normalised answer is
    contained in ≤ ``max_new_tokens`` greedy tokens (Paper B's rule).
    """
    from kedit_utils.editing import metrics

    check_choice("mode", mode, CHECK_MODES)
    if not pairs:
        return []
    prompts, answers = [p for p, _ in pairs], [a for _, a in pairs]
    if mode == "generation":
        return [bool(x) for x in metrics.generation_acc(model, tok, prompts, answers, max_new_tokens)]
    return [bool(x == 1.0) for x in metrics.token_accuracy(model, tok, prompts, answers)]


def answer_forms(answer: str) -> tuple[str, ...]:
    """The surface forms an answer is accepted in: as written, then with every word
    capitalised ("Swiss franc" → "Swiss Franc"), then :data:`~.world.ANSWER_FORMS`'s other
    correct names ("Chinese" → "Mandarin")."""
    forms = [answer]
    titled = " ".join(w[:1].upper() + w[1:] for w in answer.split(" "))
    for f in (titled, *W.ANSWER_FORMS.get(answer, ())):
        if f not in forms:
            forms.append(f)
    return tuple(forms)


def known_facts(model, tok, facts: Sequence[Fact] | None = None, mode: str = "teacher_forced",
                require_portability: bool = False, max_new_tokens: int = 10) -> KnownFacts:
    """Ask the model every fact's prompt and every portability probe; keep what it answers.

    A fact is kept when its prompt is answered in one of the answer's forms
    (:func:`answer_forms`; see :func:`answered` for ``mode``), and then carries the form the
    model gave; its probes are kept only when answered too (a second hop the unedited model
    cannot do says nothing about an edit's portability). ``require_portability`` also drops
    facts left with no probe (reason ``no_portability``). Deterministic for a deterministic
    model. Cost: one teacher-forced pass per (prompt, answer form); the whole table on
    SmolLM2-135M is about 1,900 pairs, some 5 minutes on a busy 2-core CPU, so a chapter
    should cache the result.
    """
    facts = fact_table() if facts is None else list(facts)
    check_choice("mode", mode, CHECK_MODES)
    pairs, index = [], []
    for i, f in enumerate(facts):
        for j, (p, a) in enumerate([(f.prompt, f.answer)] + [(pr.prompt, pr.answer) for pr in f.portability]):
            for form in answer_forms(a):
                pairs.append((p, form))
                index.append((i, j - 1, form))
    ok = answered(model, tok, pairs, mode, max_new_tokens)
    got: dict[tuple[int, int], str] = {}
    for (i, j, form), good in zip(index, ok):
        if good and (i, j) not in got:  # the first form answered
            got[(i, j)] = form
    total, known, dropped, probes_total = Counter(), Counter(), Counter(), Counter()
    kept, forms = [], {}
    for i, f in enumerate(facts):
        total[f.relation] += 1
        if (i, -1) not in got:
            dropped["prompt"] += 1
            continue
        probes = []
        for j, pr in enumerate(f.portability):
            probes_total[pr.kind] += 1
            if (i, j) in got:
                probes.append(replace(pr, answer=got[(i, j)]))
            else:
                dropped[pr.kind] += 1
        if require_portability and not probes:
            dropped["no_portability"] += 1
            continue
        known[f.relation] += 1
        kept.append(replace(f, answer=got[(i, -1)], portability=tuple(probes)))
        forms[f.key] = got[(i, -1)]
    return KnownFacts(tuple(kept), dict(total), dict(known), dict(dropped), dict(probes_total), mode,
                      frozenset(f.key for f in kept), forms)


# --------------------------------------------------------------------------- requests
PORTABILITY_KEYS = {"second_hop": "Reasoning", "alias": "Subject_Aliasing", "reverse": "Logical_Generalization"}
LOCALITY_KEY = "Relation_Specificity"


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
        r = self.request
        rec = {"prompt": r.prompt, "subject": r.subject, "target_new": r.target_new,
               "ground_truth": r.ground_truth if r.ground_truth is not None else "<|endoftext|>",
               "rephrase_prompt": list(r.rephrase_prompts)}
        port: dict[str, dict] = {}
        for kind, (p, a) in zip(self.portability_kinds, r.portability):
            key = PORTABILITY_KEYS[kind.split(":")[0]]
            port.setdefault(key, {"prompt": [], "ground_truth": []})
            port[key]["prompt"].append(p)
            port[key]["ground_truth"].append(a)
        if port:
            rec["portability"] = port
        if r.locality:
            rec["locality"] = {LOCALITY_KEY: {"prompt": [p for p, _ in r.locality],
                                              "ground_truth": [a for _, a in r.locality]}}
        return rec


def easyedit_batch(requests: Sequence[FactRequest]) -> dict:
    """EasyEdit's batch form (``BaseEditor.edit``'s keyword arguments) of several requests:
    ``prompts``, ``ground_truth``, ``target_new``, ``subject``, ``rephrase_prompts`` (the
    first rephrase of each), ``locality_inputs`` / ``portability_inputs`` with one key per
    position (``Relation_Specificity_0``, ``Reasoning_1``, ...), ``None`` where a request has
    fewer pairs."""
    if not requests:
        raise ParameterError("requests", [], "must hold at least one request")
    reqs = [r.request for r in requests]
    out = {"prompts": [r.prompt for r in reqs], "subject": [r.subject for r in reqs],
           "target_new": [r.target_new for r in reqs],
           "ground_truth": [r.ground_truth if r.ground_truth is not None else "<|endoftext|>" for r in reqs],
           "rephrase_prompts": [r.rephrase_prompts[0] if r.rephrase_prompts else None for r in reqs]}
    if all(x is None for x in out["rephrase_prompts"]):
        del out["rephrase_prompts"]

    def block(pairs_of, key_of):
        keyed: list[dict[str, tuple[str, str]]] = []
        for fr in requests:
            d, seen = {}, Counter()
            for kind, pair in pairs_of(fr):
                k = key_of(kind)
                d[f"{k}_{seen[k]}"] = pair
                seen[k] += 1
            keyed.append(d)
        keys = sorted({k for d in keyed for k in d})
        return {k: {"prompt": [d[k][0] if k in d else None for d in keyed],
                    "ground_truth": [d[k][1] if k in d else None for d in keyed]} for k in keys}

    loc = block(lambda fr: [("loc", p) for p in fr.request.locality], lambda _k: LOCALITY_KEY)
    port = block(lambda fr: list(zip(fr.portability_kinds, fr.request.portability)),
                 lambda kind: PORTABILITY_KEYS[kind.split(":")[0]])
    if loc:
        out["locality_inputs"] = loc
    if port:
        out["portability_inputs"] = port
    return out


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
    for r, _s, o in _raw_triples():
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
            probes = _grounded(_second_hops(f.relation, f.name, o), o, f.relation, known)
            hops = len(probes)
            if hops > best_hops:
                best, best_hops, best_probes = o, hops, probes
            if f.relation not in W.COUNTRY_PHRASES or hops == len(_second_hops(f.relation, f.name, o)):
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


# invented entities (Paper B's CRE: "Smith Innovation PLC", "Allen Manufacturing LLC")
_SURNAMES = ("Smith", "Allen", "Baker", "Carter", "Dawson", "Ellison", "Fletcher", "Granger", "Harlow", "Irving",
             "Jensen", "Kessler", "Lambert", "Morrow", "Norwood", "Osgood", "Prescott", "Quinlan", "Rowley",
             "Sutton", "Thackeray", "Underhill", "Vickers", "Whitlock", "Yardley")
_INDUSTRIES = ("Innovation", "Manufacturing", "Dynamics", "Logistics", "Systems", "Holdings", "Analytics",
               "Robotics")
_SUFFIXES = ("PLC", "LLC", "Ltd", "Inc.")
_FIRST = ("Elena", "Tomas", "Ingrid", "Marco", "Yuki", "Amara", "Oskar", "Lucia", "Dmitri", "Sofia", "Rafael",
          "Nadia", "Henrik", "Chiara", "Kenji", "Leila")
_LAST = ("Varga", "Lindqvist", "Moreau", "Castellano", "Okafor", "Brandt", "Nakamura", "Petrov", "Alvarez",
         "Kowalczyk", "Haddad", "Ferreira", "Janssen", "Rossi", "Sato", "Novak")
INSERT_RELATIONS = ("company_headquarters", "person_country")


def invented_entities(kind: str, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct invented names, seeded: ``"company"`` ("Smith Innovation PLC") or
    ``"person"`` ("Elena Varga"). Names of the tables are never returned."""
    check_choice("kind", kind, ("company", "person"))
    check_int("n", n, minimum=0)
    if kind == "company":
        names = [f"{s} {i} {x}" for s in _SURNAMES for i in _INDUSTRIES for x in _SUFFIXES]
    else:
        names = [f"{a} {b}" for a in _FIRST for b in _LAST]
    names = [x for x in names if x not in W.COMPANIES and x not in W.PEOPLE]
    if n > len(names):
        raise ParameterError("n", n, f"at most {len(names)} invented {kind} names")
    rng = random.Random(f"{kind}-{seed}")
    rng.shuffle(names)
    return names[:n]


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
    for r, _s, o in _raw_triples():
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
            probes = _grounded(_second_hops(rel, name, o), o, rel, known)
            if len(probes) > len(best_probes):
                best, best_probes = o, probes
            if len(probes) == len(_second_hops(rel, name, o)) and probes:
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
