"""Run profiles: "quick" (the small CPU default the book is built with) and "paper" (the
paper's scale). A chapter's ``parameters`` cell holds literals; a parameter left ``None`` takes
its value from the profile, so ``-p profile paper`` alone switches a chapter to paper scale
and any explicitly given parameter still wins.

Every difference between the two profiles is listed here, and each chapter shows the
resolved table, so the book says how its numbers were produced.
"""
from __future__ import annotations

from typing import Any

from kedit_utils.core.validation import ParameterError, check_choice

PROFILE_NAMES = ("quick", "paper")

# The trained models of chapters 2-5 (kedit_utils.kg.trained_models.TRAINING_KEYS): chapters 3-5 use
# the same values so they load chapter 2's models from the cache. Measured choices:
# * paper: the paper's graph and corpus; width 128. A depth d trains with
#   lr * (6 / d) ** lr_depth_exponent: deeper models reach the target in fewer steps with a
#   smaller rate (12 layers: 675 steps at 1e-3 vs 450 at 7e-4; 24 layers: 1275 vs 700 at 5e-4).
#   threads None: torch's default (the whole machine).
# * target_accuracy: training stops once the training accuracy and the held-out estimate of
#   the all-data accuracy both reach it. At .99 the measured all-data accuracy landed on
#   either side of the paper's .99 (BA 12 layers: .9899), so the stop asks for .995.
# * quick: |E| = 100, |R| = 25, width 32, so the six models train in minutes on 2 CPU cores;
#   one torch thread (at this width a second thread only adds synchronisation).
TRAINING = {
    "quick": dict(
        n_entities=100, n_relations=25, ba_m=3, n_aliases=5, sample_fraction=0.2,
        layers=[6, 12, 24], n_embd=32, n_head=2, lr=2e-3, batch_size=256, max_epochs=300,
        weight_decay=0.0, warmup=50, objective="sampled", lr_depth_exponent=0.0, threads=1,
        target_accuracy=0.995,
    ),
    "paper": dict(
        n_entities=200, n_relations=50, ba_m=3, n_aliases=5, sample_fraction=0.2,
        layers=[6, 12, 24], n_embd=128, n_head=4, lr=1e-3, batch_size=256, max_epochs=300,
        weight_decay=0.0, warmup=50, objective="sampled", lr_depth_exponent=0.5, threads=None,
        target_accuracy=0.995,
    ),
}


GRID = dict(executor="local", scheduler=None)


def _with_training(quick: dict, paper: dict) -> dict[str, dict[str, Any]]:
    return {"quick": {**TRAINING["quick"], **quick}, "paper": {**TRAINING["paper"], **paper}}


