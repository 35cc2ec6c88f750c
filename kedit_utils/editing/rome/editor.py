"""ROME behind the common editing interface (Meng et al. 2022, "Locating and Editing Factual
Associations in GPT"; Paper A §3.3 step 2; Paper B's Table 2; Paper C's locate-then-edit).

    handle = get_editor("rome").apply(model, tok, request, ROMEHyperParams.smollm2(), cov=cov)

The Editor is a thin layer over the functional path of :mod:`.functional`: the covariance is
resolved once (:func:`~.functional.resolve_covariance`), one copy of the edited W2 is taken
before the first request, and each request is written in turn by
:func:`~.functional.edit_in_place` (ROME writes one key–value pair per rank-one update, as the
reference's ``apply_rome_to_model`` does for several requests). So N requests hold one copy of
W2, not N + 1, and the handle's restore is exact. The context is
:class:`~.functional.LocateThenEditContext`: ``cov`` (a :class:`~.covariance.KeyCovariance`, a
(d_in, d_in) matrix at the edited layer, or a dict {layer: covariance} as MEMIT takes), or
``corpus`` (+ ``model_id``) to estimate and cache it, or neither when ``mom2_adjustment`` is
off; ``speed``. ``info["rome"]`` holds each :class:`~.functional.EditResult` (the first holds the
handle's copy as its ``original``, the others none).
"""
from __future__ import annotations

import time

from kedit_utils.core import architectures as A
from kedit_utils.editing.base import EditHandle, Editor, weights_guard
from kedit_utils.editing.rome.functional import LocateThenEditContext, check_request, edit_in_place, resolve_covariance
from kedit_utils.editing.rome.hparams import ROMEHyperParams


class ROME(Editor):
    name = "rome"
    hparams_class = ROMEHyperParams
    context_class = LocateThenEditContext
    changes_weights = True
    batch = False

    def check(self, model, tok, requests, hparams) -> None:
        for r in requests:
            check_request(model, tok, r, hparams)

    def _apply(self, model, tok, requests, hparams, context: LocateThenEditContext) -> EditHandle:
        c, cov_seconds = resolve_covariance(context.cov, model, tok, hparams, context.corpus, context.model_id,
                                            context.progress)
        name = A.edited_weight_name(model, hparams.layer)
        results = []
        with weights_guard(model, [name]) as backup:  # the one copy of W2, for every request
            t0 = time.perf_counter()
            for r in requests:
                results.append(edit_in_place(model, tok, r, hparams, c, context.speed))
            seconds = time.perf_counter() - t0
        results[0].original = backup.originals[name]  # W2 before the first edit: the same tensor, no copy
        # edit_in_place times k*, v* and the update only; the handle's time also counts its predictions
        return EditHandle(method=self.name, requests=requests, hparams=hparams, seconds=seconds,
                          backup=backup, info={"rome": results, "cov_seconds": cov_seconds,
                                                "edit_seconds": sum(x.seconds for x in results)})
