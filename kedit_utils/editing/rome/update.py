"""The rank-one update of ROME (Meng et al. 2022 §3.1 Eq. 2; Paper A §3.3 step 2).

Given the key k* and the value v*, W2 is changed to

    Ŵ = W + Λ (C⁻¹ k*)ᵀ,    Λ = (v* − W k*) / ((C⁻¹ k*)ᵀ k*)

(in the (d_out, d_in) convention y = W k), so that Ŵ k* = v* exactly while keys that are
uncorrelated with k* under C move as little as possible. Here u = C⁻¹ k* is computed from
the averaged key and the residual v* − W k from the key on the bare prompt (the ROME
reference does the same: ``left_vector`` from the averaged key, ``right_vector`` from
``cur_input``/``cur_output`` on the prompt); the two coincide without context templates.
W k includes the projection's bias: it is the projection's actual output. The update is
computed in the (d_in, d_out) orientation, δW = u Λᵀ, and added to GPT-2's ``Conv1D``
(weight (d_in, d_out)) or Llama's ``nn.Linear`` (weight (d_out, d_in)) through
:func:`kedit_utils.core.architectures.add_in_out`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kedit_utils.core import architectures as A


@dataclass(frozen=True)
class RankOneUpdate:
    """u: (d_in,) C⁻¹ k* normalised to unit length; lam: (d_out,) Λ; the update in (d_in, d_out) is outer(u, lam)."""

    u: torch.Tensor
    lam: torch.Tensor

    def delta_in_out(self) -> torch.Tensor:
        """(d_in, d_out) δW in the orientation output = input @ W."""
        return torch.outer(self.u, self.lam)

    def norm(self) -> float:
        """Frobenius norm of δW (= ‖u‖ · ‖Λ‖ for a rank-one matrix)."""
        return float(self.u.double().norm() * self.lam.double().norm())


@torch.no_grad()
def rank_one_update(model, layer: int, k_star: torch.Tensor, k_prompt: torch.Tensor,
                    v_star: torch.Tensor, cov=None, ridge: float = 0.0) -> RankOneUpdate:
    """Λ and u for the edit; ``cov`` is a :class:`~kedit_utils.editing.rome.covariance.KeyCovariance`
    (``None``: u = k*, no covariance adjustment). Nothing is changed in the model."""
    proj = A.mlp_out_module(model, layer)
    w = A.weight_in_out(model, layer)
    u = k_star if cov is None else cov.solve(k_star, ridge).to(w.dtype)
    u = (u / u.norm()).to(w.dtype)  # scale-free, as the reference's left_vector
    current = proj(k_prompt.to(w.dtype)[None])[0]  # W k + b on the bare prompt
    lam = (v_star.to(w.dtype) - current) / torch.dot(u, k_prompt.to(w.dtype))
    return RankOneUpdate(u=u, lam=lam)


def apply_update(model, layer: int, update: RankOneUpdate) -> None:
    """Add δW = outer(u, Λ) to W2 at ``layer``, in place."""
    A.add_in_out(model, layer, update.delta_in_out())
