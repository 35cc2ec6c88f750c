"""Chapter 5's setup variants, their definitions (issue 12 §2; Paper A §3.4 / §4): :class:`Variant`
(one choice of the deletion changed), :func:`variant_grid` (every variant, the baseline first),
:data:`RULE` (the rule's outcome choice by choice, with its source, written before any variant
ran), :data:`BASELINE`, and what a variant changes in the model or the edit
(:func:`model_params`, :func:`fixed_relation`, :func:`stand_in_target`).

The choices and the rule are described in :mod:`kedit_utils.kg.deletion.variants`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from kedit_utils.core.validation import ParameterError, check_choice
from kedit_utils.editing.rome.hparams import ROMEHyperParams
from kedit_utils.kg.graphs import KnowledgeGraph

FAMILIES = ("baseline", "orientation", "training", "rome", "layer", "token", "key", "fact", "target",
            "prompts", "rule")


@dataclass(frozen=True)
class Variant:
    """One setup of the deletion sweep (module docstring); the defaults are the book's baseline.

    name / family / description: how the chapter shows it. orientation: "one" | "both";
    training: "target" (stop at the target accuracy) | "epochs" (a fixed number, last
    weights kept); rome: ROMEHyperParams fields changed from the ``tiny_gpt2`` preset
    (``v_loss_layer="edit"`` = the edited layer); layer: None = traced, else that layer;
    token: ROME's fact token; all_aliases: the key averaged over the subject's aliases;
    fact: "lowest" | "fixed"; target: "untrained" (``<deleted>``) | "trained" (a stand-in
    entity); prompts: "aliases" | "canonical" (the accuracy's prompt set).
    """

    name: str
    family: str
    description: str
    orientation: str = "one"
    training: str = "target"
    rome: dict = field(default_factory=dict)
    layer: int | None = None
    token: str = "subject_last"
    all_aliases: bool = False
    fact: str = "lowest"
    target: str = "untrained"
    prompts: str = "aliases"

    def __post_init__(self):
        check_choice("family", self.family, FAMILIES)
        check_choice("orientation", self.orientation, ("one", "both"))
        check_choice("training", self.training, ("target", "epochs"))
        check_choice("token", self.token, ("subject_last", "last"))
        check_choice("fact", self.fact, ("lowest", "fixed"))
        check_choice("target", self.target, ("untrained", "trained"))
        check_choice("prompts", self.prompts, ("aliases", "canonical"))
        bad = set(self.rome) - set(ROMEHyperParams.__dataclass_fields__)
        if bad:
            raise ParameterError("rome", sorted(bad), "must name fields of ROMEHyperParams")

    def sweep_key(self) -> dict:
        """What the sweep depends on (``prompts`` only changes how its rows are read)."""
        d = asdict(self)
        for k in ("name", "family", "description", "prompts"):
            d.pop(k)
        return d


# The rule's outcome, choice by choice: (choice, value chosen, source). Written before any
# variant ran; the chapter prints it above the results.
RULE = (
    ("orientation", "both directions of every edge", "public implementation (its data/kg/ba: 1,182 triples for 591 edges)"),
    ("training", "a fixed number of epochs, last weights", "public implementation (100 epochs)"),
    ("edited layer", "located by causal tracing", "paper §3.3"),
    ("edit token", "the subject's last token", "paper §3.3 and ROME"),
    ("key", "one prompt", "paper §3.4 (one fact, one prompt)"),
    ("fact deleted", "one relation fixed for every entity that has it", "paper §4 step 2 ('r fixed to one relation')"),
    ("target", "an untrained special token", "public implementation ([E_DELETED], in no sentence)"),
    ("v* loss layer", "the edited layer", "public implementation (v_loss_layer = layer)"),
    ("covariance sample", "10,000 sentences", "public implementation (mom2_n_samples)"),
    ("clamp, KL, weight decay, steps", "4, 0.0625, 0.5, 20 with early stop at 0.05 (the book's preset: 25 steps)",
     "public implementation = ROME's published GPT-2 values"),
    ("accuracy's prompt set", "every alias prompt, any alias of the object", "paper §3.1 (inference)"),
)

BASELINE = Variant("baseline", "baseline", "the chapter's sweep: one direction, stopped at the target, traced layer, "
                   "subject token, one alias prompt, lowest relation id, untrained <deleted>, ROME's published values")


def variant_grid(clamps=(0.5, 1.0, 2.0, 8.0)) -> list[Variant]:
    """Every variant of the module docstring, the baseline first and ``rule`` last.

    clamps: the v* clamp factors besides the baseline's 4 (the clamp curve)."""
    v = [BASELINE,
         Variant("both directions", "orientation", "both directions of every edge (the public implementation's data)",
                 orientation="both"),
         Variant("trained on", "training", "trained a fixed number of epochs, last weights kept", training="epochs")]
    v += [Variant(f"clamp {c:g}", "rome", f"v* clamped to {c:g} × ‖v‖ (ROME: 4)", rome={"clamp_norm_factor": c})
          for c in clamps]
    v += [Variant("KL 1", "rome", "KL factor 1 (ROME: 0.0625)", rome={"kl_factor": 1.0}),
          Variant("weight decay 0", "rome", "no weight decay on v* (ROME: 0.5)", rome={"v_weight_decay": 0.0}),
          Variant("5 steps", "rome", "5 v* steps (the book: 25, ROME: 20)", rome={"v_num_grad_steps": 5}),
          Variant("no early stop", "rome", "all 25 v* steps (ROME stops at loss 0.05)", rome={"early_stop_loss": 0.0}),
          Variant("loss at edited layer", "rome", "v* loss read at the edited layer's output (the public "
                  "implementation) instead of the last", rome={"v_loss_layer": "edit"}),
          Variant("ridge 0.1", "rome", "C + 0.1·mean(diag C)·I (ROME: no ridge)", rome={"mom2_ridge": 0.1}),
          Variant("C from 1,000", "rome", "C from 1,000 training sentences (ROME: up to 100,000)",
                  rome={"mom2_n_samples": 1000}),
          Variant("layer 0", "layer", "the first MLP, whatever the trace says", layer=0),
          Variant("layer 1", "layer", "the second MLP", layer=1),
          Variant("relation token", "token", "ROME's key at the relation token (chapter 4's peak)", token="last"),
          Variant("all aliases", "key", "k* averaged and v* fitted over the subject's aliases", all_aliases=True),
          Variant("fixed relation", "fact", "one relation for every entity that has it (the paper's r)", fact="fixed"),
          Variant("trained target", "target", "a trained entity token stands in for <deleted>", target="trained"),
          Variant("canonical prompt", "prompts", "accuracy over the canonical prompt of each fact only",
                  prompts="canonical"),
          Variant("rule", "rule", "every choice of the rule at once (RULE)", orientation="both", training="epochs",
                  fact="fixed", rome={"v_loss_layer": "edit", "mom2_n_samples": 10_000, "v_num_grad_steps": 20})]
    return v


def variants_by_name(names) -> list[Variant]:
    """The variants of :func:`variant_grid` named in ``names`` (``None``: all), in grid order."""
    grid = variant_grid()
    if names is None:
        return grid
    known = [v.name for v in grid]
    for n in names:
        check_choice("variants", n, known)
    return [v for v in grid if v.name in set(names)]


def model_params(params: dict, variant: Variant, trained_epochs: int) -> dict:
    """The training parameters of ``variant``'s model: the chapter's, with its orientation and,
    for ``training="epochs"``, ``trained_epochs`` epochs with the last weights kept."""
    out = {**params, "orientation": variant.orientation}
    if variant.training == "epochs":
        out.update(stop="epochs", max_epochs=trained_epochs)
    return out


def fixed_relation(kg: KnowledgeGraph) -> int:
    """The relation the most entities have a fact with (as subject; ties: lowest id): the
    paper's "r fixed to one relation", as far as the random relation assignment allows."""
    subjects = np.zeros(kg.n_relations, dtype=np.int64)
    for r in range(kg.n_relations):
        subjects[r] = np.unique(kg.triples[kg.triples[:, 1] == r, 0]).size
    return int(np.argmax(subjects))


def stand_in_target(kg: KnowledgeGraph, triple: int) -> int:
    """The trained entity that replaces ``<deleted>`` for ``triple``: the lowest-degree entity
    (ties: lowest id) that is neither its subject nor its object."""
    s, _, o = (int(x) for x in kg.triples[triple])
    for e in np.argsort(kg.degree, kind="stable"):
        if int(e) not in (s, o):
            return int(e)
    raise ParameterError("target", "trained", "needs a graph with at least three entities")
