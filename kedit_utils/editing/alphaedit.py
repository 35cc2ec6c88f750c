"""AlphaEdit, null-space constrained knowledge editing (Fang et al. 2025, "AlphaEdit:
Null-Space Constrained Knowledge Editing for Language Models", ICLR; Paper B's Table 2).

MEMIT's update also moves the outputs of the keys it should preserve (it only weighs them,
with λC). AlphaEdit projects the update onto the *null space* of the preserved keys K₀, so
that Δ K₀ = 0 and, on those keys, the layer's output cannot change:

* P = U_s U_sᵀ, U_s the eigenvectors of C = E[k kᵀ] (the same cached covariance as MEMIT's)
  whose eigenvalue is below ``nullspace_threshold`` (AlphaEdit: 2e-2, absolute; or, with
  ``nullspace_relative``, a fraction of the largest eigenvalue, for models whose key scale
  differs). Kept per covariance in memory (one eigendecomposition per layer).
* For each layer of the range, with K and R as in MEMIT (:mod:`.memit`) and K_p the keys of
  the earlier AlphaEdit edits in the same sequence (the reference's ``cache_c``):

      Δ = (P (K Kᵀ + K_p K_pᵀ) + α I)⁻¹ P K Rᵀ          (d_in, d_out), α = ``L2``

  Δ lies in the range of P (from the equation, Δ = P(K Rᵀ − (K Kᵀ + K_p K_pᵀ)Δ)/α), so
  k₀ᵀ Δ = 0 for every key k₀ in the span of C's large eigenvalues.

Sequential editing: the handle's ``info["kkt"]`` holds Σ K Kᵀ per layer (the keys written so
far, read after the update as the reference does); a later edit gets it through ``history``
(:class:`~.base.EditSequence` passes the handles).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from kedit_utils.core.validation import ParameterError, check_float
from kedit_utils.editing.base import EditHandle
from kedit_utils.editing.memit import MEMIT, MEMITHyperParams, requests_keys_at_layers
from kedit_utils.editing.rome.functional import LocateThenEditContext


@dataclass(frozen=True)
class AlphaEditHyperParams(MEMITHyperParams):
    """MEMIT's fields (``mom2_update_weight`` is not used) plus:

    nullspace_threshold: eigenvalues of C below this span the null space (AlphaEdit: 2e-2).
    nullspace_relative: the threshold is a fraction of C's largest eigenvalue.
    L2: α, the ridge of the projected system (AlphaEdit: 10).
    """

    nullspace_threshold: float = 2e-2
    nullspace_relative: bool = False
    L2: float = 10.0

    METHOD: ClassVar[str] = "AlphaEdit"

    def __post_init__(self):
        super().__post_init__()
        check_float("nullspace_threshold", self.nullspace_threshold, low=0.0, low_open=True)
        if not isinstance(self.nullspace_relative, bool):
            raise ParameterError("nullspace_relative", self.nullspace_relative, "must be true or false")
        if self.nullspace_relative:
            check_float("nullspace_threshold", self.nullspace_threshold, low=0.0, high=1.0, low_open=True)
        check_float("L2", self.L2, low=0.0, low_open=True)

    @classmethod
    def tiny_gpt2(cls, layers=(0, 1), fact_token: str = "last", **changes):
        """MEMIT's tiny preset (:meth:`MEMITHyperParams.tiny_gpt2`); AlphaEdit's threshold 2e-2
        taken relative to C's largest eigenvalue (the tiny keys are not GPT-2 XL's scale);
        α = 1e-3 (AlphaEdit's 10 is for keys of norm ~10²; the tiny keys are ~1). For keys that
        span only part of the space (a small corpus), 1e-6 makes the null space exact."""
        base = dict(nullspace_threshold=2e-2, nullspace_relative=True, L2=1e-3)
        return super().tiny_gpt2(layers=layers, fact_token=fact_token, **{**base, **changes})

    @classmethod
    def smollm2(cls, layers=(4, 5, 6, 7, 8), **changes):
        """The published Llama3-8B values (``hparams/AlphaEdit/Llama3-8B.json``: MEMIT's
        Llama values, threshold 2e-2, α = 10) over MEMIT's SmolLM2 preset (no context
        prefixes; λ unused); the threshold is taken relative (2e-2 of the largest eigenvalue)
        because C here comes from a small generated corpus whose scale is not Wikipedia's, and
        without a ridge (measured on Eiffel Tower → Rome: the edit lands, ‖ΔW‖ = 4.1 over the
        five layers, neighbouring facts kept)."""
        base = dict(nullspace_threshold=2e-2, nullspace_relative=True, L2=10.0, mom2_ridge=0.0)
        return super().smollm2(layers=layers, **{**base, **changes})

    @classmethod
    def gpt2_family(cls, n_layers: int = 48, **changes):
        """The published GPT-2 XL values (``hparams/AlphaEdit/gpt2-xl.json``: MEMIT's
        GPT-2 XL values, threshold 2e-2 absolute, α = 10)."""
        base = dict(nullspace_threshold=2e-2, nullspace_relative=False, L2=10.0)
        return super().gpt2_family(n_layers=n_layers, **{**base, **changes})


def null_space_projector(cov, threshold: float, relative: bool = False) -> tuple[torch.Tensor, int]:
    """(P, s): the (d_in, d_in) projector P = U_s U_sᵀ over the s eigenvectors of C with
    eigenvalue < threshold (× the largest one when ``relative``). Cached on the covariance."""
    key = ("nullspace", float(threshold), bool(relative))
    store = cov._factors
    if key not in store:
        evals, evecs = torch.linalg.eigh(cov.mom2.double())
        cut = threshold * float(evals.max()) if relative else threshold
        small = evecs[:, evals < cut]
        store[key] = (small @ small.T, int(small.shape[1]))
    return store[key]


@dataclass(frozen=True, eq=False)
class AlphaEditContext(LocateThenEditContext):
    """MEMIT's context plus ``history``: the handles of the edits applied before in the same
    sequence (:class:`~.base.EditSequence` passes them); AlphaEdit's own among them add their
    keys' K Kᵀ (``info["kkt"]``) to the keys it protects."""

    history: tuple[EditHandle, ...] = ()

    def __post_init__(self):
        super().__post_init__()
        history = tuple(self.history)
        for i, h in enumerate(history):
            if not isinstance(h, EditHandle):
                raise ParameterError("history", type(h).__name__, f"item {i} must be an EditHandle")
        object.__setattr__(self, "history", history)


