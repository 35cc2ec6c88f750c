"""Where each method writes: |ΔW| per layer × module (Paper C §5.4, the survey's heatmaps of
the weight change of each method on the same edits).

A change is attributed to its block (the ``.<layer>.`` of the parameter name) and to a module
group: ``attn`` (every attention tensor), ``mlp_in`` (the MLP's input maps: GPT-2's
``c_fc``, Llama's ``gate_proj`` and ``up_proj``), ``mlp_out`` (W2: ``c_proj`` of the MLP,
``down_proj``), ``other`` (norms, embeddings). The value of a cell is ‖ΔW‖_F of that group,
averaged over the edits (0 for an edit that did not touch it); in-context methods have none.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

GROUPS = ("attn", "mlp_in", "mlp_out", "other")
_LAYER = re.compile(r"\.(\d+)\.")


def module_group(name: str) -> str:
    """The group of a parameter name (module docstring)."""
    if ".attn." in name or ".self_attn." in name:
        return "attn"
    if ".mlp." in name:
        return "mlp_out" if (".c_proj." in name or ".down_proj." in name) else "mlp_in"
    return "other"


def layer_of(name: str) -> int | None:
    """The block index in a parameter name, or None (embeddings, final norm)."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def change_cells(changes: Iterable[tuple[str, float]]) -> dict[tuple[int, str], float]:
    """(layer, group) → ‖ΔW‖_F of the group's tensors together, for one edit's
    ``(name, delta_norm)`` pairs."""
    sq: dict[tuple[int, str], float] = {}
    for name, norm in changes:
        layer = layer_of(name)
        key = (-1 if layer is None else layer, module_group(name))
        sq[key] = sq.get(key, 0.0) + float(norm) ** 2
    return {k: v ** 0.5 for k, v in sq.items()}


def weight_change_map(rows: pd.DataFrame, n_layers: int, methods: Sequence[str] | None = None,
                      groups: Sequence[str] = ("attn", "mlp_in", "mlp_out")) -> dict[str, np.ndarray]:
    """method → (n_layers, len(groups)) mean ‖ΔW‖_F per edit, from the grid's rows (their
    ``changes`` column). Methods with no weight change are left out."""
    out = {}
    methods = list(dict.fromkeys(rows["method"])) if methods is None else list(methods)
    for m in methods:
        g = rows[rows["method"] == m]
        if g.empty:
            continue
        acc = np.zeros((n_layers, len(groups)))
        for changes in g["changes"]:
            for (layer, group), v in change_cells(changes).items():
                if 0 <= layer < n_layers and group in groups:
                    acc[layer, list(groups).index(group)] += v
        if acc.any():
            out[m] = acc / len(g)
    return out


def change_table(maps: dict[str, np.ndarray], groups: Sequence[str] = ("attn", "mlp_in", "mlp_out")) -> pd.DataFrame:
    """One row per method: the layers it changed, the total mean ‖ΔW‖ and the share per group."""
    rows = []
    for m, a in maps.items():
        layers = [int(i) for i in np.nonzero(a.sum(axis=1))[0]]
        total = float(a.sum())
        row = {"method": m, "layers": f"{layers[0]}–{layers[-1]}" if len(layers) > 1 else str(layers[0]),
               "n_layers": len(layers), "mean_norm": total}
        for j, g in enumerate(groups):
            row[f"share_{g}"] = float(a[:, j].sum() / total) if total else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["GROUPS", "change_cells", "change_table", "layer_of", "module_group", "weight_change_map"]
