"""CRE-style splits generated offline (Paper B §4 "Datasets", Table 3; PropMEND's CRE,
arXiv:2506.08920) from :mod:`kedit_utils.datasets.world`.

Splits as PropMEND makes them (and Paper B Table 3 shows): *train* and *in-distribution* use the same countries and
relations with disjoint invented subjects; *out-of-distribution* uses yet other subjects,
and each of its cases has an unseen country ("entity": Portugal in Paper B's example), an
unseen first-hop relation or an unseen second-hop relation ("religion" there). Sizes are
parameters (paper: 4,000 / 500 / 350); everything is seeded.

The sentences are :mod:`.templates`'; with ``known`` (a
:class:`~kedit_utils.propagation.cre.model_checks.SecondHopCheck`) only the second hops the
model answers are drawn, so the split sizes stay exact.
"""
from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from kedit_utils.core.validation import ParameterError, check_choice, check_int
from kedit_utils.datasets import world as W
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.datasets.facts import answer_forms, invented_entities
from kedit_utils.editing.requests import EditRequest
from kedit_utils.propagation.cre.model_checks import SecondHopCheck
from kedit_utils.propagation.cre.templates import (
    FIRST_HOPS,
    OOD_FIRST_HOPS,
    OOD_SECOND_HOPS,
    STYLES,
    second_hop_pairs,
    second_hop_prompt,
    two_hop_question,
)


@dataclass(frozen=True)
class CRESplits:
    """The three splits of :func:`generate_cre` and what was held out for OOD."""

    train: list
    in_distribution: list
    out_of_distribution: list
    ood_countries: tuple[str, ...]
    ood_first_relations: tuple[str, ...]
    ood_second_relations: tuple[str, ...]

    @property
    def sizes(self) -> dict:
        return {"train": len(self.train), "in_distribution": len(self.in_distribution),
                "out_of_distribution": len(self.out_of_distribution)}


def _known_pairs(known) -> set | None:
    if known is None:
        return None
    if isinstance(known, SecondHopCheck):
        return set(known.pairs())
    if isinstance(known, Collection) and not isinstance(known, str):
        return {tuple(p) for p in known}
    raise ParameterError("known", type(known).__name__, "must be a SecondHopCheck, a set of (country, relation) or None")


def _all_names(kind: str, seed: int) -> list[str]:
    """Every invented name of ``kind`` that :func:`kedit_utils.datasets.facts.invented_entities` has, in its
    seeded order (it raises beyond its count, which is found by bisection)."""
    lo, hi = 0, 1
    while True:
        try:
            invented_entities(kind, hi, seed)
        except ParameterError:
            break
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            invented_entities(kind, mid, seed)
            lo = mid
        except ParameterError:
            hi = mid
    return invented_entities(kind, lo, seed)


