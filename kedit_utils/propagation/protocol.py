"""Paper B's evaluation protocol (§4 "評価指標", Table 2; MQuAKE's rule), for any editor.

For each case (:class:`~kedit_utils.datasets.cases.PropagationCase`):

1. take the locality reference on the unedited model (teacher-forced argmax of the
   unrelated facts' answers, :func:`kedit_utils.editing.metrics.locality_reference`);
2. apply **every** edit of the case with the editor in one call (FT trains them together,
   ROME/MEMIT/AlphaEdit as their own batch rules say); Paper B's proposed method and its FT
   baseline are ``"ft"`` with the inner loop's settings (:meth:`FOMAMLConfig.ft_hparams`);
3. ask every question: greedy generation of at most ``max_new_tokens`` (10) new tokens,
   correct when the normalised main answer **or any alias** is contained in the normalised
   generation (:func:`kedit_utils.editing.metrics.normalize_answer`: lower case, no punctuation or
   articles); the case is correct when **any** of its questions is (MQuAKE's rule; a CRE
   case has one question);
4. the edit's own success: the same containment on each single hop ``(prompt, answer)``,
   their mean; locality: the share of the unrelated answers' tokens whose argmax is unchanged
   (EasyEdit's definition); NaN when the case has none;
5. restore the model bit for bit (:meth:`EditHandle.restore`) whatever happened.

Accuracy is reported with a 95 % Wilson score interval (:func:`wilson_interval`), and the
edit's seconds per edit (Paper B Table 2's time column: the edit only) and per case (edit +
answers). ``editor=None`` asks the questions of the unedited model (e.g. to check that the
second hops are known).
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kedit_utils.core.stats import wilson_interval
from kedit_utils.core.validation import ParameterError, check_int
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.editing import metrics as M


def contains_any(generation: str, answers: Sequence[str]) -> bool:
    """The normalised generation contains one of the normalised (non-empty) answers."""
    g = M.normalize_answer(generation)
    return any(bool(a) and a in g for a in (M.normalize_answer(x) for x in answers))


@dataclass(frozen=True)
class CaseResult:
    """One case: correct (any question), per-question correctness and generations,
    single_hop (mean over the case's single hops), locality, the edit's seconds, the edit
    and answers' seconds, the number of edits."""

    case_id: str
    correct: bool
    question_correct: tuple[bool, ...]
    generations: tuple[str, ...]
    single_hop: float
    locality: float
    edit_seconds: float
    seconds: float
    n_edits: int


@dataclass
class PropagationReport:
    """Every case's :class:`CaseResult` for one method; summaries as properties."""

    method: str
    results: list[CaseResult]

    @property
    def n(self) -> int:
        return len(self.results)

    @property
    def n_correct(self) -> int:
        return sum(r.correct for r in self.results)

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        """95 % Wilson interval of the accuracy."""
        return wilson_interval(self.n_correct, self.n)

    @property
    def single_hop(self) -> float:
        vals = [r.single_hop for r in self.results if not math.isnan(r.single_hop)]
        return float(np.mean(vals)) if vals else math.nan

    @property
    def locality(self) -> float:
        vals = [r.locality for r in self.results if not math.isnan(r.locality)]
        return float(np.mean(vals)) if vals else math.nan

    @property
    def seconds_per_edit(self) -> float:
        edits = sum(r.n_edits for r in self.results)
        return sum(r.edit_seconds for r in self.results) / edits if edits else math.nan

    @property
    def seconds_per_case(self) -> float:
        return float(np.mean([r.seconds for r in self.results])) if self.results else math.nan

    def summary(self) -> dict:
        lo, hi = self.interval
        return {"method": self.method, "acc": self.accuracy, "ci_low": lo, "ci_high": hi, "n": self.n,
                "single_hop": self.single_hop, "locality": self.locality,
                "seconds_per_edit": self.seconds_per_edit, "seconds_per_case": self.seconds_per_case}

    def frame(self):
        """One row per case."""
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(r) for r in self.results])


def _resolve(model, tok, editor, hparams):
    from kedit_utils.editing.registry import get_editor

    if editor is None:
        return None, None, "unedited"
    ed = get_editor(editor) if isinstance(editor, str) else editor
    if not hasattr(ed, "apply") or not hasattr(ed, "resolve_hparams"):
        raise ParameterError("editor", type(editor).__name__, "must be a method name or an Editor")
    return ed, ed.resolve_hparams(model, hparams), ed.name


def _check_cases(cases) -> list[PropagationCase]:
    if isinstance(cases, PropagationCase):
        cases = [cases]
    cases = list(cases)
    for i, c in enumerate(cases):
        if not isinstance(c, PropagationCase):
            raise ParameterError("cases", type(c).__name__, f"item {i} must be a PropagationCase")
    return cases


