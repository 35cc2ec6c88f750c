"""Chapter 5's whole experiment (Paper A §4): every seed × graph × depth, cached.

:func:`run_deletion_experiment` loads (or trains) the models of each seed through
:mod:`kedit_utils.kg.trained_models`, locates the edited layer by causal tracing (chapter 4's
measure: the MLP layer with the largest average indirect effect at the edited token),
estimates the key covariance, runs :func:`kedit_utils.kg.deletion.impact.deletion_sweep` and caches
the sweep's tables in the artifact cache (key: the model's inputs, the layer, the ROME
settings, the entities and the code version), so a re-run with the same inputs is quick.
Each trained model's sweeps are one job (:func:`model_sweeps`) of a grid that
:func:`kedit_utils.core.jobs.run_jobs` runs in this process, in local worker processes or on a
Dask cluster (``executor``), with the same tables whichever runs it.

Which token ROME edits is a parameter (``edit_tokens``): the paper, like ROME, reads the
key at the subject's last token; the tiny models recall a fact at the relation token
(chapter 4), so chapter 5 sweeps both and compares them.

Which *editor* deletes is a parameter too (``editors``; Paper A's future work names "other
editing methods"): ROME, the paper's, sweeps every entity at every edit token; each other
method of :mod:`kedit_utils.editing` (MEMIT, FT-L, ...) sweeps ``editor_max_entities``
entities at the first edit token's site, through the same interface, so the chapter can ask
whether the degree–impact relation depends on the editor. Every row carries ``editor``.
"""
from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kedit_utils.core import cache
from kedit_utils.core.jobs import run_jobs
from kedit_utils.core.validation import check_choice, check_int
from kedit_utils.editing import registry
from kedit_utils.editing.rome.covariance import key_covariance
from kedit_utils.editing.rome.hparams import ROMEHyperParams
from kedit_utils.kg.alias_accuracy import score_prompts
from kedit_utils.kg.deletion import impact as deletion
from kedit_utils.kg.deletion.requests import deletion_edit_fn, graph_request
from kedit_utils.kg.graphs import DELETED_ENTITY
from kedit_utils.kg.logit_lens import entity_probs_by_layer
from kedit_utils.kg.tracing import alias_prompts, summarise, trace
from kedit_utils.kg.trained_models import (
    train_grid,
    trained_model,
    trained_models,
    training_jobs,
)
from kedit_utils.kg.training import TrainedModel

if TYPE_CHECKING:
    from kedit_utils.kg.deletion.config import DeletionChapterConfig

ARTIFACT_KIND = "deletion-sweep"


def fact_token_of(position: str) -> str:
    """ROME's fact_token for a traced position: "subject_last" for the subject, else "last"."""
    return "subject_last" if position.startswith("subject") else "last"


def mlp_effects(tm: TrainedModel, n_facts: int = 50, n_samples: int = 5, seed: int = 0):
    """Causal trace of the MLP states over ``n_facts`` correctly answered prompts (chapter 4's
    measure): the summary whose ``mean`` (layers × positions) is the average indirect effect."""
    check_int("n_trace_facts", n_facts, minimum=1)
    c = tm.corpus
    scores = score_prompts(tm.model, c.prompts, c.prompt_object, c.vocab)
    candidates = np.flatnonzero(scores.correct)
    pick = np.random.default_rng(seed).choice(candidates, size=min(n_facts, candidates.size), replace=False)
    traces = trace(tm.model, alias_prompts(c.vocab, c.prompts[pick], c.prompt_object[pick]),
                   kinds=("mlp",), n_samples=n_samples, window=1, seed=seed)
    return summarise(traces)["mlp"]


def edit_site(summary, token: str | None = None) -> tuple[int, str]:
    """(layer, fact_token) of the MLP state with the largest average indirect effect.

    fact_token is ROME's name for the token edited: "subject_last" when the peak is at the
    subject (the paper's finding), "last" when it is at the relation token. ``token`` fixes
    the token and locates only the layer (the largest effect at that token).
    """
    mean = np.where(np.isnan(summary.mean), -np.inf, summary.mean)
    if token is None:
        row, col = np.unravel_index(int(np.argmax(mean)), mean.shape)
        return int(summary.layers[row]), fact_token_of(summary.positions[col])
    check_choice("edit_token", token, ("subject_last", "last"))
    row = int(np.argmax(mean[:, 0 if token == "subject_last" else -1]))
    return int(summary.layers[row]), token


def pick_entities(degree: np.ndarray, max_entities: int | None) -> np.ndarray:
    """All entities, or ``max_entities`` spread evenly over the degree order (hubs and leaves)."""
    order = np.argsort(-degree, kind="stable")
    if max_entities is None or max_entities >= degree.size:
        return np.sort(order)
    return np.sort(order[np.unique(np.linspace(0, degree.size - 1, max_entities).round().astype(int))])


