"""One editing API for every method (Paper C, the survey; Paper B's Table 2; Paper A's
future work): ROME, MEMIT, AlphaEdit, FT, FT-L, LoRA, ICE and IKE behind one interface.

    from kedit_utils.editors import EditRequest, get_editor

    rome = get_editor("rome")
    req = EditRequest("The Eiffel Tower is located in the city of", "The Eiffel Tower", "Rome")
    with rome.apply(model, tok, req, rome.hparams_class.smollm2(), cov=cov) as h:
        print(h.seconds, h.changes)      # the model is edited inside the block
    # ... and bit for bit restored here

One module per method (``rome/``, :mod:`.memit`, :mod:`.alphaedit`, :mod:`.ft`,
:mod:`.ft_l`, :mod:`.lora`, :mod:`.ice`, :mod:`.ike`); the interface is in :mod:`.base`,
requests (ours and EasyEdit's dicts) in :mod:`.requests`, hyper-parameter files and presets
in :mod:`.hparams`, the name → editor registry in :mod:`.registry`.
"""
from .base import EditHandle, Editor, EditSequence, WeightChange, restore_all
from .registry import available_methods, get_editor, hparams_class
from .requests import EditRequest, as_requests


def apply_edit(method: str, model, tok, requests, hparams=None, **context) -> EditHandle:
    """``get_editor(method).apply(model, tok, requests, hparams, **context)``."""
    return get_editor(method).apply(model, tok, requests, hparams, **context)


__all__ = ["EditHandle", "EditRequest", "EditSequence", "Editor", "WeightChange", "apply_edit", "as_requests",
           "available_methods", "get_editor", "hparams_class", "restore_all"]
