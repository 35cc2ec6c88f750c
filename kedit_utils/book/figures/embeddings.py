"""PCA of the learned alias embeddings (Paper A §3.2 Fig. 3, Appendix A Fig. 5).

6 entities (left panel) and 6 relations (right panel), 5 aliases each, one colour per item.
"""
from __future__ import annotations

import numpy as np

from kedit_utils.book.style import axes_or_new, subplots
from kedit_utils.kg.embeddings import choose_items, input_embeddings, pca_of_items


def plot_pca_panel(emb: np.ndarray, items, ax=None, title: str | None = None, prefix: str = "e", fit: str = "shown"):
    """Scatter of the first two principal components of the aliases of ``items``.

    emb: (n_items, n_aliases, d) embeddings; items: indices to show (one colour each).
    """
    import seaborn as sns

    fig, ax = axes_or_new(ax, figsize=(5, 4.5))
    coords, ratio = pca_of_items(emb, items, fit=fit)
    colors = sns.color_palette("tab10", len(items))
    for c, item, pts in zip(colors, items, coords):
        ax.scatter(pts[:, 0], pts[:, 1], color=c, s=45, label=f"{prefix}{int(item)}", edgecolor="white", linewidth=0.5)
    ax.set_xlabel(f"PC1 ({ratio[0]:.0%})")
    ax.set_ylabel(f"PC2 ({ratio[1]:.0%})")
    ax.legend(fontsize="small", ncol=2, title="aliases of", title_fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def plot_alias_pca(model, vocab, n_items: int = 6, seed: int = 0, axes=None, title: str | None = None, fit: str = "shown"):
    """Fig. 3 / Fig. 5: entity panel (left) and relation panel (right) of ``model``.

    Shows ``n_items`` seeded items of each kind; ``axes`` is an optional pair of axes.
    """
    if axes is None:
        fig, axes = subplots(1, 2, figsize=(10, 4.5))
    fig = axes[0].figure
    ent = input_embeddings(model, vocab, "entity")
    rel = input_embeddings(model, vocab, "relation")
    plot_pca_panel(ent, choose_items(len(ent), n_items, seed), ax=axes[0], title="entities", prefix="e", fit=fit)
    plot_pca_panel(rel, choose_items(len(rel), n_items, seed), ax=axes[1], title="relations", prefix="r", fit=fit)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def alias_pca_grid(models: dict, graph_kinds, n_layers: int, n_items: int = 6, seed: int = 0):
    """Fig. 3 / Fig. 5 for each graph kind, one row each (:func:`plot_alias_pca` of the
    ``n_layers`` model in ``models``, ``{(kind, n_layers): TrainedModel}``), titled "ER: entities"
    / "ER: relations". Returns the figure."""
    fig, axes = subplots(len(graph_kinds), 2, figsize=(10, 4.3 * len(graph_kinds)), squeeze=False)
    for row, kind in zip(axes, graph_kinds):
        tm = models[(kind, n_layers)]
        plot_alias_pca(tm.model, tm.vocab, n_items=n_items, seed=seed, axes=row)
        row[0].set_title(f"{kind.upper()}: entities")
        row[1].set_title(f"{kind.upper()}: relations")
    fig.tight_layout()
    return fig
