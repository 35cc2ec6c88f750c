"""Paper A's claims: each number of its tables and figures that the book checks, with the
rule of :mod:`kedit_utils.core.verdicts` that decides it, computed from the chapters' results
(Table 1 from chapter 2, Figs. 3 and 5 from chapter 3, Fig. 6 from chapter 4, Tables 2-3 from
chapter 5). The chapters glue these verdicts and the scorecard shows the same rows.

Chapter 5 (Paper A §4) has three kinds of claim, each decided here and only here:

* **a Table 2 cell** (:func:`table2_row_verdict`): the paper's Pearson r of degree and impact
  for one graph × depth inside our 95 % interval (rule ``correlation``; the interval across
  seeds where there are two or more, else over entities: :func:`~kedit_utils.kg.deletion.statistics.reported_interval`);
  the chapter's sentence on the BA models (:func:`table2_ba_verdict`) is the worst of its BA cells;
* **Table 2's contrast, BA ≫ ER** (issue 12's criterion, :func:`table2_criterion`): BA r ≥ .8
  with its interval above ER's at 6 and 12 layers (rule ``contrast``), for the rule's setup, the
  stored paper-scale parts and, at one depth, each setup variant (:func:`reproduced_by`);
* **a Table 3 cell** (:func:`table3_row_verdict`): the max and mean impact within a factor of
  the paper's (rule ``magnitude``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from kedit_utils.core.stats import detectable_correlation, detectable_text, interval_text, too_few_to_tell
from kedit_utils.core.verdicts import (
    AGREES,
    DOES_NOT,
    PARTLY,
    Claim,
    ClaimBuilder,
    verdict_accuracy,
    verdict_clustering,
    verdict_correlation,
    verdict_location,
    verdict_magnitude,
)
from kedit_utils.kg.deletion.statistics import reported_interval
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


PAPER_EDITOR, PAPER_TOKEN = "rome", "subject_last"  # the paper's numbers are ROME's, keyed at the subject
CRITERION_LAYERS = (6, 12)  # issue 12's criterion: the depths where the paper's BA r is highest (.93, .99)
CRITERION_R = 0.8  # ... and the BA r it asks for there
CRITERION_OUTCOMES = {AGREES: "reproduced", PARTLY: "not reproduced", DOES_NOT: "not reproduced"}
UNDECIDED = "undecided"


def paper_r(graph: str, layers: int, editor: str = PAPER_EDITOR, edit_token: str = PAPER_TOKEN) -> float | None:
    """The paper's Table 2 Pearson r for ``graph`` × ``layers``; ``None`` where the paper has no
    number: another depth, another editor than ROME or another key token than the subject's."""
    if str(editor) != PAPER_EDITOR or edit_token != PAPER_TOKEN:
        return None
    return PAPER_A_TABLE2.get((str(graph).upper(), int(layers)))


def paper_table3_text(graph: str, layers: int) -> str:
    """The paper's Table 3 cell (max / min / mean / std, ×10⁻²) as text; ``""`` where it has none."""
    paper = PAPER_A_TABLE3.get((str(graph).upper(), int(layers)))
    return " / ".join(f"{x:.2f}" for x in paper) if paper else ""


def table2_row_verdict(row) -> str | None:
    """The verdict on one Table 2 row (a mapping or pandas row: graph, layers, pearson, n_seeds,
    ci_* and seeds_*, optionally editor and edit_token): rule ``correlation`` on the interval
    :func:`~kedit_utils.kg.deletion.statistics.reported_interval` picks; ``None`` where the paper has no number
    or the row has no r."""
    get = row.get if hasattr(row, "get") else lambda k, default=None: getattr(row, k, default)
    paper = paper_r(get("graph"), get("layers"), get("editor", PAPER_EDITOR) or PAPER_EDITOR,
                    get("edit_token", PAPER_TOKEN) or PAPER_TOKEN)
    pearson = get("pearson")
    if paper is None or pearson is None or not np.isfinite(pearson):
        return None
    lo, hi, _ = reported_interval(row)
    return verdict_correlation(paper, lo, hi)


def table2_ba_verdict(rows: pd.DataFrame) -> tuple[str | None, str]:
    """The chapter's sentence on Table 2's BA models: the worst :func:`table2_row_verdict` of the
    BA rows the paper has a number for (ROME at the subject), and the sentence.
    (None, "...") when no such row ran."""
    ba = [v for v in (table2_row_verdict(r) for _, r in rows.iterrows() if str(r["graph"]).upper() == "BA")
          if v is not None]
    if not ba:
        return None, "not decided: no BA model the paper reports ran"
    worst = DOES_NOT if DOES_NOT in ba else PARTLY if PARTLY in ba else AGREES
    n = len(ba)
    text = {AGREES: f"the paper's r lies inside our 95 % interval on every BA model ({n}), as in the paper",
            PARTLY: f"a positive correlation on every BA model ({n}; each interval above 0), as in the paper, "
                    "though not as strong on all of them",
            DOES_NOT: f"no consistent positive correlation on the BA models, unlike the paper "
                      f"({ba.count(DOES_NOT)} of {n} intervals reach 0 or below without the paper's r)"}[worst]
    return worst, text


