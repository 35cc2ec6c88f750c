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
# # 6. Meta-learning so that edits propagate (FOMAML)
#
# **Reproduces** Paper B: instead of a new editing algorithm, the *model* is prepared by
# first-order MAML so that plain fine-tuning (FT) on a new fact also updates the knowledge
# that depends on it. A task is (target, related): the inner loop fine-tunes on the new fact
# ("Smith Innovation PLC's global headquarters was located in Greece") with AdamW at rate α
# for a few steps; the outer loop takes the gradient of the related question's loss ("the
# currency of the country that hosted ...") at the inner-loop weights and applies it to the
# original weights with AdamW at rate β. Then a new fact is edited in by the same plain FT.
# The chapter reproduces **Table 1** (which parameters to meta-train: attention, MLP or both;
# in-distribution and out-of-distribution), **Fig. 2** (single-layer updates, OOD accuracy by
# layer), **Fig. 3** (accuracy against meta-training tasks seen) and **Table 2** (the
# meta-trained model against FT, ROME, MEMIT and AlphaEdit on CRE OOD, MQuAKE and the
# MQuAKE-subset, with seconds per edit).
#
# **How the setup differs.** Paper B meta-trains Llama3-8B-Instruct (and five other models)
# on a GPU with 4,000 CRE training tasks and evaluates on 500 in-distribution and 350 OOD
# cases, 3,000 MQuAKE cases and 213 MQuAKE-subset cases. Here the default model is
# SmolLM2-135M-Instruct (60 times smaller) on a 2-core CPU, the data are generated offline in
# CRE's and MQuAKE's formats (the published files drop in through `cre_path` and
# `mquake_path`), and the quick profile uses a handful of cases and tasks and one trained
# layer for Table 1 instead of all (see the parameters table; the paper profile has the
# paper's sizes and values, for a GPU). With so few cases the intervals are wide: the quick
# profile checks that every step runs and shows the size of the effects, the paper profile
# measures them.

# %% tags=["parameters"]
profile = "quick"  # "quick": small CPU default; "paper": the paper's scale (a GPU)
seed = 0
device = "auto"
model = "smollm2"  # "smollm2" (SmolLM2-135M-Instruct) or a local Hugging Face folder (Llama 3.x/2, Qwen2.5, GPT-2)
cre_path = None  # None: CRE-style data generated offline; else a folder with PropMEND's train_data_id.jsonl, test_data_id.jsonl, test_data_ood.jsonl
mquake_path = None  # None: MQuAKE-format data generated offline; else MQuAKE-CF-3k-v2.json (or -CF, -T)
question_style = "cloze"  # "cloze": 2-hop queries as sentences to complete; "chat": questions in the chat template
layer = None  # None: the model's paper layer (Paper B Fig. 2; SmolLM2: 8 of 30)
n_train = None  # meta-training tasks (paper 4,000)
n_id = None  # in-distribution evaluation cases (paper 500)
n_ood = None  # out-of-distribution evaluation cases (paper 350)
n_mquake = None  # MQuAKE cases (paper 3,000)
n_mquake_subset = None  # MQuAKE-subset cases (paper 213)
n_check_countries = None  # countries whose second hops are checked on the model (None: all)
n_style_cases = None  # cases of the question-form check
alphas = None  # α values of the sweep
n_alpha_cases = None  # cases of the α sweep
scopes = None  # Table 1's scopes: "attn", "mlp", "attn+mlp"
table1_layers = None  # "all" (the paper), "layer" (the chosen `layer` only) or a list of layers
sweep_layers = None  # Fig. 2's layers: "all" or a list
alpha = None  # inner-loop (and FT edit) AdamW rate α (paper 2e-5)
beta = None  # outer-loop AdamW rate β (paper 1e-5)
inner_steps = None  # inner-loop steps (paper 10)
epochs = None  # passes over the training tasks (paper 1)
checkpoint_every = None  # Fig. 3: evaluate every this many tasks
baselines = None  # Table 2's other editors: "rome", "memit", "alphaedit"
n_baseline_cases = None  # cases per dataset for each baseline (None: all)
kg_graph = None  # beyond the paper: chapter 1's graph kind, "ba" or "er"
kg_entities = None  # its entities, >= 4 (chapter 1: 200)
kg_relations = None  # its relations, >= 2 and >= the facts of its biggest hub (the error says how many; chapter 1: 50)
kg_ba_m = None  # its BA attachment count, 1 to kg_entities - 1 (chapter 1: 3)
kg_new = None  # new entities (CRE's invented subjects), >= 8, a quarter held out for evaluation
kg_layers = None  # the from-scratch GPT-2's layers, >= 1
kg_embd = None  # its width, a multiple of 4 (4 heads), >= 4
kg_alpha = None  # its inner-loop (and FT edit) rate α
kg_beta = None  # its outer-loop rate β
kg_epochs = None  # its meta-training passes, >= 1
kg_locality = None  # other facts of the graph checked for locality, >= 0
threads = None  # torch CPU threads (None: torch's default)
workers = None  # meta-training runs at once, one process each (None: the profile's; 1 on a single GPU)
executor = "local"  # where they run: "local" (this process or `workers` processes) | "dask"
scheduler = None  # executor "dask": a running scheduler's address (tcp://host:8786); None: a local cluster

