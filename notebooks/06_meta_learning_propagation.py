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
kg_entities = None  # its entities (chapter 1: 200)
kg_relations = None  # its relations (chapter 1: 50)
kg_ba_m = None  # its BA attachment count (chapter 1: 3)
kg_new = None  # new entities (CRE's invented subjects), a quarter held out for evaluation
kg_layers = None  # the from-scratch GPT-2's layers
kg_embd = None  # its width
kg_alpha = None  # its inner-loop (and FT edit) rate α
kg_beta = None  # its outer-loop rate β
kg_epochs = None  # its meta-training passes
kg_locality = None  # other facts of the graph checked for locality
threads = None  # torch CPU threads (None: torch's default)
workers = None  # meta-training runs at once, one process each (None: the profile's; 1 on a single GPU)
executor = "local"  # where they run: "local" (this process or `workers` processes) | "dask"
scheduler = None  # executor "dask": a running scheduler's address (tcp://host:8786); None: a local cluster

# %% tags=["remove-input"]
import warnings

import pandas as pd
import torch
from IPython.display import display

from kedit_utils.book import profiles
from kedit_utils.book.figures.propagation import layer_sweep, steps_curve
from kedit_utils.book.results import glue_figure, glue_number, save_results
from kedit_utils.book.style import subplots
from kedit_utils.core.validation import ParameterError
from kedit_utils.propagation import FOMAMLConfig
from kedit_utils.propagation.chapter_data import chapter_data, check_parameters
from kedit_utils.propagation.kg_model import check_kg_parameters, run_kg_two_hop
from kedit_utils.propagation.paper_numbers import PAPER_B_LAYER_COUNTS, PAPER_B_LAYERS, PAPER_B_TABLE1, PAPER_B_TABLE2
from kedit_utils.propagation.runs import (
    ScopeRuns,
    accuracy_text,
    alpha_sweep,
    best_layer,
    gain_text,
    layer_sweep_rows,
    load_model,
    paper_gain_text,
    question_style_table,
)
from kedit_utils.propagation.runs import table2 as paper_table2

warnings.filterwarnings("ignore")
NOTEBOOK = "06_meta_learning_propagation"
cfg = profiles.resolve_parameters(NOTEBOOK, profile, globals())
cfg.update(model=model, cre_path=cre_path, mquake_path=mquake_path, question_style=question_style, layer=layer,
           executor=executor, scheduler=scheduler)
check_parameters(cfg)
check_kg_parameters(cfg)
if cfg["threads"]:
    torch.set_num_threads(cfg["threads"])
profiles.parameters_frame(cfg, NOTEBOOK)

# %% [markdown]
# (ch6-data)=
# ## The model and the data
#
# The model, its number of layers and the layer Paper B's rule gives it (Llama3-8B's layer 9
# of 32; SmolLM2: the same relative depth, layer 8 of 30):

# %%
run_device = "cpu" if device == "auto" and not torch.cuda.is_available() else ("cuda" if device == "auto" else device)
lm = load_model(model, run_device)
net, tok = lm.model, lm.tok
n_layers = net.config.num_hidden_layers if hasattr(net.config, "num_hidden_layers") else net.config.n_layer
layer = lm.default_layer if cfg["layer"] is None else cfg["layer"]
if layer >= n_layers:
    raise ParameterError("layer", layer, f"must be in [0, {n_layers}) for this model")
display(pd.DataFrame([{"model": lm.name, "layers": n_layers, "Paper B family": lm.family or "none",
                       "paper layer": layer}]).set_index("model"))

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
data = chapter_data(net, tok, cfg, seed)
train, id_cases, ood_cases = data.train, data.in_distribution, data.out_of_distribution
mquake_cases, subset_cases, known_share = data.mquake, data.mquake_subset, data.known_share
if data.check_rows:
    display(pd.DataFrame(data.check_rows).set_index("relation").style.format(precision=2))
