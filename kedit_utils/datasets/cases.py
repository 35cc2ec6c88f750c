"""The case of Paper B's evaluation (§4, "Evaluation"; MQuAKE's and PropMEND/CRE's protocol):
one or more new facts to edit in, and questions that need them.

A :class:`PropagationCase` is what the CRE generator and loader (:mod:`kedit_utils.propagation.cre`) and the MQuAKE
loader (:mod:`kedit_utils.propagation.mquake`) produce, and what FOMAML trains on (:mod:`kedit_utils.propagation`, one
edit and one question per training task) and evaluates: edit every request of ``edits`` by
plain FT, ask every question of ``questions`` (greedy, at most 10 new tokens), correct when
one of ``answers`` is contained (MQuAKE: when any of the questions is answered).

    case.edits        the new facts, as EditRequests (prompt + target_new; the loss is on the
                      target's tokens only, Paper B §3)
    case.questions    the related (multi-hop) questions, all with the same answer
    case.answers      accepted answers: the main one first, then its aliases
    case.single_hops  (prompt, answer) of the hops of the new chain (MQuAKE: every hop of
                      new_single_hops, edited or not): the edit's own success
    case.locality     (prompt, answer) of unrelated facts that must not change
"""
from __future__ import annotations

from dataclasses import dataclass

from kedit_utils.core.validation import ParameterError
from kedit_utils.editing.requests import EditRequest


@dataclass(frozen=True)
class PropagationCase:
    """One evaluation (or training) case; see the module docstring.

    case_id: unique within its split; source: ``"cre"``, ``"mquake"``, ``"generated"``...;
    relation: the first hop's relation and second_relation the question's (for the OOD
    split's unseen relations, and for tables by relation).
    """

    case_id: str
    edits: tuple[EditRequest, ...]
    questions: tuple[str, ...]
    answers: tuple[str, ...]
    single_hops: tuple[tuple[str, str], ...] = ()
    locality: tuple[tuple[str, str], ...] = ()
    source: str = ""
    relation: str = ""
    second_relation: str = ""

    def __post_init__(self):
        edits = tuple(self.edits)
        if not edits or not all(isinstance(e, EditRequest) for e in edits):
            raise ParameterError("edits", self.edits, f"case {self.case_id!r}: must be one or more EditRequests")
        object.__setattr__(self, "edits", edits)
        for name in ("questions", "answers"):
            value = getattr(self, name)
            value = (value,) if isinstance(value, str) else tuple(value)
            if not value or not all(isinstance(v, str) and v.strip() for v in value):
                raise ParameterError(name, getattr(self, name),
                                     f"case {self.case_id!r}: must be one or more non-empty strings")
            object.__setattr__(self, name, value)
        for name in ("single_hops", "locality"):
            pairs = tuple(tuple(p) for p in getattr(self, name))
            if not all(len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
                raise ParameterError(name, getattr(self, name),
                                     f"case {self.case_id!r}: must be (prompt, answer) pairs of strings")
            object.__setattr__(self, name, pairs)

    @property
    def answer(self) -> str:
        """The main answer."""
        return self.answers[0]


__all__ = ["PropagationCase"]
