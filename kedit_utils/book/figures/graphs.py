"""Figures of chapter 1 (Paper A §3.1, Fig. 2): the graphs and their degree distributions."""
from __future__ import annotations

import math

import networkx as nx
import numpy as np

from kedit_utils.book.style import GRAPH_COLORS, axes_or_new, subplots
from kedit_utils.kg.graphs import KnowledgeGraph


def draw_graph(kg: KnowledgeGraph, ax=None, seed: int = 0):
    """Spring layout of the entity graph, node area proportional to degree."""
    fig, ax = axes_or_new(ax, figsize=(5, 5))
    g = kg.skeleton
    pos = nx.spring_layout(g, seed=seed, k=1.5 / math.sqrt(max(kg.n_entities, 1)))
    deg = kg.degree
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.25, width=0.6)
    nx.draw_networkx_nodes(
        g, pos, ax=ax, node_size=8 + 12 * deg, node_color=GRAPH_COLORS[kg.spec.kind],
        edgecolors="white", linewidths=0.4,
    )
    ax.set_title(f"{kg.spec.kind.upper()}: {kg.n_entities} entities, {kg.n_triples} triples")
    ax.set_axis_off()
    return fig


def draw_graphs(graphs: list[KnowledgeGraph], seed: int = 0):
    """:func:`draw_graph` of each graph side by side (chapter 1's first figure). Returns the figure."""
    fig, axes = subplots(1, len(graphs), figsize=(5.5 * len(graphs), 5.2), squeeze=False)
    for ax, kg in zip(axes[0], graphs):
        draw_graph(kg, ax=ax, seed=seed)
    fig.tight_layout()
    return fig


def degree_distribution(graphs: list[KnowledgeGraph], ax=None):
    """Empirical P(degree = k) on log-log axes, with the ER Poisson and BA k^-3 references."""
    fig, ax = axes_or_new(ax, figsize=(5.5, 4))
    for kg in graphs:
        deg = kg.degree
        ks, counts = np.unique(deg[deg > 0], return_counts=True)
        label = kg.spec.kind.upper()
        ax.loglog(ks, counts / deg.size, "o", color=GRAPH_COLORS[kg.spec.kind], label=label, alpha=0.8)
        k = np.arange(max(1, ks.min()), ks.max() + 1)
        if kg.spec.kind == "er":
            lam = deg.mean()
            pois = np.exp(k * np.log(lam) - lam - np.array([math.lgamma(x + 1) for x in k]))
            ax.loglog(k, pois, "-", color=GRAPH_COLORS["er"], lw=1, label=f"Poisson(λ={lam:.1f})")
        else:
            m = kg.spec.ba_m
            ref = 2 * m * (m + 1) / (k * (k + 1) * (k + 2))  # BA's exact asymptotic pmf ~ k^-3
            ax.loglog(k, ref, "--", color=GRAPH_COLORS["ba"], lw=1, label="BA theory ∝ k⁻³")
    ax.set_xlabel("degree k")
    ax.set_ylabel("fraction of entities")
    ax.set_title("Degree distributions")
    ax.legend(fontsize=8)
    return fig
