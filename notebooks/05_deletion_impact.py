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
# # 5. Deleting knowledge: impact vs entity degree
#
# **Reproduces** Paper A §3.4 and §4: **Fig. 4** (per entity, degree and deletion impact),
# **Table 2** (correlation of degree and impact) and **Table 3** (statistics of the impact).
#
# Deletion is the ROME edit (e, r, o_e) → (e, r, `<deleted>`) at the MLP layer chapter 4
# located, with ROME's key at the subject's last token, as in the paper. Chapter 4 found
# that our models read a fact at the *relation* token instead, so a second sweep edits there
# (a variant below; `compare_token` sweeps it at every depth) and the chapter compares the two. For every entity e: accuracy over all knowledge before, the edit, accuracy after,
# impact I(e) = acc_pre-del − acc_post-del(e), then an exact restore before the next entity.
# The fact deleted is the entity's fact with the lowest relation id (the paper fixes one
# relation r, which entities with randomly assigned relations rarely share); entities that
# are the subject of no fact are skipped and counted.
#
# Paper A names other editing methods as future work: the same deletions with MEMIT and FT-L
# (`editors`, on a subset of entities), to see whether the degree–impact relation depends
# on the editor.
#
# Where this build's Table 2 and the paper's disagree, the chapter then asks why: each of
# the setup variants changes one choice the paper leaves open (or, for `rule`, every choice of
# a rule fixed before any of them ran) and reruns the sweep, all side by side; the causal
# trace is repeated under the paper's corruption; and deletions are made to accumulate.
#
# Beyond the paper: the *side effect* (impact with the deleted fact's own prompts excluded),
# whether the deletion itself succeeded across aliases, where the damage lands (hops from
# the deleted entity, same relation or not), and whether the old object still surfaces
# (its probability after the edit, and a logit-lens read of the intermediate layers).

# %% tags=["parameters"]
profile = "quick"  # "quick": small CPU default; "paper": the paper's scale
seed = 0
device = "auto"
graph_kinds = ["er", "ba"]
seeds = None  # seeds of the whole pipeline (graph, training, deletion) for the CIs
max_entities = None  # None: every entity; an int: that many, highest and lowest degree mixed
edit_layer = None  # None: the MLP layer with the largest average indirect effect (chapter 4)
edit_token = "subject_last"  # the key token ROME edits: "subject_last" (ROME, the paper) | "last"
compare_token = None  # a second full sweep (every depth, every entity) editing this token; None: the variants' only
n_trace_facts = None  # facts traced to locate the layer
n_boot = 1000  # bootstrap resamples of entities for the correlation CI
workers = None  # processes sweeping models in parallel (None: the profile's; 1 on a single GPU)
executor = "local"  # where the sweeps run: "local" (this process or `workers` processes) | "dask"
scheduler = None  # executor "dask": a running scheduler's address (tcp://host:8786); None: a local cluster
editors = None  # methods that delete (kedit_utils.editing); ROME, the paper's, always runs. None: the profile's
editor_max_entities = None  # entities each editor other than ROME deletes (None: the profile's)
variants = None  # setup variants run side by side (kedit_utils.kg.deletion.variants); None: every one
variant_layers = None  # the depth the variants run at (None: the profile's)
variant_entities = None  # entities per variant sweep, spread over the degree order (None: the profile's)
trained_epochs = None  # epochs of the "trained on" variants (None: the profile's; the peer: 100)
rule_layers = None  # depths of Table 2 under the rule's setup, every seed (None: the profile's)
sequence_deletions = None  # deletions that accumulate per order (None: the profile's)
sequence_every = None  # measure the accuracy after this many deletions (None: the profile's)
layers = None
n_entities = None
n_relations = None
ba_m = None
n_aliases = None
sample_fraction = None
n_embd = None
n_head = None
lr = None
batch_size = None
max_epochs = None
weight_decay = None
warmup = None
objective = None
lr_depth_exponent = None  # a depth d trains with lr * (6 / d) ** this
threads = None  # torch CPU threads while training (None: from the profile)
target_accuracy = None  # stop when training and held-out accuracy reach this

# %% tags=["remove-input"]
from IPython.display import display

from kedit_utils.book import profiles
from kedit_utils.book.figures.deletion import (
    broken_by_hop,
    degree_and_impact,
    impact_scatter,
    lens_trace,
    margin_histogram,
    panel_row,
    sequence_plot,
    variant_forest,
)
from kedit_utils.book.results import frame_records, glue_figure, glue_number, save_results
from kedit_utils.book.stored_parts import stored_paper_scale
from kedit_utils.kg.deletion.chapter import build_deletion_chapter
from kedit_utils.kg.deletion.config import DeletionChapterConfig

