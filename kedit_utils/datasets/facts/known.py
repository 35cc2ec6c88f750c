"""Which facts of the table a model *knows* (chapter 7, Paper C §4): measured, not assumed.

:func:`known_facts` asks the model every fact's prompt and every portability prompt and keeps
what it answers (teacher-forced by default, as EasyEdit's ``rewrite_acc`` reads an answer), so
a chapter says "N of M facts kept"; only kept facts are edited or used as probes (a second hop
the unedited model gets wrong says nothing about an edit). :func:`answer_forms` lists the
surface forms an answer is accepted in.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from kedit_utils.core.validation import check_choice
from kedit_utils.datasets import world as W
from kedit_utils.datasets.facts.table import Fact, fact_table

CHECK_MODES = ("teacher_forced", "generation")


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
    capitalised ("Swiss franc" → "Swiss Franc"), then :data:`~kedit_utils.datasets.world.ANSWER_FORMS`'s other
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


__all__ = ["CHECK_MODES", "KnownFacts", "answer_forms", "answered", "known_facts"]
