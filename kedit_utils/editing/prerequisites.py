"""What some editing methods need before they edit, built once and shared by every edit:
the key covariances of ROME, MEMIT and AlphaEdit (the ROME/MEMIT reference code's
``mom2`` statistics) and the components MEND and SERAC train on edits disjoint from the
evaluated ones. Papers B (Table 2's baselines) and C (the survey's grid) both use it.

    ctx = covariance_context(model, tok, ["rome", "memit"], {}, texts, model_id="SmolLM2")
    ctx.update(trained_context(model, tok, ["mend"], {}, train_edits, model_id="SmolLM2"))
    editor.apply(model, tok, request, hp, **ctx[method])
"""
from __future__ import annotations

from collections.abc import Sequence

from kedit_utils.editing.registry import get_editor

COVARIANCE_METHODS = ("rome", "memit", "alphaedit")


def covariance_context(model, tok, methods: Sequence[str], hparams: dict, corpus: Sequence[str],
                       model_id: str, progress: bool = True) -> dict:
    """method → ``{"cov": ...}`` for ROME/MEMIT/AlphaEdit: each layer's key covariance
    estimated once from ``corpus`` (artifact cache, keyed by ``model_id``, layer and corpus)
    and shared by every edit, as the ROME/MEMIT reference code does."""
    from kedit_utils.editing.memit import layer_covariances

    out = {}
    for m in methods:
        if m not in COVARIANCE_METHODS:
            continue
        editor = get_editor(m)
        hp = editor.resolve_hparams(model, hparams.get(m))
        if not getattr(hp, "mom2_adjustment", True):
            continue
        layers = list(hp.layers) if hasattr(hp, "layers") else [hp.layer]
        covs = layer_covariances(model, tok, layers, corpus=list(corpus), n_samples=hp.mom2_n_samples,
                                 dtype=hp.mom2_dtype, model_id=model_id, progress=progress)
        out[m] = {"cov": covs if hasattr(hp, "layers") else covs[layers[0]]}
    return out


def trained_context(model, tok, methods: Sequence[str], hparams: dict, train_edits: Sequence, model_id: str,
                    progress: bool = True) -> dict:
    """method → its component trained beforehand, for the methods that have one (MEND's
    editor network, SERAC's scope classifier), trained on ``train_edits`` (a split of edits
    disjoint from the evaluated ones) or read from the artifact cache."""
    from kedit_utils.editing.mend import trained_network
    from kedit_utils.editing.serac import trained_scope

    trainers = {"mend": lambda hp, reqs: trained_network(model, tok, reqs, hp, model_id=model_id, progress=progress),
                "serac": lambda hp, reqs: trained_scope(model, tok, reqs, hp, model_id=model_id)}
    reqs = [getattr(r, "request", r) for r in train_edits]
    out = {}
    for m in methods:
        arg = get_editor(m).trained_argument
        if arg is not None:
            out[m] = {arg: trainers[m](get_editor(m).resolve_hparams(model, hparams.get(m)), reqs)}
    return out


__all__ = ["COVARIANCE_METHODS", "covariance_context", "trained_context"]