def _split_names(sizes: Sequence[int], kind: str, seed: int) -> list[list[tuple[str, str]]]:
    """All invented ``(name, kind)`` of ``kind``, partitioned in proportion to ``sizes``
    (disjoint; a split of size 0 gets none)."""
    names = _all_names(kind, seed)
    total = sum(sizes)
    out, start = [], 0
    for s in sizes:
        end = min(len(names), start + max(1, (len(names) * s) // total)) if s else start
        out.append([(n, kind) for n in names[start:end]])
        start = end
    return out


def _split_cases(split: str, n: int, subjects: Sequence[tuple[str, str]], first_rels: Sequence[str], countries: Sequence[str],
                 allowed, pairs: set | None, rng: random.Random, n_locality: int,
                 locality_pool: Sequence[tuple[str, str]], question_style: str = "question") -> list[PropagationCase]:
    """``n`` cases: every (subject, first relation) slot gets one country; its second hops
    are spread over passes (one case per slot per pass) so subjects repeat as late as possible.
    ``allowed(country, r1, r2)`` says which combinations the split may use."""
    slots = []
    order = list(subjects)
    rng.shuffle(order)
    rels_of = {}
    for s, kind in order:
        rels = [r for r in first_rels if FIRST_HOPS[r].kind == kind]
        rng.shuffle(rels)
        rels_of[s] = rels
    for k in range(max((len(v) for v in rels_of.values()), default=0)):
        for s, _kind in order:
            if k < len(rels_of[s]):
                r1 = rels_of[s][k]
                options = {}
                for c in countries:
                    r2s = [r2 for r2 in W.SECOND_HOPS if W.country_fact(c, r2) is not None and allowed(c, r1, r2)
                           and (pairs is None or (c, r2) in pairs)]
                    if r2s:
                        options[c] = r2s
                if not options:
                    continue
                c = rng.choice(sorted(options))
                r2s = list(options[c])
                rng.shuffle(r2s)
                slots.append((s, r1, c, r2s))
    out = []
    for p in range(len(W.SECOND_HOPS)):
        for s, r1, c, r2s in slots:
            if len(out) == n:
                return out
            if p < len(r2s):
                out.append(_make_case(f"cre-{split}-{len(out):05d}", s, r1, c, r2s[p], rng, n_locality, locality_pool,
                                      question_style))
    if len(out) < n:
        raise ParameterError(f"n_{split}", n, f"at most {len(out)} cases can be made for this split with its "
                                              "subjects, relations and known second hops")
    return out


def _make_case(case_id: str, subject: str, r1: str, country: str, r2: str, rng: random.Random, n_locality: int,
               locality_pool: Sequence[tuple[str, str]], question_style: str = "question") -> PropagationCase:
    hop = FIRST_HOPS[r1]
    prompt = hop.prompt.format(subject)
    edit = EditRequest(prompt=prompt, subject=subject, target_new=country, ground_truth=None)
    others = [p for p in locality_pool if p[0] != country]
    loc = rng.sample(others, min(n_locality, len(others)))
    locality = tuple((second_hop_prompt(c, r, "cloze"), W.country_fact(c, r)) for c, r in loc)
    return PropagationCase(case_id=case_id, edits=(edit,), questions=(two_hop_question(r1, subject, r2, question_style),),
                           answers=answer_forms(W.country_fact(country, r2)), single_hops=((prompt, country),),
                           locality=locality, source="generated", relation=r1, second_relation=r2)


def generate_cre(n_train: int = 4000, n_id: int = 500, n_ood: int = 350, seed: int = 0, known=None,
                 ood_countries: int | Sequence[str] = 8, ood_first_relations: Sequence[str] = OOD_FIRST_HOPS,
                 ood_second_relations: Sequence[str] = OOD_SECOND_HOPS, n_locality: int = 2,
                 question_style: str = "question") -> CRESplits:
    """CRE-style train / in-distribution / out-of-distribution splits (module docstring).

    known: a :class:`SecondHopCheck` (or a set of (country, relation)) — only second hops the
        model answers are drawn, and locality prompts come from them too; None uses all;
    ood_countries: how many countries (seeded) or which ones are held out of train and ID;
    ood_first_relations / ood_second_relations: relations held out of train and ID; every
        OOD case has at least one held-out country or relation;
    n_locality: unrelated second hops per case (other countries; must not change);
    question_style: the related question as a question (Paper B's) or as a cloze
        (:func:`two_hop_question`); the cases are otherwise the same.
    Subjects are disjoint across splits (the invented names are partitioned in proportion to
    the sizes); a subject carries one country per first relation and may appear in a split
    with several second hops of it, but only once every other slot has been used.
    Deterministic in ``seed``. Raises :class:`ParameterError` for a size that cannot be filled.
    """
    for name, v in (("n_train", n_train), ("n_id", n_id), ("n_ood", n_ood), ("seed", seed),
                    ("n_locality", n_locality)):
        check_int(name, v, minimum=0)
    check_choice("question_style", question_style, STYLES)
    ood_r1 = tuple(check_choice("ood_first_relations", r, list(FIRST_HOPS)) for r in ood_first_relations)
    ood_r2 = tuple(check_choice("ood_second_relations", r, W.SECOND_HOPS) for r in ood_second_relations)
    countries = list(W.COUNTRIES)
    if isinstance(ood_countries, int) and not isinstance(ood_countries, bool):
        check_int("ood_countries", ood_countries, minimum=0, maximum=len(countries) - 1)
        ood_c = tuple(sorted(random.Random(f"cre-ood-{seed}").sample(countries, ood_countries)))
    else:
        ood_c = tuple(check_choice("ood_countries", c, countries) for c in ood_countries)
    pairs = _known_pairs(known)
    id_r1 = [r for r in FIRST_HOPS if r not in ood_r1]
    if not id_r1:
        raise ParameterError("ood_first_relations", ood_first_relations, "must leave a first relation for training")
    sizes = (n_train, n_id, n_ood)
    companies = _split_names(sizes, "company", seed)
    people = _split_names(sizes, "person", seed)
    pool = [p for p in second_hop_pairs() if pairs is None or p in pairs]
    pool_id = [(c, r) for c, r in pool if c not in ood_c and r not in ood_r2]

    def in_dist(c, r1, r2):
        return c not in ood_c and r2 not in ood_r2

    def ood(c, r1, r2):
        return c in ood_c or r1 in ood_r1 or r2 in ood_r2

    id_countries = [c for c in countries if c not in ood_c]
    out = []
    for i, (split, n, allowed, first_rels, cs) in enumerate((
            ("train", n_train, in_dist, id_r1, id_countries), ("id", n_id, in_dist, id_r1, id_countries),
            ("ood", n_ood, ood, list(FIRST_HOPS), countries))):
        rng = random.Random(f"cre-{split}-{seed}")
        out.append(_split_cases(split, n, companies[i] + people[i], first_rels, cs, allowed, pairs, rng, n_locality,
                                pool_id if split != "ood" else pool, question_style))
    return CRESplits(out[0], out[1], out[2], ood_c, ood_r1, ood_r2)


__all__ = ["CRESplits", "generate_cre"]
