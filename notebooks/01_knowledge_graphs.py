# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (kedit)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Synthetic knowledge graphs and the alias corpus
#
# **Reproduces** Paper A §3.1 (the Erdős–Rényi and Barabási–Albert knowledge graphs over
# |E| = 200 entities and |R| = 50 relations, Fig. 2) and §3.2 (five aliases per entity and
# relation, the corpus of 3-word sentences, the 20 % training sample and "all data").
#
# The paper leaves the construction rules open; the ones used here (see
# `kedit_utils.kg.graphs`) are:
#
# 1. **Same size, same number of triples.** BA is `networkx.barabasi_albert_graph(n, m)`;
#    ER is the G(n, M) model with M equal to BA's edge count, so ER vs BA differ in structure
#    only.
# 2. **One triple per edge, balanced direction.** Edges are oriented along an Euler circuit,
#    so each entity is the subject of about half of its edges: every entity of degree ≥ 2 has
#    a fact to delete in chapter 5, and no hub needs more relations than exist.
# 3. **Well-posed relations.** The facts of one subject get distinct relations drawn at
#    random, so each (subject, relation) has exactly one object.
# 4. **Degree** is the number of entities an entity is related to (as subject or object).
# 5. A reserved entity `<deleted>` (in no triple) is the target of deletions (§3.4).

# %% tags=["parameters"]
profile = "quick"  # "quick": small CPU default; "paper": the paper's scale
seed = 0
device = "auto"  # unused here; every chapter takes it
graph_kinds = ["er", "ba"]
n_entities = None  # None: from the profile
n_relations = None
ba_m = None  # BA attachment m; ER gets the same number of edges
er_p = None  # optional ER edge probability instead of matching BA's edge count
n_aliases = None
sample_fraction = 0.2  # the paper's training sample
sample_fraction_appendix = 0.02  # Appendix A's small sample
n_examples = 8

# %% tags=["remove-input"]
from IPython.display import display

from kedit_utils.book import profiles
from kedit_utils.book.figures.graphs import degree_distribution, draw_graphs
from kedit_utils.book.results import glue_figure, glue_number, save_results
from kedit_utils.core.validation import check_fraction
from kedit_utils.kg.chapters import (
    alias_corpora,
    corpus_records,
    corpus_sizes,
    graph_specs,
    graph_statistics,
    statistics_table,
)
from kedit_utils.kg.graphs import build_graph

NOTEBOOK = "01_knowledge_graphs"
cfg = profiles.resolve_parameters(NOTEBOOK, profile, globals())
specs = graph_specs(graph_kinds, cfg["n_entities"], cfg["n_relations"], cfg["ba_m"], er_p, seed)
check_fraction("sample_fraction", sample_fraction)
check_fraction("sample_fraction_appendix", sample_fraction_appendix)
profiles.parameters_frame(cfg, NOTEBOOK)

# %% [markdown]
# (ch1-graphs)=
# ## The two graphs

# %%
graphs = {kind: build_graph(spec) for kind, spec in specs.items()}

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_graphs", draw_graphs(list(graphs.values()), seed=seed))

# %% [markdown]
# ```{glue:figure} fig_graphs
# :name: fig-ch1-graphs
#
# **The two knowledge graphs** (Paper A §3.1 describes them; its Fig. 2 shows the
# knowledge-graph schema). Here: the ER and BA graphs this build generated, node area
# proportional to degree. The BA graph has hubs, the ER graph does not.
# ```

# %% [markdown]
# ## Degree distributions
#
# On log-log axes the BA degrees follow a power law (the theoretical BA distribution
# $P(k) = \frac{2m(m+1)}{k(k+1)(k+2)} \propto k^{-3}$ is drawn dashed) while the ER degrees
# concentrate around their mean like a Poisson distribution.

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_degrees", degree_distribution(list(graphs.values())))

# %% [markdown]
# ```{glue:figure} fig_degrees
# :name: fig-ch1-degrees
#
# **Degree distributions** (the paper chooses BA for its power-law degrees and gives no
# figure). Here: the share of entities of each degree, log-log, with the theoretical BA
# law dashed.
# ```

# %%
stats = graph_statistics(graphs)
display(statistics_table(stats))

# %% tags=["remove-cell"]
for kind, s in stats.items():
    glue_number(f"{kind}_triples", s["triples"])
    glue_number(f"{kind}_max_degree", s["max degree"])
    glue_number(f"{kind}_mean_degree", s["mean degree"], ".2f")

# %% [markdown]
# (ch1-corpus)=
# ## The alias corpus
#
# Every entity and relation has five aliases (`e12_3` is alias 3 of entity 12, `r4_0`
# alias 0 of relation 4). Each triple is written in all $5^3 = 125$ alias combinations
# ("all data"); the training data is a 20 % sample, stratified per triple so that every
# fact is seen and only the alias coverage varies. Appendix A's 2 % sample keeps
# 2 sentences per triple. A *prompt* is the first two words; an *unseen* prompt starts no
# training sentence, so answering it needs the model to recognise aliases.

# %%
corpora = alias_corpora(graphs, cfg["n_aliases"], (sample_fraction, sample_fraction_appendix), seed)
display(corpus_sizes(corpora).T)
main = corpora[(graph_kinds[-1], sample_fraction)]

# %% tags=["remove-cell"]
glue_number("all_sentences", main.sizes()["all sentences"])
glue_number("train_sentences", main.sizes()["training sentences"])
glue_number("unseen_share", (~main.prompt_seen).mean(), ".1%")

# %%
print("\n".join(main.text("train")[:n_examples]))

# %% [markdown]
# The corpus can be exported as text (one sentence per line) for other tools:
# `corpus.export_text("ba_train.txt")`; `kedit_utils.kg.vocabulary.hf_tokenizer(corpus.vocab)`
# is the word-level Hugging Face tokenizer the GPT-2 models of chapter 2 use.

# %% [markdown]
# ## Explore an entity
#
# In Jupyter, pick an entity (sorted by degree) to list its aliases and facts.

# %%
from kedit_utils.book.widgets.graph_explorer import entity_explorer

entity_explorer(main)

# %% tags=["remove-cell"]
save_results(NOTEBOOK, {"graphs": list(stats.values()), "corpus": corpus_records(corpora)}, parameters=cfg)

# %% [markdown]
# ## What this chapter showed
#
# Both graphs hold the same number of triples (ER {glue:text}`er_triples`, BA
# {glue:text}`ba_triples`; mean degree {glue:text}`ba_mean_degree`), so they differ only in
# structure: the largest BA hub has degree {glue:text}`ba_max_degree` against
# {glue:text}`er_max_degree` for ER, the "extremely high-degree entities" the paper
# deletes knowledge about. The corpus has {glue:text}`all_sentences` sentences of which
# {glue:text}`train_sentences` are trained on; {glue:text}`unseen_share` of the prompts never
# occur in training, and chapter 2 measures how well the models answer them. The paper gives
# no graph statistics to compare with beyond |E| = 200 and |R| = 50, which both profiles use.
