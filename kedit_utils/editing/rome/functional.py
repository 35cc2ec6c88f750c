"""The editing API (Paper A §3.3 step 2 and §3.4; Meng et al. 2022 §3): one ROME edit,
applied in place and undone bit for bit.

    request = EditRequest(prompt="e3_0 r5_1", subject="e3_0", target_new="<deleted>")
    result = edit(model, tok, request, ROMEHyperParams.tiny_gpt2(), cov)
    ...                                  # the model now predicts <deleted>
    restore(model, result)               # the original W2, copied back

or, scoped: ``with edited(model, tok, request, hparams, cov) as result: ...``.

A deletion (§3.4) is the edit (s, r, o) → (s, r, ``<deleted>``). :func:`edit_in_place`
computes k* (:mod:`.compute_k`), v* (:mod:`.compute_v`) and the rank-one update
(:mod:`.update`) and reports the prediction on the prompt before and after, the time and the
size of the change. It is the one ROME path: :func:`edit` and ROME's
:class:`~kedit_utils.editing.base.Editor` (:mod:`.editor`, ``get_editor("rome")``) both
resolve the covariance with :func:`resolve_covariance`, take one copy of the whole original
W2 (a rank-one update touches every entry; a copy, not a subtraction, makes the restore
exact) and call it, :func:`edit` for one request, the Editor for each request of a batch in
turn (one copy for the batch). :class:`LocateThenEditContext` is what the Editors of ROME,
MEMIT and AlphaEdit take besides the requests (the covariance, or a corpus to estimate it, and
the :class:`~.compute_v.Speed` of the δ optimisation).
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from kedit_utils.core import architectures as A
from kedit_utils.core.tokens import encode, target_token_ids
from kedit_utils.core.validation import ParameterError
from kedit_utils.editing.base import EditContext, weights_guard
from kedit_utils.editing.requests import EditRequest  # the request type of every editor
from kedit_utils.editing.rome.compute_k import KeyResult, compute_k
from kedit_utils.editing.rome.compute_v import Speed, ValueResult, compute_v
from kedit_utils.editing.rome.covariance import KeyCovariance, key_covariance
from kedit_utils.editing.rome.hparams import ROMEHyperParams
from kedit_utils.editing.rome.update import RankOneUpdate, apply_update, rank_one_update


@dataclass(frozen=True)
class Prediction:
    """The model's next token on the prompt.

    top_token/top_id/top_prob: the greedy next token and its probability.
    target_prob: probability of the whole target (product over its tokens, teacher forced).
    old_top_prob: probability of the *unedited* model's top token (= top_prob before).
    """

    top_token: str
    top_id: int
    top_prob: float
    target_prob: float
    old_top_prob: float


@dataclass(frozen=True, eq=False)
class LocateThenEditContext(EditContext):
    """What ROME, MEMIT and AlphaEdit take besides the requests and hyper-parameters.

    cov: the key covariance C: for ROME a :class:`KeyCovariance`, a (d_in, d_in) matrix or a
        dict {layer: either} (its layer's is used); for MEMIT/AlphaEdit a dict {layer: either}
        over the edited range (or one for a one-layer range). ``None``: estimated from ``corpus``.
    corpus: texts (or rows of token ids) C is estimated from when ``cov`` is ``None``
        (:func:`~.covariance.key_covariance`, artifact cache).
    model_id: the model's name in C's cache key (``None``: a hash of the weights, so pass it for
        sequential edits: an edited model is another model).
    progress: a progress bar while C is estimated.
    speed: how the δ optimisation is computed, never what (:class:`~.compute_v.Speed`).
    """

    cov: Any = None
    corpus: Sequence | None = None
    model_id: str | None = None
    progress: bool = False
    speed: Speed = Speed()

    def __post_init__(self):
        if self.model_id is not None and not isinstance(self.model_id, str):
            raise ParameterError("model_id", self.model_id, "must be a string naming the model (or None)")
        if not isinstance(self.progress, bool):
            raise ParameterError("progress", self.progress, "must be true or false")
        if not isinstance(self.speed, Speed):
            raise ParameterError("speed", type(self.speed).__name__, "must be a Speed (editing.rome.compute_v)")


@dataclass
class EditResult:
    """One applied edit. ``weight_name`` and ``original`` are what :func:`restore` needs.

    original: W2 as it was before this edit; ``None`` for the second and later requests of
    one ``get_editor("rome").apply`` (its handle keeps one copy for the batch, the first
    request's ``original``: restore the handle).
    """

    request: EditRequest
    layer: int
    weight_name: str
    before: Prediction
    after: Prediction
    seconds: float
    cov_seconds: float
    delta_norm: float
    relative_norm: float
    target_ids: list[int]
    original: torch.Tensor | None = field(repr=False)
    key: KeyResult = field(repr=False)
    value: ValueResult = field(repr=False)
    update: RankOneUpdate = field(repr=False)

    @property
    def success(self) -> bool:
        """The edited prompt's greedy next token is the target's first token."""
        return self.after.top_id == self.target_ids[0]

    def summary(self) -> dict:
        """Flat numbers for a table."""
        return {
            "prompt": self.request.prompt, "target": self.request.target_new, "layer": self.layer,
            "before": self.before.top_token, "p_before": self.before.top_prob,
            "after": self.after.top_token, "p_after": self.after.top_prob,
            "p_target_before": self.before.target_prob, "p_target_after": self.after.target_prob,
            "p_old_after": self.after.old_top_prob, "success": self.success,
            "seconds": self.seconds, "cov_seconds": self.cov_seconds,
            "delta_norm": self.delta_norm, "relative_norm": self.relative_norm,
            "v_steps": self.value.steps,
        }


@torch.no_grad()
def predict(model, tok, prompt: str, target_ids: list[int], old_top_id: int | None = None) -> Prediction:
    """Next-token prediction on ``prompt`` and the teacher-forced probability of ``target_ids``."""
    device = next(model.parameters()).device
    ids = encode(tok, prompt)
    x = torch.tensor([ids + target_ids[:-1]], device=device)
    was_training = model.training
    model.eval()
    try:
        logp = model(input_ids=x).logits[0].float().log_softmax(-1)
    finally:
        model.train(was_training)
    first = logp[len(ids) - 1]
    top = int(first.argmax())
    pos = torch.arange(len(ids) - 1, len(ids) - 1 + len(target_ids), device=device)
    target_lp = logp[pos, torch.tensor(target_ids, device=device)].sum()
    old = top if old_top_id is None else old_top_id
    return Prediction(
        top_token=tok.decode([top]), top_id=top, top_prob=float(first[top].exp()),
        target_prob=float(target_lp.exp()), old_top_prob=float(first[old].exp()),
    )


def resolve_covariance(cov, model, tok, hparams: ROMEHyperParams, corpus=None, model_id: str | None = None,
                       progress: bool = False) -> tuple[KeyCovariance | None, float]:
    """(C or ``None``, seconds spent estimating it): the covariance at ``hparams.layer`` from
    ``cov`` (a :class:`KeyCovariance`, a (d_in, d_in) matrix, a dict {layer: either}) or, when
    ``cov`` is ``None``, estimated from ``corpus``; ``None`` when ``hparams.mom2_adjustment``
    is off and nothing is given. Checked against the layer's key width before any work."""
    d_in = A.mlp_dims(model, hparams.layer)[0]
    if isinstance(cov, dict):  # {layer: covariance}, as MEMIT/AlphaEdit take it
        if hparams.layer not in cov:
            raise ParameterError("cov", sorted(cov), f"has no covariance for layer {hparams.layer}")
        cov = cov[hparams.layer]
    if isinstance(cov, KeyCovariance):
        c = cov
    elif cov is not None:
        m = torch.as_tensor(np.asarray(cov) if not isinstance(cov, torch.Tensor) else cov)
        c = KeyCovariance(m.to(getattr(torch, hparams.mom2_dtype)).to(next(model.parameters()).device))
    elif not hparams.mom2_adjustment:
        return None, 0.0
    elif corpus is not None:
        t0 = time.perf_counter()
        c = key_covariance(model, hparams.layer, corpus, tok, n_samples=hparams.mom2_n_samples,
                           dtype=hparams.mom2_dtype, model_id=model_id, progress=progress)
        return c, time.perf_counter() - t0
    else:
        raise ParameterError(
            "cov", None,
            "pass the key covariance (kedit_utils.editing.rome.covariance.key_covariance) or a corpus, "
            "or set hparams.mom2_adjustment=False",
        )
    if tuple(c.mom2.shape) != (d_in, d_in):
        raise ParameterError("cov", tuple(c.mom2.shape), f"must be ({d_in}, {d_in}) at layer {hparams.layer}")
    if c.layer >= 0 and c.layer != hparams.layer:
        raise ParameterError("cov", f"layer {c.layer}", f"was computed for another layer than {hparams.layer}")
    return (c if hparams.mom2_adjustment else None), 0.0


def check_request(model, tok, request: EditRequest, hparams: ROMEHyperParams) -> list[int]:
    """Validate everything before any work; returns the target's token ids."""
    if not isinstance(request, EditRequest):
        raise ParameterError("request", type(request).__name__, "must be an EditRequest")
    if not isinstance(hparams, ROMEHyperParams):
        raise ParameterError("hparams", type(hparams).__name__, "must be a ROMEHyperParams")
    A.check_layer(model, hparams.layer, "layer")
    if hparams.v_loss_layer is not None:
        A.check_layer(model, hparams.v_loss_layer, "v_loss_layer")
    return target_token_ids(tok, request.target_new)


def edit_in_place(model, tok, request: EditRequest, hparams: ROMEHyperParams, cov: KeyCovariance | None,
                  speed: Speed = Speed()) -> EditResult:
    """One ROME edit written into W2 at ``hparams.layer`` IN PLACE, keeping no copy: the
    caller holds one (and puts it back if this raises); ``original`` is left ``None``.
    ``cov``: C as :func:`resolve_covariance` returns it. ``seconds`` counts k*, v* and the
    update, not the predictions before and after."""
    target_ids = target_token_ids(tok, request.target_new)
    layer = hparams.layer
    weight_norm = float(A.edited_weight(model, layer).detach().double().norm())
    was_training = model.training
    model.eval()  # no dropout in k*, v* or the predictions
    try:
        before = predict(model, tok, request.prompt, target_ids)
        t0 = time.perf_counter()
        key = compute_k(model, tok, request, hparams)
        value = compute_v(model, tok, request, hparams, speed)
        upd = rank_one_update(model, layer, key.k_star, key.k_prompt, value.v_star, cov, hparams.mom2_ridge)
        apply_update(model, layer, upd)
        seconds = time.perf_counter() - t0
        after = predict(model, tok, request.prompt, target_ids, old_top_id=before.top_id)
    finally:
        model.train(was_training)
    norm = upd.norm()
    return EditResult(
        request=request, layer=layer, weight_name=A.edited_weight_name(model, layer), before=before, after=after,
        seconds=seconds, cov_seconds=0.0, delta_norm=norm, relative_norm=norm / weight_norm, target_ids=target_ids,
        original=None, key=key, value=value, update=upd,
    )


def edit(model, tok, request: EditRequest, hparams: ROMEHyperParams, cov=None, *, corpus=None,
         model_id: str | None = None, progress: bool = False, speed: Speed = Speed()) -> EditResult:
    """Apply one ROME edit to ``model`` IN PLACE and return what it did (and the copy of W2
    that :func:`restore` puts back).

    cov: a :class:`KeyCovariance`, a (d_in, d_in) matrix (or a dict {layer: either}), or
    ``None`` (then C is computed from ``corpus`` and cached, or not used at all when
    ``hparams.mom2_adjustment`` is off); speed: how v* is computed (:class:`~.compute_v.Speed`).
    ``seconds`` excludes the covariance (``cov_seconds``) and the before/after predictions.
    A failed edit leaves the weights as they were.
    """
    check_request(model, tok, request, hparams)
    c, cov_seconds = resolve_covariance(cov, model, tok, hparams, corpus, model_id, progress)
    name = A.edited_weight_name(model, hparams.layer)
    with weights_guard(model, [name]) as backup:
        result = edit_in_place(model, tok, request, hparams, c, speed)
    result.original = backup.originals[name]
    result.cov_seconds = cov_seconds
    return result


def restore(model, result: EditResult) -> None:
    """Copy the original W2 back: the model is bit for bit what it was before the edit.

    After several edits of the same matrix, restore them in reverse order (or only the first).
    A result without its copy (a later request of one Editor batch) raises: restore the handle.
    """
    if result.original is None:
        raise ParameterError("result", result.weight_name, "keeps no copy of W2 (a later request of one "
                             "get_editor('rome').apply batch): restore that call's EditHandle")
    param = model.get_parameter(result.weight_name)
    if param.shape != result.original.shape:
        raise ParameterError("result", result.weight_name, f"shape {tuple(param.shape)} does not match the saved copy")
    with torch.no_grad():
        param.copy_(result.original)


@contextmanager
def edited(model, tok, request: EditRequest, hparams: ROMEHyperParams, cov=None, **kw) -> Iterator[EditResult]:
    """``with edited(...) as result:`` the model is edited inside the block, restored after."""
    result = edit(model, tok, request, hparams, cov, **kw)
    try:
        yield result
    finally:
        restore(model, result)