# %% tags=["remove-input"]
import warnings

from IPython.display import display

from kedit_utils.book import profiles
from kedit_utils.book.display import show_notes
from kedit_utils.book.figures.propagation import layer_sweep, steps_curve
from kedit_utils.book.results import glue_all, glue_figure, save_results
from kedit_utils.propagation.chapter import NOTEBOOK, MetaChapter, MetaChapterConfig

warnings.filterwarnings("ignore")
# every parameter checked here, the layer lists against the model's depth, before any model loads
config = MetaChapterConfig.from_parameters(profiles.resolve_parameters(NOTEBOOK, profile, globals()), model=model,
                                           cre_path=cre_path, mquake_path=mquake_path, question_style=question_style,
                                           layer=layer, executor=executor, scheduler=scheduler)
chapter = MetaChapter(config)
profiles.parameters_frame(config.parameters(), NOTEBOOK)

# %% [markdown]
# (ch6-data)=
# ## The model and the data
#
# The model, its number of layers and the layer Paper B's rule gives it (Llama3-8B's layer 9
# of 32; SmolLM2: the same relative depth, layer 8 of 30):

# %%
display(chapter.model_section().tables[0])

# %% [markdown]
# **CRE.** Without `cre_path`, the cases are generated from the world table
# (`kedit_utils.propagation.cre.generator`): a new fact about an invented company or person whose object
# is a country (first hop), and a 2-hop query whose second hop is common knowledge about that
# country (capital, currency, official language, continent). As Paper B and PropMEND do, only
# second hops the unedited model answers are used: the model is asked each (country,
# relation) once (greedy, ≤ 10 tokens, the answer contained). The OOD split has unseen
# subjects and, in each case, an unseen country, first relation or second relation.
# **MQuAKE**: without `mquake_path`, cases in MQuAKE's format from the same world table
# (1 or 2 edits, 2 to 4 hops); the MQuAKE-subset keeps the 2-hop cases with one edit on the
# first hop (CRE's form).

# %%
data_section = chapter.data_section()
display(*data_section.tables)
show_notes(data_section.notes)

# %% [markdown]
# The unedited model answers {glue:text}`known_share` of the checked second hops (table
# above, by relation); only those enter the CRE cases.
#
# ### How to ask the model
#
# SmolLM2-135M-*Instruct* ends a bare question at once (an empty generation) unless it is
# wrapped in its chat template. Paper B asks questions; here three forms are compared on a
# few in-distribution cases: the bare question, the question in the chat template, and the
# same query as a sentence to complete (cloze). For each: the share of second hops the
# unedited model answers, and the share of 2-hop queries answered after the FT edit of the
# first hop (the inner loop's settings at the paper layer).

# %%
forms = chapter.question_forms()
display(*forms.tables)
show_notes(forms.notes)

# %% tags=["remove-cell"]
glue_all(forms.glue)

