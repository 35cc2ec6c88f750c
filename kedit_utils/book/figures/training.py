"""Training curves of the from-scratch GPT-2s (Paper A §3.2, Table 1).

Each plot takes the evaluation log of :func:`kedit_utils.kg.training.train_model` (a list of
dicts or a DataFrame with ``step``, ``loss`` and ``acc_*`` columns), an optional ``ax`` and
returns the figure. Rows without a full evaluation (skipped early, see
``TrainConfig.eval_from``) only carry ``loss`` and ``acc_batch``; their other columns are gaps.
"""
from __future__ import annotations

import pandas as pd

from kedit_utils.book.style import GRAPH_COLORS, axes_or_new, subplots

ACCURACY_LABELS = {
    "acc_batch": "training batches (running)",
    "acc_train": "training data",
    "acc_all": "all data",
    "acc_val": "unseen prompts (validation)",
    "acc_test": "unseen prompts (test)",
}


def _frame(log) -> pd.DataFrame:
    return log if isinstance(log, pd.DataFrame) else pd.DataFrame(list(log))


def plot_loss(log, ax=None, title: str | None = "Training loss (object token)"):
    """Mean training loss between evaluations vs optimiser step."""
    fig, ax = axes_or_new(ax)
    df = _frame(log)
    ax.plot(df["step"], df["loss"], color="0.25")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    if title:
        ax.set_title(title)
    return fig


def plot_accuracies(
    log, ax=None, best_step: int | None = None, target: float | None = 0.99,
    metrics=tuple(ACCURACY_LABELS), title: str | None = "Alias-aware accuracy",
):
    """Accuracies vs step; a dotted line at ``target`` and a vertical one at the kept step."""
    fig, ax = axes_or_new(ax)
    df = _frame(log)
    for m in metrics:
        if m in df:
            ok = df[m].notna()  # full evaluations may be skipped early (TrainConfig.eval_from)
            style = {"color": "0.6", "linewidth": 1} if m == "acc_batch" else {"marker": ".", "markersize": 3}
            ax.plot(df["step"][ok], df[m][ok], label=ACCURACY_LABELS.get(m, m), **style)
    if target is not None:
        ax.axhline(target, color="0.5", linestyle=":", linewidth=1)
    if best_step is not None:
        ax.axvline(best_step, color="0.3", linestyle="--", linewidth=1, label="kept checkpoint")
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower right", fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def plot_training_curves(log, best_step: int | None = None, target: float | None = 0.99, axes=None, title: str | None = None):
    """Two panels: loss (left) and accuracies (right). ``axes``: optional pair of axes."""
    if axes is None:
        fig, axes = subplots(1, 2, figsize=(11, 3.8))
    fig = axes[0].figure
    plot_loss(log, ax=axes[0])
    plot_accuracies(log, ax=axes[1], best_step=best_step, target=target)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def training_curves_grid(models: dict):
    """:func:`plot_training_curves` of every model (``{(kind, n_layers): TrainedModel}``), one row
    each, titled "ER, 6 layers: loss" / "...: accuracy", the kept checkpoint marked. Returns the figure."""
    fig, axes = subplots(len(models), 2, figsize=(10, 2.6 * len(models)), squeeze=False)
    for row, ((kind, n_layers), tm) in zip(axes, models.items()):
        plot_training_curves(tm.log, best_step=tm.report.get("best_step"), axes=row)
        row[0].set_title(f"{kind.upper()}, {n_layers} layers: loss")
        row[1].set_title(f"{kind.upper()}, {n_layers} layers: accuracy")
    fig.tight_layout()
    return fig


def plot_metric_by_model(logs: dict, metric: str = "acc_all", ax=None, target: float | None = 0.99, title: str | None = None):
    """One curve per model: ``logs`` maps a label (e.g. "ER 6L") to its log.

    Labels starting with "ER"/"BA" take the book's graph colours; line style varies with order.
    """
    fig, ax = axes_or_new(ax)
    styles = ["-", "--", ":", "-."]
    counts: dict[str, int] = {}
    for label, log in logs.items():
        df = _frame(log)
        key = str(label)[:2].upper()
        i = counts.get(key, 0)
        counts[key] = i + 1
        ok = df[metric].notna()
        ax.plot(df["step"][ok], df[metric][ok], label=label, color=GRAPH_COLORS.get(key), linestyle=styles[i % len(styles)])
    if target is not None:
        ax.axhline(target, color="0.5", linestyle=":", linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel(ACCURACY_LABELS.get(metric, metric))
    ax.legend(fontsize="small")
    ax.set_title(title or f"{ACCURACY_LABELS.get(metric, metric)} during training")
    return fig
