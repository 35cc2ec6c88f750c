"""Paper A: knowledge deletion vs knowledge-graph structure.

GPT-2 models trained from scratch on synthetic Erdős–Rényi and Barabási–Albert knowledge
graphs with aliases (§3.1–3.2): the graphs (:mod:`.graphs`), their alias vocabulary
(:mod:`.vocabulary`) and corpus (:mod:`.corpus`), the model (:mod:`.gpt2`), its training
(:mod:`.training`) and alias accuracy (:mod:`.alias_accuracy`), the models the chapters share
(:mod:`.trained_models`); PCA of the embeddings (:mod:`.embeddings`, Figs. 3 and 5), causal
tracing (:mod:`.tracing`, Fig. 6), the logit lens (:mod:`.logit_lens`); ROME deletion of one
fact per entity and its impact against degree (:mod:`.deletion`, Fig. 4, Tables 2–3).
The numbers the paper reports are in :mod:`.paper_numbers`.

Papers B and C use this package's graphs and trained models (chapter 6's graph section,
chapter 7's KG study); this package uses only ``core`` and ``editing``.
"""
