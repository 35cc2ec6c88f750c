"""The common editing interface: :class:`Editor`, :class:`EditHandle`, :class:`EditSequence`.

Modelled on EasyEdit's ``apply_algo(model, tok, requests, hparams, ...)`` and the ROME/MEMIT
reference's ``apply_<method>_to_model(..., return_orig_weights=True)``: an editor changes the
model *in place* and returns a handle that

* knows every tensor it changed and a copy of each one taken before the change, so
  :meth:`EditHandle.restore` copies them back and the model is bit for bit what it was
  (a copy, not a subtraction: ``W + Δ − Δ`` is not ``W`` in floating point);
* reports the seconds the edit took and, per changed tensor, the norm of the change
  (:class:`WeightChange`);
* carries ``condition``: how a prompt is given to the edited model. It is the identity for
  the weight-changing methods; the in-context methods (ICE, IKE) change no weight and put
  the new fact in front of the prompt instead. Metrics call ``condition(prompt)`` and so
  score every method the same way (:mod:`kedit_utils.editing.metrics`);
* is a context manager: ``with editor.apply(...) as h:`` restores on exit.

What a method takes besides the requests and the hyper-parameters (ROME's covariance, MEND's
trained network, IKE's demonstrations ...) is its *edit context*: a frozen dataclass per
method (an :class:`EditContext` subclass, named by ``Editor.context_class``) whose fields are
the keyword arguments ``apply`` accepts. An argument the method does not declare is an error
naming it, the method and what the method takes (a misspelt ``covv=`` is never silently
dropped); a caller holding one dict for several methods passes each method
:meth:`Editor.context_for` of it.

Sequential editing (edit after edit on one model) is a list of handles restored in reverse
order; :class:`EditSequence` keeps that list and passes it as ``history`` to each new edit
whose method declares it (AlphaEdit, to protect the keys of earlier edits).
"""
from __future__ import annotations

import dataclasses
import difflib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from kedit_utils.core.validation import ParameterError
from kedit_utils.editing.requests import EditRequest, as_requests


def identity(prompt: str) -> str:
    return prompt


@dataclass(frozen=True)
class WeightChange:
    """One changed tensor: its name, shape, ‖ΔW‖_F, ‖ΔW‖_F / ‖W‖_F and max |ΔW|."""

    name: str
    shape: tuple[int, ...]
    delta_norm: float
    relative_norm: float
    max_abs: float


class WeightBackup:
    """Copies of named parameters taken before an edit; :meth:`restore` puts them back."""

    def __init__(self, model, names: Iterable[str]):
        self.model = model
        self.originals: dict[str, torch.Tensor] = {}
        for name in names:
            if name not in self.originals:
                self.originals[name] = model.get_parameter(name).detach().clone()

    def restore(self) -> None:
        with torch.no_grad():
            for name, t in self.originals.items():
                p = self.model.get_parameter(name)
                if p.shape != t.shape:
                    raise ParameterError("handle", name, f"shape {tuple(p.shape)} differs from the saved copy")
                p.copy_(t)

    def changes(self) -> tuple[WeightChange, ...]:
        out = []
        with torch.no_grad():
            for name, t in self.originals.items():
                d = (self.model.get_parameter(name).detach().double() - t.double())
                n = float(d.norm())
                if n == 0.0:
                    continue
                out.append(WeightChange(name, tuple(t.shape), n, n / max(float(t.double().norm()), 1e-30),
                                        float(d.abs().max())))
        return tuple(out)


@dataclass(eq=False)
class EditHandle:
    """An applied edit (see the module docstring).

    method: registry name; requests: what was applied; hparams: the settings used;
    seconds: wall time of the edit (covariance estimation excluded, see ``info``);
    changes: the tensors that changed, with the norm of each change;
    condition: prompt → text the edited model is given (identity for weight edits);
    info: method-specific details (e.g. ROME's ``EditResult`` under ``"rome"``).
    """

    method: str
    requests: tuple[EditRequest, ...]
    hparams: Any
    seconds: float
    changes: tuple[WeightChange, ...] = ()
    condition: Callable[[str], str] = identity
    info: dict = field(default_factory=dict)
    backup: WeightBackup | None = field(default=None, repr=False)
    restored: bool = False

    @property
    def changes_weights(self) -> bool:
        return self.backup is not None and bool(self.backup.originals)

    @property
    def delta_norm(self) -> float:
        """‖ΔW‖_F over every changed tensor together."""
        return float(sum(c.delta_norm ** 2 for c in self.changes) ** 0.5)

    def restore(self) -> None:
        """Copy every changed tensor back (bit for bit). After several edits, restore the
        latest first (:class:`EditSequence` does). Restoring twice is a no-op."""
        if self.info.get("sequence_only") and not self.restored:
            raise ParameterError("handle", self.method, "is part of an EditSequence that keeps only the first copy "
                                 "of each tensor: restore the whole sequence")
        self._restore()

    def _restore(self) -> None:
        if self.backup is not None and not self.restored:
            self.backup.restore()
        self.restored = True

    def __enter__(self) -> "EditHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def summary(self) -> dict:
        return {"method": self.method, "n_edits": len(self.requests), "seconds": self.seconds,
                "seconds_per_edit": self.seconds / max(len(self.requests), 1),
                "n_tensors": len(self.changes), "delta_norm": self.delta_norm}


