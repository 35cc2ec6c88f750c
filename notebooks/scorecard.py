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
# # Scorecard: what this build reproduces
#
# Every number of the papers' tables and figures that a chapter of this book reproduces, the
# paper's value beside the one this build computed, and a verdict. The card is computed from
# the chapters' `results/<chapter>.json` when the book is built (this page runs after every
# chapter), so it always describes the build you are reading. Each row links to the section
# of its chapter that computes it, where the setup and its differences from the paper are
# explained.

# %% tags=["parameters"]
profile = "quick"  # the profile the book was built with; each chapter's own is read from its results
seed = 0  # unused here; every page takes it
device = "auto"  # unused here; every page takes it

# %% tags=["remove-cell"]
from IPython.display import HTML, display

from kedit_utils.book.results import glue_number, results_dir
from kedit_utils.book.runner import chapter_title
from kedit_utils.book.scorecard import (
    ROW_BUILDERS,
    build_scorecard,
    card_numbers,
    paper_section_html,
    rules_html,
)

card = build_scorecard(results_dir())
titles = {name: chapter_title(name) for name in ROW_BUILDERS}
for key, value in card_numbers(card).items():
    glue_number(key, value)

# %% [markdown]
# This build was made with the {glue:text}`profiles` profile{glue:text}`mixed_note`. Of its
# {glue:text}`n_rows` rows, {glue:text}`n_agrees` agree with the paper,
# {glue:text}`n_partly` partly and {glue:text}`n_does_not` do not. The *quick* profile trains
# smaller models on a smaller graph with one seed (each chapter's parameters table lists the
# differences); `kedit book --profile paper` builds the same card at the paper's scale.
#
# ## How a verdict is decided
#
# One rule per kind of number, applied to every row of that kind:

# %% tags=["remove-input"]
display(HTML(rules_html()))

# %% [markdown]
# (scorecard-paper-a)=
# ## Paper A: knowledge deletion and knowledge-graph structure
#
# Chapters 2-5: Table 1's accuracies, the alias clustering of Figs. 3 and 5, the causal-tracing
# peak of Fig. 6 and Tables 2-3 of the deletion sweep.

# %% tags=["remove-input"]
display(HTML(paper_section_html(card, "A", titles)))

# %% [markdown]
# (scorecard-paper-b)=
# ## Paper B: meta-learning so that fine-tuning edits propagate
#
# Chapter 6: the gain of meta-learning in Table 1, the best layer of Fig. 2 and the
# meta-trained model against each editing method in Table 2.

# %% tags=["remove-input"]
display(HTML(paper_section_html(card, "B", titles)))

# %% [markdown]
# (scorecard-paper-c)=
# ## Paper C: the survey's comparison of editing methods
#
# Chapter 7: each finding the survey states in words (§5), checked on the pretrained model and
# on the knowledge-graph model.

# %% tags=["remove-input"]
display(HTML(paper_section_html(card, "C", titles)))
