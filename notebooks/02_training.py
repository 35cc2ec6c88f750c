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
# # 2. GPT-2 models trained from scratch on the knowledge graphs
#
# **Reproduces** Paper A §3.2 and **Table 1**: Hugging Face `GPT2LMHeadModel`s initialised
# from scratch with 6, 12 and 24 layers, trained on the alias corpus of each graph (ER, BA),
# reach about 99 % accuracy on the training data *and* on all data.
#
# * **Input and loss.** The model reads the prompt (subject alias, relation alias) and is
#   trained with next-token cross-entropy on the object token of each sampled sentence (the
#   paper's objective; `objective="alias_spread"` spreads the target over the object's
#   aliases instead, a labelled deviation offered because it trains faster).
# * **Accuracy** counts a prediction correct when it is *any* alias of the right object,
#   exactly as the paper defines it. Besides the paper's two columns we report accuracy on
#   the prompts never seen in training (`acc_unseen`): answering those needs the model to
#   recognise aliases, which chapter 3 looks at in the embeddings.
# * **Stopping.** Trained on sampled object aliases, the model first generalises, then
#   drifts as it memorises which alias each prompt was sampled with. Training therefore stops
#   on a *held-out* measure: half of the unseen prompts are a validation set; `acc_unseen`
#   is measured on the other half, which no training decision looks at. The best checkpoint
#   is kept.
#
# Trained models are cached (key: every input below), so chapters 3-5 load these models.

# %% tags=["parameters"]
profile = "quick"  # "quick": small CPU default; "paper": the paper's scale
seed = 0
device = "auto"  # "auto" | "cpu" | "cuda"
graph_kinds = ["er", "ba"]
layers = None  # depths to train; None: from the profile (paper: [6, 12, 24])
n_entities = None
n_relations = None
ba_m = None
n_aliases = None
sample_fraction = None  # paper: 0.2
n_embd = None
n_head = None
lr = None
batch_size = None
max_epochs = None
weight_decay = None
warmup = None
objective = None  # "sampled" (paper) | "alias_spread" (deviation)
lr_depth_exponent = None  # a depth d trains with lr * (6 / d) ** this
threads = None  # torch CPU threads while training (None: from the profile)
target_accuracy = None  # stop when training and held-out accuracy reach this
executor = "local"  # where the models train: "local" (this process or `workers` processes) | "dask"
scheduler = None  # executor "dask": a running scheduler's address (tcp://host:8786); None: a local cluster
workers = None  # processes training models in parallel (None: the profile's: quick 2, paper 1)

# %% tags=["remove-input"]
from IPython.display import display

from kedit_utils.book import profiles
from kedit_utils.book.figures.training import training_curves_grid
from kedit_utils.book.results import glue_figure, glue_number, save_results
from kedit_utils.core.jobs import check_executor
from kedit_utils.kg.chapters import (
                               paper_table1_ranges,
                               table1_accuracies,
                               table1_verdict,
)
from kedit_utils.kg.trained_models import trained_models

NOTEBOOK = "02_training"
cfg = profiles.resolve_parameters(NOTEBOOK, profile, globals())
cfg["graph_kinds"] = graph_kinds
check_executor(cfg["executor"], cfg["workers"], cfg["scheduler"])
profiles.parameters_frame(cfg, NOTEBOOK)

# %% [markdown]
# ## Training
#
# One model per graph × depth. A cached model loads in seconds; the `seconds` column is the
# training time when it was trained.

# %%
models = trained_models(cfg, executor=cfg["executor"], workers=cfg["workers"], scheduler=cfg["scheduler"])

# %% [markdown]
# (ch2-table1)=
# ## Table 1: accuracy after training
#
# Accuracy on the training sentences (`train`), on all data (`all`) and on the prompts never
# seen in training (`unseen`), beside the paper's two columns; `s` is the training time in
# seconds and `epochs` the passes over the training sentences.

# %%
table1 = table1_accuracies(models)
shown = table1.rename(columns={"acc_train": "train", "acc_all": "all", "acc_unseen": "unseen", "seconds": "s",
                               "paper acc_train": "paper train", "paper acc_all": "paper all"})
display(shown.set_index(["graph", "layers"]).style.format(precision=4).format({"s": "{:.0f}", "epochs": "{:.1f}"}))

# %% tags=["remove-cell"]
glue_number("min_acc_train", table1.acc_train.min(), ".4f")
glue_number("min_acc_all", table1.acc_all.min(), ".4f")
glue_number("min_acc_unseen", table1.acc_unseen.min(), ".4f")
glue_number("total_minutes", table1.seconds.sum() / 60, ".1f")
glue_number("n_models", len(table1))
paper_train, paper_all = paper_table1_ranges()
glue_number("paper_acc_train", paper_train)
glue_number("paper_acc_all", paper_all)
glue_number("table1_verdict", table1_verdict(table1))

# %% [markdown]
# (ch2-curves)=
# ## Training curves

# %% tags=["hide-input", "remove-output"]
glue_figure("fig_curves", training_curves_grid(models))

# %% [markdown]
# ```{glue:figure} fig_curves
# :name: fig-ch2-curves
#
# **Training curves** (the paper reports only the final accuracies of Table 1). Here: the
# loss (left) and the accuracies on the training sentences, on all data and on the held-out
# validation prompts (right) at each evaluation, for every model; the vertical line marks the
# kept checkpoint.
# ```

# %% tags=["remove-cell"]
save_results(NOTEBOOK, {"table1": table1[
    ["graph", "layers", "acc_train", "acc_all", "acc_unseen", "seconds", "epochs"]
].to_dict("records")}, parameters=cfg)

# %% [markdown]
# ## What this chapter showed
#
# All {glue:text}`n_models` models reach at least {glue:text}`min_acc_train` on the training
# data and {glue:text}`min_acc_all` on all data (the paper: {glue:text}`paper_acc_train` and
# {glue:text}`paper_acc_all`): {glue:text}`table1_verdict`. On prompts never
# seen in training they reach at least {glue:text}`min_acc_unseen`: the knowledge
# generalises across aliases. Training took {glue:text}`total_minutes` minutes in all on this
# machine for this profile. The quick profile uses a smaller graph and narrower models than
# the paper (see the parameters table); `profile="paper"` trains at the paper's scale.