def _depth_check(rows: pd.DataFrame, n: int, threshold: float) -> tuple[bool, bool, str] | None:
    """Issue 12's criterion at depth ``n`` of one setup's rows: (BA r ≥ ``threshold``, BA's 95 %
    interval above ER's, the evidence in words), or None when BA or ER did not run there. The
    interval: :func:`kedit_utils.kg.deletion.statistics.reported_interval` (across seeds when there are
    several, else over entities)."""
    ba, er = rows[(rows.graph == "BA") & (rows.layers == n)], rows[(rows.graph == "ER") & (rows.layers == n)]
    if ba.empty or er.empty:
        return None
    b, e = ba.iloc[0], er.iloc[0]
    bl, bh, kind = reported_interval(b)
    el, eh, _ = reported_interval(e)
    n_seeds = int(b.n_seeds)
    return (bool(b.pearson >= threshold), bool(bl > eh),
            (f"{n} layers: BA r {b.pearson:.2f} {interval_text(bl, bh)} vs ER {e.pearson:.2f} {interval_text(el, eh)} "
             f"({kind}, {n_seeds} seed{'s' if n_seeds > 1 else ''})"))


def table2_criterion(rows: pd.DataFrame, layers=CRITERION_LAYERS,
                     threshold: float = CRITERION_R) -> tuple[str | None, str, str]:
    """Issue 12's verdict on one setup's Table 2, BA ≫ ER (``rows``: graph, layers, pearson, the
    intervals, n_seeds): (the ``contrast`` rule's verdict or None when undecided, the outcome
    "reproduced" | "not reproduced" | "undecided", the evidence in words).

    Agrees (reproduced): at every depth of ``layers``, BA r ≥ ``threshold`` with its interval above
    ER's; partly: BA's interval above ER's at every depth, its r below the threshold somewhere;
    does not: otherwise. Undecided when a depth did not run and none failed (a failed depth
    decides "not reproduced" whatever is missing)."""
    rows = pd.DataFrame(rows)
    if rows.empty:
        return None, UNDECIDED, "not run"
    rows = rows.assign(graph=rows.graph.astype(str).str.upper()).fillna(float("nan"))  # JSON null -> NaN
    checks = {n: _depth_check(rows, n, threshold) for n in layers}
    ran = [c for c in checks.values() if c is not None]
    evidence = [c[2] for c in ran]
    missing = [n for n, c in checks.items() if c is None]
    if missing:
        evidence.append("not run at " + ", ".join(f"{n}" for n in missing) + " layers")
    failed = [c for c in ran if not (c[0] and c[1])]
    if missing and not failed:
        return None, UNDECIDED, "; ".join(evidence)
    verdict = AGREES if not failed else PARTLY if all(c[1] for c in ran) and not missing else DOES_NOT
    return verdict, CRITERION_OUTCOMES[verdict], "; ".join(evidence)


def table2_criterion_text(rows: pd.DataFrame, layers=CRITERION_LAYERS, threshold: float = CRITERION_R,
                          nothing: str = "not decided (nothing stored)") -> str:
    """:func:`table2_criterion` as the chapter glues it: "outcome (evidence)"; ``nothing`` when
    ``rows`` is empty."""
    if len(rows) == 0:
        return nothing
    _, outcome, evidence = table2_criterion(rows, layers, threshold)
    return f"{outcome} ({evidence})"


def reproduced_by(rows: pd.DataFrame, layers=CRITERION_LAYERS, threshold: float = CRITERION_R) -> dict[str, bool]:
    """Per variant of ``rows`` (a ``variant`` column), whether :func:`table2_criterion` agrees
    (reproduced) at ``layers``; False when none of those depths ran."""
    return {name: table2_criterion(g, layers, threshold)[0] == AGREES
            for name, g in rows.groupby("variant", sort=False)}


def table3_row_verdict(row) -> str | None:
    """The verdict on one Table 3 row (graph, layers, max, mean; ×10⁻²): rule ``magnitude`` on
    the max and the mean; ``None`` where the paper has no number."""
    paper = PAPER_A_TABLE3.get((str(row["graph"]).upper(), int(row["layers"])))
    if paper is None:
        return None
    p_max, _, p_mean, _ = paper
    return verdict_magnitude((row["max"], row["mean"]), (p_max, p_mean))


