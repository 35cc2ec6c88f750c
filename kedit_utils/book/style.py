"""The book's one plotting style. Every plot function takes ``ax=None`` and returns the figure.

Colours: ER is blue, BA is orange throughout the book; sequential maps are ``viridis`` and
diverging ones ``RdBu_r``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

GRAPH_COLORS = {"ER": "#1f77b4", "BA": "#ff7f0e", "er": "#1f77b4", "ba": "#ff7f0e"}
SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"


def apply_style() -> None:
    """Seaborn's whitegrid with the book's sizes; called by every plot function."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "axes.titleweight": "bold"})


def axes_or_new(ax=None, figsize=(6, 4)):
    """Return ``(fig, ax)``: the given axes' figure, or a new figure with one axes."""
    apply_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def subplots(nrows=1, ncols=1, figsize=None, **kw):
    apply_style()
    figsize = figsize or (5 * ncols, 3.8 * nrows)
    return plt.subplots(nrows, ncols, figsize=figsize, **kw)