display(pd.DataFrame(data.sizes()).set_index("split"))
print("A training task:", train[0].edits[0].fact, "→", train[0].questions[0], "…", train[0].answer)

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
style_cfg = FOMAMLConfig(scope="attn+mlp", layers=(layer,), inner_lr=cfg["alpha"], outer_lr=cfg["beta"],
                         inner_steps=cfg["inner_steps"], epochs=cfg["epochs"], seed=seed)
if cre_path is None:
    style_table, style_examples = question_style_table(net, tok, id_cases[:cfg["n_style_cases"]],
                                                       style_cfg.ft_hparams(net))
    display(style_table.set_index("form").style.format(precision=2))
    display(style_examples.head(6))
else:
    style_table = pd.DataFrame()
    print("The question-form check needs generated cases (their relations); skipped for a loaded file.")

# %% tags=["remove-cell"]
glue_number("known_share", known_share, ".0%")
if not style_table.empty:
    st = style_table.set_index("form")
    glue_number("style_known", ", ".join(f"{f} {st.loc[f, 'second hop known']:.0%}" for f in st.index))
    glue_number("style_after", ", ".join(f"{f} {st.loc[f, '2-hop after edit']:.0%}" for f in st.index))
else:
    glue_number("style_known", "(not measured: a loaded file)")
    glue_number("style_after", "(not measured: a loaded file)")
glue_number("question_style", question_style)

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
alpha_table = alpha_sweep(net, tok, id_cases[:cfg["n_alpha_cases"]], style_cfg, cfg["alphas"])
display(alpha_table.set_index("alpha").style.format(precision=3))

# %% tags=["remove-cell"]
a_paper = alpha_table.iloc[(alpha_table.alpha - 2e-5).abs().argmin()]
glue_number("alpha_paper_hop", a_paper["single hop"], ".0%")
glue_number("alpha_paper_loss", f"{a_paper['loss before']:.2f} → {a_paper['loss after']:.2f}")
a_used = alpha_table.iloc[(alpha_table.alpha - cfg["alpha"]).abs().argmin()]
glue_number("alpha_used", cfg["alpha"], ".0e")
glue_number("beta_used", cfg["beta"], ".0e")
glue_number("alpha_used_hop", a_used["single hop"], ".0%")
glue_number("alpha_used_loss", f"{a_used['loss before']:.2f} → {a_used['loss after']:.2f}")

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
runs = ScopeRuns(net, tok, train, {"id": id_cases, "ood": ood_cases},
                 dict(inner_lr=cfg["alpha"], outer_lr=cfg["beta"], inner_steps=cfg["inner_steps"],
                      epochs=cfg["epochs"], seed=seed),
                 source=model, device=run_device, model_id=lm.model_id, checkpoint_every=cfg["checkpoint_every"],
                 curve_splits=("ood",))
run_config = runs.get
t1_layers = None if cfg["table1_layers"] == "all" else [layer] if cfg["table1_layers"] == "layer" \
    else list(cfg["table1_layers"])
swept = list(range(n_layers)) if cfg["sweep_layers"] == "all" else [x for x in cfg["sweep_layers"] if x < n_layers]
if not swept:
    raise ParameterError("sweep_layers", cfg["sweep_layers"], f"must hold a layer below {n_layers}")
# Table 1's runs and Fig. 2's, `workers` at a time
runs.prefetch([(s, t1_layers, ("id", "ood")) for s in cfg["scopes"]] + [("attn+mlp", [L], ("ood",)) for L in swept],
              executor=executor, workers=cfg["workers"], scheduler=scheduler)
table1 = pd.DataFrame([row for s in cfg["scopes"] for row in run_config(s, t1_layers, ("id", "ood")).table1_rows()])
table1["paper"] = [("{:.1f} ({:+.1f})".format(*PAPER_B_TABLE1[(s, sp)]) if (s, sp) in PAPER_B_TABLE1 else "")
                   for s, sp in zip(table1.scope, table1.split)]
shown = table1.assign(base=[f"{a:.2f} [{lo:.2f}, {hi:.2f}]" for a, lo, hi in zip(table1.acc_base, table1.base_low, table1.base_high)],
                      meta=[f"{a:.2f} [{lo:.2f}, {hi:.2f}]" for a, lo, hi in zip(table1.acc_meta, table1.meta_low, table1.meta_high)])
