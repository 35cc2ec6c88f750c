"""Figures of chapter 7 (Paper C, the survey): the method comparison with intervals, the
weight-change heatmaps (§5.4) and sequential editing."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from kedit_utils.book.style import axes_or_new, subplots

METHOD_LABELS = {"rome": "ROME", "memit": "MEMIT", "alphaedit": "AlphaEdit", "ft": "FT", "ft_l": "FT-L",
                 "lora": "LoRA", "ice": "ICE", "ike": "IKE", "serac": "SERAC", "mend": "MEND", "none": "unedited"}


def label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def metric_intervals(table: pd.DataFrame, metric: str, ax=None, title: str = "", methods: Sequence[str] | None = None,
                     actions: Sequence[str] = ("insert", "modify", "erase")):
    """One metric per method (rows) and action (colours): the mean over edits and its 95 %
    bootstrap interval. table: :func:`kedit_utils.survey.grid.summary` rows of one model."""
    fig, ax = axes_or_new(ax, figsize=(4, 3.2))
    methods = list(dict.fromkeys(table["method"])) if methods is None else list(methods)
    y = np.arange(len(methods))
    width = 0.8 / max(len(actions), 1)
    for k, action in enumerate(actions):
        part = table[table["action"] == action].set_index("method")
        for i, m in enumerate(methods):
            if m not in part.index or not np.isfinite(part.loc[m, metric]):
                continue
            r = part.loc[m]
            yy = y[i] - 0.4 + width * (k + 0.5)
            ax.errorbar(r[metric], yy, xerr=[[r[metric] - r[f"{metric}_lo"]], [r[f"{metric}_hi"] - r[metric]]],
                        fmt="o", ms=4, color=f"C{k}", capsize=2, label=action if i == 0 or m == methods[0] else None)
    ax.set_yticks(y, [label(m) for m in methods])
    ax.invert_yaxis()
    ax.set_xlabel(metric)
    ax.set_title(title or metric)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    if uniq:
        ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="best")
    return fig


def comparison_figure(table: pd.DataFrame, metrics: Sequence[str] = ("reliability", "generalization", "locality",
                                                                      "portability", "fluency"),
                      methods: Sequence[str] | None = None):
    """The survey's comparison as one figure: a panel per metric (:func:`metric_intervals`)."""
    fig, axes = subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.6), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], metrics):
        metric_intervals(table, m, ax=ax, methods=methods)
        if ax is not axes[0][0]:
            ax.tick_params(labelleft=False)
    fig.tight_layout()
    return fig


def weight_heatmaps(maps: dict[str, np.ndarray], groups: Sequence[str] = ("attn", "mlp_in", "mlp_out")):
    """|ΔW| per layer (rows) × module group (columns), one panel per method, each on its
    own colour scale (the methods' magnitudes differ by orders). maps:
    :func:`kedit_utils.survey.weight_maps.weight_change_map`."""
    n = max(len(maps), 1)
    fig, axes = subplots(1, n, figsize=(1.7 * n + 1, 4.2), squeeze=False)
    for ax, (m, a) in zip(axes[0], maps.items()):
        im = ax.imshow(a, aspect="auto", cmap="magma_r", interpolation="nearest")
        ax.set_title(label(m), fontsize=9)
        ax.set_xticks(range(len(groups)), [g.replace("_", " ") for g in groups], rotation=60, fontsize=7)
        ax.set_ylabel("layer" if ax is axes[0][0] else "")
        cb = fig.colorbar(im, ax=ax, fraction=0.08, pad=0.03)
        cb.ax.tick_params(labelsize=6)
        ax.grid(False)
    fig.tight_layout()
    return fig


def sequential_curves(frame: pd.DataFrame, axes=None):
    """Reliability of the first edits and locality (two panels) against the number of edits
    on one model, one line per method. frame: :func:`kedit_utils.survey.sequential.sequential_curve` rows."""
    if axes is None:
        fig, axes = subplots(1, 2, figsize=(8, 3.2))
    else:
        fig = axes[0].figure
    for i, (m, g) in enumerate(frame.groupby("method", sort=False)):
        g = g.sort_values("n_edits")
        for ax, col in zip(axes, ("reliability_first", "locality")):
            ax.plot(g["n_edits"], g[col], marker="o", ms=3, color=f"C{i}", label=label(m))
    for ax, name in zip(axes, ("reliability of the first edits", "locality")):
        ax.set_xscale("log")
        ax.set_xlabel("edits on the model")
        ax.set_ylabel(name)
        ax.set_ylim(-0.03, 1.03)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def not_run_figure(message: str, ax=None):
    """A small figure that says why a figure was not computed in this run (a chapter's
    ``{glue:figure}`` directive needs a figure either way)."""
    fig, ax = axes_or_new(ax, figsize=(6, 1.2))
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, color="0.35", wrap=True)
    ax.set_axis_off()
    return fig


__all__ = ["METHOD_LABELS", "not_run_figure", "comparison_figure", "label", "metric_intervals", "sequential_curves", "weight_heatmaps"]
