"""CRE (Controlled RippleEdit) data for Paper B (§4 "Datasets" and Appendix A, Table 3): a
new fact about an invented entity whose country is the first hop, and a question whose
second hop is common knowledge about that country.

Source: CRE is PropMEND's dataset (Liu, Durrett & Choi 2025, "PropMEND: Hypernetworks for
Knowledge Propagation in LLMs", arXiv:2506.08920; code github.com/leo-liuzy/propmend, data
``4K_controlled_ripple_edit/{train_data_id,valid_data_id,test_data_id,test_data_ood}.jsonl``).
Paper B meta-trains on its 4,000 training cases and evaluates on 500 in-distribution and 350
out-of-distribution ones. Nothing here is downloaded: :func:`generate_cre` builds CRE-style
data offline from :mod:`.world`, and :func:`load_cre` reads PropMEND's published jsonl
(``cre_path``) when a reader has it.

**Generator** (:func:`generate_cre`). A case is Paper B's task τ = (target, related):

    target   "Smith Innovation PLC's global headquarters was located in Greece."
             → EditRequest(prompt="Smith Innovation PLC's global headquarters was located in",
                           subject="Smith Innovation PLC", target_new="Greece")
             (the loss is on the object's tokens only, Paper B §3)
    related  "What is the currency of the country that hosted Smith Innovation PLC's global
             headquarters?" → answers ("Euro", "euro") (main answer first, then its other
             forms, :func:`.facts.answer_forms`)

First-hop relations (:data:`FIRST_HOPS`): headquarters, founded, expanded, registered
(companies); born, citizen, died, lived (people) — PropMEND's story facts and Paper B's
examples, plus "registered"/"citizen" so that a subject can carry three in-distribution facts. Second hops: :data:`.world.SECOND_HOPS` (capital, currency,
language, continent; PropMEND's "religion" is absent because :mod:`.world` has no such
column). Subjects are :func:`.facts.invented_entities` names. Splits as PropMEND makes them
(and Paper B Table 3 shows): *train* and *in-distribution* use the same countries and
relations with disjoint invented subjects; *out-of-distribution* uses yet other subjects,
and each of its cases has an unseen country ("entity": Portugal in Paper B's example), an
unseen first-hop relation or an unseen second-hop relation ("religion" there). Sizes are
parameters (paper: 4,000 / 500 / 350); everything is seeded.

**Second hops the model knows.** Paper B and PropMEND keep only second hops the base model
answers. :func:`check_second_hops` asks each distinct (country, second relation) once
(greedy, at most 10 new tokens, containment of a normalised answer form: Paper B's rule,
:func:`kedit_utils.editing.metrics.normalize_answer`), and ``generate_cre(..., known=check)`` draws
only those pairs, so the split sizes stay exact; :func:`keep_known` filters existing cases
(a loaded file) the same way and reports the share kept.

**Loader** (:func:`load_cre`) for PropMEND's jsonl, one JSON object a line. The fields (from
PropMEND's ``notebooks/syn_data_text_curation.ipynb``, ``generate_text_instance`` and
``question_suite_generator``; read by ``data_classes/controlled_ripple_edit.py``):

    text           the new facts (PropMEND: a three-sentence story about the subject)
    questions      [{alias_question (or question), answer, unalias_question,
                     alias_question_paraphrase, unalias_question_paraphrase,
                     question_template ("What is the currency of {country}?"),
                     entity_name (the real entity the question goes through), fact_idx}]
    subject, subject_type ("person" / "company"), gender_type, entity_type,
    entity_names   the three real-world objects of the story, in order
    facts          (test files for MEMIT) [{fact, prefix, paraphrase, paraphrase_prefix, target}]

Only ``text`` and ``questions`` (each with ``question`` or ``alias_question`` and
``answer``) are required. One case per question (a :class:`.cases.PropagationCase` holds
questions with one answer). Its edit is the fact the question goes through: ``facts[fact_idx]``
(prefix → target) when the line has ``facts``; otherwise the sentence of ``text`` that
contains ``entity_name`` (or ``entity_names[fact_idx]``), cut just before it (when that
sentence names the subject only by a pronoun, the text from its start up to the object, so
that the prompt contains the subject). A line with neither (Paper B's one-sentence form,
"Allen Manufacturing LLC was founded in Portugal.") is split as documented in
:func:`split_fact`: the object is the longest word-aligned suffix that names a country or city
of :mod:`.world`, else the last word — a fallback, since the object cannot be told apart
from the relation without knowing the entity. ``edit_facts="all"`` puts the story's other
facts after the needed one (PropMEND edits with the whole text). The subject is the line's
``subject``, else the run of capitalised words that starts the text ("Smith Innovation
PLC's ..." → "Smith Innovation PLC").

:func:`write_cre` writes cases in the same format (plus ``case_id``, ``answer_aliases``,
``relation``, ``second_relation``, ``single_hops``, ``locality``, ``source``), so generated
data round-trips through :func:`load_cre`. A malformed line raises
:class:`~kedit_utils.core.validation.ParameterError` naming the file, the line and the field.
"""
from __future__ import annotations