# %% [markdown]
# Second hops known by form: {glue:text}`style_known`; 2-hop queries answered after the
# edit: {glue:text}`style_after`. The chapter asks in the **{glue:text}`question_style`**
# form: the bare question gives empty answers, and the chat template makes the model
# restate the question or answer about another country rather than complete the fact; the
# cloze form is the one whose second hops the model knows best (the check in
# `kedit_utils.propagation.cre.model_checks` measured 51 % of 149 second hops as clozes and 0 % as bare
# questions) and the form of the edit itself. A reader's Llama3-8B-*Instruct* can take
# `question_style="chat"`, Paper B's question form.
#
# (ch6-alpha)=
# ## Can α move the model in ten steps?
#
# Paper B's α = 2e-5 is set for an 8B model. The same FT edit (attention + MLP of the paper
# layer, 10 AdamW steps) at a few rates, on the unedited model: the loss of the new object
# (mean NLL of its tokens) before and after the edit, the edit's own success (the edited prompt now
# continues with the new object) and the 2-hop accuracy.

# %%
alpha_section = chapter.alpha_section()
display(alpha_section.tables[0])

# %% tags=["remove-cell"]
glue_all(alpha_section.glue)

# %% [markdown]
# At α = 2e-5 the loss of the new object goes {glue:text}`alpha_paper_loss` and the edited
# prompt gives the new object in {glue:text}`alpha_paper_hop` of the cases; at this run's
# α = {glue:text}`alpha_used` it goes {glue:text}`alpha_used_loss` ({glue:text}`alpha_used_hop`).
# An edit that does not land cannot propagate, so the quick profile uses the larger α (and
# β = {glue:text}`beta_used`, since it meta-trains on a few tasks instead of 4,000); the
# paper profile keeps Paper B's values.
#
# (ch6-table1)=
# ## Table 1: which parameters to meta-train
#
# For each scope (attention, MLP, both; the layers in the parameters table): FOMAML on the
# training tasks, then the same FT edit on the base model and on the meta-trained one, and
# the 2-hop accuracy on the in-distribution and OOD cases. `base` and `meta` are the
# accuracies with their 95 % Wilson intervals, `gain` their difference; `paper` is Paper B's
# meta-trained accuracy and gain (Llama3-8B, all layers).

# %%
table1 = chapter.table1()  # Table 1's runs and Fig. 2's, `workers` at a time
display(table1.tables[0])

# %% [markdown]
# The edit's own success (the edited prompt gives the new object) and locality (unrelated
# second hops unchanged, share of answer tokens), base and meta-trained:

# %%
display(table1.tables[1])

# %% tags=["remove-cell"]
glue_all(table1.glue)

# %% [markdown]
# **Against the paper.** Gains of meta-learning here ({glue:text}`t1_layers`), in-distribution:
# {glue:text}`t1_gain_id`; OOD: {glue:text}`t1_gain_ood`. Paper B (Llama3-8B, all layers,
# points): in-distribution {glue:text}`paper_gain_id`; OOD {glue:text}`paper_gain_ood`. The
# largest gain here is {glue:text}`t1_best`. Paper B's gains are large in distribution and
# small OOD, with the MLP the best scope; with a 135M model, a handful of meta-training tasks
# and one layer, the quick profile can only show whether the sign appears, and its intervals
# (above) say how little the few cases can tell apart.
#
# (ch6-fig2)=
# ## Fig. 2: which layer to update
#
# Single-layer updates (attention + MLP of one layer), meta-trained and evaluated OOD at each
# swept layer; the layer with the best OOD accuracy of the meta-trained model is chosen
# (ties: the paper layer, else the shallowest) and used for Fig. 3 and Table 2.

# %%
fig2 = chapter.layer_sweep()
display(fig2.tables[0])
show_notes(fig2.notes)

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_ch6_layers", layer_sweep(**fig2.figure))

# %% tags=["remove-cell"]
glue_all(fig2.glue)