def _evaluate_one(model, tok, case, ed, hp, max_new_tokens, context) -> CaseResult:
    t0 = time.perf_counter()
    loc_req = [dataclasses.replace(case.edits[0], locality=case.locality)] if case.locality else None
    ref = M.locality_reference(model, tok, loc_req) if loc_req else None
    handle = None
    try:
        if ed is not None:
            handle = ed.apply(model, tok, list(case.edits), hp, **context)
        t_edit = handle.seconds if handle is not None else 0.0
        gens = M.generate(model, tok, list(case.questions), max_new_tokens, condition=handle)
        qc = tuple(contains_any(g, case.answers) for g in gens)
        if case.single_hops:
            hops = M.generate(model, tok, [p for p, _ in case.single_hops], max_new_tokens, condition=handle)
            single = float(np.mean([contains_any(g, [a]) for g, (_p, a) in zip(hops, case.single_hops)]))
        else:
            single = math.nan
        loc = M.locality(model, tok, loc_req, ref, condition=handle) if loc_req else math.nan
    finally:
        if handle is not None:
            handle.restore()
    return CaseResult(case.case_id, any(qc), qc, tuple(gens), single, loc, t_edit, time.perf_counter() - t0,
                      len(case.edits))


def evaluate_cases(model, tok, cases: Sequence[PropagationCase], editor="ft", hparams=None, *,
                   max_new_tokens: int = 10, progress: bool = True, desc: str | None = None,
                   **context) -> PropagationReport:
    """Paper B's protocol (module docstring) on every case; the model is restored bit for bit
    after each. ``editor``: a method name of :mod:`kedit_utils.editing` (``get_editor``), an
    Editor, or ``None`` (no edit); ``hparams``: its hyper-parameters (instance, dict, or
    ``None`` for its preset for this model); ``context``: what the editor needs besides, only
    keywords it declares (``cov=`` for ROME/MEMIT/AlphaEdit; ``Editor.context_keys``).
    Everything is validated before the first edit."""
    from tqdm.auto import tqdm

    check_int("max_new_tokens", max_new_tokens, minimum=1)
    cases = _check_cases(cases)
    ed, hp, name = _resolve(model, tok, editor, hparams)
    if hasattr(ed, "context_keys"):
        ed.context(**context)  # a keyword the editor does not declare fails here, naming it
    for c in cases:
        if ed is not None:
            ed.check(model, tok, tuple(c.edits), hp)
    results = []
    for c in tqdm(cases, desc=desc or f"evaluate {name}", disable=not progress, unit="case"):
        results.append(_evaluate_one(model, tok, c, ed, hp, max_new_tokens, context))
    return PropagationReport(name, results)


def evaluate_case(model, tok, case: PropagationCase, editor="ft", hparams=None, *, max_new_tokens: int = 10,
                  **context) -> CaseResult:
    """:func:`evaluate_cases` for one case."""
    return evaluate_cases(model, tok, [case], editor, hparams, max_new_tokens=max_new_tokens, progress=False,
                          **context).results[0]


def accuracy_callback(tok, cases: Sequence[PropagationCase], editor="ft", hparams=None, *,
                      max_new_tokens: int = 10, **context):
    """``f(tasks_seen, model) -> summary dict`` for :func:`~kedit_utils.propagation.fomaml.meta_train`'s
    ``on_checkpoint`` (Paper B Fig. 3: accuracy against meta-training steps)."""
    cases = _check_cases(cases)

    def callback(tasks_seen, model):
        rep = evaluate_cases(model, tok, cases, editor, hparams, max_new_tokens=max_new_tokens, progress=False,
                             **context)
        return {"tasks_seen": tasks_seen, **rep.summary()}

    return callback


def evaluate_base_and_meta(model, tok, cases: Sequence[PropagationCase], result, *, max_new_tokens: int = 10,
                           progress: bool = True) -> dict[str, PropagationReport]:
    """Paper B Table 1's pair: the same FT edit (the inner loop's settings) on the base
    model and on the meta-trained one (``result``: a :class:`MetaResult` of this model).
    Returns ``{"base": report, "meta": report}``; the model ends with the meta weights."""
    hp = result.config.ft_hparams(model)
    try:
        result.restore()
        base = evaluate_cases(model, tok, cases, "ft", hp, max_new_tokens=max_new_tokens, progress=progress,
                              desc="evaluate base")
    finally:
        result.apply()
    meta = evaluate_cases(model, tok, cases, "ft", hp, max_new_tokens=max_new_tokens, progress=progress,
                          desc="evaluate meta")
    base.method, meta.method = "ft (base)", "ft (meta-trained)"
    return {"base": base, "meta": meta}


__all__ = ["CaseResult", "PropagationReport", "accuracy_callback", "contains_any", "evaluate_base_and_meta",
           "evaluate_case", "evaluate_cases", "wilson_interval"]