class AlphaEdit(MEMIT):
    """AlphaEdit (module docstring). Context: :class:`AlphaEditContext` (MEMIT's plus ``history``)."""

    name = "alphaedit"
    hparams_class = AlphaEditHyperParams
    context_class = AlphaEditContext

    def covariances(self, model, tok, hparams, cov, corpus, model_id, progress):
        if cov is None and corpus is None:
            raise ParameterError("cov", None, "AlphaEdit needs the preserved keys' covariance (cov or corpus)")
        return super().covariances(model, tok, hparams.with_(mom2_adjustment=True), cov, corpus, model_id, progress)

    def prepare(self, model, tok, requests, hparams, covs, context: AlphaEditContext) -> dict:
        prior: dict[int, torch.Tensor] = {}
        for h in context.history:
            if h.method == self.name and not h.restored:
                for layer, kkt in h.info.get("kkt", {}).items():
                    prior[layer] = prior.get(layer, 0) + kkt
        got = {layer: null_space_projector(covs[layer], hparams.nullspace_threshold, hparams.nullspace_relative)
               for layer in hparams.layers}
        return {"prior": prior, "P": {layer: g[0] for layer, g in got.items()},
                "dims": {layer: g[1] for layer, g in got.items()}}

    def layer_delta(self, j, layer, keys, resid, cov, hparams, state) -> torch.Tensor:
        p = state["P"][layer].to(keys.device)
        prior = state["prior"].get(layer)
        kkt = None
        if prior is not None:
            kkt = keys @ keys.T + prior.to(keys.device).double()
        pk = p @ keys  # (d_in, n)
        if prior is None:
            # (P K Kᵀ + αI)⁻¹ P K Rᵀ = P K (α I_n + Kᵀ P K)⁻¹ Rᵀ (push-through identity, exact):
            # an n × n solve instead of a d_in × d_in one
            small = hparams.L2 * torch.eye(keys.shape[1], dtype=keys.dtype, device=keys.device) + keys.T @ pk
            return pk @ torch.linalg.solve(small, resid.T)
        eye = torch.eye(p.shape[0], dtype=p.dtype, device=p.device)
        return torch.linalg.solve(p @ kkt + hparams.L2 * eye, pk @ resid.T)

    def finish(self, model, tok, requests, hparams, state, info) -> None:
        keys = requests_keys_at_layers(model, tok, requests, hparams.layers, hparams)  # edited model, one forward
        info["kkt"] = {layer: (k.double() @ k.double().T).cpu() for layer, k in keys.items()}
        info["nullspace_dim"] = dict(state["dims"])