NOTEBOOK = "05_deletion_impact"
# every parameter checked here, before any model loads (a bad one stops the chapter naming it)
config = DeletionChapterConfig.from_parameters(globals(), profiles.resolve_parameters(NOTEBOOK, profile, {}))
profiles.parameters_frame(config.parameters(), NOTEBOOK)

# %% [markdown]
# (ch5-sweep)=
# ## The sweep
#
# One sweep per seed × graph × depth. Models come from the artifact cache (chapter 2's for
# seed {glue:text}`first_seed`; other seeds are trained here); the sweep results are cached too.

# %%
chapter = build_deletion_chapter(config, stored_paper_scale(NOTEBOOK, config.profile))
display(chapter.experiment.layers_used)
display(chapter.sweep_counts)

# %% tags=["remove-cell"]
for name, (value, fmt) in chapter.glue.items():
    glue_number(name, value, fmt)

# %% [markdown]
# (ch5-fig4)=
# ## Fig. 4: degree and impact per entity

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_degree_impact", panel_row(degree_and_impact, chapter.fig4_panels, 7, 3.4))

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_impact_scatter", panel_row(impact_scatter, chapter.scatter_panels, 4.5, 3.5))

# %% [markdown]
# ```{glue:figure} fig_degree_impact
# :name: fig-ch5-degree-impact
#
# **Paper A Fig. 4**: for the 6-layer models, entities sorted by degree (bars) with the
# impact of deleting one of their facts (line); in the paper the BA line follows the bars
# and the ER line is flat. Here: the same for this build's models (first seed).
# ```
#
# ```{glue:figure} fig_impact_scatter
# :name: fig-ch5-impact-scatter
#
# **Impact against degree at every depth** (beyond the paper's figure, the data of its
# Table 2): one point per entity and seed, ER blue, BA orange.
# ```

# %% [markdown]
# (ch5-table2)=
# ## Table 2: correlation of degree and impact
#
# Pearson and Spearman coefficients (means over seeds); `ci_low`–`ci_high` is the 95 % bootstrap
# interval over entities within each seed. With two or more seeds, `seeds_low`–`seeds_high` is
# the 95 % t-interval of the per-seed Pearson r (on Fisher's z, so it stays within ±1): how far r
# moves when the graph, the training and the deletions are drawn again (with three seeds it is
# wide: t = 4.3). The paper reports one
# Pearson-type coefficient per cell, for ROME; the other editors' rows are over their subset of
# entities (`n`).

# %%
display(chapter.table2_shown.style.format(precision=2, na_rep=""))

# %% [markdown]
# (ch5-stored)=
# ### Table 2 at the paper's scale: stored, not computed by this build
#
# The quick build cannot run the paper's scale. A paper-scale run appears here only from a
# committed file that is the unedited output of `kedit run ... --store` at a named commit
# (`kedit_utils.book.stored_results`), shown with its provenance.

# %% tags=["remove-input"]
for item in chapter.stored_run_items:
    display(item)

# %% [markdown]
# The whole paper profile is about ten hours of two CPU cores, so its two expensive grids can
# also be stored part by part, a few seeds at a time (`kedit store-part`,
# `kedit_utils.book.stored_parts`): each part keeps the per-entity impacts of its deletions, and
# Table 2 below is computed here, by the chapter's own function, from all the parts found;
# the interval across seeds needs parts for two seeds or more. Seeds of the sweep stored in
# parts: {glue:text}`stored_part_seeds`. In the table, `r` is Pearson's r between degree and
# impact, `CI` its 95 % interval over entities, `seeds CI` the interval across seeds, `seeds`
# their number and `n` the entities. When a run of the rule's setup ({ref}`ch5-rule-table2`)
# is stored too, a second table gives Table 2 under the rule, with `mean` the mean impact
# (×10⁻²) and `deleted` the share of the deleted facts' prompts that answer `<deleted>`.

# %% tags=["remove-input"]
for item in chapter.stored_parts_items:
    display(item)

# %% [markdown]
# Under the rule's setup, the paper-scale run stored here (if any; seeds
# {glue:text}`stored_rule_seeds`) gives the paper's criterion (BA r ≥ .8 at 6 and 12 layers,
# its interval above ER's) as: {glue:text}`stored_rule_verdict`. Its deletions:
# {glue:text}`stored_rule_edit_effect`.

# %% [markdown]
# (ch5-editors)=
# ### Does the relation depend on the editor?
#
# Every editor on the same entities (ROME restricted to the other editors' subset): the
# correlation, the mean impact (×10⁻²) and the share of the deleted facts' alias prompts that
# answer `<deleted>`.

