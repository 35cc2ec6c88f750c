"""Is an edit reversible? (Paper C §6, "knowledge editing in a knowledge graph can be undone;
in an LLM it cannot".)

For each request: edit the fact to its new object with a method, then edit it *back* to the
old answer with the same method (a second request: same prompt and subject, target = the old
answer), and measure on unrelated facts:

* ``locality_edited``: share of their answer tokens unchanged after the edit;
* ``locality_reverted``: the same after the edit back — how much of the other knowledge
  returned to its original answers;
* ``reliability_reverted``: whether the fact itself gives its old answer again;
* ``weight_residual``: ‖W_after_both − W_0‖_F / ‖W_after_edit − W_0‖_F over the edited
  tensors (0 means the weights came back; 1 means the edit back moved them as far again).

The bit-exact restore of the editing API is the reference: locality 1, residual 0 by
construction (it copies the tensors back), which the run checks.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from kedit_utils.core.validation import ParameterError
from kedit_utils.editing import EditSequence, get_editor
from kedit_utils.editing import metrics as M
from kedit_utils.editing.requests import EditRequest


def revert_request(request: EditRequest) -> EditRequest:
    """The request that edits ``request``'s fact back to its ground truth."""
    if not request.ground_truth:
        raise ParameterError("ground_truth", request.ground_truth,
                             f"reverting needs the old answer of {request.prompt!r} (an insert has none)")
    return EditRequest(request.prompt, request.subject, request.ground_truth, paraphrases=request.paraphrases,
                       ground_truth=request.target_new, rephrase_prompts=request.rephrase_prompts,
                       locality=request.locality)


def _copy(model, names) -> dict[str, torch.Tensor]:
    return {n: model.get_parameter(n).detach().clone().double() for n in names}


def reversibility(model, tok, method: str, requests: Sequence, hparams=None, context: dict | None = None,
                  model_name: str = "", progress: bool = True, scorer=None) -> pd.DataFrame:
    """One row per request (module docstring); the model is restored after each.
    ``scorer``: the model the metrics read (see :class:`~kedit_utils.survey.grid.EditSetup`)."""
    reader = model if scorer is None else scorer
    editor = get_editor(method)
    if not editor.changes_weights:
        raise ParameterError("method", method, "reversibility is measured for weight-changing methods")
    rows = []
    for r in tqdm([getattr(x, "request", x) for x in requests], desc=f"edit and back: {method}",
                  disable=not progress):
        if not r.locality:
            raise ParameterError("requests", r.prompt, "every request needs locality prompts")
        back = revert_request(r)
        ref = M.locality_reference(reader, tok, [r])
        with EditSequence(model, tok) as seq:
            h = seq.apply(editor, [r], hparams, **(context or {}))
            names = list(h.backup.originals) if h.backup else []
            w0 = {n: t.double() for n, t in h.backup.originals.items()} if h.backup else {}
            loc_edit = M.locality(reader, tok, [r], ref)
            rel_edit = M.rewrite_acc(reader, tok, [r])
            w1 = _copy(model, names)
            seq.apply(editor, [back], hparams, **(context or {}))
            w2 = _copy(model, names)
            d1 = math.sqrt(sum(float((w1[n] - w0[n]).pow(2).sum()) for n in names))
            d2 = math.sqrt(sum(float((w2[n] - w0[n]).pow(2).sum()) for n in names))
            rows.append({"model": model_name, "method": method, "subject": r.subject,
                         "reliability_edited": rel_edit, "locality_edited": loc_edit,
                         "reliability_reverted": M.rewrite_acc(reader, tok, [back]),
                         "locality_reverted": M.locality(reader, tok, [r], ref),
                         "weight_residual": d2 / d1 if d1 > 0 else math.nan})
        after = M.locality(reader, tok, [r], ref)
        if after != 1.0:
            raise RuntimeError(f"{method}: the restore did not bring the locality answers back ({after})")
    return pd.DataFrame(rows)


__all__ = ["reversibility", "revert_request"]