# Chapter 6 beyond the paper (kedit_utils.propagation.kg_model): Paper B's experiment on chapter 1's
# graph (both profiles: its 200 entities, 50 relations, m = 3) with a from-scratch GPT-2 trained
# on its facts and composed 2-hop questions. quick: 2 layers of width 64 (at target in 20 epochs,
# about 10 s on 2 cores; 4 x 128 took 100 s; the whole section 28 s of a cold build), 400 new
# entities (300 meta-training tasks, 100 evaluation cases), α 1e-3 (1e-2 broke two thirds of the
# other facts), β 3e-4, one epoch (three epochs at β 3e-3 fitted the training entities, 78 %,
# and lowered the held-out ones). paper: a larger model and more new entities, same rates.
KG_TWO_HOP = {
    "quick": dict(kg_graph="ba", kg_entities=200, kg_relations=50, kg_ba_m=3, kg_new=400, kg_layers=2, kg_embd=64, kg_alpha=1e-3, kg_beta=3e-4, kg_epochs=1,
                  kg_locality=50),
    "paper": dict(kg_graph="ba", kg_entities=200, kg_relations=50, kg_ba_m=3, kg_new=2000, kg_layers=4, kg_embd=128, kg_alpha=1e-3, kg_beta=3e-4, kg_epochs=1,
                  kg_locality=200),
}

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "01_knowledge_graphs": {
        "quick": dict(n_entities=200, n_relations=50, ba_m=3, n_aliases=5),
        "paper": dict(n_entities=200, n_relations=50, ba_m=3, n_aliases=5),
    },
    # Where the grids of jobs run (kedit_utils.core.jobs): executor "local" (this process, or `workers`
    # processes) or "dask" (the cluster at `scheduler`, or a local cluster of `workers` processes
    # when it is None); the same in both profiles, chosen on the command line.
    # quick: the models (one torch thread each) train two at a time on the 2 cores; paper: one at
    # a time on every thread (threads None)
    "02_training": _with_training(dict(workers=2, **GRID), dict(workers=1, **GRID)),
    "03_embeddings_pca": _with_training(
        dict(appendix_fraction=0.02, pca_layers=6, n_show=6, workers=2),
        dict(appendix_fraction=0.02, pca_layers=6, n_show=6, workers=1),
    ),
    "04_causal_tracing": _with_training(
        dict(n_trace_facts=40, n_noise_samples=5),
        dict(n_trace_facts=200, n_noise_samples=10),
    ),
    # editors: Paper A's future work, other deleting methods beside ROME (always run), each on
    # editor_max_entities entities spread over the degree order.
    # variants (issue 12): every setup variant of kedit_utils.kg.deletion.variants on the
    # variant_layers-layer models; quick: 16 entities per sweep and 20 epochs for the trained-on
    # models (the peer's 100 at paper scale), sized to fit the book's budget: at 20 entities, and
    # 12 for the other editors, the grid took 285 s and the chapter 630 s of a cold build of
    # 25 min 18 s at 7c59183. sequence_*: the
    # deletions that accumulate (kedit_utils.kg.deletion.sequence), per degree order.
    # rule_layers (issue 12 §4): Table 2 under the rule's setup at these depths, every seed. quick:
    # the variants' depth, so its one sweep is the rule variant's (no extra work). paper: 6 and 12
    # layers, the depths of the paper's criterion (BA r >= .8 at 6 and 12 layers); the rule's
    # models train 100 epochs on both directions of every edge, measured 18 min (6 layers) and
    # 28 min (12 layers) each on one core here (seed 2 at 286447c), roughly twice that at 24
    # layers (`-p rule_layers "[6, 12, 24]"`).
    # paper variants: 60 entities per sweep (as the other editors), so the ~20 variant sweeps take
    # about an hour on two workers instead of three.
    "05_deletion_impact": _with_training(
        dict(seeds=[0], n_trace_facts=40, workers=2, editors=["rome", "memit", "ft_l"], editor_max_entities=10,
             variants=None, variant_layers=6, variant_entities=16, trained_epochs=20, sequence_deletions=24,
             sequence_every=3, rule_layers=[6], **GRID),
        dict(seeds=[0, 1, 2], n_trace_facts=200, workers=2, editors=["rome", "memit", "ft_l"],
             editor_max_entities=60, variants=None, variant_layers=6, variant_entities=60, trained_epochs=100,
             sequence_deletions=100, sequence_every=5, rule_layers=[6, 12], **GRID),
    ),
    # The survey's comparison (chapter 7): on the pretrained model `methods` × n_edits per action
    # (quick: one or two methods per family, 3 edits: an edit and its scoring take ~5 s on this
    # CPU, as many as the survey's findings need: ROME, MEMIT, FT-L, ICE, and SERAC for the
    # memory-based family), on chapter 2's BA
    # model every method (kg_methods, kg_n_edits; a fraction of a second an edit), where
    # sequential editing and reversibility run too; the two side by side (workers=2).
    # paper: every method on both, KnowEdit-like counts; sequential editing on 500 of the paper
    # graph's 591 facts (1000 asked for more facts than the graph has).
    "07_editing_methods": _with_training(
        dict(methods=["rome", "memit", "ft_l", "ice", "serac"], n_edits=3,
             kg_methods=["rome", "memit", "alphaedit", "ft", "ft_l", "lora", "ice", "ike", "serac", "mend"],
             kg_n_edits=10,
             sequential_edits=100, reversibility_edits=5, fluency_tokens=10, covariance_texts=1000,
             n_trace_facts=40, workers=2),
        dict(methods=["rome", "memit", "alphaedit", "ft", "ft_l", "lora", "ice", "ike", "serac", "mend"],
             n_edits=100,
             kg_methods=["rome", "memit", "alphaedit", "ft", "ft_l", "lora", "ice", "ike", "serac", "mend"],
             kg_n_edits=100,
             sequential_edits=500, reversibility_edits=50, fluency_tokens=100, covariance_texts=1000,
             n_trace_facts=200, workers=1),
    ),
    # Paper B (FOMAML, chapter 6). paper: Paper B's values (α 2e-5, β 1e-5, 10 inner steps, 1
    # epoch, 4,000 / 500 / 350 CRE cases, all-layer scopes for Table 1, every layer for Fig. 2;
    # a GPU run). quick: sized for ≤ 5 min on 2 CPU cores with one torch thread (measured on
    # SmolLM2-135M: ~3 s per meta-training task and ~4 s per FT edit + answers with one layer
    # trained, ~15 s with all 30; ~7 s per ROME edit): Table 1 on one layer (the model's
    # paper layer) instead of all, a handful of cases, ROME alone as Table 2's locate-then-edit
    # baseline (MEMIT and AlphaEdit on the paper profile), and α, β raised because the paper's
    # values do not move a 135M model in 10 steps (the chapter's α sweep) or in 8 tasks.
    # Measured cold in the whole book: 428 s with the three baselines and 6 training tasks.
    "06_meta_learning_propagation": {
        "quick": dict(n_train=4, n_id=2, n_ood=2, n_mquake=2, n_mquake_subset=2, n_check_countries=8,
                      n_style_cases=1, alphas=[2e-5, 1e-4], n_alpha_cases=1, scopes=["attn", "mlp", "attn+mlp"],
                      table1_layers="layer", sweep_layers=[2, 8], alpha=1e-4, beta=1e-4, inner_steps=10, epochs=1,
                      checkpoint_every=2, baselines=["rome"], n_baseline_cases=1,
                      threads=None, workers=2, **KG_TWO_HOP["quick"]),
        "paper": dict(n_train=4000, n_id=500, n_ood=350, n_mquake=3000, n_mquake_subset=213, n_check_countries=None,
                      n_style_cases=20, alphas=[2e-5, 1e-4, 5e-4], n_alpha_cases=20,
                      scopes=["attn", "mlp", "attn+mlp"], table1_layers="all", sweep_layers="all", alpha=2e-5,
                      beta=1e-5, inner_steps=10, epochs=1, checkpoint_every=500,
                      baselines=["rome", "memit", "alphaedit"], n_baseline_cases=None, threads=None, workers=1,
                      **KG_TWO_HOP["paper"]),
    },
}