@dataclass
class DeletionExperiment:
    entities: pd.DataFrame
    by_hop: pd.DataFrame
    by_relation: pd.DataFrame
    layers_used: pd.DataFrame
    lens: dict = field(default_factory=dict)
    panel_model: object = None
    panel_corpus: object = None
    panel_edit_fn: object = None
    by_margin: pd.DataFrame = field(default_factory=pd.DataFrame)


PAPER_EDITOR = "rome"


def _sweep_inputs(tm: TrainedModel, layer: int, hparams, entities: np.ndarray,
                  label: dict, method: str = PAPER_EDITOR) -> tuple[dict, str]:
    inputs = {"model": str(tm.path), "layer": layer, "hparams": hparams.to_dict(),
              "entities": entities.tolist(), "label": label}
    producers = [sys.modules[__name__]]  # this module and its kedit_utils imports
    if method != PAPER_EDITOR:  # ROME's inputs stay as they were (no "method")
        inputs["method"] = method
        producers.append(importlib.import_module(registry.METHODS[method][0]))  # looked up by name, not imported
    return inputs, cache.code_version(*producers)


def _sweep_cached(tm: TrainedModel, layer: int, hparams, entities: np.ndarray,
                  label: dict, edit_fn, progress: bool, method: str = PAPER_EDITOR) -> dict[str, pd.DataFrame]:
    inputs, version = _sweep_inputs(tm, layer, hparams, entities, label, method)

    def build(tmp: Path) -> None:
        res = deletion.deletion_sweep(tm.model, tm.corpus, edit_fn, entities, progress, label)
        for name in deletion.SWEEP_TABLES:
            getattr(res, name).to_csv(tmp / f"{name}.csv", index=False)

    path = cache.cached(ARTIFACT_KIND, inputs, version, build)
    tables = {name: pd.read_csv(path / f"{name}.csv") for name in deletion.SWEEP_TABLES}
    for t in tables.values():
        t.insert(0, "editor", method)
    return tables


def tiny_hparams(method: str, layer: int, token: str, n_layers: int):
    """The ``tiny_gpt2`` preset of ``method`` aimed at the located site: ROME at ``layer`` and
    ``token``; MEMIT over ``layer`` and the next (when there is one), at ``token``; FT-L and
    the other one-layer methods at ``layer``; methods without a layer keep their preset."""
    from kedit_utils.editing import hparams_class

    cls = hparams_class(method)
    fields = set(cls.__dataclass_fields__)
    changes = {}
    if "layers" in fields:
        changes["layers"] = tuple(range(layer, min(layer + 2, n_layers)))
    elif "layer" in fields:
        changes["layer"] = layer
    if "fact_token" in fields:
        changes["fact_token"] = token
    return cls.tiny_gpt2(**changes)


def editor_deletion_fn(method: str, tm: TrainedModel, hparams):
    """``edit_fn(model, triple, aliases) -> restore`` (as :func:`deletion_edit_fn`) that deletes
    with any method of :mod:`kedit_utils.editing`: the request (s, r, o) → (s, r, <deleted>)
    on one alias prompt, applied with ``get_editor(method).apply``; restore is the handle's."""
    from kedit_utils.editing import get_editor
    from kedit_utils.kg.vocabulary import hf_tokenizer

    kg, vocab, ed = tm.corpus.kg, tm.vocab, get_editor(method)
    tok = hf_tokenizer(vocab)
    context = {"corpus": tm.corpus.train_sentences.tolist(), "model_id": str(tm.path)}

    def edit_fn(model, triple: int, aliases=(0, 0)):
        s, r, _o = (int(x) for x in kg.triples[triple])
        req = graph_request(kg, vocab, s, r, DELETED_ENTITY, subject_alias=aliases[0], relation_alias=aliases[1])
        return ed.apply(model, tok, req, hparams, **ed.context_for(context)).restore

    return edit_fn


def edit_sites(tm: TrainedModel, tokens, n_facts: int, seed: int) -> list[tuple[int, str]]:
    """:func:`edit_site` of each token in ``tokens`` from one :func:`mlp_effects` trace,
    cached (key: the model, the tokens, the trace settings and the tracing code)."""
    tokens = list(tokens)
    inputs = {"model": str(tm.path), "tokens": tokens, "n_facts": n_facts, "seed": seed}
    version = cache.code_version(sys.modules[__name__])

    def build(tmp: Path) -> None:
        summary = mlp_effects(tm, n_facts, seed=seed)
        cache.write_json_atomic(tmp / "sites.json", [list(edit_site(summary, t)) for t in tokens])

    path = cache.cached("edit-sites", inputs, version, build)
    return [(int(layer), str(token)) for layer, token in json.loads((path / "sites.json").read_text())]