import json
import random
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kedit_utils.core.validation import ParameterError, check_choice, check_int
from kedit_utils.datasets import world as W
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.datasets.facts import answer_forms, invented_entities
from kedit_utils.editing.requests import EditRequest


@dataclass(frozen=True)
class FirstHop:
    """A first-hop relation: the subject's kind, the fact's prompt (``{}`` = subject; the
    country follows it) and how a question names the country ("the country that ...")."""

    kind: str
    prompt: str
    phrase: str


FIRST_HOPS: dict[str, FirstHop] = {
    "headquarters": FirstHop("company", "{}'s global headquarters was located in",
                             "the country that hosted {}'s global headquarters"),
    "founded": FirstHop("company", "{} was founded in", "the country that {} was founded in"),
    "expanded": FirstHop("company", "{} expanded its business to", "the country that {} expanded its business to"),
    "registered": FirstHop("company", "{} is registered in", "the country that {} is registered in"),
    "born": FirstHop("person", "{} was born in", "the country that {} was born in"),
    "citizen": FirstHop("person", "{} is a citizen of", "the country that {} is a citizen of"),
    "died": FirstHop("person", "{} died in", "the country that {} died in"),
    "lived": FirstHop("person", "{} spent most of their adult life in",
                      "the country that {} spent most of their adult life in"),
}
OOD_FIRST_HOPS = ("expanded", "died")
OOD_SECOND_HOPS = ("continent",)
STYLES = ("cloze", "question")
EDIT_FACTS = ("needed", "all")


# --------------------------------------------------------------------------- questions
def second_hop_prompt(country: str, relation: str, style: str = "cloze") -> str:
    """The second hop alone: "The currency of Greece is the" (cloze) or "What is the
    currency of Greece?" (question), from :data:`.world.SECOND_HOP_TEMPLATES`."""
    check_choice("relation", relation, W.SECOND_HOPS)
    check_choice("style", style, STYLES)
    text = W.SECOND_HOP_TEMPLATES[relation][0 if style == "cloze" else 1].format(country)
    return text[0].upper() + text[1:]


def two_hop_question(first_relation: str, subject: str, second_relation: str, style: str = "question") -> str:
    """CRE's related question: "What is the currency of the country that hosted Smith
    Innovation PLC's global headquarters?" (``style="question"``, Paper B's form), or the same
    2-hop query as a cloze, "The currency of the country that hosted Smith Innovation PLC's
    global headquarters is the" (``style="cloze"``: for an instruct model asked without its
    chat template, which answers a cloze but ends a bare question at once)."""
    check_choice("first_relation", first_relation, list(FIRST_HOPS))
    check_choice("second_relation", second_relation, W.SECOND_HOPS)
    check_choice("style", style, STYLES)
    phrase = FIRST_HOPS[first_relation].phrase.format(subject)
    text = W.SECOND_HOP_TEMPLATES[second_relation][0 if style == "cloze" else 1].format(phrase)
    return text[0].upper() + text[1:]