@dataclass(frozen=True)
class EditContext:
    """What an editing method takes besides the requests and the hyper-parameters: nothing,
    for this base (ICE). A method that takes more declares a frozen subclass whose fields are
    the keyword arguments of its ``Editor.apply`` (module docstring); ``Editor.apply`` builds
    it with :meth:`from_arguments`, so an argument it does not declare raises."""

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The arguments this context declares, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_arguments(cls, method: str, arguments: Mapping[str, Any]) -> "EditContext":
        """The context of ``method`` from its keyword arguments. An argument the context does not
        declare raises :class:`ParameterError` naming it, ``method``, the closest declared name
        and every declared one."""
        declared = cls.keys()
        for key, value in arguments.items():
            if key not in declared:
                raise ParameterError(key, _short(value), undeclared_argument(method, key, declared))
        return cls(**arguments)


def undeclared_argument(method: str, key: str, declared: Sequence[str]) -> str:
    """The rule an undeclared edit-context argument broke, for its :class:`ParameterError`."""
    close = difflib.get_close_matches(key, declared, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    takes = ", ".join(declared) if declared else "nothing besides the requests and hparams"
    return f"{method} takes no argument {key!r}{hint}; it takes {takes}"


def _short(value: Any) -> Any:
    """``value`` itself when it prints short (a name, a number), else ``<its type>``."""
    if value is None or (isinstance(value, (str, int, float, bool)) and len(repr(value)) <= 40):
        return value
    return f"<{type(value).__name__}>"


def trained_component_inputs(model, tok, train_edits, hparams, model_id: str) -> dict:
    """Every input of a component trained on edits for a model (MEND's network, SERAC's
    scope classifier), for the artifact cache's key: the model's id, weights and tokenizer,
    the training edits, the hyper-parameters and the device type."""
    from kedit_utils.core.fingerprints import tokenizer_fingerprint, weights_fingerprint
    from kedit_utils.editing.requests import requests_hash

    return {"model_id": str(model_id), "weights": weights_fingerprint(model), "tokenizer": tokenizer_fingerprint(tok),
            "train_edits": requests_hash(train_edits), "n_train_edits": len(train_edits),
            "hparams": hparams.to_dict(), "device": next(model.parameters()).device.type}


class Editor:
    """Base class of an editing method. Subclasses set ``name``, ``hparams_class``,
    ``changes_weights``, ``context_class`` (when they take more than the requests) and
    implement :meth:`_apply`.

    ``apply(model, tok, requests, hparams=None, **context) -> EditHandle``: requests in any
    form :func:`~kedit_utils.editing.requests.as_requests` accepts; ``hparams`` an instance of
    ``hparams_class``, a dict, or ``None`` for the preset chosen from the model
    (:meth:`default_hparams`); ``context``: the method's declared inputs, the fields of its
    ``context_class`` (:meth:`context_keys`: ROME's ``cov``, ``corpus``, ``model_id`` ...;
    a pool of other edits under :attr:`pool_argument`); any other keyword raises
    :class:`ParameterError` naming it before any work.
    """

    name: ClassVar[str] = ""
    hparams_class: ClassVar[type] = type(None)
    context_class: ClassVar[type[EditContext]] = EditContext
    changes_weights: ClassVar[bool] = True
    batch: ClassVar[bool] = True  # False: a batch is applied one request after another
    # the context argument that takes a pool of *other* edits (IKE: "demonstrations",
    # SERAC: "scope_examples"); callers pass the other requests of the same kind there
    pool_argument: ClassVar[str | None] = None
    # the context argument holding a component trained beforehand (MEND: "network")
    trained_argument: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for attr in ("pool_argument", "trained_argument"):
            arg = getattr(cls, attr)
            if arg is not None and arg not in cls.context_class.keys():
                raise TypeError(f"{cls.__name__}.{attr} = {arg!r} is not a field of {cls.context_class.__name__}")

    @classmethod
    def context_keys(cls) -> tuple[str, ...]:
        """The keyword arguments :meth:`apply` takes besides requests and hparams."""
        return cls.context_class.keys()

    def context(self, **arguments) -> EditContext:
        """This method's :class:`EditContext` from keyword arguments (undeclared ones raise)."""
        return self.context_class.from_arguments(self.name, arguments)

    def context_for(self, shared: Mapping[str, Any]) -> dict:
        """The entries of ``shared`` this method declares: for a caller that holds one dict of
        inputs for several methods (``editor.apply(..., **editor.context_for(shared))``)."""
        keys = self.context_keys()
        return {k: v for k, v in shared.items() if k in keys}

    def default_hparams(self, model):
        """The preset for ``model``: ``tiny_gpt2`` for a word-level vocabulary under 1000
        tokens (the alias models), ``smollm2`` for a Llama-family model, else ``gpt2_family``."""
        from kedit_utils.core import architectures as A

        if model.config.vocab_size < 1000:
            return self.hparams_class.tiny_gpt2()
        if A.arch_of(model).name == "llama":
            return self.hparams_class.smollm2()
        return self.hparams_class.gpt2_family(n_layers=A.n_layers(model))

    def resolve_hparams(self, model, hparams):
        if hparams is None:
            return self.default_hparams(model)
        if isinstance(hparams, dict):
            return self.hparams_class.from_dict(hparams)
        if not isinstance(hparams, self.hparams_class):
            raise ParameterError("hparams", type(hparams).__name__, f"must be a {self.hparams_class.__name__}")
        return hparams

    def apply(self, model, tok, requests, hparams=None, **context) -> EditHandle:
        ctx = self.context(**context)  # a misspelt argument fails before any work
        reqs = tuple(as_requests(requests))
        hp = self.resolve_hparams(model, hparams)
        self.check(model, tok, reqs, hp)
        was_training = model.training
        t0 = time.perf_counter()
        try:
            handle = self._apply(model, tok, reqs, hp, ctx)
        finally:
            model.train(was_training)
        if handle.seconds <= 0:
            handle.seconds = time.perf_counter() - t0
        if handle.backup is not None:
            handle.changes = handle.backup.changes()
        return handle

    def check(self, model, tok, requests: tuple[EditRequest, ...], hparams) -> None:
        """Validate before any work (targets tokenise, layers in range): override to extend."""
        from kedit_utils.core.tokens import target_token_ids

        for r in requests:
            target_token_ids(tok, r.target_new)

    def _apply(self, model, tok, requests: tuple[EditRequest, ...], hparams,
               context: EditContext) -> EditHandle:  # pragma: no cover
        """Edit ``model`` in place; ``context`` is an instance of ``context_class``."""
        raise NotImplementedError


@contextmanager
def weights_guard(model, names: Iterable[str]) -> Iterator[WeightBackup]:
    """Back up ``names``; on an exception inside the block restore them and re-raise."""
    backup = WeightBackup(model, names)
    try:
        yield backup
    except BaseException:
        backup.restore()
        raise


class EditSequence:
    """Edits applied one after another to one model, restored together (latest first).

        seq = EditSequence(model, tok)
        seq.apply("memit", req1, hp, cov=covs)
        seq.apply("memit", req2, hp, cov=covs)
        seq.restore()             # bit for bit the model before req1

    Each :meth:`apply` passes the handles so far as ``history`` to a method that declares it
    (AlphaEdit; :meth:`Editor.context_keys`). Also a context manager.
    ``intermediate_copies=False`` keeps only the first copy of each tensor (the original),
    so a long sequence holds one copy per tensor instead of one per edit (100 MEMIT edits
    on SmolLM2: 5 × 3.5 MB instead of 100 × 17.5 MB); its handles can then be restored only
    all together, through the sequence.
    """

    def __init__(self, model, tok, intermediate_copies: bool = True):
        self.model, self.tok = model, tok
        self.intermediate_copies = bool(intermediate_copies)
        self.handles: list[EditHandle] = []

    def apply(self, method, requests, hparams=None, **context) -> EditHandle:
        from kedit_utils.editing.registry import get_editor

        editor = get_editor(method) if isinstance(method, str) else method
        if "history" in editor.context_keys():
            if "history" in context:
                raise ParameterError("history", _short(context["history"]),
                                     "an EditSequence passes its own handles as history")
            context = {**context, "history": tuple(self.handles)}
        handle = editor.apply(self.model, self.tok, requests, hparams, **context)
        if not self.intermediate_copies and handle.backup is not None:
            kept = {n for h in self.handles if h.backup is not None for n in h.backup.originals}
            for name in kept & set(handle.backup.originals):
                del handle.backup.originals[name]
            handle.info["sequence_only"] = True
        self.handles.append(handle)
        return handle

    def condition(self, prompt: str) -> str:
        """The prompt as the whole sequence conditions it (in-context edits nest)."""
        for h in reversed(self.handles):
            prompt = h.condition(prompt)
        return prompt

    def restore(self) -> None:
        for h in reversed(self.handles):
            h._restore()

    def __enter__(self) -> "EditSequence":
        return self

    def __exit__(self, *exc) -> None:
        self.restore()


def restore_all(handles: Sequence[EditHandle]) -> None:
    """Restore ``handles`` latest first: the model is bit for bit what it was before the first."""
    for h in reversed(list(handles)):
        h.restore()
