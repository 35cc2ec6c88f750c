"""Sequential editing (Paper C §5.3 and its "lifelong editing" discussion; MEMIT's and
AlphaEdit's mass-editing experiments): edits applied one after another to one model, never
restored in between.

After every checkpoint count n (1, 2, 5, 10, ... edits) two numbers are read on the model
carrying all n edits:

* ``reliability_first``: rewrite accuracy of the *first* ``n_first`` edits (do early edits
  survive later ones?), or of all n when fewer were made;
* ``locality``: the share of a fixed set of unrelated facts' answer tokens whose argmax is
  what the unedited model gave (the same probes at every n).

The model is restored bit for bit at the end (:class:`~kedit_utils.editing.EditSequence`
with one saved copy per tensor), and the run checks it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from kedit_utils.core.validation import ParameterError, check_int
from kedit_utils.editing import EditSequence, get_editor
from kedit_utils.editing import metrics as M
from kedit_utils.editing.requests import EditRequest


def checkpoints(n_edits: int) -> list[int]:
    """1, 2, 5, 10, 20, 50, 100, ... up to ``n_edits`` (always included)."""
    check_int("n_edits", n_edits, minimum=1)
    out, base = [], 1
    while base <= n_edits:
        out += [x for x in (base, 2 * base, 5 * base) if x <= n_edits]
        base *= 10
    if out[-1] != n_edits:
        out.append(n_edits)
    return out


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def sequential_curve(model, tok, method: str, requests: Sequence[EditRequest], probes: Sequence[tuple[str, str]],
                     hparams=None, context: dict | None = None, n_first: int = 10, model_name: str = "",
                     check_restore: bool = True, progress: bool = True, scorer=None) -> pd.DataFrame:
    """Apply ``requests`` one after another with ``method``; rows ``{model, method, n_edits,
    reliability_first, reliability_all, locality}`` at each :func:`checkpoints` count.

    probes: (prompt, answer) pairs of unrelated facts (none of the edits' subjects) for
    locality. ``check_restore`` compares every tensor with a copy taken before (bit for bit)
    and raises if the restore is not exact. ``scorer``: the model the metrics read (see
    :class:`~kedit_utils.survey.grid.EditSetup`)."""
    reqs = [getattr(r, "request", r) for r in requests]
    if not reqs:
        raise ParameterError("requests", [], "must hold at least one edit")
    if not probes:
        raise ParameterError("probes", [], "must hold at least one (prompt, answer) pair for locality")
    check_int("n_first", n_first, minimum=1)
    editor = get_editor(method)
    if not editor.changes_weights:
        raise ParameterError("method", method, "sequential editing is measured for weight-changing methods")
    marks = set(checkpoints(len(reqs)))
    loc_req = [EditRequest(reqs[0].prompt, reqs[0].subject, reqs[0].target_new, locality=tuple(probes))]
    reader = model if scorer is None else scorer
    reference = M.locality_reference(reader, tok, loc_req)
    before = _state(model) if check_restore else None
    rows = []
    seq = EditSequence(model, tok, intermediate_copies=False)
    try:
        for i, r in enumerate(tqdm(reqs, desc=f"sequential {method}", disable=not progress), start=1):
            seq.apply(editor, [r], hparams, **(context or {}))
            if i in marks:
                first = reqs[:min(n_first, i)]
                rows.append({"model": model_name, "method": method, "n_edits": i,
                             "reliability_first": M.rewrite_acc(reader, tok, first, seq.condition),
                             "reliability_all": M.rewrite_acc(reader, tok, reqs[:i], seq.condition),
                             "locality": M.locality(reader, tok, loc_req, reference, seq.condition)})
    finally:
        seq.restore()
    if before is not None:
        after = model.state_dict()
        bad = [k for k, v in before.items() if not torch.equal(v, after[k])]
        if bad:
            raise RuntimeError(f"sequential {method}: restore is not exact for {bad[:3]}")
    return pd.DataFrame(rows)


def curve_rows(frame: pd.DataFrame) -> list[dict]:
    """The issue's ``sequential`` rows {model, method, n_edits, reliability_first, locality}."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in r.items() if k in ("model", "method", "n_edits", "reliability_first", "locality")}
            for r in frame.to_dict("records")]


def final_drop(frame: pd.DataFrame) -> pd.DataFrame:
    """Per method: reliability of the first edits and locality after one edit and after the
    last, and their change."""
    out = []
    for (model, method), g in frame.groupby(["model", "method"], sort=False):
        g = g.sort_values("n_edits")
        a, b = g.iloc[0], g.iloc[-1]
        out.append({"model": model, "method": method, "n_edits": int(b["n_edits"]),
                    "reliability_first_1": float(a["reliability_first"]),
                    "reliability_first_n": float(b["reliability_first"]),
                    "locality_1": float(a["locality"]), "locality_n": float(b["locality"]),
                    "locality_drop": float(a["locality"] - b["locality"])})
    return pd.DataFrame(out)


__all__ = ["checkpoints", "curve_rows", "final_drop", "sequential_curve"]
