"""Sequential deletions (issue 12 §5, beyond Paper A; the public implementation studies it).

Paper A deletes one fact, measures, and restores. Here the deletions *accumulate* on one
model: entities are taken in order of degree (``"high"`` first, ``"low"`` first, or a seeded
``"random"`` order), one fact of each is deleted (the ROME edit of chapter 5, to
``<deleted>``), and the accuracy over all knowledge (every alias prompt of every fact, the
deleted facts included) is measured after every ``every`` deletions. If hubs carry more
knowledge, deleting them first should lose accuracy faster. The model is restored bit for
bit at the end (the edits undone in reverse order).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kedit_utils.core import cache
from kedit_utils.core.jobs import run_jobs
from kedit_utils.core.validation import check_choice, check_int
from kedit_utils.kg.alias_accuracy import score_prompts
from kedit_utils.kg.deletion.impact import deletion_fact
from kedit_utils.kg.deletion.sweep import _deletion_fn, edit_sites
from kedit_utils.kg.trained_models import trained_model

ORDERS = ("high", "low", "random")
ARTIFACT_KIND = "deletion-sequence"


def deletion_order(degree: np.ndarray, order: str, seed: int = 0) -> np.ndarray:
    """Entity indices in ``order``: by degree descending ("high") or ascending ("low"), ties
    by index, or a permutation drawn from ``seed`` ("random")."""
    check_choice("order", order, ORDERS)
    if order == "random":
        return np.random.default_rng(seed).permutation(degree.size)
    key = -degree if order == "high" else degree
    return np.argsort(key, kind="stable")


def sequential_deletions(model, corpus, edit_fn, entities, every: int = 1, progress: bool = False) -> pd.DataFrame:
    """Delete one fact of each entity in ``entities``, in that order, without restoring in
    between; then restore every edit (reverse order).

    edit_fn: as for :func:`kedit_utils.kg.deletion.impact.deletion_sweep` (returns a restore callable).
    Returns one row per measurement: ``deleted`` (edits so far, 0 = before any), ``accuracy``
    over all knowledge, the accuracy on the facts not deleted (``accuracy_kept``) and the
    share of the deleted facts' prompts still answering their old object (``old_kept``).
    Entities with no fact as subject are skipped (not counted as deletions)."""
    check_int("every", every, minimum=1)
    kg, vocab = corpus.kg, corpus.vocab
    restores, deleted_prompts = [], np.zeros(corpus.prompts.shape[0], dtype=bool)

    def measure(n: int) -> dict:
        s = score_prompts(model, corpus.prompts, corpus.prompt_object, vocab)
        kept = ~deleted_prompts
        return {"deleted": n, "accuracy": float(s.correct.mean()),
                "accuracy_kept": float(s.correct[kept].mean()) if kept.any() else float("nan"),
                "old_kept": float(s.correct[deleted_prompts].mean()) if deleted_prompts.any() else float("nan")}

    rows = [measure(0)]
    try:
        for e in tqdm(list(entities), desc="sequential deletions", disable=not progress, mininterval=2):
            triple = deletion_fact(kg, int(e))
            if triple is None:
                continue
            restores.append(edit_fn(model, triple, (0, 0)))
            deleted_prompts[corpus.prompts_of_triple(triple)] = True
            if len(restores) % every == 0:
                rows.append(measure(len(restores)))
        if len(restores) % every:
            rows.append(measure(len(restores)))
    finally:
        for restore in reversed(restores):
            restore()
    return pd.DataFrame(rows)


def sequence_curves(tm, edit_fn, n_deletions: int, every: int, seed: int, orders=ORDERS) -> pd.DataFrame:
    """:func:`sequential_deletions` of the first ``n_deletions`` entities of each order on
    one trained model, cached (key: the model, the orders, the counts, the seed and this
    module's import closure, which holds the editors' code: ``edit_fn`` comes from
    :mod:`.sweep`, and the registry names every editor). Rows gain ``order``."""
    check_int("sequence_deletions", n_deletions, minimum=1)
    orders = list(orders)
    for o in orders:
        check_choice("orders", o, ORDERS)
    inputs = {"model": str(tm.path), "orders": list(orders), "n": n_deletions, "every": every, "seed": seed}

    def build(tmp: Path) -> None:
        parts = []
        for order in orders:
            ents = deletion_order(tm.corpus.kg.degree, order, seed)[:n_deletions]
            parts.append(sequential_deletions(tm.model, tm.corpus, edit_fn, ents, every).assign(order=order))
        pd.concat(parts, ignore_index=True).to_csv(tmp / "curves.csv", index=False)

    version = cache.code_version(sys.modules[__name__])  # this module and its kedit_utils imports
    path = cache.cached(ARTIFACT_KIND, inputs, version, build)
    return pd.read_csv(path / "curves.csv")


def sequence_job(job: dict) -> pd.DataFrame:
    """One graph's curves (the unit of :func:`run_sequences`): job has params, kind,
    n_layers, n_deletions, every, n_trace_facts. ROME deletes at chapter 5's site (the
    traced layer, the subject token) with the model's key covariance."""
    params = job["params"]
    tm = trained_model(params, job["kind"], job["n_layers"], progress=False)
    layer, token = edit_sites(tm, ["subject_last"], job["n_trace_facts"], params["seed"])[0]
    curves = sequence_curves(tm, _deletion_fn(tm, layer, token), job["n_deletions"], job["every"], params["seed"])
    return curves.assign(graph=job["kind"].upper(), layers=job["n_layers"])


def run_sequences(params: dict, kinds, n_layers: int, n_deletions: int, every: int, n_trace_facts: int,
                  executor: str = "local", workers: int = 1, scheduler: str | None = None,
                  progress: bool = True) -> pd.DataFrame:
    """:func:`sequence_job` for each graph in ``kinds`` (:func:`kedit_utils.core.jobs.run_jobs`)."""
    check_int("sequence_every", every, minimum=1)
    check_int("sequence_deletions", n_deletions, minimum=1)
    jobs = [dict(params=params, kind=k, n_layers=n_layers, n_deletions=n_deletions, every=every,
                 n_trace_facts=n_trace_facts) for k in kinds]
    outs = run_jobs(sequence_job, jobs, executor=executor, workers=workers, scheduler=scheduler,
                    desc="sequential deletions", progress=progress)
    return pd.concat(outs, ignore_index=True)