def _job_sites(job: dict, tm: TrainedModel) -> list[tuple[int, str]]:
    if job["edit_layer"] is not None:
        return [(job["edit_layer"], t or "subject_last") for t in job["edit_tokens"]]
    return edit_sites(tm, job["edit_tokens"], job["n_trace_facts"], job["seed"])


def _job_plan(job: dict, tm: TrainedModel) -> list[tuple[str, int, str, np.ndarray, object]]:
    """The sweeps of one model: (method, layer, token, entities, hparams) for ROME at every
    edit token's site, then every other editor at the first token's site."""
    ents = pick_entities(tm.corpus.kg.degree, job["max_entities"])
    sites = _job_sites(job, tm)
    plan = [(PAPER_EDITOR, layer, token, ents, ROMEHyperParams.tiny_gpt2(layer=layer, fact_token=token))
            for layer, token in sites]
    layer, token = sites[0]
    others = [m for m in job.get("editors", [PAPER_EDITOR]) if m != PAPER_EDITOR]
    some = pick_entities(tm.corpus.kg.degree, job.get("editor_max_entities"))
    plan += [(m, layer, token, some, tiny_hparams(m, layer, token, job["n_layers"])) for m in others]
    return plan


def _label(job: dict, token: str) -> dict:
    return {"graph": job["kind"].upper(), "layers": job["n_layers"], "seed": job["seed"], "edit_token": token}


def _job_cached(job: dict, tm: TrainedModel) -> bool:
    """Whether every sweep of ``job`` is already in the artifact cache."""
    for method, layer, token, ents, hparams in _job_plan(job, tm):
        inputs, version = _sweep_inputs(tm, layer, hparams, ents, _label(job, token), method)
        if not cache.is_complete(cache.artifact_dir(ARTIFACT_KIND, cache.cache_key(inputs, version))):
            return False
    return True


def model_sweeps(job: dict) -> dict:
    """Every sweep of one trained model (seed × graph × depth; each edit token, each editor):
    the unit of work that :func:`run_deletion_experiment` runs in this process or in a worker
    (:func:`kedit_utils.core.jobs.run_jobs`).

    job (:func:`sweep_jobs`): params, seed, kind, n_layers, edit_tokens, edit_layer,
    n_trace_facts, max_entities, editors, editor_max_entities, progress.
    Returns {"tables": [per sweep, a dict of the entities / by_hop / by_relation
    DataFrames], "used": [per sweep, a row of layers_used]}.
    """
    s, kind, n_layers = job["seed"], job["kind"], job["n_layers"]
    tm = trained_model({**job["params"], "seed": s}, kind, n_layers, progress=False)
    out = {"tables": [], "used": []}
    for method, layer, token, ents, hparams in _job_plan(job, tm):
        if method == PAPER_EDITOR:
            edit_fn = _deletion_fn(tm, layer, token)
        else:
            edit_fn = editor_deletion_fn(method, tm, hparams)
        label = _label(job, token)
        out["tables"].append(_sweep_cached(tm, layer, hparams, ents, label, edit_fn, job["progress"], method))
        out["used"].append({"editor": method, **label, "edit_layer": layer})
    return out


def _deletion_fn(tm: TrainedModel, layer: int, token: str):
    hparams = ROMEHyperParams.tiny_gpt2(layer=layer, fact_token=token)
    cov = key_covariance(tm.model, layer, tm.corpus.train_sentences.tolist(), model_id=str(tm.path))
    return deletion_edit_fn(tm.corpus.kg, tm.vocab, hparams, cov)


def sweep_jobs(params: dict, seeds, models: dict, edit_tokens, edit_layer: int | None = None,
               n_trace_facts: int = 50, max_entities: int | None = None, editors=(PAPER_EDITOR,),
               editor_max_entities: int | None = None, progress: bool = False) -> list[dict]:
    """One :func:`model_sweeps` job per seed × trained model: ``models`` is
    {seed: {(kind, n_layers): TrainedModel}} (the models the jobs load from the cache)."""
    return [dict(params=params, seed=s, kind=kind, n_layers=n, edit_tokens=list(edit_tokens), edit_layer=edit_layer,
                 n_trace_facts=n_trace_facts, max_entities=max_entities, progress=progress,
                 editors=list(editors), editor_max_entities=editor_max_entities)
            for s in seeds for (kind, n) in models[s]]