display(shown[["scope", "layers", "split", "base", "meta", "gain", "n", "paper"]].set_index(["scope", "split"])
        .style.format(precision=2))

# %% [markdown]
# The edit's own success (the edited prompt gives the new object) and locality (unrelated
# second hops unchanged, share of answer tokens), base and meta-trained:

# %%
display(table1[["scope", "split", "single_hop_base", "single_hop_meta", "locality_base", "locality_meta"]]
        .rename(columns={"single_hop_base": "hop base", "single_hop_meta": "hop meta",
                         "locality_base": "loc. base", "locality_meta": "loc. meta"})
        .set_index(["scope", "split"]).style.format(precision=2))

# %% tags=["remove-cell"]
glue_number("t1_gain_id", gain_text(table1, "id"))
glue_number("t1_gain_ood", gain_text(table1, "ood"))
glue_number("paper_gain_id", paper_gain_text("id"))
glue_number("paper_gain_ood", paper_gain_text("ood"))
glue_number("t1_layers", "all layers" if t1_layers is None else f"layer {', '.join(map(str, t1_layers))}")
best = table1.sort_values("gain", ascending=False).iloc[0]
glue_number("t1_best", f"{best.scope} ({best.split}, {100 * best.gain:+.0f} pts)")

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
sweep_rows, plot_rows = layer_sweep_rows(runs, swept)
layer_table = pd.DataFrame(sweep_rows)
chosen = best_layer(sweep_rows, "ood", default=layer)
display(layer_table.set_index(["layer", "split"]).style.format(precision=2))
print(f"Chosen layer: {chosen}")

# %% tags=["hide-input", "remove-output"]
fig = layer_sweep(plot_rows, chosen=chosen, title=f"{lm.name}: accuracy by trained layer")
glue_figure("fig_ch6_layers", fig)

# %% tags=["remove-cell"]
glue_number("chosen_layer", chosen)
glue_number("n_layers", n_layers)
glue_number("chosen_depth", (chosen + 1) / n_layers, ".0%")
glue_number("swept_layers", ", ".join(map(str, swept)))
glue_number("paper_layer_text", ", ".join(f"{m} {l} of {PAPER_B_LAYER_COUNTS[m]}" for m, l in PAPER_B_LAYERS.items()))

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
chosen_run = run_config("attn+mlp", [chosen], ("ood",))
curve = pd.DataFrame(chosen_run.curve_rows())
all_curves = pd.DataFrame([r for run in runs.runs.values() for r in run.curve_rows()])
display(curve.pivot_table(index="tasks_seen", columns="split", values="acc").style.format(precision=2))

# %% tags=["hide-input", "remove-output"]
fig = steps_curve(pd.concat([curve, all_curves[all_curves.layers != str(chosen)]]),
                  title=f"{lm.name}: accuracy during meta-training")
glue_figure("fig_ch6_steps", fig)

# %% tags=["remove-cell"]
glue_number("curve_start", curve[curve.split == "ood"].sort_values("tasks_seen").acc.iloc[0], ".0%")
glue_number("curve_end", curve[curve.split == "ood"].sort_values("tasks_seen").acc.iloc[-1], ".0%")
glue_number("curve_tasks", int(curve.tasks_seen.max()))

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
hp = chosen_run.config.ft_hparams(net)
res = chosen_run.result
table2 = paper_table2(net, tok, chosen_run, {"cre_ood": ood_cases, "mquake": mquake_cases,
                                             "mquake_subset": subset_cases},
                      cfg["baselines"], n_baseline_cases=cfg["n_baseline_cases"], model_id=lm.model_id)
display(table2.rename(columns={"cre_ood": "CRE OOD", "mquake": "MQuAKE", "mquake_subset": "subset",
                               "seconds_per_edit": "s/edit"}).set_index("method").style.format(precision=2))

