"""Hand-made results files, one per chapter (01-07), that follow the chapters' schemas and give
scorecard rows for every paper: the unit tests' stand-in for a built book's ``results/``.
Chapter 5's example has no rule or stored tables (the tests that need them add theirs)."""
import copy
import json

from kedit_utils.kg.paper_numbers import PAPER_A_TABLE1, PAPER_A_TABLE2
from kedit_utils.propagation.paper_numbers import PAPER_B_TABLE1

_INTERVAL = {"pearson": 0.2, "ci_low": 0.1, "ci_high": 0.35, "seeds_low": None, "seeds_high": None, "n_seeds": 1}

_EXAMPLES = {
    "01_knowledge_graphs": {
        "graphs": [{"graph": g, "entities": 200, "relations": 50, "triples": 591, "mean degree": 5.9,
                    "max degree": d, "min degree": 3, "std degree": 4.1, "clustering": 0.05}
                   for g, d in (("ER", 14), ("BA", 61))],
        "corpus": [{"graph": g, "sample_fraction": f, "triples": 591, "all sentences": 73875,
                    "training sentences": round(73875 * f), "prompts": 14775, "seen prompts": 9000,
                    "unseen prompts": 5775, "vocabulary": 1253}
                   for g in ("ER", "BA") for f in (0.2, 0.02)],
    },
    "02_training": {
        "table1": [{"graph": g, "layers": n, "acc_train": 0.999, "acc_all": 0.998, "acc_unseen": 0.97,
                    "seconds": 120.0, "epochs": 40.0} for g, n in PAPER_A_TABLE1],
    },
    "03_embeddings_pca": {
        "clustering": [{"graph": g, "kind": k, "sample_fraction": f, "score": 0.7 if f == 0.2 else 0.1,
                        "nn_recall": 0.9 if f == 0.2 else 0.1}
                       for g in ("ER", "BA") for k in ("entity", "relation") for f in (0.2, 0.02)],
    },
    "04_causal_tracing": {
        "tracing": [{"graph": g, "layers": 6, "kind": k, "peak_layer": 0, "peak_token": "subject_last",
                     "peak_effect": 0.4} for g in ("ER", "BA") for k in ("hidden", "mlp", "attn")],
        "rome_demos": [{"model": "GPT-2 BA 6L", "prompt": "e1_0 r2_3", "target_new": "e7_0", "before": "e5_1",
                        "after": "e7_0", "seconds": 0.5}],
    },
    "05_deletion_impact": {
        "edit_token": "subject_last",
        "table2": [{"editor": "rome", "graph": g, "layers": n, "spearman": 0.2, "n": 40, **_INTERVAL}
                   for g, n in PAPER_A_TABLE2],
        "table3": [{"graph": g, "layers": n, "max": 0.5, "min": 0.0, "mean": 0.06, "std": 0.1}
                   for g, n in PAPER_A_TABLE2],
        "entities": [{"graph": "BA", "layers": 6, "seed": 0, "entity": 3, "degree": 12, "impact": 0.01,
                      "side_effect": 0.0, "deleted_ok": True}],
        "decomposition": [{"graph": "BA", "layers": 6, "part": "own", "mean": 0.3, "corr_with_degree": 0.5}],
        "variants": [{"variant": "paper", "orientation": "subject", "graph": "BA", "layers": 6, "pearson": 0.5,
                      "spearman": 0.4, "ci_low": 0.3, "ci_high": 0.7, "mean_impact": 1.0, "max_impact": 5.0,
                      "own_share": 0.5, "far_share": 0.1, "deleted_ok": 0.9, "n_seeds": 1}],
        "edit_effects": [{"setup": "paper", "scale": "this build", "deleted_ok": 0.9, "mean_impact": 1.0,
                          "kept": 0.99, "n": 40}],
    },
    "06_meta_learning_propagation": {
        "table1": [{"scope": s, "split": sp, "layers": "8", "acc_base": 0.0, "acc_meta": 0.5 if sp == "id" else 0.05,
                    "gain": 0.5 if sp == "id" else 0.05, "n": 100} for s, sp in PAPER_B_TABLE1],
        "table2": [{"method": m, "cre_ood": acc, "mquake": acc, "mquake_subset": acc, "seconds_per_edit": 1.0, "n": 100,
                    "n_mquake": 100, "n_mquake_subset": 50}
                   for m, acc in (("meta", 0.40), ("ft", 0.40), ("rome", 0.10), ("memit", 0.0), ("alphaedit", 0.38))],
        "data": {"model": "SmolLM2-135M-Instruct", "chosen_layer": 8, "n_layers": 30, "swept_layers": [2, 8]},
    },
    "07_editing_methods": {
        "methods": [{"model": "KG", "method": "rome", "action": "modify", "n_edits": 2, "reliability": 1.0,
                     "generalization": 0.5, "locality": 0.9, "portability": 0.1, "fluency": None,
                     "seconds_per_edit": 0.2}],
        "findings": [{"model": m, "claim": c, "holds": h, "evidence": "intervals"}
                     for c, per_model in (("ROME and MEMIT succeed at the edit", (True, True)),
                                          ("Erasure is handled poorly", (True, None)))
                     for m, h in zip(("SmolLM2", "KG"), per_model)],
        "data": {"model": "SmolLM2", "facts": 60, "known": 30, "n_edits": 4, "kg_n_edits": 2},
    },
}


def example_results(chapter: str, profile: str = "quick") -> dict:
    """A fresh copy of ``chapter``'s hand-made results, with ``meta`` as ``save_results`` writes it."""
    return {"meta": {"notebook": chapter, "profile": profile}, **copy.deepcopy(_EXAMPLES[chapter])}


CHAPTERS = sorted(_EXAMPLES)


def write_examples(folder, chapters=CHAPTERS) -> None:
    """Write the hand-made results of ``chapters`` to ``folder/<chapter>.json``."""
    for chapter in chapters:
        (folder / f"{chapter}.json").write_text(json.dumps(example_results(chapter)))
