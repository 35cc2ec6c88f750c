"""Chapter 5's parameters (Paper A §3.4 and §4), typed, frozen and validated before any work.

:class:`DeletionChapterConfig` holds every parameter of ``notebooks/05_deletion_impact.py``
under the name a user types (``-p seeds "[0, 1]"``). :meth:`DeletionChapterConfig.from_parameters`
resolves the parameters left ``None`` from the run profile and checks every one of them,
cross-parameter rules included (``edit_layer`` below every depth, ``compare_token`` other than
``edit_token``, a variant's fixed layer below ``variant_layers``, every graph of the variants
and of the rule buildable with ``n_relations``), so a bad value stops the chapter in its first
code cell with a :class:`~kedit_utils.core.validation.ParameterError` naming it, before any
model loads. The chapter builder (:mod:`.chapter`), :func:`.sweep.run_deletion_experiment` and
``kedit store-part`` (:mod:`kedit_utils.book.stored_parts`) take it.

The models' training parameters (:data:`kedit_utils.kg.trained_models.TRAINING_KEYS`, ``layers``,
``sample_fraction``) travel as one read-only mapping, ``training``; :meth:`training_params` is
the dict the model cache reads (with the seed, device and graph kinds), the same values the
chapter passed before it had a config, so every cache key stays as it was.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from kedit_utils.core.devices import DEVICES
from kedit_utils.core.jobs import check_executor
from kedit_utils.core.validation import ParameterError, check_choice, check_int

EDIT_TOKENS = ("subject_last", "last")
GRAPH_KINDS = ("er", "ba")
PAPER_EDITOR = "rome"

# The chapter's parameters that no profile sets: their defaults, as in the notebook's parameters cell.
CHAPTER_DEFAULTS: dict[str, Any] = {
    "seed": 0, "device": "auto", "graph_kinds": ["er", "ba"], "max_entities": None, "edit_layer": None,
    "edit_token": "subject_last", "compare_token": None, "n_boot": 1000,
}


def _int_list(name: str, value: Any, minimum: int, what: str) -> tuple[int, ...]:
    """``value`` as a non-empty tuple of distinct ints >= ``minimum`` (``ParameterError`` naming ``name``)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ParameterError(name, value, f"must be a list of {what}")
    items = tuple(value)
    if not items:
        raise ParameterError(name, list(items), f"must name at least one {what.rstrip('s')}")
    for item in items:
        check_int(name, item, minimum=minimum)
    if len(set(items)) != len(items):
        raise ParameterError(name, list(items), f"must not name the same {what.rstrip('s')} twice")
    return items


def _optional_int(name: str, value: Any, minimum: int) -> int | None:
    return None if value is None else check_int(name, value, minimum=minimum)