# %%
for item in chapter.editor_items:
    display(item)

# %% [markdown]
# (ch5-table3)=
# ## Table 3: statistics of the impact (×10⁻²)

# %%
display(chapter.table3.style.format(precision=3))

# %% [markdown]
# (ch5-decomposition)=
# ## Where the impact comes from
#
# Each entity's impact split exactly into parts by the fact a prompt asks about: the deleted
# fact's own prompts (`own`), the subject's other facts (`subject`), facts whose object is
# the entity (`object`), other facts one hop away (`hop1`) and the rest (`far`). First the
# mean contribution of each part (×10⁻², the parts add up to `all`), then each part's
# Pearson r with degree: which part carries the degree relation?

# %%
display(chapter.decomposition_means.style.format(precision=3))
display(chapter.decomposition_r.style.format(precision=2))

# %% [markdown]
# (ch5-variants)=
# ## What moves Table 2: the setup variants
#
# The paper leaves many choices of its deletion unstated. Each variant below changes one of
# them and reruns the sweep on the {glue:text}`variant_layers`-layer models of both graphs
# ({glue:text}`variant_entities` entities each, spread over the degree order); `rule` applies
# every choice of a rule fixed *before* any variant ran: the paper's text where it states a
# choice, else the public implementation of exactly this setup (`ishigaki0302/kekg`, the
# same graph sizes), else ROME's published GPT-2 values. Every variant is reported, whatever
# its correlation. The rule, choice by choice:

# %% tags=["remove-input"]
display(chapter.rule_choices)

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_variants", variant_forest(chapter.variant_rows, paper=chapter.variants_paper))

# %% [markdown]
# ```{glue:figure} fig_variants
# :name: fig-ch5-variants
#
# **Every variant's degree–impact correlation** (Pearson r with its bootstrap 95 % interval
# over entities; BA orange, ER blue); dashed: the paper's values at this depth. The paper's
# claim needs the BA point high and its interval clear of ER's.
# ```
#
# The same variants in numbers: Pearson r and the mean and largest impact (×10⁻²); then the
# share of the impact on the deleted fact's own prompts (`own`) and one or more hops away
# (`far`), and the share of the deleted facts' alias prompts that answer the target (`deleted`):

# %%
for table in chapter.variant_tables:
    display(table.style.format(precision=2))

# %% [markdown]
# (ch5-rule-table2)=
# ### Table 2 under the rule, across seeds
#
# The rule's setup (the variant `rule`) at {glue:text}`rule_layers` layers, on every seed of
# this run ({glue:text}`rule_seeds`), {glue:text}`variant_entities` entities per model: Table 2
# in the paper's form. `ci_low`–`ci_high` is the bootstrap over entities; with two or more
# seeds `seeds_low`–`seeds_high` is the t-interval of the per-seed r, and the verdict reads
# that interval (the variation the paper's single number does not show).

# %%
display(chapter.rule_table2_shown.style.format(precision=2, na_rep=""))

# %% [markdown]
# How long the models were trained changes how far a prompt's answer is from the next
# entity. Each prompt's margin (log-probability of the object minus that of the best other
# entity) on the models stopped at the target accuracy and on those trained on:

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_margins", panel_row(margin_histogram, chapter.margin_panels, 5, 3.2))

# %% [markdown]
# ```{glue:figure} fig_margins
# :name: fig-ch5-margins
#
# **Margins left by the training length**: per prompt of all knowledge, log p(object) −
# log p(best other entity), for the models stopped at the target accuracy and those trained
# on for {glue:text}`trained_epochs` epochs.
# ```

# %% [markdown]
# Did the wider margins protect the other facts? The share of their prompts that the
# variants' deletions broke, by the margin each prompt had before the edit (%; the bins of
# {ref}`ch5-margins-broken`):

# %%
display(chapter.trained_margins.style.format(precision=2))

# %% [markdown]
# **Where is the fact read?** The paper's causal trace (its Fig. 6) finds the first-layer MLP
# at the *subject* token; chapter 4 finds the effect at the relation token. The trace here
# uses the paper's corruption (noise of 3σ on the subject's embedding only) on the models of
# both orientations, restoring one layer's MLP (window 1, the paper's "one state") or ROME's
# window of 10: the peak's layer and token, and the first layer's MLP effect at the subject
# (`L0 subj.`) and at the relation token (`L0 rel.`).

# %%
display(chapter.sites_shown.style.format(precision=3))