# %% [markdown]
# Paper B's Table 2 (Llama3-8B on a GPU; %, seconds per edit):

# %%
paper2 = pd.DataFrame([{"method": m, "CRE OOD": v[0], "MQuAKE": v[1], "subset": v[2], "s/edit": v[3]}
                       for m, v in PAPER_B_TABLE2.items()]).set_index("method")
display(paper2.style.format(precision=1, na_rep="–"))

# %% tags=["remove-cell"]
t2 = table2.set_index("method")

glue_number("t2_cre", accuracy_text(t2, "cre_ood"))
glue_number("t2_mquake", accuracy_text(t2, "mquake"))
glue_number("t2_subset", accuracy_text(t2, "mquake_subset"))
glue_number("t2_seconds", ", ".join(f"{m} {t2.loc[m, 'seconds_per_edit']:.1f} s" for m in t2.index))
glue_number("paper_t2_cre", ", ".join(f"{m} {v[0]:.1f}" for m, v in PAPER_B_TABLE2.items() if v[0] is not None))
glue_number("paper_t2_mquake", ", ".join(f"{m} {v[1]:.1f}" for m, v in PAPER_B_TABLE2.items()))
glue_number("paper_t2_seconds", f"{PAPER_B_TABLE2['ft'][3]:.2f} s (FT) and {PAPER_B_TABLE2['meta'][3]:.2f} s (meta)")
beats = [m for m in t2.index if m != "meta" and t2.loc["meta", "cre_ood"] > t2.loc[m, "cre_ood"]]
glue_number("t2_beats", ", ".join(beats) if beats else "none of the others")

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
kg_run = run_kg_two_hop(cfg, seed, device=run_device)
kg_table = pd.DataFrame(kg_run.rows())
display(kg_table.assign(two_hop=[f"{a:.2f} [{lo:.2f}, {hi:.2f}]" for a, lo, hi in
                                 zip(kg_table.two_hop_acc, kg_table.low, kg_table.high)])
        [["model", "two_hop", "two_hop_unedited", "single_hop", "locality", "facts_known", "n"]]
        .rename(columns={"two_hop": "2-hop after edit", "two_hop_unedited": "2-hop before edit",
                         "single_hop": "edit landed", "facts_known": "graph facts known"})
        .set_index("model").style.format(precision=2))
kg_log = kg_run.lm.log
print(f"Language model ({kg_run.lm.spec.graph.kind.upper()} graph): {kg_log['n_one_hop']} facts and "
      f"{kg_log['n_two_hop']} 2-hop questions, trained to {kg_log['log'][-1]['acc_one_hop']:.3f} / "
      f"{kg_log['log'][-1]['acc_two_hop']:.3f} in {kg_log['epochs']} epochs; {kg_run.n_train} meta-training tasks "
      f"({kg_run.seconds_per_task * 1000:.0f} ms each), {kg_run.n_eval} evaluation cases")

# %% tags=["remove-cell"]
kg_gain, kg_low, kg_high = kg_run.gain()
kg_rows = kg_table.set_index("model")
glue_number("kg_base", kg_rows.loc["base", "two_hop_acc"], ".0%")
glue_number("kg_meta", kg_rows.loc["meta", "two_hop_acc"], ".0%")
glue_number("kg_n", kg_run.n_eval)
glue_number("kg_train", kg_run.n_train)
glue_number("kg_gain", f"{100 * kg_gain:+.0f} points [{100 * kg_low:+.0f}, {100 * kg_high:+.0f}]")
glue_number("kg_hop", f"{kg_rows.loc['base', 'single_hop']:.0%} (base) and {kg_rows.loc['meta', 'single_hop']:.0%} "
            "(meta-trained)")
glue_number("kg_locality", f"{kg_rows.loc['base', 'locality']:.0%} (base) and {kg_rows.loc['meta', 'locality']:.0%} "
            "(meta-trained)")
