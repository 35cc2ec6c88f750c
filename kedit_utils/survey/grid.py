"""The survey's comparison, computed (Paper C §5, "Experiments": EasyEdit's methods on
KnowEdit, scored by edit success, portability, locality and fluency).

Each request is edited alone into the unedited model, scored, and the model restored bit for
bit before the next (EasyEdit's single-edit protocol, ``sequential_edit=False``). One row per
(method, action, request):

* ``reliability`` — :func:`~kedit_utils.editing.metrics.rewrite_acc` on the edit prompt;
* ``generalization`` — :func:`~kedit_utils.editing.metrics.rephrase_acc` on its paraphrases;
* ``locality`` — the share of unrelated facts' answer tokens whose argmax did not change;
* ``portability`` — token accuracy on the second hops / aliases / reverse prompts;
* ``fluency`` — weighted 2-/3-gram entropy of a greedy continuation of the edit prompt;
* for ``erase`` also ``old_gone`` / ``old_gone_rephrase`` (the old answer is no longer
  produced) and ``erase_target`` (the refusal is produced), :func:`~kedit_utils.editing.metrics.erase_metrics`;
* ``seconds`` (the edit alone, covariances excluded) and ``delta_norm`` (‖ΔW‖_F, 0 for the
  in-context methods).

:func:`summary` averages each metric over requests with a bootstrap interval.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kedit_utils.core.stats import estimate_text as interval_text  # "0.93 [0.85, 1.00]"
from kedit_utils.core.validation import ParameterError, check_int
from kedit_utils.editing import get_editor
from kedit_utils.editing import metrics as M
from kedit_utils.editing.requests import EditRequest

METRICS = ("reliability", "generalization", "locality", "portability", "fluency")
ERASE_METRICS = ("old_gone", "old_gone_rephrase", "erase_target", "erase_target_rephrase")


@dataclass
class EditSetup:
    """What every edit on one model needs besides the request.

    model, tok: the model (edited in place, restored after each edit) and its tokenizer;
    model_name: for the rows; hparams: method → hyper-parameters (None: the editor's preset);
    context: method → keyword arguments of ``Editor.apply`` (covariances, MEND's network ...),
        each only what that method declares (``Editor.context_keys``; checked by
        :func:`run_grid` before any edit); the pool argument is added per edit;
    fluency_tokens: greedy tokens generated for fluency (0 = no fluency);
    scorer: the model the metrics read (default ``model``; for the alias models an
        :class:`~kedit_utils.kg.alias_accuracy.EntityLevelLM` over it, so that an answer is its
        entity whatever alias the model prefers).
    """

    model: object
    tok: object
    model_name: str
    hparams: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict)
    fluency_tokens: int = 40
    scorer: object = None

    @property
    def reader(self):
        return self.model if self.scorer is None else self.scorer

    def editor_args(self, method: str) -> tuple:
        return self.hparams.get(method), dict(self.context.get(method, {}))


def training_split(candidates: Sequence, evaluated: Sequence, n: int, avoid: Sequence = ()) -> list:
    """The first ``n`` of ``candidates`` whose subject no ``evaluated`` request has and whose
    prompt no ``avoid`` request has (the training edits of MEND and SERAC: never about an
    entity they are scored on, never an edit applied later). Raises when none is left."""
    used = {getattr(r, "request", r).subject for r in evaluated}
    prompts = {getattr(r, "request", r).prompt for r in avoid}
    out = [r for r in candidates
           if getattr(r, "request", r).subject not in used and getattr(r, "request", r).prompt not in prompts][:n]
    if not out:
        raise ParameterError("train_edits", 0, f"no edit of {len(candidates)} candidates is about a subject left "
                             f"after the {len(used)} evaluated ones: fewer evaluated edits, or a larger graph")
    return out


def request_scores(model, tok, request: EditRequest, action: str, condition, locality: float,
                   fluency_tokens: int) -> dict:
    """One request's metrics on the model as it is now (read through ``condition``):
    reliability, generalization, portability, fluency (NaN where the request has no such
    prompts, or ``fluency_tokens`` is 0), the given ``locality`` (its reference is the
    caller's), and for ``erase`` the erase pair (module docstring)."""
    out = {"reliability": M.rewrite_acc(model, tok, [request], condition),
           "generalization": M.rephrase_acc(model, tok, [request], condition) if request.rephrase_prompts
           else math.nan,
           "locality": locality,
           "portability": M.portability(model, tok, [request], condition) if request.portability else math.nan,
           "fluency": M.fluency(model, tok, [request.prompt], fluency_tokens, condition) if fluency_tokens
           else math.nan}
    if action == "erase":
        e = M.erase_metrics(model, tok, [request], condition)
        out.update({"old_gone": e["old_answer_gone"], "old_gone_rephrase": e["old_answer_gone_rephrase"],
                    "erase_target": e["erase_target"], "erase_target_rephrase": e["erase_target_rephrase"]})
    return out


def score_edit(setup: EditSetup, method: str, request: EditRequest, action: str,
               reference: M.LocalityReference, extra_context: dict | None = None) -> dict:
    """Edit ``request`` into ``setup.model`` with ``method``, score it, restore the model.

    reference: :func:`~kedit_utils.editing.metrics.locality_reference` of ``[request]``, taken on the
    unedited model. Returns one row (module docstring)."""
    hp, ctx = setup.editor_args(method)
    ctx.update(extra_context or {})
    handle = get_editor(method).apply(setup.model, setup.tok, [request], hp, **ctx)
    model, tok = setup.reader, setup.tok
    with handle:
        cond = handle.condition
        loc = M.locality(model, tok, [request], reference, cond) if request.locality else math.nan
        row = {"model": setup.model_name, "method": method, "action": action, "subject": request.subject,
               "prompt": request.prompt, "target": request.target_new,
               **request_scores(model, tok, request, action, cond, loc, setup.fluency_tokens),
               "seconds": handle.seconds, "delta_norm": handle.delta_norm,
               "changes": [(c.name, c.delta_norm) for c in handle.changes]}
    return row


def run_grid(setup: EditSetup, methods: Sequence[str], requests_by_action: dict[str, Sequence],
             progress: bool = True) -> pd.DataFrame:
    """Every method on every request of every action, one edit at a time (module docstring).

    requests_by_action: action → requests (:class:`EditRequest` or objects with a
    ``.request``, e.g. :class:`~kedit_utils.datasets.FactRequest`). A method with a pool
    argument (IKE's demonstrations, SERAC's scope examples) gets the *other* requests of the
    same action there. Rows in a DataFrame."""
    if not methods:
        raise ParameterError("methods", list(methods), "must name at least one editing method")
    for m in methods:
        get_editor(m).context(**setup.editor_args(m)[1])  # unknown names and undeclared keywords fail here
    plan = []
    for action, reqs in requests_by_action.items():
        reqs = [getattr(r, "request", r) for r in reqs]
        if not reqs:
            continue
        ref = M.locality_reference(setup.reader, setup.tok, reqs)
        for m in methods:
            pool_arg = get_editor(m).pool_argument
            for i, r in enumerate(reqs):
                extra = {pool_arg: reqs[:i] + reqs[i + 1:]} if pool_arg else {}
                plan.append((m, action, r, M.LocalityReference((ref.argmax[i],)), extra))
    rows = []
    for m, action, r, ref, extra in tqdm(plan, desc=f"edits on {setup.model_name}", disable=not progress):
        rows.append(score_edit(setup, m, r, action, ref, extra))
    return pd.DataFrame(rows)


def unedited_rows(setup: EditSetup, requests_by_action: dict[str, Sequence]) -> pd.DataFrame:
    """The same metrics on the unedited model (method ``"none"``): the baseline every
    method's numbers are read against (reliability of a counterfactual is ~0 before the edit,
    locality 1 by definition)."""
    model, tok = setup.reader, setup.tok
    rows = []
    for action, reqs in requests_by_action.items():
        for r in [getattr(x, "request", x) for x in reqs]:
            rows.append({"model": setup.model_name, "method": "none", "action": action, "subject": r.subject,
                         **request_scores(model, tok, r, action, None, 1.0 if r.locality else math.nan,
                                          setup.fluency_tokens),
                         "seconds": 0.0, "delta_norm": 0.0})
    return pd.DataFrame(rows)


def bootstrap_mean(values, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of the finite values and its percentile bootstrap
    interval; (nan, nan, nan) when none is finite; the interval is the point for one value."""
    check_int("n_boot", n_boot, minimum=1)
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    if x.size == 1:
        return float(x[0]), float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    boots = x[rng.integers(0, x.size, (n_boot, x.size))].mean(axis=1)
    a = (1 - level) / 2
    return float(x.mean()), float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))


def summary(rows: pd.DataFrame, metrics: Sequence[str] = METRICS + ("seconds",), n_boot: int = 1000,
            seed: int = 0, keys: Sequence[str] = ("model", "method", "action")) -> pd.DataFrame:
    """One row per ``keys`` group: ``n_edits``, each metric's mean and ``<metric>_lo`` /
    ``<metric>_hi`` (95 % bootstrap interval over the edits); ``seconds`` becomes
    ``seconds_per_edit``."""
    out = []
    for key, g in rows.groupby(list(keys), sort=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row["n_edits"] = int(len(g))
        for m in metrics:
            if m not in g:
                continue
            mean, lo, hi = bootstrap_mean(g[m].to_numpy(dtype=float), n_boot, seed=seed)
            name = "seconds_per_edit" if m == "seconds" else m
            row[name], row[f"{name}_lo"], row[f"{name}_hi"] = mean, lo, hi
        out.append(row)
    return pd.DataFrame(out)


def result_rows(table: pd.DataFrame) -> list[dict]:
    """The issue's ``methods`` rows: {model, method, action, n_edits, reliability,
    generalization, locality, portability, fluency, seconds_per_edit} (+ intervals)."""
    keep = ["model", "method", "action", "n_edits"]
    for m in METRICS + ("seconds_per_edit",):
        keep += [m, f"{m}_lo", f"{m}_hi"]
    t = table.reindex(columns=keep)  # a metric not measured (fluency on the alias models) is None
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else (v.item() if hasattr(v, "item") else v))
             for k, v in r.items()} for r in t.to_dict("records")]


__all__ = ["ERASE_METRICS", "EditSetup", "METRICS", "bootstrap_mean",
           "interval_text", "request_scores", "result_rows", "run_grid", "score_edit", "summary", "unedited_rows"]
