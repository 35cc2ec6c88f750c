"""The numbers Paper B reports (FOMAML so that edits propagate), for the "paper" columns
beside each measured table.

These are quotations of the publications (``../shared/PAPERS.md``, originals in
``../shared/seeds/``), never results of this project: every measured number in the book is
computed by the run that built it.
"""
from __future__ import annotations

# Paper B (FOMAML so that edits propagate; Llama3-8B-Instruct), Table 1: all layers updated,
# accuracy % after the FT edit on the meta-trained model, and its gain over the base model
# (scope, split) -> (accuracy, gain).
PAPER_B_TABLE1 = {
    ("attn", "id"): (18.6, 11.8), ("attn", "ood"): (2.1, 1.6),
    ("mlp", "id"): (71.6, 65.9), ("mlp", "ood"): (6.3, 6.3),
    ("attn+mlp", "id"): (52.5, 46.6), ("attn+mlp", "ood"): (5.7, 5.7),
}

# Paper B, Fig. 2 / §4: the layer chosen for single-layer (Attn+MLP) updates, per model;
# shallow layers give the best OOD accuracy.
PAPER_B_LAYERS = {"Llama3-8B": 9, "Llama3-3B": 7, "Llama3-1B": 5, "Llama2-7B": 7, "Qwen2.5-7B": 7, "GPT2-XL": 14}
PAPER_B_LAYER_COUNTS = {"Llama3-8B": 32, "Llama3-3B": 28, "Llama3-1B": 16, "Llama2-7B": 32, "Qwen2.5-7B": 28,
                        "GPT2-XL": 48}

# Paper B, Table 2: CRE OOD % / MQuAKE % / MQuAKE-subset % / seconds per edit (None: not reported).
PAPER_B_TABLE2 = {
    "rome": (12.9, 16.2, 50.2, 9.13), "memit": (1.7, 7.7, 9.4, 9.51), "alphaedit": (5.1, 9.7, 37.6, 16.2),
    "cake": (None, 52.4, 23.9, 45.8), "ft": (17.4, 28.6, 36.2, 1.61), "meta": (47.1, 49.2, 73.2, 1.68),
}
