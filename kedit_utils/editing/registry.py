"""Method name → editor: ``get_editor("rome")``; an unknown name lists the methods.

Modules are imported on first use, so ``peft`` (LoRA) is needed only when LoRA is asked for.
"""
from __future__ import annotations

import importlib

from kedit_utils.core.validation import ParameterError

# name: (module, class)
METHODS = {
    "rome": ("kedit_utils.editing.rome.editor", "ROME"),
    "memit": ("kedit_utils.editing.memit", "MEMIT"),
    "alphaedit": ("kedit_utils.editing.alphaedit", "AlphaEdit"),
    "ft": ("kedit_utils.editing.ft", "FT"),
    "ft_l": ("kedit_utils.editing.ft_l", "FTL"),
    "lora": ("kedit_utils.editing.lora", "LoRA"),
    "ice": ("kedit_utils.editing.ice", "ICE"),
    "ike": ("kedit_utils.editing.ike", "IKE"),
    "serac": ("kedit_utils.editing.serac", "SERAC"),
    "mend": ("kedit_utils.editing.mend", "MEND"),
}
ALIASES = {"ft-l": "ft_l", "ftl": "ft_l", "alpha_edit": "alphaedit", "alpha-edit": "alphaedit"}


def available_methods() -> list[str]:
    return list(METHODS)


def get_editor(name: str):
    """The editor registered as ``name`` (case-insensitive; ``FT-L`` = ``ft_l``)."""
    key = str(name).lower() if isinstance(name, str) else name
    key = ALIASES.get(key, key)
    if key not in METHODS:
        raise ParameterError("method", name, f"must be one of {available_methods()}")
    module, cls = METHODS[key]
    return getattr(importlib.import_module(module), cls)()


def hparams_class(name: str):
    """The hyper-parameter dataclass of method ``name``."""
    return get_editor(name).hparams_class


def apply_edit(method: str, model, tok, requests, hparams=None, **context):
    """``get_editor(method).apply(model, tok, requests, hparams, **context)``: an :class:`~.base.EditHandle`."""
    return get_editor(method).apply(model, tok, requests, hparams, **context)