def chat_form(tok, text: str) -> str:
    """``text`` as one user turn of the tokenizer's chat template, ready for the assistant's
    answer (``add_generation_prompt``); the text itself when the tokenizer has no template."""
    if not getattr(tok, "chat_template", None):
        return text
    return tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)


def with_chat_template(cases: Sequence[PropagationCase], tok) -> list[PropagationCase]:
    """The cases with every question put in the tokenizer's chat template (:func:`chat_form`):
    how an instruct model is asked a question-form file (PropMEND's CRE, MQuAKE)."""
    import dataclasses

    return [dataclasses.replace(c, questions=tuple(chat_form(tok, q) for q in c.questions)) for c in cases]


def second_hop_pairs() -> list[tuple[str, str]]:
    """Every (country, second relation) of :mod:`.world` with an answer, in table order."""
    return [(c, r) for c in W.COUNTRIES for r in W.SECOND_HOPS if W.country_fact(c, r) is not None]


# --------------------------------------------------------------------------- known second hops
@dataclass(frozen=True)
class SecondHopCheck:
    """What :func:`check_second_hops` measured.

    known: (bridge entity, second relation) → answered; generations: the same key → the
    model's greedy continuation (≤ ``max_new_tokens`` tokens); style: cloze or question.
    """

    style: str
    known: dict
    generations: dict = field(default_factory=dict)

    @property
    def share(self) -> float:
        """Share of the checked second hops the model answers."""
        return sum(self.known.values()) / len(self.known) if self.known else float("nan")

    def knows(self, bridge: str, relation: str) -> bool:
        return bool(self.known.get((bridge, relation), False))

    def pairs(self) -> frozenset:
        """The (bridge, relation) pairs answered."""
        return frozenset(k for k, ok in self.known.items() if ok)

    def rows(self) -> list[dict]:
        """One row per second relation: checked, known, share (for the chapter's table)."""
        rels = sorted({r for _, r in self.known})
        out = []
        for r in rels:
            vals = [ok for (_, rr), ok in self.known.items() if rr == r]
            out.append({"relation": r, "checked": len(vals), "known": sum(vals), "share": sum(vals) / len(vals)})
        return out


def _ask(model, tok, items: dict, max_new_tokens: int) -> tuple[dict, dict]:
    """items: key → (prompt, accepted answers). One greedy generation per key; a key is
    known when a normalised answer is contained in the normalised generation."""
    from kedit_utils.editing import metrics

    keys = list(items)
    gens = metrics.generate(model, tok, [items[k][0] for k in keys], max_new_tokens)
    known, out = {}, {}
    for k, g in zip(keys, gens):
        norm = metrics.normalize_answer(g)
        known[k] = any(metrics.normalize_answer(a) and metrics.normalize_answer(a) in norm for a in items[k][1])
        out[k] = g
    return known, out


def check_second_hops(model, tok, pairs: Sequence[tuple[str, str]] | None = None, style: str = "cloze",
                      max_new_tokens: int = 10) -> SecondHopCheck:
    """Ask the unedited model each (country, second relation) of ``pairs`` once (default:
    :func:`second_hop_pairs`, 149 pairs) and record which it answers (containment of one of
    :func:`.facts.answer_forms` in ≤ ``max_new_tokens`` greedy tokens, Paper B's rule).
    ``style``: ``"cloze"`` ("The currency of Greece is the") or ``"question"`` ("What is the
    currency of Greece?"). Cost: one generation per pair.

    Measured on SmolLM2-135M-Instruct (CPU, 1 thread, ~2 min for the 149 pairs): cloze
    76/149 = 51 % (capital 25/38, currency 20/38, language 28/37, continent 3/36); question
    0/149 — asked a bare question without its chat template, the model ends at once (empty
    generation), hence the cloze default. ``generate_cre(4000, 500, 350, known=check)`` with
    the cloze check fills every split."""
    check_choice("style", style, STYLES)
    check_int("max_new_tokens", max_new_tokens, minimum=1)
    pairs = second_hop_pairs() if pairs is None else [tuple(p) for p in pairs]
    items = {}
    for country, rel in pairs:
        answer = W.country_fact(country, rel)
        if answer is None:
            raise ParameterError("pairs", (country, rel), "has no answer in datasets.world")
        items[(country, rel)] = (second_hop_prompt(country, rel, style), answer_forms(answer))
    known, gens = _ask(model, tok, items, max_new_tokens)
    return SecondHopCheck(style, known, gens)


