"""ROME, rank-one model editing (Meng et al. 2022), as used by Paper A §3.3 step 2.

One module per concern, as in the reference implementation: :mod:`.hparams`,
:mod:`.covariance` (C = K Kᵀ / n), :mod:`.compute_k` (k*), :mod:`.compute_v` (v* and the
:class:`~.compute_v.Speed` of its optimisation), :mod:`.update` (Ŵ = W + Λ (C⁻¹k*)ᵀ),
:mod:`.functional` (the functional path: ``edit_in_place``, the one edit both entry points run,
and edit / edited / restore; ``LocateThenEditContext``) and :mod:`.editor` (the
:class:`~kedit_utils.editing.base.Editor` behind ``get_editor("rome")``, over the same
functions). Finding the subject's tokens is :mod:`kedit_utils.core.tokens`; the requests of
Paper A's graph facts are :mod:`kedit_utils.kg.deletion.requests`.
"""
from kedit_utils.editing.rome.covariance import KeyCovariance, key_covariance
from kedit_utils.editing.rome.functional import EditRequest, EditResult, Prediction, edit, edited, restore
from kedit_utils.editing.rome.hparams import ROMEHyperParams

__all__ = [
    "EditRequest", "EditResult", "KeyCovariance", "Prediction", "ROMEHyperParams",
    "edit", "edited", "key_covariance", "restore",
]