def table2_row_power(row) -> tuple[str, bool]:
    """What a Table 2 row's sample can tell (issue 30 §3): the smallest |r| its entities detect
    (:func:`~kedit_utils.core.stats.detectable_correlation` on the row's ``n`` entity rows, 80 %
    power, two-sided 5 %; for an interval across seeds the seeds' spread, not only ``n``, sets
    its width, so this is the entities' part of it) and whether its interval decides: False when
    it holds both 0 and the paper's r. ``("", True)`` without ``n``."""
    n = row.get("n") if hasattr(row, "get") else getattr(row, "n", None)
    paper = paper_r(row["graph"], row["layers"])
    if not n or paper is None:
        return "", True
    lo, hi, _ = reported_interval(row)
    return detectable_text(detectable_correlation(int(n)), unit="r", scale=1), not too_few_to_tell(lo, hi, paper)


def _table2_claims(table2_rows: list[dict], label: str, anchor: str) -> list[Claim]:
    """Paper A Table 2 claims of ``table2_rows`` (graph, layers, pearson, n_seeds, ci_* and
    seeds_*, optionally editor and edit_token), each by :func:`table2_row_verdict`."""
    rows = []
    for r in table2_rows:
        verdict = table2_row_verdict(r)
        if verdict is None:
            continue
        lo, hi, kind = reported_interval(r)
        paper = paper_r(r["graph"], r["layers"])
        detectable, decided = table2_row_power(r)
        rows.append(Claim(
            "A", f"{label}, {_model(r['graph'], r['layers'])}: Pearson r "
                 f"[95 % CI {kind.replace('seeds', str(r['n_seeds']) + ' seeds')}]",
            f"{paper:.2f}", f"{r['pearson']:.2f} {interval_text(lo, hi)}",
            verdict, "correlation", "05_deletion_impact", anchor, detectable, decided))
    return rows


def _criterion_claims(table2_rows: list[dict], label: str, anchor: str) -> list[Claim]:
    """The BA ≫ ER row of one setup's Table 2 (:func:`table2_criterion`); none when undecided."""
    verdict, _, evidence = table2_criterion(pd.DataFrame(table2_rows))
    if verdict is None:
        return []
    depths = " and ".join(map(str, CRITERION_LAYERS))
    return [Claim("A", f"{label}: BA ≫ ER (BA r ≥ {CRITERION_R:g}, its interval above ER's, at {depths} layers)",
                  "BA .93 / .99, ER .21 / .26", evidence, verdict, "contrast", "05_deletion_impact", anchor)]


def tables23_claims(res: dict) -> list[Claim]:
    # the chapter's Table 2 (ROME rows; the other editors' have no paper number)
    rows = [Claim(
        "A", f"Table 2, {_model(r['graph'], r['layers'])}: Pearson r of degree and impact [95 % CI]",
        f"{paper_r(r['graph'], r['layers']):.2f}",
        f"{r['pearson']:.2f} {interval_text(*reported_interval(r)[:2])}",
        verdict, "correlation", "05_deletion_impact", "ch5-table2")
        for r in res["table2"] for verdict in [table2_row_verdict(r)] if verdict is not None]
    # issue 12 §4: the rule's setup (this build's); then paper scale from the stored parts (computed
    # by the chapter from them): the sweep's ROME rows at the paper's token, and the rule's
    stored = [r for r in res.get("stored_table2", []) if r["editor"] == PAPER_EDITOR and r["edit_token"] == PAPER_TOKEN]
    for table, label, anchor in ((res.get("rule_table2", []), "Table 2 under the rule", "ch5-rule-table2"),
                                 (stored, "Table 2 at paper scale (stored)", "ch5-stored"),
                                 (res.get("stored_rule_table2", []), "Table 2 under the rule at paper scale (stored)",
                                  "ch5-stored")):
        rows += _table2_claims(table, label, anchor) + _criterion_claims(table, label, anchor)
    for r in res["table3"]:
        verdict = table3_row_verdict(r)
        if verdict is None:
            continue
        p_max, _, p_mean, _ = PAPER_A_TABLE3[(r["graph"].upper(), r["layers"])]
        rows.append(Claim(
            "A", f"Table 3, {_model(r['graph'], r['layers'])}: impact max / mean (×10⁻²)",
            f"{p_max:.2f} / {p_mean:.2f}", f"{r['max']:.2f} / {r['mean']:.2f}",
            verdict, "magnitude", "05_deletion_impact", "ch5-table3"))
    return rows


CLAIMS: dict[str, list[ClaimBuilder]] = {
    "02_training": [table1_claims],
    "03_embeddings_pca": [clustering_claims],
    "04_causal_tracing": [fig6_claims],
    "05_deletion_impact": [tables23_claims],
}
