"""ICE, in-context editing: no weight changes, the new fact is written in front of the prompt
(Paper C's "recognition phase"; the "Imagine that {knowledge}" prompt of Cohen et al. 2024,
"Evaluating the Ripple Effects of Knowledge Editing in Language Models", §5).

The handle's ``condition(prompt)`` returns ``template.format(fact) + separator + prompt``
(for a batch, every fact, each through the template, then the prompt); the metrics in
:mod:`kedit_utils.editing.metrics` give the model ``condition(prompt)`` instead of ``prompt``, so an
in-context edit is scored exactly like a weight edit. The model itself is never touched:
``restore`` has nothing to do.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from kedit_utils.core.validation import ParameterError
from kedit_utils.editing.base import EditContext, EditHandle, Editor
from kedit_utils.editing.hparams import HyperParams


def _check_template(name: str, value: str) -> None:
    if not isinstance(value, str) or value.count("{}") != 1:
        raise ParameterError(name, value, "must be a string containing '{}' exactly once")


@dataclass(frozen=True)
class ICEHyperParams(HyperParams):
    """template: how a fact is stated, ``{}`` = "prompt target"; separator: between the
    stated facts and the prompt."""

    template: str = "Imagine that {}."
    separator: str = " "

    METHOD: ClassVar[str] = "ICE"

    def __post_init__(self):
        _check_template("template", self.template)
        if not isinstance(self.separator, str):
            raise ParameterError("separator", self.separator, "must be a string")

    @classmethod
    def tiny_gpt2(cls, **changes):
        """The alias models know only entity and relation words: the fact is written bare,
        "s r o s r" (no "Imagine that")."""
        return cls(**{**dict(template="{}", separator=" "), **changes})

    @classmethod
    def smollm2(cls, **changes):
        """The survey's wording: "Imagine that {fact}." then the prompt."""
        return cls(**{**dict(template="Imagine that {}.", separator=" "), **changes})

    @classmethod
    def gpt2_family(cls, n_layers: int = 48, **changes):
        """As :meth:`smollm2` (the prompt does not depend on the model)."""
        return cls(**{**dict(template="Imagine that {}.", separator=" "), **changes})


def check_context_length(model, tok, text: str, method: str) -> None:
    """ParameterError when ``text`` does not fit the model's positions (the tiny alias models
    have 4)."""
    from kedit_utils.core.tokens import encode

    limit = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", None)
    n = len(encode(tok, text))
    if limit is not None and n > limit:
        raise ParameterError("model", f"{limit} positions",
                             f"{method}'s prompt with its context has {n} tokens: the model's context is too short")


class ICE(Editor):
    """In-context editing (module docstring)."""

    name = "ice"
    hparams_class = ICEHyperParams
    changes_weights = False

    def _apply(self, model, tok, requests, hparams, context: EditContext) -> EditHandle:
        t0 = time.perf_counter()
        prefix = hparams.separator.join(hparams.template.format(r.fact) for r in requests)

        def condition(prompt: str) -> str:
            return prefix + hparams.separator + prompt

        for r in requests:
            check_context_length(model, tok, condition(r.prompt), "ICE")
        return EditHandle(method=self.name, requests=requests, hparams=hparams,
                          seconds=time.perf_counter() - t0, condition=condition, info={"prefix": prefix})
