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
from kedit_utils.book.scorecard import build_scorecard, rules_html, scorecard_html
from kedit_utils.core.verdicts import VERDICTS

card = build_scorecard(results_dir())
counts = card.counts()
glue_number("n_rows", len(card.rows))
for verdict in VERDICTS:
    glue_number(f"n_{verdict.replace(' ', '_')}", counts[verdict])
built_with = sorted(set(card.profiles.values()))
glue_number("profiles", " and ".join(f'"{p}"' for p in built_with) or "(none)")
glue_number("mixed_note", "" if len(built_with) <= 1 else
            " (chapters were built with different profiles: the chapter column says which)")

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
# ## Paper A: knowledge deletion and knowledge-graph structure

# %% tags=["remove-input"]
display(HTML(scorecard_html(card.for_paper("A"), {name: chapter_title(name) for name in card.profiles})))
if card.missing:
    print("Not run yet, so not on the card:", ", ".join(card.missing))

# %% [markdown]
# Papers B (meta-learning for edit propagation) and C (the survey's comparison of editing
# methods) join the card as their chapters land.