def second_hop_of(case: PropagationCase, style: str = "cloze") -> tuple[tuple[str, str], str]:
    """``((bridge, second relation), prompt)`` of a case's second hop alone: the bridge is
    the first edit's object; the prompt comes from :func:`second_hop_prompt` when the second
    relation is one of :data:`.world.SECOND_HOPS`, else from the relation as a question
    template with one ``{...}`` field (PropMEND's ``question_template``, question form only)."""
    bridge, rel = case.edits[0].target_new, case.second_relation
    if rel in W.SECOND_HOPS:
        return (bridge, rel), second_hop_prompt(bridge, rel, style)
    if re.search(r"\{\w*\}", rel):
        return (bridge, rel), re.sub(r"\{\w*\}", lambda _: bridge, rel, count=1)
    raise ParameterError("second_relation", rel, f"case {case.case_id!r}: must be one of {list(W.SECOND_HOPS)} "
                                                  "or a question template with a {...} field")


@dataclass(frozen=True)
class KnownCases:
    """What :func:`keep_known` kept: the cases, how many there were, and the check."""

    cases: list
    n_before: int
    check: SecondHopCheck

    @property
    def share(self) -> float:
        """Share of the cases kept."""
        return len(self.cases) / self.n_before if self.n_before else float("nan")


def keep_known(cases: Sequence[PropagationCase], model, tok, style: str = "cloze",
               max_new_tokens: int = 10) -> KnownCases:
    """The cases whose second hop (:func:`second_hop_of`) the unedited model answers with
    one of the case's answers, each distinct (bridge, relation) asked once."""
    check_choice("style", style, STYLES)
    items = {}
    for c in cases:
        key, prompt = second_hop_of(c, style)
        items.setdefault(key, (prompt, c.answers))
    known, gens = _ask(model, tok, items, max_new_tokens) if items else ({}, {})
    kept = [c for c in cases if known[second_hop_of(c, style)[0]]]
    return KnownCases(kept, len(cases), SecondHopCheck(style, known, gens))


