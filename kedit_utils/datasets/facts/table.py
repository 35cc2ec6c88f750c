"""The facts table of chapter 7 (Paper C, the survey, §4: the facts an edit inserts, modifies
or erases): the relations' prompt templates, and every fact of :mod:`kedit_utils.datasets.world`
with its paraphrases and portability probes.

**Where the data comes from**: the relations' prompt templates below and the tables of
:mod:`kedit_utils.datasets.world` were written by hand for this book from general knowledge;
nothing is downloaded.

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
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kedit_utils.core.validation import ParameterError, check_choice
from kedit_utils.datasets import world as W


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


def raw_triples() -> list[tuple[str, str, str]]:
    """(relation, subject name, object) of every fact the tables state, in a fixed order."""
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


def second_hops(relation: str, subject_name: str, obj: str) -> list[Probe]:
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
    probes = second_hops(relation, name, obj)
    for alias in aliases:
        probes.append(Probe("alias", W.render(rel.template, alias)[0], obj))
    if rel.reverse is not None:
        probes.append(Probe("reverse", W.render(rel.reverse, obj)[0], name))
    return Fact(relation, name, subject, prompt, obj, paraphrases, tuple(probes))


def fact_table(relations: Sequence[str] | None = None) -> list[Fact]:
    """Every fact of the built-in table (optionally of some relations only), in a fixed order."""
    rels = list(RELATIONS) if relations is None else [check_choice("relations", r, list(RELATIONS)) for r in relations]
    return [make_fact(r, s, o, aliases_of(s)) for r, s, o in raw_triples() if r in rels]


__all__ = ["COUNTRY_RELATION", "Fact", "Probe", "RELATIONS", "Relation", "aliases_of", "fact_table", "make_fact",
           "raw_triples", "second_hops"]