# %% [markdown]
# (ch5-sequence)=
# ## Beyond the paper: deletions that accumulate
#
# The paper restores the model after each deletion. Here the deletions accumulate on the
# {glue:text}`variant_layers`-layer model of each graph: entities taken by degree, highest
# first, lowest first or in a random order, one fact each (the chapter's ROME deletion), and
# the accuracy over all knowledge measured as they add up.

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_sequence", sequence_plot(chapter.curves))

# %% [markdown]
# ```{glue:figure} fig_sequence
# :name: fig-ch5-sequence
#
# **Sequential deletions** (beyond the paper): accuracy over all knowledge after each
# batch of deletions, entities taken by degree (highest first: solid; lowest first: dashed;
# random: dotted), ER blue, BA orange.
# ```

# %% [markdown]
# (ch5-side-effect)=
# ## Where the side effect lands

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_by_hop", broken_by_hop(chapter.by_hop))

# %% [markdown]
# ```{glue:figure} fig_by_hop
# :name: fig-ch5-by-hop
#
# **Where the damage lands** (beyond the paper). The share of *other* facts' prompts that a
# deletion breaks, by the hop distance of their subject from the deleted entity (0: the
# entity's own other facts).
# ```
#
# The same share, by whether the broken fact shares the deleted relation:

# %%
display(chapter.by_relation_shares)

# %% [markdown]
# (ch5-margins-broken)=
# ### Do the thinly answered prompts break?
#
# The models stop training once they answer 99.5 % of the prompts, so many prompts are
# answered by a thin margin (log p(object) − log p(best other entity), in nats, before the
# edit). If the damage were a thin margin tipping over, the share broken would fall steeply
# with the margin. Per depth and graph, the share of the other facts' prompts a deletion broke,
# by the margin they were answered with before it (%; every deleted entity pooled):

# %%
display(chapter.margin_breakage_shown.style.format(precision=2))

# %% [markdown]
# Pooled over depths and graphs, {glue:text}`margin_thin_share` of the prompts answered by
# less than 1 nat broke, against {glue:text}`margin_thick_share` of those answered by 4 nats or
# more ({glue:text}`margin_ratio` times as often). The thin ones are
# {glue:text}`margin_thin_of_all` of the prompts and {glue:text}`margin_thin_of_broken` of the
# broken ones: {glue:text}`margin_verdict`.

# %% [markdown]
# (ch5-deleted)=
# ## Is the knowledge really deleted?
#
# For each deleted fact: the share of its alias prompts that now answer `<deleted>`
# (`deleted_ok`; the edit is made on one prompt, so the others test whether the deletion
# reaches the other aliases), the share that still answer the old object, and the old
# object's probability before and after. Then a logit-lens read of the intermediate layers
# after deleting the hub's fact: does the old object still surface inside the model?

# %%
display(chapter.recovery.style.format(precision=3))

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_lens", panel_row(lens_trace, chapter.lens_panels, 5, 3.4))

# %% [markdown]
# ```{glue:figure} fig_lens
# :name: fig-ch5-lens
#
# **Traces of the deleted knowledge** (the paper names this as future work). Here: a
# logit-lens read of every layer after deleting the hub's fact, on the deleted prompt: the
# probability of the old object and of `<deleted>`.
# ```

# %% [markdown]
# (ch5-tokens)=
# ## Which token should ROME edit?
#
# The same sweep with ROME's key at each token: by default the variants' `baseline` and
# `relation token` sweeps ({glue:text}`variant_layers` layers, {glue:text}`variant_entities`
# entities per graph); `-p compare_token last` adds a full second sweep at every depth
# instead. First, does the deletion work: the share of
# the deleted facts' alias prompts that answer `<deleted>` (`deleted`) and that still answer
# the old object (`old kept`), the mean impact and side effect (×10⁻²), and the rank
# correlation of degree and impact:

# %%
display(chapter.token_deletion.style.format(precision=3))

# %% [markdown]
# Then, what it breaks: the share of other facts' prompts broken among those sharing the
# deleted relation, the other relations, the deleted entity's own other facts and its
# neighbours' facts:

# %%
display(chapter.token_breakage.style.format("{:.1%}"))

# %% [markdown]
# ### Delete a fact yourself
#
# In Jupyter: choose an entity (sorted by degree), delete its fact, see the impact and the
# graph neighbourhood coloured by which facts broke, restore.

# %%
from kedit_utils.book.widgets.deletion_panel import deletion_panel

deletion_panel(chapter.experiment.panel_model, chapter.experiment.panel_corpus, chapter.experiment.panel_edit_fn)