COMMON = ("seed", "device")


def profile_table(notebook: str) -> dict[str, dict[str, Any]]:
    if notebook not in PROFILES:
        raise ParameterError("notebook", notebook, f"must be one of {sorted(PROFILES)}")
    return PROFILES[notebook]


def resolve_parameters(notebook: str, profile: str, given: dict[str, Any]) -> dict[str, Any]:
    """The chapter's parameters: ``given`` values, with ``None`` filled from ``profile``.

    ``given`` is usually the notebook's ``globals()``; only names the profile table or the
    common parameters (seed, device) know are taken. Unknown profile names are an error.
    """
    check_choice("profile", profile, PROFILE_NAMES)
    table = profile_table(notebook)[profile]
    out: dict[str, Any] = {"profile": profile}
    for name in COMMON:
        if name in given:
            out[name] = given[name]
    for name, default in table.items():
        value = given.get(name)
        out[name] = default if value is None else value
    return out


def parameters_frame(params: dict[str, Any], notebook: str):
    """A table of the resolved parameters beside both profiles' values (shown in each chapter)."""
    import pandas as pd

    table = PROFILES.get(notebook, {})
    rows = []
    for name, value in params.items():
        rows.append(
            {
                "parameter": name,
                "this run": repr(value),
                "quick": repr(table.get("quick", {}).get(name, "")) if name in table.get("quick", {}) else "",
                "paper": repr(table.get("paper", {}).get(name, "")) if name in table.get("paper", {}) else "",
            }
        )
    return pd.DataFrame(rows).set_index("parameter")
