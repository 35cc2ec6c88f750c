"""Second hops the unedited model knows (Paper B §4 and PropMEND keep only those).

Paper B and PropMEND keep only second hops the base model
answers. :func:`check_second_hops` asks each distinct (country, second relation) once
(greedy, at most 10 new tokens, containment of a normalised answer form: Paper B's rule,
:func:`kedit_utils.editing.metrics.normalize_answer`), and ``generate_cre(..., known=check)`` draws
only those pairs, so the split sizes stay exact; :func:`keep_known` filters existing cases
(a loaded file) the same way and reports the share kept.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from kedit_utils.core.validation import ParameterError, check_choice, check_int
from kedit_utils.datasets import world as W
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.datasets.facts import answer_forms
from kedit_utils.propagation.cre.templates import (
    STYLES,
    second_hop_pairs,
    second_hop_prompt,
)


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
    :func:`kedit_utils.datasets.facts.answer_forms` in ≤ ``max_new_tokens`` greedy tokens, Paper B's rule).
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
    relation is one of :data:`kedit_utils.datasets.world.SECOND_HOPS`, else from the relation as a question
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


__all__ = ["KnownCases", "SecondHopCheck", "check_second_hops", "keep_known", "second_hop_of"]