# %% tags=["remove-cell"]
save_results(NOTEBOOK, chapter.results_to_save(frame_records), parameters=config.parameters())

# %% [markdown]
# ## What this chapter showed
#
# With ROME's key at the {glue:text}`edit_token` token, degree and impact correlate with a mean
# Pearson r of {glue:text}`ba_pearson` on the BA graphs and {glue:text}`er_pearson` on the ER
# graphs (the paper: {glue:text}`paper_ba_pearson` for BA and {glue:text}`paper_er_pearson`
# for ER): {glue:text}`ba_verdict`. The largest impact is {glue:text}`ba_max_impact` ×10⁻² on
# BA and {glue:text}`er_max_impact` ×10⁻² on ER (the paper: up to {glue:text}`paper_ba_max`
# and {glue:text}`paper_er_max`).
#
# Is the fact deleted? Editing at the subject's last token made {glue:text}`deleted_ok_subject_last`
# of the deleted facts' alias prompts answer `<deleted>`; editing at the relation token,
# {glue:text}`deleted_ok_last`. The two edits damage different knowledge. The subject-token
# edit breaks the subject's other facts ({glue:text}`same_subj_subject_last` of their
# prompts; relation-token edit: {glue:text}`same_subj_last`), so its impact grows with the
# number of facts an entity has, which is what ties impact to degree. The relation-token
# edit's damage follows the relation instead: it broke {glue:text}`same_rel_last` of the
# prompts that share the deleted relation against {glue:text}`other_rel_last` of the others
# (subject-token edit: {glue:text}`same_rel_subject_last` and
# {glue:text}`other_rel_subject_last`). In these two-word models the fact is read at the
# relation token (chapter 4), so what a deletion damages is set by where ROME writes, not
# only by the graph.
#
# Where does the impact come from? Averaged over depths, the part most correlated with degree
# is {glue:text}`ba_carrier` on BA and {glue:text}`er_carrier` on ER; the largest part is
# {glue:text}`ba_largest` on BA and {glue:text}`er_largest` on ER. Prompts answered by less
# than 1 nat broke {glue:text}`margin_ratio` times as often as those answered by 4 nats or
# more; {glue:text}`margin_verdict` ({glue:text}`margin_thin_of_broken` of the broken prompts).
#
# Why the paper's Table 2 is not what this build finds: of {glue:text}`variants_run` setup
# variants at {glue:text}`variant_layers` layers, the paper's claim (BA r ≥ .8 with its interval
# above ER's) is {glue:text}`variant_verdict`. The rule's setup (fixed before any variant ran)
# gives {glue:text}`rule_pearson`; the variant with the highest BA r is
# {glue:text}`best_variant`. Under the rule at {glue:text}`rule_layers` layers over
# {glue:text}`rule_seeds`, the paper's criterion (BA r ≥ .8 at 6 and 12 layers, its interval
# above ER's) is {glue:text}`rule_table2_verdict`. A correlation means little if the deletions
# removed nothing, so did they? Under the rule: {glue:text}`rule_edit_effect`; in the
# chapter's own setup: {glue:text}`baseline_edit_effect`; with only the v* loss read at the
# edited layer (the rule's choice from the public implementation):
# {glue:text}`loss_layer_edit_effect`. At the paper's scale (stored, seeds
# {glue:text}`stored_rule_seeds`), the rule's deletions: {glue:text}`stored_rule_edit_effect`.
# The paper's causal-trace finding, the first-layer MLP at the subject, appears in
# {glue:text}`site_verdict`.
#
# At the paper's scale (stored parts, not computed by this build; seeds
# {glue:text}`stored_part_seeds`), ROME at the subject's last token gives
# {glue:text}`stored_table2_r` (the paper: BA .93 / .99 / .75, ER .21 / .26 / .30 at 6 / 12 /
# 24 layers); the paper's criterion there is {glue:text}`stored_table2_verdict`.
#
# Deletions that accumulate (beyond the paper): after {glue:text}`seq_n` deletions the accuracy
# over all knowledge (from {glue:text}`seq_start` before, the mean of the graphs) is, on BA, {glue:text}`seq_ba_high` with the
# hubs deleted first, {glue:text}`seq_ba_low` with the leaves first and
# {glue:text}`seq_ba_random` in a random order; on ER {glue:text}`seq_er_high`,
# {glue:text}`seq_er_low` and {glue:text}`seq_er_random`.
#
# Other editors (Paper A's future work; here {glue:text}`editors_compared`, on the same
# entities): the degree–impact relation {glue:text}`editor_verdict`.
#
# The quick profile uses a smaller graph, narrower models and one seed (parameters table), so
# its intervals are wider.