# %% [markdown]
# ```{glue:figure} fig_ch6_layers
# :name: fig-ch6-layers
#
# **Paper B Fig. 2**: OOD accuracy after single-layer (Attn+MLP) updates by layer, for six
# models; shallow layers are best (Llama3-8B: layer 9). Here: the 2-hop accuracy after the FT
# edit by trained layer, meta-trained (solid, with its 95 % interval) and base (dashed), for
# this run's model and profile; the dotted line is the chosen layer.
# ```
#
# **Against the paper.** The chosen layer is {glue:text}`chosen_layer` of
# {glue:text}`n_layers` ({glue:text}`chosen_depth` of the depth; swept:
# {glue:text}`swept_layers`). Paper B chose {glue:text}`paper_layer_text`: about a quarter
# to a third of the depth. The quick profile sweeps only a few layers on a few OOD cases, so
# ties and noise decide more than the layer does.
#
# (ch6-fig3)=
# ## Fig. 3: accuracy against meta-training
#
# OOD accuracy after the FT edit at every checkpoint of meta-training (every
# `checkpoint_every` tasks; 0 is the base model), for the chosen layer's run and Table 1's.

# %%
fig3 = chapter.steps_curve()
display(fig3.tables[0])

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_ch6_steps", steps_curve(**fig3.figure))

# %% tags=["remove-cell"]
glue_all(fig3.glue)

# %% [markdown]
# ```{glue:figure} fig_ch6_steps
# :name: fig-ch6-steps
#
# **Paper B Fig. 3**: accuracy against meta-learning steps for several models; it rises with
# the steps, and larger, newer models gain more. Here: OOD accuracy after the FT edit against
# meta-training tasks seen, for the chosen layer's run (first) and the other runs of this
# chapter, with the 95 % interval of the first.
# ```
#
# **Against the paper.** At the chosen layer, OOD accuracy goes from {glue:text}`curve_start`
# (base model) to {glue:text}`curve_end` after {glue:text}`curve_tasks` tasks; Paper B's
# curves rise over thousands of steps.
#
# (ch6-table2)=
# ## Table 2: the meta-trained model against other editors
#
# CRE OOD, MQuAKE (every requested rewrite applied, correct when any of the three questions
# is answered) and MQuAKE-subset accuracies, and the seconds one edit takes (the edit only).
# `ft` is the same FT edit on the base model, `meta` on the meta-trained one (the chosen
# layer's run); ROME, MEMIT and AlphaEdit use their SmolLM2 presets with key covariances from
# the built-in corpus, on the first `n_baseline_cases` cases of each dataset.

# %%
table2 = chapter.table2()
display(table2.tables[0])

# %% [markdown]
# Paper B's Table 2 (Llama3-8B on a GPU; %, seconds per edit):

# %%
display(table2.tables[1])

# %% tags=["remove-cell"]
glue_all(table2.glue)

# %% [markdown]
# **Against the paper.** CRE OOD here: {glue:text}`t2_cre` (Paper B: {glue:text}`paper_t2_cre`);
# MQuAKE: {glue:text}`t2_mquake` (Paper B: {glue:text}`paper_t2_mquake`); MQuAKE-subset:
# {glue:text}`t2_subset`. On CRE OOD the meta-trained model is ahead of
# {glue:text}`t2_beats`. An edit takes {glue:text}`t2_seconds` on this CPU (Paper B:
# {glue:text}`paper_t2_seconds` on a GPU; meta-training adds no cost per edit, as there).
#
# (ch6-kg)=
# ## Beyond the paper: the same experiment on chapter 1's graph
#
# In SmolLM2 nobody knows which facts a second hop goes through. Here every fact is
# controlled: a GPT-2 trained from scratch (`kedit_utils.propagation.kg_model`) on chapter 1's
# graph (the `kg_graph` parameter), every fact as `s r o` and every composed 2-hop question
# `s r1 r2` (the object of `r2` for the object of `(s, r1)`), until it answers both kinds
# at the training target. CRE's invented companies are *new entities*: tokens that occur in
# no training sentence. A case gives a new entity `x` a first hop `(x, r1, o)` to an entity
# of the graph and asks `x r1 r2`, whose answer is `o`'s fact with `r2`. Most new entities
# are FOMAML's training tasks (attention + MLP of every layer), the others the evaluation
# cases (counts below); as above, the same FT edit (the inner loop's steps at `kg_alpha`) is
# applied to the base model and to the meta-trained one, and the answer is the next token's
# argmax. The control is the same question asked before the edit, when `x` has no first hop:
# what the model guesses from `r1 r2` alone.

# %%
kg = chapter.kg_two_hop()
display(kg.tables[0])
show_notes(kg.notes)

