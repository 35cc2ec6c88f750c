"""CRE's sentences (Paper B §4 "Datasets" and Appendix A, Table 3): the first-hop relations
of an invented entity, the second hop alone, the 2-hop question (Paper B's question form or a
cloze), and the chat-template form an instruct model is asked in.

**Generator** (:func:`generate_cre`). A case is Paper B's task τ = (target, related):

    target   "Smith Innovation PLC's global headquarters was located in Greece."
             → EditRequest(prompt="Smith Innovation PLC's global headquarters was located in",
                           subject="Smith Innovation PLC", target_new="Greece")
             (the loss is on the object's tokens only, Paper B §3)
    related  "What is the currency of the country that hosted Smith Innovation PLC's global
             headquarters?" → answers ("Euro", "euro") (main answer first, then its other
             forms, :func:`kedit_utils.datasets.facts.answer_forms`)

First-hop relations (:data:`FIRST_HOPS`): headquarters, founded, expanded, registered
(companies); born, citizen, died, lived (people) — PropMEND's story facts and Paper B's
examples, plus "registered"/"citizen" so that a subject can carry three in-distribution facts. Second hops: :data:`kedit_utils.datasets.world.SECOND_HOPS` (capital, currency,
language, continent; PropMEND's "religion" is absent because :mod:`kedit_utils.datasets.world` has no such
column). Subjects are :func:`kedit_utils.datasets.facts.invented_entities` names. Splits as PropMEND makes them
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kedit_utils.core.validation import check_choice
from kedit_utils.datasets import world as W
from kedit_utils.datasets.cases import PropagationCase


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
    currency of Greece?" (question), from :data:`kedit_utils.datasets.world.SECOND_HOP_TEMPLATES`."""
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
    """Every (country, second relation) of :mod:`kedit_utils.datasets.world` with an answer, in table order."""
    return [(c, r) for c in W.COUNTRIES for r in W.SECOND_HOPS if W.country_fact(c, r) is not None]


__all__ = [
    "EDIT_FACTS",
    "FIRST_HOPS",
    "OOD_FIRST_HOPS",
    "OOD_SECOND_HOPS",
    "STYLES",
    "FirstHop",
    "chat_form",
    "second_hop_pairs",
    "second_hop_prompt",
    "two_hop_question",
    "with_chat_template",
]
