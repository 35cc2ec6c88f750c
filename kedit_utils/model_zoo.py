"""The trained models that chapters 2-5 share (Paper A §3.2).

Chapter 2 trains one GPT-2 per graph kind × depth; chapters 3-5 ask for the same models
through :func:`trained_models` with the same parameters and get them from the artifact
cache (the key is built from every input), so nothing is trained twice. The parameters
come from :mod:`kedit_utils.profiles` (``TRAINING_KEYS``), so a chapter run with
``-p lr 3e-4`` in chapter 2 needs the same ``-p`` in the later chapters to reuse its models.
"""
from __future__ import annotations

from typing import Any

from .graphs import GraphSpec
from .models import ModelSpec
from .training import TrainConfig, TrainedModel, load_or_train
from .validation import check_choice, check_float, check_int

TRAINING_KEYS = (
    "n_entities", "n_relations", "ba_m", "n_aliases", "n_embd", "n_head",
    "lr", "batch_size", "max_epochs", "weight_decay", "warmup", "objective",
    "lr_depth_exponent", "threads", "target_accuracy",
)


def graph_spec(params: dict[str, Any], kind: str) -> GraphSpec:
    check_choice("graph", kind, ("er", "ba"))
    return GraphSpec(kind=kind, n_entities=params["n_entities"], n_relations=params["n_relations"],
                     ba_m=params["ba_m"], seed=params["seed"])


def model_spec(params: dict[str, Any], n_layers: int) -> ModelSpec:
    check_int("layers", n_layers, minimum=1)
    return ModelSpec(n_layers=n_layers, n_embd=params["n_embd"], n_head=params["n_head"])


def train_config(params: dict[str, Any], n_layers: int) -> TrainConfig:
    """The optimiser settings of a depth: ``lr * (6 / n_layers) ** lr_depth_exponent``."""
    check_int("layers", n_layers, minimum=1)
    check_float("lr_depth_exponent", params["lr_depth_exponent"], low=0.0)
    lr = params["lr"] * (6 / n_layers) ** params["lr_depth_exponent"]
    return TrainConfig(lr=lr, batch_size=params["batch_size"], max_epochs=params["max_epochs"],
                       weight_decay=params["weight_decay"], warmup=params["warmup"], objective=params["objective"],
                       target_accuracy=params["target_accuracy"])


def trained_model(params: dict[str, Any], kind: str, n_layers: int, sample_fraction: float | None = None,
                  progress: bool = True) -> TrainedModel:
    """The model for one graph kind and depth (trained once, then loaded from the cache)."""
    return load_or_train(
        graph_spec(params, kind), n_aliases=params["n_aliases"],
        sample_fraction=params["sample_fraction"] if sample_fraction is None else sample_fraction,
        model_spec=model_spec(params, n_layers), cfg=train_config(params, n_layers),
        seed=params["seed"], device=params["device"], progress=progress, threads=params["threads"],
    )


def trained_models(params: dict[str, Any], kinds=None, layers=None, sample_fraction=None,
                   progress: bool = True) -> dict[tuple[str, int], TrainedModel]:
    """{(kind, n_layers): TrainedModel} for every requested graph kind × depth.

    Everything is validated (graph specs, model specs, training config) before the first
    model trains.
    """
    kinds = list(kinds if kinds is not None else params["graph_kinds"])
    layers = list(layers if layers is not None else params["layers"])
    for k in kinds:
        graph_spec(params, k)
    for n in layers:
        model_spec(params, n)
        train_config(params, n)
    if params["threads"] is not None:
        check_int("threads", params["threads"], minimum=1)
    return {(k, n): trained_model(params, k, n, sample_fraction, progress) for k in kinds for n in layers}
