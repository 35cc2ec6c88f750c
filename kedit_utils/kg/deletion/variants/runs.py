"""Chapter 5's setup variants, their sweeps (issue 12 §2; Paper A §4): :func:`run_variants` runs
every variant's deletion sweep (:func:`kedit_utils.kg.deletion.impact.deletion_sweep`) on the
models of one or more depths, both graphs, as jobs of :func:`kedit_utils.core.jobs.run_jobs` (in
this process, local workers or Dask); each sweep (:func:`variant_job`) is cached in the artifact
cache under every input (model, site, ROME settings, entities, variant), and variants that share
a sweep (``prompts``) share its cache entry. :func:`check_graphs` builds every variant's graph
before any work.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from kedit_utils.core import cache
from kedit_utils.core.jobs import run_jobs
from kedit_utils.core.validation import ParameterError, check_int
from kedit_utils.editing.rome import functional as rome_functional
from kedit_utils.editing.rome.covariance import key_covariance
from kedit_utils.editing.rome.hparams import ROMEHyperParams
from kedit_utils.kg.deletion import impact as deletion
from kedit_utils.kg.deletion.requests import graph_request
from kedit_utils.kg.deletion.sweep import edit_sites, pick_entities
from kedit_utils.kg.deletion.variants.definitions import (
    Variant,
    fixed_relation,
    model_params,
    stand_in_target,
)
from kedit_utils.kg.graphs import DELETED_ENTITY, build_graph
from kedit_utils.kg.trained_models import graph_spec, trained_model
from kedit_utils.kg.vocabulary import hf_tokenizer

ARTIFACT_KIND = "deletion-variant"


def _hparams(variant: Variant, layer: int) -> ROMEHyperParams:
    rome = dict(variant.rome)
    if rome.get("v_loss_layer") == "edit":
        rome["v_loss_layer"] = layer
    return ROMEHyperParams.tiny_gpt2(layer=layer, fact_token=variant.token, **rome)


def variant_edit_fn(tm, variant: Variant, hparams: ROMEHyperParams):
    """``edit_fn(model, triple, aliases) -> restore`` for :func:`kedit_utils.kg.deletion.impact.deletion_sweep`:
    ROME's edit of ``triple`` to the variant's target, with its key (one alias or all)."""
    kg, vocab = tm.corpus.kg, tm.vocab
    tok = hf_tokenizer(vocab)
    cov = key_covariance(tm.model, hparams.layer, tm.corpus.train_sentences.tolist(), tok,
                         n_samples=hparams.mom2_n_samples, model_id=str(tm.path))

    def edit_fn(model, triple: int, aliases=(0, 0)):
        s, r, _o = (int(x) for x in kg.triples[triple])
        target = DELETED_ENTITY if variant.target == "untrained" else stand_in_target(kg, triple)
        req = graph_request(kg, vocab, s, r, target, subject_alias=aliases[0], relation_alias=aliases[1],
                            all_subject_aliases=variant.all_aliases)
        result = rome_functional.edit(model, tok, req, hparams, cov)
        return lambda: rome_functional.restore(model, result)

    return edit_fn


def variant_job(job: dict) -> dict[str, pd.DataFrame]:
    """One variant's sweep on one graph (the unit of :func:`run_variants`), cached.

    job: params (the chapter's training parameters), variant (a :class:`Variant`), kind,
    n_layers, max_entities, trained_epochs, n_trace_facts, progress. Returns the sweep's
    entities / by_hop / by_relation tables, each row labelled with graph, layers, seed and
    the variant's sweep key (``sweep``)."""
    variant, kind, n_layers = job["variant"], job["kind"], job["n_layers"]
    params = model_params(job["params"], variant, job["trained_epochs"])
    tm = trained_model(params, kind, n_layers, progress=False)
    kg = tm.corpus.kg
    layer = variant.layer if variant.layer is not None else \
        edit_sites(tm, [variant.token], job["n_trace_facts"], params["seed"])[0][0]
    check_int("layer", layer, maximum=n_layers - 1)
    hparams = _hparams(variant, layer)
    entities = pick_entities(kg.degree, job["max_entities"])
    relation = fixed_relation(kg) if variant.fact == "fixed" else None
    label = {"graph": kind.upper(), "layers": n_layers, "seed": params["seed"], "edit_token": variant.token,
             "edit_layer": layer}
    key = {**variant.sweep_key(), "layer": layer}  # a fixed layer equal to the traced one: the same sweep
    inputs = {"model": str(tm.path), "hparams": hparams.to_dict(), "entities": entities.tolist(),
              "variant": key, "relation": relation, "label": label}
    version = cache.code_version(sys.modules[__name__])  # this module and its kedit_utils imports

    def build(tmp: Path) -> None:
        target_of = None if variant.target == "untrained" else (lambda t: stand_in_target(kg, t))
        res = deletion.deletion_sweep(tm.model, tm.corpus, variant_edit_fn(tm, variant, hparams), entities,
                                      job["progress"], label, relation=relation, target_of=target_of)
        for name in deletion.SWEEP_TABLES:
            getattr(res, name).to_csv(tmp / f"{name}.csv", index=False)

    path = cache.cached(ARTIFACT_KIND, inputs, version, build)
    return {name: pd.read_csv(path / f"{name}.csv") for name in deletion.SWEEP_TABLES}


def run_variants(params: dict, variants, kinds=("er", "ba"), n_layers: int | list[int] = 6,
                 max_entities: int | None = 40, trained_epochs: int = 100, n_trace_facts: int = 40,
                 executor: str = "local", workers: int = 1, scheduler: str | None = None, progress: bool = True,
                 seeds: list[int] | None = None, layers_name: str = "variant_layers") -> dict[str, pd.DataFrame]:
    """Every variant's sweep on the ``n_layers``-layer model of each graph in ``kinds``.

    params: the chapter's training parameters (seed included). variants: :class:`Variant` s.
    n_layers: one depth, or a list (each variant at every depth). seeds: the pipeline's
    seeds to sweep (``None``: ``params["seed"]`` alone); with several seeds and depths this
    is issue 12 §4's Table 2 of a variant (the rule) with intervals across seeds.
    max_entities: entities per sweep, spread over the degree order (``None``: all).
    trained_epochs: the epochs of ``training="epochs"``. executor / workers / scheduler:
    :func:`kedit_utils.core.jobs.run_jobs`. layers_name: the parameter ``n_layers`` came from (for
    its error message). Returns the entities / by_hop / by_relation tables of all sweeps
    with a ``variant`` column (rows carry graph, layers and seed); variants sharing a sweep
    share its rows."""
    variants = list(variants)
    depths = list(n_layers) if isinstance(n_layers, (list, tuple)) else [n_layers]
    if not depths:
        raise ParameterError(layers_name, n_layers, "must name at least one depth")
    depths = [check_int(layers_name, n, minimum=1) for n in depths]
    seeds = [params["seed"]] if seeds is None else [check_int("seeds", int(s), minimum=0) for s in seeds]
    if not seeds:
        raise ParameterError("seeds", seeds, "must name at least one seed")
    check_int("trained_epochs", trained_epochs, minimum=1)
    if max_entities is not None:
        check_int("variant_entities", max_entities, minimum=3)
    for v in variants:
        if v.layer is not None:
            check_int(f"variant {v.name!r} layer", v.layer, maximum=min(depths) - 1)
    for s in seeds:
        check_graphs({**params, "seed": s}, variants, kinds)
    sweeps: dict[str, Variant] = {}
    for v in variants:  # one sweep per distinct sweep key
        sweeps.setdefault(repr(sorted(v.sweep_key().items())), v)
    keys = list(sweeps)
    jobs = [dict(params={**params, "seed": s}, variant=sweeps[k], kind=kind, n_layers=n, max_entities=max_entities,
                 trained_epochs=trained_epochs, n_trace_facts=n_trace_facts, progress=False)
            for k in keys for s in seeds for n in depths for kind in kinds]
    outs = run_jobs(variant_job, jobs, executor=executor, workers=workers, scheduler=scheduler,
                    desc="variant sweeps", progress=progress,
                    cost=lambda j: j["n_layers"] * (1 + (j["variant"].orientation == "both")
                                                    + (j["variant"].training == "epochs")))
    by_key = {}
    for job, out in zip(jobs, outs):
        by_key.setdefault(repr(sorted(job["variant"].sweep_key().items())), []).append(out)
    tables = {}
    for name in deletion.SWEEP_TABLES:
        parts = []
        for v in variants:
            for out in by_key[repr(sorted(v.sweep_key().items()))]:
                parts.append(out[name].assign(variant=v.name))
        tables[name] = pd.concat(parts, ignore_index=True)
    return tables


def check_graphs(params: dict, variants, kinds) -> None:
    """Build every variant's graph before any work: a both-directions graph whose hub has
    more facts than there are relations fails here (``ParameterError`` naming n_relations)."""
    for orientation in sorted({v.orientation for v in variants}):
        for kind in kinds:
            build_graph(graph_spec({**params, "orientation": orientation}, kind))
