"""ROME, rank-one model editing (Meng et al. 2022), as used by Paper A §3.3 step 2.

One module per concern, as in the reference implementation: :mod:`.hparams`,
:mod:`.covariance` (C = K Kᵀ / n), :mod:`.compute_k` (k*), :mod:`.compute_v` (v*),
:mod:`.update` (Ŵ = W + Λ (C⁻¹k*)ᵀ), :mod:`.editor` (edit / restore), :mod:`.requests`
(edit requests for the tiny alias models) and :mod:`.tokens` (finding the subject).
"""
from .covariance import KeyCovariance, key_covariance
from .editor import EditRequest, EditResult, Prediction, edit, edited, restore
from .hparams import ROMEHyperParams
from .requests import deletion_edit_fn, graph_request

__all__ = [
    "EditRequest", "EditResult", "KeyCovariance", "Prediction", "ROMEHyperParams",
    "deletion_edit_fn", "edit", "edited", "graph_request", "key_covariance", "restore",
]
