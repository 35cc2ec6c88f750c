"""Figures of chapter 5 (Paper A §4, Fig. 4): degree and deletion impact per entity."""
from __future__ import annotations

import numpy as np
import pandas as pd

from kedit_utils.book.style import GRAPH_COLORS, axes_or_new


def degree_and_impact(df: pd.DataFrame, ax=None, title: str = ""):
    """The paper's Fig. 4 layout: entities sorted by degree; degree (bars) and impact (line)
    on twin axes. df: rows of one sweep with columns entity, degree, impact."""
    fig, ax = axes_or_new(ax, figsize=(7, 3.2))
    d = df.sort_values(["degree", "entity"], ascending=[False, True]).reset_index(drop=True)
    x = np.arange(len(d))
    ax.bar(x, d.degree, color="0.75", width=1.0, label="degree")
    ax.set_ylabel("degree")
    ax.set_xlabel("entities, sorted by degree")
    ax.set_xlim(-0.5, len(d) - 0.5)
    twin = ax.twinx()
    kind = str(d.get("graph", pd.Series(["BA"])).iloc[0])
    twin.plot(x, d.impact * 100, color=GRAPH_COLORS.get(kind, "C1"), lw=1.2, label="impact")
    twin.set_ylabel("impact I (×10⁻²)")
    twin.grid(False)
    ax.set_title(title)
    return fig


def impact_scatter(df: pd.DataFrame, ax=None, title: str = "", column: str = "impact"):
    """Impact (×10⁻²) against degree, one point per entity (and per seed), coloured by graph."""
    fig, ax = axes_or_new(ax, figsize=(4.5, 3.5))
    for kind, part in df.groupby("graph"):
        ax.scatter(part.degree, part[column] * 100, s=12, alpha=0.6, color=GRAPH_COLORS.get(kind), label=kind)
    ax.set_xlabel("degree")
    ax.set_ylabel(f"{column.replace('_', ' ')} (×10⁻²)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def broken_by_hop(by_hop: pd.DataFrame, ax=None):
    """Share of other facts' prompts broken by a deletion, by hop distance of their subject
    from the deleted entity (0 = the entity's other facts), per graph."""
    fig, ax = axes_or_new(ax, figsize=(4.5, 3.5))
    agg = by_hop.groupby(["graph", "hop"])[["broken", "prompts"]].sum()
    share = (agg.broken / agg.prompts.clip(lower=1)).unstack("graph")
    share.index = [("0 (same)", "1", "2", "3+")[h] for h in share.index]
    share.plot.bar(ax=ax, color=[GRAPH_COLORS.get(c) for c in share.columns], rot=0)
    ax.set_xlabel("hops from the deleted entity")
    ax.set_ylabel("share of prompts broken")
    ax.set_yscale("log")
    return fig


def lens_trace(probs: np.ndarray, old_object: int, deleted: int, ax=None, title: str = ""):
    """Logit lens after a deletion: probability of the old object and of <deleted> by layer.

    probs: (n_layers + 1, n_entities + 1) for one prompt."""
    fig, ax = axes_or_new(ax, figsize=(4.5, 3.2))
    layers = np.arange(probs.shape[0])
    ax.plot(layers, probs[:, old_object], "o-", label="old object")
    ax.plot(layers, probs[:, deleted], "s-", label="<deleted>")
    ax.set_xlabel("layer read (0 = embeddings)")
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def variant_forest(rows: pd.DataFrame, paper: dict | None = None, ax=None, title: str = ""):
    """Issue 12's variants side by side: per variant (rows top to bottom in table order), the
    Pearson r of degree and impact with its 95 % interval, BA and ER; ``paper``: {graph: r}
    drawn as dashed lines (the paper's values at this depth). rows: :func:`variant_rows`."""
    names = list(dict.fromkeys(rows.variant))
    fig, ax = axes_or_new(ax, figsize=(6.5, 0.32 * len(names) + 1.2))
    y = {n: i for i, n in enumerate(names)}
    for offset, (kind, part) in zip((-0.15, 0.15), rows.groupby("graph")):
        ys = np.array([y[n] for n in part.variant]) + offset
        err = np.vstack([part.pearson - part.ci_low, part.ci_high - part.pearson])
        ax.errorbar(part.pearson, ys, xerr=err, fmt="o", ms=4, lw=1, capsize=2,
                    color=GRAPH_COLORS.get(kind), label=kind)
    for kind, r in (paper or {}).items():
        ax.axvline(r, ls="--", lw=1, color=GRAPH_COLORS.get(kind), alpha=0.7)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(-1, 1)
    ax.set_xlabel("Pearson r (degree, impact), 95 % interval")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def margin_histogram(margins: dict, ax=None, title: str = ""):
    """Distributions of per-prompt logit margins, one step histogram per entry of ``margins``
    ({label: (P,) margins in nats, correct object minus the best other entity})."""
    fig, ax = axes_or_new(ax, figsize=(5, 3.2))
    values = np.concatenate([np.asarray(m) for m in margins.values()])
    bins = np.linspace(np.percentile(values, 0.5), np.percentile(values, 99.5), 50)
    for label, m in margins.items():
        ax.hist(np.clip(m, bins[0], bins[-1]), bins=bins, histtype="step", lw=1.3, density=True,
                label=f"{label} (median {np.median(m):.1f})")
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_xlabel("margin: log p(object) − log p(best other entity)")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


ORDER_STYLES = {"high": "-", "low": "--", "random": ":"}


def sequence_plot(curves: pd.DataFrame, ax=None, title: str = ""):
    """Accuracy over all knowledge as deletions accumulate, one line per graph × order
    (colour: graph; line style: the order entities were taken in). curves: rows of
    :func:`kedit_utils.kg.deletion.sequence.sequential_deletions` with graph and order."""
    fig, ax = axes_or_new(ax, figsize=(5.5, 3.4))
    for (kind, order), part in curves.groupby(["graph", "order"], sort=False):
        ax.plot(part.deleted, part.accuracy, ORDER_STYLES.get(order, "-"), color=GRAPH_COLORS.get(kind), lw=1.4,
                label=f"{kind}, {order} degree first" if order != "random" else f"{kind}, random order")
    ax.set_xlabel("facts deleted so far")
    ax.set_ylabel("accuracy over all knowledge")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return fig


def panel_row(draw, panels: dict[str, dict], width: float, height: float):
    """One figure with one axes per entry of ``panels`` ({title: keyword arguments}) side by
    side, each drawn by ``draw(ax=ax, title=title, **kwargs)`` (e.g. :func:`degree_and_impact`
    per graph); each panel is ``width`` × ``height`` inches. Returns the figure, laid out."""
    from kedit_utils.book.style import subplots

    fig, axes = subplots(1, len(panels), figsize=(width * len(panels), height), squeeze=False)
    for ax, (title, kwargs) in zip(axes[0], panels.items()):
        draw(ax=ax, title=title, **kwargs)
    fig.tight_layout()
    return fig
