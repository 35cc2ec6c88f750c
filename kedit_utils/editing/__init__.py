"""One editing API for every method (Paper C, the survey; Paper B's Table 2; Paper A's
future work): ROME, MEMIT, AlphaEdit, FT, FT-L, LoRA, ICE and IKE behind one interface.

    from kedit_utils.editing import metrics
    from kedit_utils.editing import EditRequest, EditSequence, get_editor
    from kedit_utils.editing.memit import layer_covariances

    req = EditRequest("The Eiffel Tower is located in the city of", "The Eiffel Tower", "Rome",
                      ground_truth="Paris", locality=[("The capital of France is", "Paris")])
    # or EasyEdit's form: {"prompts": [...], "subject": [...], "target_new": [...], ...}
    memit = get_editor("memit")
    hp = memit.hparams_class.smollm2()                      # or .from_yaml("memit.yaml")
    covs = layer_covariances(model, tok, hp.layers, corpus=texts, model_id="SmolLM2")  # cached
    ref = metrics.locality_reference(model, tok, req)
    with memit.apply(model, tok, req, hp, cov=covs) as h:  # edited inside the block
        print(h.seconds, h.changes)                         # which tensors, ‖ΔW‖
        print(metrics.evaluate(model, tok, req, h, reference=ref))
    # ... restored bit for bit here; edits in a row: EditSequence(model, tok).apply(...) × n,
    # then .restore(). ICE/IKE change no weight: their handle's condition(prompt) adds the
    # context, and every metric takes the handle.
    memit.context_keys()  # ('cov', 'corpus', 'model_id', 'progress', 'speed'): what apply takes
    memit.apply(model, tok, req, hp, covv=covs)  # ParameterError: memit takes no argument 'covv' ...

One module per method (``rome/``, :mod:`.memit`, :mod:`.alphaedit`, :mod:`.ft`,
:mod:`.ft_l`, :mod:`.lora`, :mod:`.ice`, :mod:`.ike`, :mod:`.serac`, :mod:`.mend`), each
declaring its edit context (what ``apply`` takes besides the requests: an
:class:`~.base.EditContext`); the interface is in :mod:`.base`,
requests (ours and EasyEdit's dicts) in :mod:`.requests`, hyper-parameter files and presets
in :mod:`.hparams`, the name → editor registry in :mod:`.registry`.
"""
from kedit_utils.editing.base import EditContext, EditHandle, Editor, EditSequence, WeightChange, restore_all
from kedit_utils.editing.registry import apply_edit, available_methods, get_editor, hparams_class
from kedit_utils.editing.requests import EditRequest, as_requests

__all__ = ["EditContext", "EditHandle", "EditRequest", "EditSequence", "Editor", "WeightChange", "apply_edit",
           "as_requests", "available_methods", "get_editor", "hparams_class", "restore_all"]