kg_ctrl, kg_ctrl_low, kg_ctrl_high = kg_run.edit_effect("base")
glue_number("kg_graph_text", f"{kg_run.lm.spec.graph.kind.upper()} graph, {kg_log['n_one_hop']} facts and "
            f"{kg_log['n_two_hop']} 2-hop questions, trained to {kg_log['log'][-1]['acc_one_hop']:.1%} / "
            f"{kg_log['log'][-1]['acc_two_hop']:.1%}" + ("" if kg_log.get("reached_target", True)
                                                          else " (below its training target)"))
glue_number("kg_steps", kg_run.config.inner_steps)
glue_number("kg_control", f"{kg_rows.loc['base', 'two_hop_unedited']:.0%}")
glue_number("kg_known", f"{kg_rows.loc['base', 'facts_known']:.1%} (base) and {kg_rows.loc['meta', 'facts_known']:.1%} "
            "(meta-trained)")
kg_meta_effect = kg_run.edit_effect("meta")
glue_number("kg_meta_effect", "{:+.0f} points [{:+.0f}, {:+.0f}]".format(*(100 * v for v in kg_meta_effect)))
glue_number("kg_meta_control", f"{kg_rows.loc['meta', 'two_hop_unedited']:.0%}")
glue_number("kg_base_note",
            f"On the base model the edit raises the 2-hop accuracy by {100 * kg_ctrl:+.0f} points "
            f"[{100 * kg_ctrl_low:+.0f}, {100 * kg_ctrl_high:+.0f}] over the control: as the new entity occurs in "
            "no training sentence, that part goes through the edited first hop, so even without meta-training the "
            "tiny model reads part of its second hop from the first hop's answer."
            if kg_ctrl_low > 0 else
            f"On the base model the edit changes the 2-hop accuracy by {100 * kg_ctrl:+.0f} points "
            f"[{100 * kg_ctrl_low:+.0f}, {100 * kg_ctrl_high:+.0f}] over the control, no more than guessing from "
            "the relations explains: without meta-training its second hop does not read the edited first hop.")
glue_number("kg_verdict", "meta-training makes the edit reach the 2-hop question more often (the interval is above 0)"
            if kg_low > 0 else "meta-training makes the edit reach it less often (the interval is below 0)"
            if kg_high < 0 else f"the {kg_run.n_eval} cases cannot tell the two models apart (the interval holds 0)")

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

res.apply()
propagation_panel(net, tok, res, hp)

# %% tags=["remove-cell"]
save_results(NOTEBOOK, {
    "table1": table1[["scope", "split", "acc_base", "acc_meta", "gain", "n", "layers", "base_low", "base_high",
                      "meta_low", "meta_high", "single_hop_base", "single_hop_meta"]].to_dict("records"),
    "layer_sweep": layer_table[["layer", "scope", "split", "acc", "acc_base", "n"]].to_dict("records"),
    "steps_curve": curve[["tasks_seen", "split", "acc", "ci_low", "ci_high", "n"]].to_dict("records"),
    "table2": table2.to_dict("records"),
    "alpha_sweep": alpha_table.to_dict("records"),
    "kg_two_hop": {"rows": kg_table.to_dict("records"), "gain": kg_gain, "gain_low": kg_low, "gain_high": kg_high,
                   "edit_effect_base": list(kg_run.edit_effect("base")), "edit_effect_meta": list(kg_meta_effect),
                   "n_train": kg_run.n_train, "n_eval": kg_run.n_eval, "epochs": kg_log["epochs"],
                   "n_one_hop": kg_log["n_one_hop"], "n_two_hop": kg_log["n_two_hop"],
                   "seconds_per_task": kg_run.seconds_per_task},
    "question_forms": style_table.to_dict("records"),
    "data": {"model": lm.name, "second_hop_known_share": known_share, "n_train": len(train), "n_id": len(id_cases),
             "n_ood": len(ood_cases), "n_mquake": len(mquake_cases), "n_mquake_subset": len(subset_cases),
             "n_layers": n_layers, "paper_layer": layer, "chosen_layer": chosen, "swept_layers": swept,
             "question_style": question_style, "meta_seconds_per_task": res.seconds_per_task},
}, parameters=cfg)

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