@dataclass(frozen=True)
class DeletionChapterConfig:
    """Every parameter of chapter 5, checked (module docstring). Field names are the
    parameters' names; sequences are tuples. ``training``: the models' training parameters
    (read-only). ``variants`` ``None``: every variant of :func:`.variants.variant_grid`."""

    training: Mapping[str, Any] = field(repr=False)
    profile: str = "quick"
    seed: int = 0
    device: str = "auto"
    graph_kinds: tuple[str, ...] = GRAPH_KINDS
    seeds: tuple[int, ...] = (0,)
    max_entities: int | None = None
    edit_layer: int | None = None
    edit_token: str = "subject_last"
    compare_token: str | None = None
    n_trace_facts: int = 50
    n_boot: int = 1000
    workers: int = 1
    executor: str = "local"
    scheduler: str | None = None
    editors: tuple[str, ...] = (PAPER_EDITOR,)
    editor_max_entities: int | None = None
    variants: tuple[str, ...] | None = None
    variant_layers: int = 6
    variant_entities: int | None = None
    trained_epochs: int = 100
    rule_layers: tuple[int, ...] = (6, 12)
    sequence_deletions: int = 24
    sequence_every: int = 3
    resolved: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        from kedit_utils.editing import available_methods, get_editor
        from kedit_utils.kg.deletion.variants import variants_by_name

        put = lambda name, value: object.__setattr__(self, name, value)
        put("training", MappingProxyType(dict(self.training)))
        put("resolved", MappingProxyType(dict(self.resolved)))
        check_int("seed", self.seed, minimum=0)
        check_choice("device", self.device, DEVICES)
        kinds = tuple(self.graph_kinds) if not isinstance(self.graph_kinds, str) else (self.graph_kinds,)
        if not kinds:
            raise ParameterError("graph_kinds", list(kinds), f"must name at least one of {list(GRAPH_KINDS)}")
        for kind in kinds:
            check_choice("graph_kinds", kind, GRAPH_KINDS)
        put("graph_kinds", kinds)
        put("seeds", _int_list("seeds", self.seeds, 0, "seeds"))
        _optional_int("max_entities", self.max_entities, 3)
        check_choice("edit_token", self.edit_token, EDIT_TOKENS)
        if self.compare_token is not None:
            check_choice("compare_token", self.compare_token, [t for t in EDIT_TOKENS if t != self.edit_token])
        check_int("n_trace_facts", self.n_trace_facts, minimum=1)
        check_int("n_boot", self.n_boot, minimum=1)
        check_executor(self.executor, self.workers, self.scheduler)
        editors = tuple(self.editors)
        deleting = [m for m in available_methods()  # weight edits with nothing to train first
                    if get_editor(m).changes_weights and not get_editor(m).trained_argument]
        for method in editors:
            check_choice("editors", method, deleting)
        put("editors", editors)
        _optional_int("editor_max_entities", self.editor_max_entities, 3)
        depths = self.layers
        if self.edit_layer is not None:
            check_int("edit_layer", self.edit_layer, minimum=0, maximum=min(depths) - 1)
        check_int("variant_layers", self.variant_layers, minimum=1)
        if self.variants is not None:
            if isinstance(self.variants, str) or not list(self.variants):
                raise ParameterError("variants", self.variants, "must name at least one variant (None: every one)")
            put("variants", tuple(self.variants))
        for v in variants_by_name(self.variants):  # names checked here
            if v.layer is not None and self.variant_layers <= v.layer:
                raise ParameterError("variant_layers", self.variant_layers, f"must be > {v.layer}: the variant "
                                     f"{v.name!r} edits layer {v.layer} (or leave it out of `variants`)")
        _optional_int("variant_entities", self.variant_entities, 3)
        check_int("trained_epochs", self.trained_epochs, minimum=1)
        put("rule_layers", _int_list("rule_layers", self.rule_layers, 1, "depths"))
        check_int("sequence_deletions", self.sequence_deletions, minimum=1)
        check_int("sequence_every", self.sequence_every, minimum=1)

    @property
    def layers(self) -> tuple[int, ...]:
        """The depths of the chapter's models (``training["layers"]``), checked."""
        return _int_list("layers", self.training.get("layers", ()), 1, "depths")

    @property
    def edit_tokens(self) -> list[str]:
        """The key tokens ROME's full sweeps edit: ``edit_token``, then ``compare_token`` if set."""
        return [self.edit_token] + ([self.compare_token] if self.compare_token is not None else [])

    def training_params(self, seed: int | None = None) -> dict[str, Any]:
        """The dict :mod:`kedit_utils.kg.trained_models` reads (training parameters, seed, device,
        graph kinds) for ``seed`` (``None``: the chapter's ``seed``)."""
        return {**self.resolved, **self.training, "seed": self.seed if seed is None else seed,
                "device": self.device, "graph_kinds": list(self.graph_kinds)}

    def parameters(self) -> dict[str, Any]:
        """The resolved parameters as the chapter shows and stores them (its parameters table,
        ``meta.parameters`` of its results): the profile's names, with profile, seed, device and
        graph kinds."""
        return dict(self.resolved) if self.resolved else self.training_params()

    def check_graphs(self) -> None:
        """Build every graph the chapter will train on (each orientation of the variants and the
        rule, for each seed the rule runs): a both-directions graph whose hub has more facts than
        there are relations fails here, naming ``n_relations``. Nothing is trained."""
        from kedit_utils.kg.deletion.variants import check_graphs, variants_by_name
        from kedit_utils.kg.trained_models import training_jobs

        for s in self.seeds:
            training_jobs(self.training_params(s))  # graph, model and training specs of every depth
            check_graphs(self.training_params(s), variants_by_name(["rule"]), self.graph_kinds)
        check_graphs(self.training_params(), variants_by_name(self.variants), self.graph_kinds)

    @classmethod
    def parameter_names(cls, profile: Mapping[str, Any]) -> set[str]:
        """Every parameter name the chapter takes with ``profile``'s table."""
        return set(profile) | set(CHAPTER_DEFAULTS) | {"profile"}

    @classmethod
    def from_parameters(cls, given: Mapping[str, Any], profile: Mapping[str, Any],
                        strict: bool = False) -> DeletionChapterConfig:
        """The chapter's config from the parameters a user gave (``given``: the notebook's
        globals, or the ``-p`` values of ``kedit store-part``; ``None`` or absent: the profile's
        or the chapter's default) and ``profile``, the resolved profile table of the chapter
        (:func:`kedit_utils.book.profiles.resolve_parameters` with nothing given: its values and
        ``"profile"``). Every value is checked, and every graph built (:meth:`check_graphs`),
        before anything trains. ``strict``: a name in ``given`` the chapter does not take is an
        error (for the command line; a notebook's globals hold other names too)."""
        if strict:
            for name in given:
                if name not in cls.parameter_names(profile):
                    raise ParameterError(name, given[name], "is not a parameter of 05_deletion_impact")
        table = {k: v for k, v in profile.items() if k != "profile"}
        pick = lambda name, default: default if given.get(name) is None else given[name]
        values = {name: pick(name, default) for name, default in {**CHAPTER_DEFAULTS, **table}.items()}
        from kedit_utils.kg.trained_models import TRAINING_KEYS

        training_names = set(TRAINING_KEYS) | {"layers", "sample_fraction"}
        training = {k: values[k] for k in table if k in training_names}
        resolved = {"profile": profile.get("profile", "quick"), "seed": values["seed"], "device": values["device"],
                    **{k: values[k] for k in table}, "graph_kinds": values["graph_kinds"]}
        own = {f.name for f in fields(cls)} - {"training", "resolved", "profile"}
        config = cls(training=training, profile=resolved["profile"], resolved=resolved,
                     **{k: v for k, v in values.items() if k in own})
        config.check_graphs()
        return config


__all__ = ["CHAPTER_DEFAULTS", "EDIT_TOKENS", "GRAPH_KINDS", "DeletionChapterConfig"]
