"""Causal-tracing heatmaps (Paper A Appendix B, Fig. 6; ROME Fig. 1 and 2).

ROME's layout: one heatmap per kind of state, input tokens on the y axis (subject tokens
starred), the restored layer on the x axis, the colour the probability of the correct
answer with that state restored (one prompt) or the average indirect effect (many prompts).
"""
from __future__ import annotations

import numpy as np

from kedit_utils.book.style import SEQUENTIAL, axes_or_new, subplots
from kedit_utils.kg.tracing import KINDS, TraceResult, TraceSummary

KIND_TITLES = {"hidden": "hidden state (residual stream)", "mlp": "MLP output", "attn": "attention output"}


def _labels(item) -> list[str]:
    if isinstance(item, TraceResult):
        b, e = item.subject_range
        return [f"{t}*" if b <= i < e else t for i, t in enumerate(item.tokens)]
    return list(item.positions)


def trace_heatmap(item: TraceResult | TraceSummary, ax=None, title: str | None = None, colorbar: bool = True):
    """Heatmap of one trace (p(answer) per restored state) or of a :class:`TraceSummary`
    (average indirect effect). Returns the figure."""
    fig, ax = axes_or_new(ax, figsize=(6.5, 0.45 * _n_positions(item) + 1.6))
    if isinstance(item, TraceResult):
        data, vmin = item.scores.T, item.low_score
        cbar_label = "p(answer)"
        sub = f"clean {item.high_score:.3f}, corrupted {item.low_score:.3f}"
    else:
        data, vmin = item.mean.T, None
        cbar_label = "average indirect effect"
        sub = f"clean {item.high_mean:.3f}, corrupted {item.low_mean:.3f}, n = {int(item.n.max())}"
    mesh = ax.pcolormesh(data, cmap=SEQUENTIAL, vmin=vmin, edgecolors="none")
    labels = _labels(item)
    ax.set_yticks(np.arange(len(labels)) + 0.5, labels)
    ax.invert_yaxis()
    row_labels = item.row_labels
    step = max(1, len(row_labels) // 12)
    ticks = np.arange(0, len(row_labels), step)
    ax.set_xticks(ticks + 0.5, [row_labels[i] for i in ticks])
    window = "" if item.kind == "hidden" or item.window == 1 else f", window {item.window}"
    ax.set_xlabel(f"restored {item.kind} layer{window}")
    ax.grid(False)
    ax.set_title(title if title is not None else f"{KIND_TITLES.get(item.kind, item.kind)}\n{sub}", fontsize=10)
    if colorbar:
        fig.colorbar(mesh, ax=ax, label=cbar_label)
    return fig


def _n_positions(item) -> int:
    return len(item.tokens) if isinstance(item, TraceResult) else len(item.positions)


def trace_heatmaps(items: dict, axes=None, suptitle: str | None = None):
    """One heatmap per kind (``{kind: TraceResult or TraceSummary}``) side by side."""
    kinds = [k for k in KINDS if k in items] + [k for k in items if k not in KINDS]
    if axes is None:
        first = items[kinds[0]]
        fig, axes = subplots(1, len(kinds), figsize=(5.2 * len(kinds), 0.45 * _n_positions(first) + 1.8))
        axes = np.atleast_1d(axes)
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    for ax, k in zip(axes, kinds):
        trace_heatmap(items[k], ax=ax)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def trace_heatmap_grid(summaries: dict):
    """:func:`trace_heatmaps` of every model's average trace, one row each (``summaries``:
    ``{(kind, n_layers): (traces, {state kind: TraceSummary})}``), each panel's title prefixed
    with the model ("BA 6L: ..."). Returns the figure."""
    fig, axes = subplots(len(summaries), 3, figsize=(15, 2.9 * len(summaries)), squeeze=False)
    for row, ((kind, n_layers), (_, summary)) in zip(axes, summaries.items()):
        trace_heatmaps(summary, axes=row)
        for ax in row:
            ax.set_title(f"{kind.upper()} {n_layers}L: {ax.get_title()}")
    fig.tight_layout()
    return fig


def effect_by_layer(summary: TraceSummary, position: str | int, ax=None, label: str | None = None):
    """Average indirect effect along the layers at one position, with the 95 % band."""
    fig, ax = axes_or_new(ax, figsize=(5, 3.2))
    c = summary.positions.index(position) if isinstance(position, str) else int(position)
    x = summary.layers
    ax.plot(x, summary.mean[:, c], marker="o", ms=3, label=label or f"{summary.kind} @ {summary.positions[c]}")
    ax.fill_between(x, summary.ci_low[:, c], summary.ci_high[:, c], alpha=0.25)
    ax.set_xlabel("layer (-1 = embedding)" if (x < 0).any() else "layer")
    ax.set_ylabel("average indirect effect")
    ax.legend(fontsize=8)
    return fig
