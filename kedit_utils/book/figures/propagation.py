"""Chapter 6's figures (Paper B Figs. 2 and 3): accuracy after an FT edit against the trained
layer, and against the meta-training tasks seen. Accuracies with their 95 % Wilson intervals."""
from __future__ import annotations

import pandas as pd

from kedit_utils.book.style import axes_or_new

SPLIT_COLORS = {"id": "#1f77b4", "ood": "#d62728"}
SPLIT_NAMES = {"id": "in-distribution", "ood": "out-of-distribution"}


def layer_sweep(rows, chosen: int | None = None, ax=None, title: str | None = None):
    """Accuracy by trained layer (one layer, Attn+MLP): the meta-trained model (solid) and the
    base model (dashed, same FT edit) per split; the chosen layer marked. ``rows``: records
    or a frame with ``layer, split, acc, ci_low, ci_high`` and ``model`` ("base"/"meta")."""
    df = pd.DataFrame(rows)
    fig, ax = axes_or_new(ax, figsize=(6.5, 3.8))
    for (split, model), part in df.groupby(["split", "model"], sort=False):
        part = part.sort_values("layer")
        style = "-o" if model == "meta" else "--s"
        color = SPLIT_COLORS.get(split, "gray")
        ax.plot(part.layer, part.acc, style, color=color, alpha=1.0 if model == "meta" else 0.6,
                label=f"{SPLIT_NAMES.get(split, split)}, {'meta-trained' if model == 'meta' else 'base'}")
        if model == "meta" and {"ci_low", "ci_high"} <= set(part):
            ax.fill_between(part.layer, part.ci_low, part.ci_high, color=color, alpha=0.12, linewidth=0)
    if chosen is not None:
        ax.axvline(chosen, color="black", lw=1, ls=":", label=f"chosen layer {chosen}")
    ax.set_xlabel("trained layer (attention + MLP)")
    ax.set_ylabel("2-hop accuracy after the FT edit")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title or "Accuracy by trained layer")
    return fig


def steps_curve(rows, ax=None, title: str | None = None):
    """Accuracy after the FT edit against meta-training tasks seen, one line per run
    (scope and layers) and split; ``rows``: ``tasks_seen, split, acc`` (+ ``ci_low``,
    ``ci_high``, ``scope``, ``layers``)."""
    df = pd.DataFrame(rows)
    if "scope" not in df:
        df["scope"], df["layers"] = "", ""
    fig, ax = axes_or_new(ax, figsize=(6.5, 3.8))
    styles = ["-o", "--s", ":^", "-.d", "-v", "--x"]
    for i, ((scope, layers), run) in enumerate(df.groupby(["scope", "layers"], sort=False)):
        for split, part in run.groupby("split", sort=False):
            part = part.sort_values("tasks_seen")
            color = SPLIT_COLORS.get(split, "gray")
            label = f"{SPLIT_NAMES.get(split, split)}" + (f", {scope} layer {layers}" if scope else "")
            ax.plot(part.tasks_seen, part.acc, styles[i % len(styles)], color=color, label=label,
                    alpha=max(0.35, 1 - 0.2 * i))
            if i == 0 and {"ci_low", "ci_high"} <= set(part):
                ax.fill_between(part.tasks_seen, part.ci_low, part.ci_high, color=color, alpha=0.12, linewidth=0)
    ax.set_xlabel("meta-training tasks seen")
    ax.set_ylabel("2-hop accuracy after the FT edit")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title or "Accuracy during meta-training")
    return fig


__all__ = ["layer_sweep", "steps_curve"]