# %% tags=["remove-cell"]
glue_all(kg.glue)

# %% [markdown]
# **Against the paper.** The language model ({glue:text}`kg_graph_text`): after the FT edit
# ({glue:text}`kg_steps` steps) of a new entity's first hop, the base model answers the
# 2-hop question with the new fact's second hop in {glue:text}`kg_base` of {glue:text}`kg_n`
# held-out cases (before the edit, guessing: {glue:text}`kg_control`), the meta-trained one
# (after {glue:text}`kg_train` tasks) in {glue:text}`kg_meta`: a paired gain of
# {glue:text}`kg_gain` (95 %, Newcombe's interval), so {glue:text}`kg_verdict`. Paper B's
# in-distribution gains (Llama3-8B, points): {glue:text}`paper_gain_id`. The edit itself
# lands in {glue:text}`kg_hop` of the cases; the other facts keep their argmax in
# {glue:text}`kg_locality` of the checks, and unedited the model answers
# {glue:text}`kg_known` of the graph's facts. {glue:text}`kg_base_note` On the meta-trained
# model the edit moves the 2-hop accuracy from {glue:text}`kg_meta_control` (its control) by
# {glue:text}`kg_meta_effect`.
#
# (ch6-panel)=
# ## Edit a fact yourself
#
# In Jupyter: type a new fact (its prompt, subject and new object) and a 2-hop query that
# needs it; the same FT edit is applied to the base model and to the meta-trained one (the
# chosen layer's run), and both answers are shown. The weights are restored after each edit.

# %%
from kedit_utils.book.widgets.propagation_panel import propagation_panel

chapter.chosen_run.result.apply()
propagation_panel(chapter.lm.model, chapter.lm.tok, chapter.chosen_run.result, chapter.edit_hparams)

# %% tags=["remove-cell"]
save_results(NOTEBOOK, chapter.results(), parameters=config.parameters())

# %% [markdown]
# (ch6-summary)=
# ## What this chapter showed
#
# - **Data.** The unedited model knew {glue:text}`known_share` of the second hops checked;
#   it is asked in the {glue:text}`question_style` form, because as an instruct model asked
#   without its chat template it answers a sentence to complete but not a bare question.
# - **α.** Paper B's α = 2e-5 moves the new object's loss {glue:text}`alpha_paper_loss` in
#   ten steps on this model; this run used α = {glue:text}`alpha_used`.
# - **Table 1.** Gains of meta-learning ({glue:text}`t1_layers`): in-distribution
#   {glue:text}`t1_gain_id`; OOD {glue:text}`t1_gain_ood` (Paper B, all layers of Llama3-8B:
#   {glue:text}`paper_gain_id` in-distribution, {glue:text}`paper_gain_ood` OOD, in points).
# - **Fig. 2.** The best OOD layer here is {glue:text}`chosen_layer` of {glue:text}`n_layers`
#   (Paper B: shallow layers, {glue:text}`paper_layer_text`).
# - **Fig. 3.** OOD accuracy went from {glue:text}`curve_start` to {glue:text}`curve_end`
#   over {glue:text}`curve_tasks` meta-training tasks.
# - **Table 2.** CRE OOD: {glue:text}`t2_cre` (Paper B: {glue:text}`paper_t2_cre`); MQuAKE:
#   {glue:text}`t2_mquake` (Paper B: {glue:text}`paper_t2_mquake`).
# - **Beyond the paper.** On chapter 1's graph, where every fact is controlled, the FT edit
#   reaches the 2-hop question in {glue:text}`kg_base` of the cases on the base model
#   (guessing without the edit: {glue:text}`kg_control`) and {glue:text}`kg_meta` on the
#   meta-trained one ({glue:text}`kg_gain`); meta-training costs graph facts
#   ({glue:text}`kg_known` answered unedited).
#
# What agrees and what does not is in the scorecard's rows for this chapter, each with its
# interval; with the quick profile's few cases most intervals contain both zero and the
# paper's gain, so the quick build shows the method working end to end rather than
# confirming or refuting Paper B. The paper profile (Paper B's α, β, sizes and all-layer
# scopes) on a GPU, with `model` set to a local Llama3 folder, is the run that can.
