"""Paper A's claims: each number of its tables and figures that the book checks, with the
rule of :mod:`kedit_utils.core.verdicts` that decides it, computed from the chapters' results
(Table 1 from chapter 2, Figs. 3 and 5 from chapter 3, Fig. 6 from chapter 4, Tables 2-3 from
chapter 5). The chapters glue these verdicts and the scorecard shows the same rows.
"""
from __future__ import annotations

import pandas as pd

from kedit_utils.core.stats import reported_interval
from kedit_utils.core.verdicts import (
    Claim,
    ClaimBuilder,
    verdict_accuracy,
    verdict_clustering,
    verdict_correlation,
    verdict_location,
    verdict_magnitude,
)
from kedit_utils.kg.paper_numbers import PAPER_A_TABLE1, PAPER_A_TABLE2, PAPER_A_TABLE3


def _acc(x: float) -> str:
    return f"{x:.4f}".lstrip("0") if x < 1 else "1.000"


def _model(graph: str, layers: int) -> str:
    return f"{graph.upper()} {layers}L"


def table1_claims(res: dict) -> list[Claim]:
    rows = []
    for r in res["table1"]:
        paper = PAPER_A_TABLE1.get((r["graph"].upper(), r["layers"]))
        if paper is None:
            continue
        ours = (r["acc_train"], r["acc_all"])
        rows.append(Claim(
            "A", f"Table 1, {_model(r['graph'], r['layers'])}: accuracy train / all",
            " / ".join(map(_acc, paper)), " / ".join(map(_acc, ours)),
            verdict_accuracy(ours, paper), "accuracy", "02_training", "ch2-table1"))
    return rows


def clustering_claims(res: dict) -> list[Claim]:
    frame = pd.DataFrame(res["clustering"])
    rows = []
    for (graph, kind), part in frame.groupby(["graph", "kind"], sort=False):
        by_frac = part.set_index("sample_fraction").score.sort_index()
        if len(by_frac) < 2:
            continue
        small, big = float(by_frac.iloc[0]), float(by_frac.iloc[-1])
        fracs = f"{by_frac.index[-1]:.0%} / {by_frac.index[0]:.0%}"
        rows.append(Claim(
            "A", f"Figs. 3 and 5, {graph} {kind} aliases: silhouette at {fracs}",
            "cluster / scatter (pictures)", f"{big:.2f} / {small:.2f}",
            verdict_clustering(big, small), "clustering", "03_embeddings_pca", "ch3-clustering"))
    return rows


def fig6_claims(res: dict) -> list[Claim]:
    rows = []
    for r in res["tracing"]:
        if r["kind"] != "mlp":
            continue
        token = str(r["peak_token"])
        at_subject = token.startswith("subject")
        rows.append(Claim(
            "A", f"Fig. 6, {_model(r['graph'], r['layers'])}: MLP peak of the indirect effect",
            "layer 0 at the subject", f"layer {r['peak_layer']} at the {token.split('_')[0]} ({r['peak_effect']:.2f})",
            verdict_location(r["peak_layer"] == 0, at_subject), "location", "04_causal_tracing", "ch4-fig6"))
    return rows


def _table2_claims(table2_rows: list[dict], label: str, anchor: str) -> list[Claim]:
    """Paper A Table 2 claims of ``table2_rows`` (graph, layers, pearson, n_seeds, ci_* and
    seeds_*), each verdict on the interval :func:`~.stats.reported_interval` chooses."""
    rows = []
    for r in table2_rows:
        paper = PAPER_A_TABLE2.get((r["graph"].upper(), r["layers"]))
        if paper is None or r.get("pearson") is None:
            continue
        lo, hi, kind = reported_interval(r)
        rows.append(Claim(
            "A", f"{label}, {_model(r['graph'], r['layers'])}: Pearson r "
                 f"[95 % CI {kind.replace('seeds', str(r['n_seeds']) + ' seeds')}]",
            f"{paper:.2f}", f"{r['pearson']:.2f} [{lo:.2f}, {hi:.2f}]",
            verdict_correlation(paper, lo, hi), "correlation", "05_deletion_impact", anchor))
    return rows


def tables23_claims(res: dict) -> list[Claim]:
    rows = []
    for r in res["table2"]:
        paper = PAPER_A_TABLE2.get((r["graph"].upper(), r["layers"]))
        if paper is None or r.get("editor", "rome") != "rome":  # the paper's numbers are ROME's
            continue
        rows.append(Claim(
            "A", f"Table 2, {_model(r['graph'], r['layers'])}: Pearson r of degree and impact [95 % CI]",
            f"{paper:.2f}", f"{r['pearson']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]",
            verdict_correlation(paper, r["ci_low"], r["ci_high"]), "correlation", "05_deletion_impact",
            "ch5-table2"))
    # issue 12 §4: the rule's setup (this build's); then paper scale from the stored parts (computed
    # by the chapter from them): the sweep's ROME rows at the paper's token, and the rule's
    rows += _table2_claims(res.get("rule_table2", []), "Table 2 under the rule", "ch5-rule-table2")
    rows += _table2_claims([r for r in res.get("stored_table2", []) if r["editor"] == "rome"
                            and r["edit_token"] == "subject_last"], "Table 2 at paper scale (stored)", "ch5-stored")
    rows += _table2_claims(res.get("stored_rule_table2", []), "Table 2 under the rule at paper scale (stored)",
                           "ch5-stored")
    for r in res["table3"]:
        paper = PAPER_A_TABLE3.get((r["graph"].upper(), r["layers"]))
        if paper is None:
            continue
        p_max, _, p_mean, _ = paper
        rows.append(Claim(
            "A", f"Table 3, {_model(r['graph'], r['layers'])}: impact max / mean (×10⁻²)",
            f"{p_max:.2f} / {p_mean:.2f}", f"{r['max']:.2f} / {r['mean']:.2f}",
            verdict_magnitude((r["max"], r["mean"]), (p_max, p_mean)), "magnitude", "05_deletion_impact",
            "ch5-table3"))
    return rows


CLAIMS: dict[str, list[ClaimBuilder]] = {
    "02_training": [table1_claims],
    "03_embeddings_pca": [clustering_claims],
    "04_causal_tracing": [fig6_claims],
    "05_deletion_impact": [tables23_claims],
}