# --------------------------------------------------------------------------- generator
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
    """Every invented name of ``kind`` that :func:`.facts.invented_entities` has, in its
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


# --------------------------------------------------------------------------- PropMEND's jsonl
_END = re.compile(r"[.!?]+(?=\s|$)")
# words whose final dot does not end a sentence ("Orange Development Inc. was founded in ...")
ABBREVIATIONS = frozenset({"Inc.", "Ltd.", "Co.", "Corp.", "Jr.", "Sr.", "St.", "Dr.", "Mr.", "Mrs.", "Ms.", "Prof."})


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text`` (ended by . ! or ? before a space or
    the end, except after :data:`ABBREVIATIONS`); leading spaces excluded."""
    spans, start = [], 0
    for m in _END.finditer(text):
        word = text[:m.end()].split()[-1] if text[:m.end()].split() else ""
        if word in ABBREVIATIONS and m.end() < len(text.rstrip()):
            continue
        spans.append((start, m.end()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return [(a + len(text[a:b]) - len(text[a:b].lstrip()), b) for a, b in spans if text[a:b].strip()]


def _entity_names() -> list[str]:
    """Countries (with aliases, with and without their article) and cities of :mod:`.world`."""
    names = set(W.all_cities())
    for c, info in W.COUNTRIES.items():
        for n in (c, *info.aliases):
            names.add(n)
            if n.startswith("the "):
                names.add(n[4:])
    return sorted(names, key=len, reverse=True)


def leading_subject(text: str) -> str:
    """The run of capitalised words that starts ``text``, without a final "'s"
    ("Smith Innovation PLC's global ..." → "Smith Innovation PLC"); "" when none."""
    words = []
    for w in text.split():
        if not w[:1].isupper():
            break
        stem = re.sub(r"(?:'s|’s)$", "", w)
        if stem in ABBREVIATIONS:
            words.append(stem)
        else:
            words.append(stem.rstrip(",;:.!?"))
        if stem != w or (stem not in ABBREVIATIONS and w.endswith((",", ";", ":", ".", "!", "?"))):
            break
    return " ".join(words)


def split_fact(sentence: str) -> tuple[str, str]:
    """``(prompt, object)`` of a one-sentence fact whose object ends it, for a line without
    ``facts`` or ``entity_name``: the object is the longest word-aligned suffix (before the
    final punctuation) that names a country or city of :mod:`.world` ("... located in the
    United States." → "the United States"), else the last word. The fallback cannot tell a
    multi-word object it does not know from the relation, so such a target is only its last
    word; PropMEND's own files always carry the object (``entity_names`` / ``facts``)."""
    body = sentence.strip().rstrip(".!?").rstrip()
    words = body.split()
    if len(words) < 2:
        raise ParameterError("text", sentence, "must hold a fact with a subject and an object")
    known = set(_entity_names())
    for k in range(len(words) - 1, 0, -1):
        suffix = " ".join(words[-k:])
        if suffix in known:
            return " ".join(words[:-k]), suffix
    return " ".join(words[:-1]), words[-1]


def _where(path, lineno) -> str:
    return f"{path}, line {lineno}"


def _str(where: str, name: str, value, allow_number: bool = False) -> str:
    if allow_number and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ParameterError(name, value, f"{where}: must be a string")
    if not value.strip():
        raise ParameterError(name, value, f"{where}: must not be empty")
    return value


def _pairs_field(where: str, name: str, value) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                                              for p in value):
        raise ParameterError(name, value, f"{where}: must be a list of [prompt, answer] pairs of strings")
    return tuple((p[0], p[1]) for p in value)


def _edit_at(where: str, text: str, subject: str, obj: str, after: int = 0) -> tuple[EditRequest, int]:
    """The fact of ``text`` whose object is ``obj`` (its first occurrence from ``after``, as
    a story names its objects in order): its sentence cut before ``obj`` (the text up to
    ``obj`` when that sentence does not name the subject); and where ``obj`` ends."""
    at = text.find(obj, after)
    if at < 0:
        raise ParameterError("entity_name", obj, f"{where}: does not occur in the text")
    start = next((a for a, b in sentence_spans(text) if a <= at < b), 0)
    prompt = text[start:at].strip()
    if subject not in prompt:
        prompt = text[:at].strip()
    if subject not in prompt:
        raise ParameterError("subject", subject, f"{where}: does not occur before {obj!r} in the text")
    return EditRequest(prompt=prompt, subject=subject, target_new=obj), at + len(obj)


def _line_edits(where: str, d: dict, subject: str, text: str) -> tuple[list[EditRequest], list[str]]:
    """Every fact of a line, as EditRequests, and their objects (module docstring)."""
    if "facts" in d:
        facts = d["facts"]
        if not isinstance(facts, list) or not facts:
            raise ParameterError("facts", facts, f"{where}: must be a non-empty list")
        edits = []
        for i, f in enumerate(facts):
            if not isinstance(f, dict):
                raise ParameterError(f"facts[{i}]", f, f"{where}: must be an object with prefix and target")
            for key in ("prefix", "target"):
                if key not in f:
                    raise ParameterError(f"facts[{i}].{key}", None, f"{where}: is missing")
            prefix = _str(where, f"facts[{i}].prefix", f["prefix"])
            target = _str(where, f"facts[{i}].target", f["target"], allow_number=True)
            if subject not in prefix:
                raise ParameterError("subject", subject, f"{where}: does not occur in facts[{i}].prefix {prefix!r}")
            edits.append(EditRequest(prompt=prefix.strip(), subject=subject, target_new=target))
        return edits, [e.target_new for e in edits]
    if "entity_names" in d:
        names = d["entity_names"]
        if not isinstance(names, list) or not names:
            raise ParameterError("entity_names", names, f"{where}: must be a non-empty list of strings")
        objs = [_str(where, f"entity_names[{i}]", n) for i, n in enumerate(names)]
        edits, after = [], 0
        for o in objs:
            edit, after = _edit_at(where, text, subject, o, after)
            edits.append(edit)
        return edits, objs
    edits = []
    for a, b in sentence_spans(text):
        sent = text[a:b].strip()
        if subject in sent:
            prompt, obj = split_fact(sent)
            if subject in prompt:
                edits.append(EditRequest(prompt=prompt, subject=subject, target_new=obj))
    if not edits:
        raise ParameterError("text", text, f"{where}: no sentence names the subject {subject!r} before its object")
    return edits, [e.target_new for e in edits]


def _line_cases(path, lineno: int, d, edit_facts: str) -> list[PropagationCase]:
    where = _where(path, lineno)
    if not isinstance(d, dict):
        raise ParameterError("line", type(d).__name__, f"{where}: must be a JSON object")
    for key in ("text", "questions"):
        if key not in d:
            raise ParameterError(key, None, f"{where}: is missing")
    text = _str(where, "text", d["text"])
    subject = _str(where, "subject", d["subject"]) if "subject" in d else leading_subject(text)
    if not subject:
        raise ParameterError("subject", None, f"{where}: is missing and the text does not start with a name")
    questions = d["questions"]
    if not isinstance(questions, list) or not questions:
        raise ParameterError("questions", questions, f"{where}: must be a non-empty list")
    edits, objects = _line_edits(where, d, subject, text)
    base = str(d["case_id"]) if "case_id" in d else f"{Path(path).stem}:{lineno}"
    single = _pairs_field(where, "single_hops", d["single_hops"]) if "single_hops" in d else None
    locality = _pairs_field(where, "locality", d["locality"]) if "locality" in d else ()
    out = []
    for j, q in enumerate(questions):
        qf = f"questions[{j}]"
        if not isinstance(q, dict):
            raise ParameterError(qf, q, f"{where}: must be an object")
        qkey = "question" if "question" in q else "alias_question"
        if qkey not in q:
            raise ParameterError(f"{qf}.question", None, f"{where}: is missing (question or alias_question)")
        if "answer" not in q:
            raise ParameterError(f"{qf}.answer", None, f"{where}: is missing")
        question = _str(where, f"{qf}.{qkey}", q[qkey])
        answer = _str(where, f"{qf}.answer", q["answer"], allow_number=True)
        aliases = q.get("answer_aliases", [])
        if not isinstance(aliases, list):
            raise ParameterError(f"{qf}.answer_aliases", aliases, f"{where}: must be a list of strings")
        aliases = [_str(where, f"{qf}.answer_aliases", a) for a in aliases]
        idx = q.get("fact_idx")
        if idx is None and "entity_name" in q and q["entity_name"] in objects:
            idx = objects.index(q["entity_name"])
        if idx is not None and (isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < len(edits)):
            raise ParameterError(f"{qf}.fact_idx", idx, f"{where}: must index one of the {len(edits)} facts")
        if idx is None:
            chosen = edits
        elif edit_facts == "needed":
            chosen = [edits[idx]]
        else:
            chosen = [edits[idx]] + [e for i, e in enumerate(edits) if i != idx]
        rel2 = q.get("second_relation", q.get("question_template", ""))
        rel1 = q.get("relation", "")
        for name, v in (("second_relation", rel2), ("relation", rel1)):
            if not isinstance(v, str):
                raise ParameterError(f"{qf}.{name}", v, f"{where}: must be a string")
        out.append(PropagationCase(
            case_id=base if len(questions) == 1 else f"{base}:q{j}", edits=tuple(chosen), questions=(question,),
            answers=(answer, *[a for a in aliases if a != answer]),
            single_hops=single if single is not None else tuple((e.prompt, e.target_new) for e in chosen),
            locality=locality, source=str(d.get("source", "cre")), relation=rel1, second_relation=rel2))
    return out


def load_cre(cre_path, edit_facts: str = "needed") -> list[PropagationCase]:
    """PropMEND's CRE jsonl (or one written by :func:`write_cre`) as PropagationCases, one
    per question (module docstring). ``edit_facts``: ``"needed"`` (the fact the question goes
    through: Paper B's one-fact target) or ``"all"`` (that fact, then the line's others).
    Raises :class:`ParameterError` naming the file, the line and the field at fault."""
    check_choice("edit_facts", edit_facts, EDIT_FACTS)
    path = Path(cre_path)
    if not path.is_file():
        raise ParameterError("cre_path", str(cre_path), "must be an existing jsonl file")
    out = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ParameterError("line", line[:80], f"{_where(path, lineno)}: is not valid JSON ({e.msg})") from None
            out.extend(_line_cases(path, lineno, d, edit_facts))
    if not out:
        raise ParameterError("cre_path", str(cre_path), "holds no case")
    ids = [c.case_id for c in out]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ParameterError("case_id", dup, f"{path}: is not unique")
    return out


def cre_record(case: PropagationCase) -> dict:
    """One jsonl object of PropMEND's format for a case (plus this book's fields: module
    docstring); :func:`load_cre` reads it back as the same case."""
    subject = case.edits[0].subject
    facts = [{"fact": e.fact + ".", "prefix": e.prompt, "target": e.target_new} for e in case.edits]
    bridge = case.edits[0].target_new
    questions = []
    for q in case.questions:
        entry = {"alias_question": q, "answer": case.answer, "answer_aliases": list(case.answers[1:]),
                 "entity_name": bridge, "relation": case.relation, "second_relation": case.second_relation}
        if case.second_relation in W.SECOND_HOPS:
            entry["question_template"] = W.SECOND_HOP_TEMPLATES[case.second_relation][1].replace("{}", "{country}")
            entry["unalias_question"] = second_hop_prompt(bridge, case.second_relation, "question")
        if len(case.edits) == 1:
            entry["fact_idx"] = 0
        questions.append(entry)
    kind = next((h.kind for r, h in FIRST_HOPS.items() if r == case.relation), "")
    return {"case_id": case.case_id, "subject": subject, "subject_type": kind,
            "text": " ".join(f["fact"] for f in facts), "entity_names": [e.target_new for e in case.edits],
            "facts": facts, "questions": questions, "single_hops": [list(p) for p in case.single_hops],
            "locality": [list(p) for p in case.locality], "source": case.source}


def write_cre(cases: Sequence[PropagationCase], cre_path) -> Path:
    """Write ``cases`` as CRE jsonl (one line per case, :func:`cre_record`); returns the path.
    A case with several questions is read back as one case per question."""
    path = Path(cre_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for c in cases:
            if len(c.questions) != 1:
                raise ParameterError("cases", c.case_id, "write_cre writes cases with one question each")
            fh.write(json.dumps(cre_record(c), ensure_ascii=False) + "\n")
    return path


__all__ = ["CRESplits", "EDIT_FACTS", "FIRST_HOPS", "FirstHop", "KnownCases", "OOD_FIRST_HOPS", "OOD_SECOND_HOPS",
           "STYLES", "SecondHopCheck", "ABBREVIATIONS", "sentence_spans", "chat_form", "check_second_hops", "cre_record", "generate_cre", "keep_known", "leading_subject",
           "load_cre", "second_hop_of", "second_hop_pairs", "second_hop_prompt", "split_fact", "two_hop_question",
           "with_chat_template", "write_cre"]
