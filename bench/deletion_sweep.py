"""Benchmark: seconds per deleted entity at paper scale, and the projected full sweep.

Paper A §4 deletes one fact for each of 200 entities × 2 graphs × 3 depths. This script
times :func:`kedit_utils.kg.deletion.impact.deletion_sweep` (ROME edit + evaluation of every prompt +
exact restore) on the paper-scale BA corpus (200 entities, 50 relations, 5 aliases, 20 %)
with the paper profile's architecture (width 128) for each depth, and projects the total.

By default the models are freshly initialised: the cost of an evaluation depends on the
architecture, not on the weights, but v* may stop early on a trained model, so that
projection is an upper bound. ``--trained`` uses chapter 2's paper-profile BA models instead
(from the artifact cache; trained first when missing), the models the sweep really edits.
``--fact-token`` picks ROME's key token (default the paper's, ``subject_last``). ``--threads`` sets torch's CPU threads (default: torch's, the whole machine).
Usage: ``python bench/deletion_sweep.py [--entities 8] [--depths 6 12 24] [--threads 2] [--trained]``.
"""
from __future__ import annotations

import argparse
import time

import torch

from kedit_utils.book.profiles import TRAINING
from kedit_utils.editing.rome.covariance import key_covariance
from kedit_utils.editing.rome.hparams import ROMEHyperParams
from kedit_utils.kg.alias_accuracy import score_prompts
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.deletion.impact import deletion_sweep
from kedit_utils.kg.deletion.requests import deletion_edit_fn
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.graphs import GraphSpec, build_graph
from kedit_utils.kg.trained_models import trained_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=8, help="entities timed per depth")
    ap.add_argument("--depths", type=int, nargs="+", default=[6, 12, 24])
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--trained", action="store_true", help="chapter 2's trained paper-profile BA models")
    ap.add_argument("--fact-token", default="subject_last", choices=["subject_last", "last"])
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    kg = build_graph(GraphSpec(kind="ba", n_entities=200, n_relations=50, ba_m=3, seed=0))
    corpus = alias_corpus(kg, n_aliases=5, sample_fraction=0.2, seed=0)
    print(f"torch threads: {torch.get_num_threads()}; prompts evaluated per deletion: {corpus.prompts.shape[0]}")
    total = 0.0
    print(f"{'layers':>6} {'edit+eval s/entity':>19} {'cov s':>6} {'base eval s':>12} "
          f"{'200 entities x 2 graphs (min)':>30}")
    params = {**TRAINING["paper"], "seed": 0, "device": "cpu"}
    for depth in args.depths:
        if args.trained:
            tm = trained_model(params, "ba", depth)
            model, corpus, kg = tm.model, tm.corpus, tm.corpus.kg
        else:
            model = gpt2_from_scratch(corpus.vocab, ModelSpec(n_layers=depth, n_embd=args.width, n_head=4), seed=0)
        t0 = time.perf_counter()
        cov = key_covariance(model, 0, corpus.train_sentences.tolist(), cache=False)
        cov_s = time.perf_counter() - t0
        hp = ROMEHyperParams.tiny_gpt2(layer=0, fact_token=args.fact_token)
        edit_fn = deletion_edit_fn(kg, corpus.vocab, hp, cov)
        ents = list(range(args.entities))
        deletion_sweep(model, corpus, edit_fn, ents[:1], progress=False)  # warm-up
        t0 = time.perf_counter()
        score_prompts(model, corpus.prompts, corpus.prompt_object, corpus.vocab)
        base_s = time.perf_counter() - t0  # the sweep's one unedited evaluation
        res = deletion_sweep(model, corpus, edit_fn, ents, progress=False)
        per = float(res.entities["seconds"].mean())  # edit + evaluation + restore, per entity
        projected = (per * 200 + cov_s + base_s) * 2
        total += projected
        print(f"{depth:>6} {per:>19.3f} {cov_s:>6.2f} {base_s:>12.2f} {projected / 60:>30.1f}", flush=True)
    print(f"projected paper-scale sweep (one seed, both graphs, all depths): {total / 60:.1f} min")


if __name__ == "__main__":
    main()