def sweep_tables(outs: list[dict]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The results of :func:`model_sweeps` jobs, in job order, as one table each:
    ({name: DataFrame for name in deletion.SWEEP_TABLES}, layers_used DataFrame)."""
    names = deletion.SWEEP_TABLES
    tables = {k: pd.concat([t[k] for out in outs for t in out["tables"]], ignore_index=True) for k in names}
    return tables, pd.DataFrame([row for out in outs for row in out["used"]])


def run_deletion_experiment(config: DeletionChapterConfig, progress: bool = True) -> DeletionExperiment:
    """Delete one fact per entity for every seed × graph × depth × edit token (module docstring),
    with chapter 5's parameters (``config``, checked when it was built).

    config.edit_tokens: ROME's fact tokens to sweep, each a separate experiment: "subject_last"
    (the paper's and ROME's choice) and/or "last" (the relation token, where the tiny models'
    trace peaks). config.edit_layer: the edited MLP; ``None`` = the layer where the trace at
    that token peaks. config.executor, workers, scheduler: where the grid of models (seeds ×
    graphs × depths) trains and where each model's sweeps run (:func:`kedit_utils.core.jobs.run_jobs`):
    "local" in this process (``workers=1``) or in ``workers`` processes, each with
    ``cpu threads // workers`` torch threads (deepest models first; on 2 cores, 2 one-thread
    workers beat one two-thread process: the v* optimisation of an edit is too small to use two
    threads); "dask" on the cluster at ``scheduler`` or, when it is ``None``, on a local cluster
    of ``workers`` processes. The tables are the same whichever runs them.
    config.editors: methods of :mod:`kedit_utils.editing` that delete (module docstring); ROME is
    always run. config.editor_max_entities: entities each other editor deletes (``None``: all).
    The hub's logit lens and the widget use ROME and the first token of ``edit_tokens``.
    """
    seeds, edit_tokens = list(config.seeds), config.edit_tokens
    grid = dict(executor=config.executor, workers=config.workers, scheduler=config.scheduler)
    here = config.executor == "local" and config.workers == 1
    train_grid([job for s in seeds for job in training_jobs(config.training_params(s), progress=progress and here)],
               progress=progress, **grid)  # every seed's models, before sweeping
    models = {s: trained_models(config.training_params(s), progress=False) for s in seeds}
    jobs = sweep_jobs(config.training_params(), seeds, models, edit_tokens, config.edit_layer, config.n_trace_facts,
                      config.max_entities, config.editors, config.editor_max_entities, progress=progress and here)
    outs = run_jobs(model_sweeps, jobs, desc="model sweeps", progress=progress, cost=lambda job: job["n_layers"],
                    is_cached=lambda job: _job_cached(job, models[job["seed"]][(job["kind"], job["n_layers"])]),
                    **grid)
    exp = DeletionExperiment(*(pd.DataFrame() for _ in range(4)))
    tables, exp.layers_used = sweep_tables(outs)
    exp.entities, exp.by_hop, exp.by_relation = tables["entities"], tables["by_hop"], tables["by_relation"]
    exp.by_margin = tables["by_margin"]
    first = edit_tokens[0]
    for row in (row for out in outs for row in out["used"]):  # the first seed's models, ROME at the first token
        if row["editor"] != PAPER_EDITOR or row["seed"] != seeds[0] or (first is not None and row["edit_token"] != first):
            continue
        if (row["graph"].lower(), row["layers"]) in exp.lens:
            continue
        tm = models[seeds[0]][(row["graph"].lower(), row["layers"])]
        edit_fn = _deletion_fn(tm, row["edit_layer"], row["edit_token"])
        exp.lens[(row["graph"].lower(), row["layers"])] = _lens_after_hub_deletion(tm, edit_fn)
        if exp.panel_model is None or row["graph"] == "BA":
            exp.panel_model, exp.panel_corpus, exp.panel_edit_fn = tm.model, tm.corpus, edit_fn
    return exp


def _lens_after_hub_deletion(tm: TrainedModel, edit_fn) -> dict:
    """Logit lens on the deleted prompt after deleting the highest-degree entity's fact."""
    kg, c = tm.corpus.kg, tm.corpus
    hub = int(np.argmax(np.where(kg.out_degree > 0, kg.degree, -1)))
    triple = deletion.deletion_fact(kg, hub)
    restore = edit_fn(tm.model, triple, (0, 0))
    try:
        probs = entity_probs_by_layer(tm.model, c.prompts[c.prompts_of_triple(triple)[:1]], c.vocab)[0]
    finally:
        restore()
    return {"entity": hub, "old_object": int(kg.triples[triple, 2]), "deleted": kg.n_entities, "probs": probs}
