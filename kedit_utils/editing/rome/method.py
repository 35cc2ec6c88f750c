"""ROME behind the common editing interface (Meng et al. 2022, "Locating and Editing Factual
Associations in GPT"; Paper A §3.3 step 2; Paper B's Table 2; Paper C's locate-then-edit).

    handle = get_editor("rome").apply(model, tok, request, ROMEHyperParams.smollm2(), cov=cov)

A batch of requests is applied one after another (ROME writes one key–value pair per
rank-one update, as the reference's ``apply_rome_to_model`` does for several requests); the
handle keeps one copy of the edited W2 taken before the first, so the restore is exact.
``cov``: a :class:`~.covariance.KeyCovariance` (or a (d_in, d_in) matrix) at the edited
layer, or a dict {layer: covariance} as MEMIT takes; or ``corpus`` (+ ``model_id``) to estimate and cache it; or neither when
``mom2_adjustment`` is off. ``info["rome"]`` holds each :class:`~.editor.EditResult`.
"""
from __future__ import annotations

import time

from kedit_utils.core import architectures as A
from kedit_utils.core.validation import ParameterError
from kedit_utils.editing.base import EditHandle, Editor, weights_guard
from kedit_utils.editing.rome.editor import _as_covariance, check_request, edit
from kedit_utils.editing.rome.hparams import ROMEHyperParams


class ROME(Editor):
    name = "rome"
    hparams_class = ROMEHyperParams
    changes_weights = True
    batch = False

    def check(self, model, tok, requests, hparams) -> None:
        for r in requests:
            check_request(model, tok, r, hparams)

    def _apply(self, model, tok, requests, hparams, *, cov=None, corpus=None, model_id=None,
               progress: bool = False, history=(), **_unused) -> EditHandle:
        if isinstance(cov, dict):  # {layer: covariance}, as MEMIT/AlphaEdit take it
            if hparams.layer not in cov:
                raise ParameterError("cov", sorted(cov), f"has no covariance for layer {hparams.layer}")
            cov = cov[hparams.layer]
        c, cov_seconds = _as_covariance(cov, model, tok, hparams, corpus, model_id, progress)
        results = []
        with weights_guard(model, [A.edited_weight_name(model, hparams.layer)]) as backup:
            t0 = time.perf_counter()
            for r in requests:
                results.append(edit(model, tok, r, hparams, c))
            seconds = time.perf_counter() - t0
        # edit() times k*, v* and the update only; the handle's time also counts its predictions
        return EditHandle(method=self.name, requests=requests, hparams=hparams, seconds=seconds,
                          backup=backup, info={"rome": results, "cov_seconds": cov_seconds,
                                                "edit_seconds": sum(x.seconds for x in results)})
