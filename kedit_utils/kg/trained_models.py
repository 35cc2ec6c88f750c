"""The trained models that chapters 2-5 share (Paper A §3.2).

Chapter 2 trains one GPT-2 per graph kind × depth; chapters 3-5 ask for the same models
through :func:`trained_models` with the same parameters and get them from the artifact
cache (the key is built from every input), so nothing is trained twice. The parameters
come from :mod:`kedit_utils.book.profiles` (``TRAINING_KEYS``), so a chapter run with
``-p lr 3e-4`` in chapter 2 needs the same ``-p`` in the later chapters to reuse its models.
The models missing from the cache train as a grid of jobs (:func:`train_grid`), in this
process, in local worker processes or on a Dask cluster (:mod:`kedit_utils.core.jobs`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from kedit_utils.core import cache
from kedit_utils.core.devices import resolve_device
from kedit_utils.core.jobs import check_executor, run_jobs
from kedit_utils.core.validation import check_choice, check_float, check_fraction, check_int
from kedit_utils.kg.gpt2 import ModelSpec
from kedit_utils.kg.graphs import GraphSpec
from kedit_utils.kg.training import (
    ARTIFACT_KIND,
    TrainConfig,
    TrainedModel,
    load_or_train,
    training_code_version,
    training_inputs,
)

TRAINING_KEYS = (
    "n_entities", "n_relations", "ba_m", "n_aliases", "n_embd", "n_head",
    "lr", "batch_size", "max_epochs", "weight_decay", "warmup", "objective",
    "lr_depth_exponent", "threads", "target_accuracy",
)


def graph_spec(params: dict[str, Any], kind: str) -> GraphSpec:
    check_choice("graph", kind, ("er", "ba"))
    return GraphSpec(kind=kind, n_entities=params["n_entities"], n_relations=params["n_relations"],
                     ba_m=params["ba_m"], seed=params["seed"], orientation=params.get("orientation", "one"))


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
                       target_accuracy=params["target_accuracy"], stop=params.get("stop", "target"))


def _training_args(params: dict[str, Any], kind: str, n_layers: int, sample_fraction: float | None) -> dict:
    """The inputs of :func:`kedit_utils.kg.training.load_or_train` for one graph kind and depth."""
    return dict(
        graph_spec=graph_spec(params, kind), n_aliases=params["n_aliases"],
        sample_fraction=params["sample_fraction"] if sample_fraction is None else sample_fraction,
        model_spec=model_spec(params, n_layers), cfg=train_config(params, n_layers),
        seed=params["seed"], device=params["device"], threads=params["threads"],
    )


def trained_model(params: dict[str, Any], kind: str, n_layers: int, sample_fraction: float | None = None,
                  progress: bool = True) -> TrainedModel:
    """The model for one graph kind and depth (trained once, then loaded from the cache)."""
    return load_or_train(**_training_args(params, kind, n_layers, sample_fraction), progress=progress)


def trained_folder(params: dict[str, Any], kind: str, n_layers: int, sample_fraction: float | None = None) -> Path:
    """The artifact folder :func:`trained_model` keeps this model in, trained or not; nothing
    is built or loaded. The key's code part is the trainer's
    (:func:`~kedit_utils.kg.training.training_code_version`, its import closure), which this
    module is outside of (it imports the trainer), so editing it retrains nothing."""
    args = _training_args(params, kind, n_layers, sample_fraction)
    inputs = training_inputs(args["graph_spec"], args["n_aliases"], args["sample_fraction"], args["model_spec"],
                             args["cfg"], args["seed"], resolve_device(args["device"]).type, args["threads"])
    return cache.artifact_dir(ARTIFACT_KIND, cache.cache_key(inputs, training_code_version()))


def is_trained(params: dict[str, Any], kind: str, n_layers: int, sample_fraction: float | None = None) -> bool:
    """Whether :func:`trained_model` would load this model from the cache (nothing is loaded)."""
    return cache.is_complete(trained_folder(params, kind, n_layers, sample_fraction))


def training_jobs(params: dict[str, Any], kinds=None, layers=None, sample_fraction=None,
                  progress: bool = False) -> list[dict]:
    """One job per graph kind × depth, validated (graph specs, model specs, training config)
    before any model trains: {"params", "kind", "n_layers", "sample_fraction", "progress"}."""
    kinds = list(kinds if kinds is not None else params["graph_kinds"])
    layers = list(layers if layers is not None else params["layers"])
    for k in kinds:
        graph_spec(params, k)
    for n in layers:
        model_spec(params, n)
        train_config(params, n)
    if params["threads"] is not None:
        check_int("threads", params["threads"], minimum=1)
    check_int("n_aliases", params["n_aliases"], minimum=1)
    check_fraction("sample_fraction", params["sample_fraction"] if sample_fraction is None else sample_fraction)
    check_int("seed", params["seed"], minimum=0)
    return [dict(params=params, kind=k, n_layers=n, sample_fraction=sample_fraction, progress=progress)
            for k in kinds for n in layers]


def train_job(job: dict) -> None:
    """Train one job's model into the artifact cache unless it is there (the unit of work of
    :func:`train_grid`, run in this process or in a worker)."""
    args = (job["params"], job["kind"], job["n_layers"], job["sample_fraction"])
    if not is_trained(*args):
        trained_model(*args, progress=job["progress"])


def train_grid(jobs: list[dict], executor: str = "local", workers: int = 1, scheduler: str | None = None,
               progress: bool = True) -> None:
    """Train the models of ``jobs`` (:func:`training_jobs`) that are not in the cache, as a
    grid of :func:`kedit_utils.core.jobs.run_jobs` (deepest first); nothing is returned or loaded."""
    run_jobs(train_job, jobs, executor=executor, workers=workers, scheduler=scheduler, desc="trained models",
             progress=progress, cost=lambda job: job["n_layers"],
             is_cached=lambda job: is_trained(job["params"], job["kind"], job["n_layers"], job["sample_fraction"]))


def trained_models(params: dict[str, Any], kinds=None, layers=None, sample_fraction=None,
                   progress: bool = True, executor: str = "local", workers: int = 1,
                   scheduler: str | None = None) -> dict[tuple[str, int], TrainedModel]:
    """{(kind, n_layers): TrainedModel} for every requested graph kind × depth.

    Everything is validated (graph specs, model specs, training config, executor) before the
    first model trains. The models not yet in the cache train as a grid of jobs where
    ``executor`` runs them (:mod:`kedit_utils.core.jobs`: in this process, in ``workers`` local
    processes, or on Dask at ``scheduler``); every model is then loaded here from the cache.
    """
    check_executor(executor, workers, scheduler)
    here = executor == "local" and workers == 1
    jobs = training_jobs(params, kinds, layers, sample_fraction, progress=progress and here)
    train_grid(jobs, executor, workers, scheduler, progress)
    return {(job["kind"], job["n_layers"]): trained_model(params, job["kind"], job["n_layers"], sample_fraction,
                                                          progress=False) for job in jobs}
