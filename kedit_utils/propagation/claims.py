"""Paper B's claims: the gain of meta-learning in Table 1, the best layer of Fig. 2 and the
meta-trained model against each baseline in Table 2, each decided by a rule of
:mod:`kedit_utils.core.verdicts` from chapter 6's results. The chapter glues these verdicts
and the scorecard shows the same rows.
"""
from __future__ import annotations

import numpy as np

from kedit_utils.core.verdicts import Claim, ClaimBuilder, difference_interval, verdict_depth, verdict_difference
from kedit_utils.propagation.paper_numbers import PAPER_B_LAYER_COUNTS, PAPER_B_LAYERS, PAPER_B_TABLE1, PAPER_B_TABLE2


def _layers(layers) -> str:
    return "all layers" if layers == "all" else f"layer {layers}" if "," not in str(layers) else f"layers {layers}"


def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f} %"


def propagation_claims(res: dict) -> list[Claim]:
    rows, ch = [], "06_meta_learning_propagation"
    split_names = {"id": "in-distribution", "ood": "OOD"}
    for r in res["table1"]:
        paper = PAPER_B_TABLE1.get((r["scope"], r["split"]))
        if paper is None or not r["n"]:
            continue
        n = r["n"]
        lo, hi = difference_interval(round(r["acc_meta"] * n), n, round(r["acc_base"] * n), n)
        gain = paper[1] / 100
        rows.append(Claim(
            "B", f"Table 1, {r['scope']} ({_layers(r.get('layers', 'all'))}), {split_names.get(r['split'], r['split'])}: "
                 "gain of meta-learning [95 % CI]",
            f"{paper[1]:+.1f} pts", f"{100 * r['gain']:+.1f} pts [{100 * lo:+.1f}, {100 * hi:+.1f}], n = {n}",
            verdict_difference(gain, lo, hi), "difference", ch, "ch6-table1"))
    data = res.get("data", {})
    if "chosen_layer" in data and data.get("n_layers"):
        layer, n_layers = data["chosen_layer"], data["n_layers"]
        rows.append(Claim(
            "B", "Fig. 2: best layer for OOD accuracy (single-layer Attn+MLP updates)",
            f"shallow: layer {PAPER_B_LAYERS['Llama3-8B']} of {PAPER_B_LAYER_COUNTS['Llama3-8B']} (Llama3-8B)",
            f"layer {layer} of {n_layers}" + (f" (swept {data['swept_layers']})" if data.get("swept_layers") else ""),
            verdict_depth(layer, n_layers), "depth", ch, "ch6-fig2"))
    by_method = {r["method"]: r for r in res["table2"]}
    meta = by_method.get("meta")
    if meta is not None:
        for method in ("ft", "rome", "memit", "alphaedit"):
            other = by_method.get(method)
            if other is None:
                continue
            for col, n_key, name, idx in (("cre_ood", "n", "CRE OOD", 0), ("mquake", "n_mquake", "MQuAKE", 1)):
                paper = PAPER_B_TABLE2[method][idx]
                n1, n2 = meta.get(n_key) or 0, other.get(n_key) or 0
                if paper is None or not n1 or not n2 or meta.get(col) is None or other.get(col) is None:
                    continue
                pm = PAPER_B_TABLE2["meta"][idx]
                lo, hi = difference_interval(round(meta[col] * n1), n1, round(other[col] * n2), n2)
                rows.append(Claim(
                    "B", f"Table 2, {name}: meta-trained FT minus {method.upper() if method != 'alphaedit' else 'AlphaEdit'} [95 % CI]",
                    f"{pm - paper:+.1f} pts ({pm:.1f} vs {paper:.1f})",
                    f"{100 * (meta[col] - other[col]):+.1f} pts [{100 * lo:+.1f}, {100 * hi:+.1f}] "
                    f"({_pct(meta[col])} vs {_pct(other[col])}, n = {n1})",
                    verdict_difference((pm - paper) / 100, lo, hi), "difference", ch, "ch6-table2"))
    return rows


CLAIMS: dict[str, list[ClaimBuilder]] = {"06_meta_learning_propagation": [propagation_claims]}
