"""Paper B's claims: the gain of meta-learning in Table 1, the best layer of Fig. 2 and the
meta-trained model against each baseline in Table 2, each decided by a rule of
:mod:`kedit_utils.core.verdicts` from chapter 6's results. One function per rule:

* :func:`table1_gain` — a Table 1 row (meta-trained minus base, same FT edit): the 95 %
  interval of the difference (:func:`~kedit_utils.core.stats.difference_interval`) and
  :func:`~kedit_utils.core.verdicts.verdict_difference` against Paper B's gain;
* :func:`layer_depth` — Fig. 2's chosen layer, :func:`~kedit_utils.core.verdicts.verdict_depth`;
* :func:`table2_difference` — Table 2, the meta-trained model minus one baseline on one data
  set, the same interval rule against Paper B's difference;
* :func:`ahead_of` — the baselines whose interval lies above 0 (the chapter's sentence
  "ahead of ..."), from :func:`table2_difference`.

The chapter's glued prose (:mod:`kedit_utils.propagation.chapter`), its results file (key
``claims``) and the scorecard (:data:`CLAIMS`, :func:`propagation_claims`) all call these.
A row with no case (n = 0) or without the paper's number gives no claim (``None``); too few
cases give an interval that holds 0, hence "does not".
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kedit_utils.core.stats import detectable_difference, detectable_text, difference_interval, too_few_to_tell
from kedit_utils.core.verdicts import (
    DOES_NOT,
    Claim,
    ClaimBuilder,
    sample_note,
    verdict_depth,
    verdict_difference,
)
from kedit_utils.propagation.paper_numbers import (
    PAPER_B_LAYER_COUNTS,
    PAPER_B_LAYERS,
    PAPER_B_TABLE1,
    PAPER_B_TABLE2,
)

CHAPTER = "06_meta_learning_propagation"
SPLIT_NAMES = {"id": "in-distribution", "ood": "OOD"}
TABLE2_CLAIMED = (("cre_ood", "n", "CRE OOD", 0), ("mquake", "n_mquake", "MQuAKE", 1))  # column, its n, name, paper idx
TABLE2_BASELINES = ("ft", "rome", "memit", "alphaedit")
METHOD_NAMES = {"ft": "FT", "rome": "ROME", "memit": "MEMIT", "alphaedit": "AlphaEdit", "meta": "meta"}


def points_text(difference: float, low: float, high: float, digits: int = 1, unit: str = "pts") -> str:
    """"+5.0 pts [+0.3, +11.0]": a difference of proportions and its interval, in points."""
    return f"{100 * difference:+.{digits}f} {unit} [{100 * low:+.{digits}f}, {100 * high:+.{digits}f}]"


ABOVE, BELOW, HOLDS_ZERO = "above 0", "below 0", "holds 0"


def interval_side(low: float, high: float) -> str:
    """Where a difference's interval lies: :data:`ABOVE` (it excludes 0 on the positive side,
    the rule :func:`~kedit_utils.core.verdicts.verdict_difference` asks of a positive gain),
    :data:`BELOW`, or :data:`HOLDS_ZERO` (too few cases to tell; also a NaN interval)."""
    if low > 0:
        return ABOVE
    return BELOW if high < 0 else HOLDS_ZERO


@dataclass(frozen=True)
class Difference:
    """One measured difference of accuracies (a proportion, e.g. 0.05), its 95 % interval
    (Newcombe's, from Wilson intervals), the number of cases of the first arm, Paper B's
    difference (a proportion) and the verdict of :func:`~kedit_utils.core.verdicts.verdict_difference`."""

    ours: float
    low: float
    high: float
    n: int
    paper: float
    verdict: str
    detectable: float = math.nan  # the smallest difference these samples detect (80 % power, two-sided 5 %)

    @property
    def decided(self) -> bool:
        """False when the interval holds both 0 and Paper B's difference: too few cases to tell."""
        return not too_few_to_tell(self.low, self.high, self.paper)

    @property
    def detectable_text(self) -> str:
        """"this n detects ≥ 24.3 pts"."""
        return detectable_text(self.detectable)

    def text(self, digits: int = 1) -> str:
        """"+5.0 pts [+0.3, +11.0], n = 100 (this n detects ≥ 19.8 pts)", or "... — too few
        cases to tell (this n detects ≥ 72.4 pts)" when the interval cannot decide."""
        return (f"{points_text(self.ours, self.low, self.high, digits)}, n = {self.n}"
                + sample_note(self.detectable_text, self.decided))

    @property
    def above_zero(self) -> bool:
        """The interval lies above 0 (:func:`interval_side`)."""
        return interval_side(self.low, self.high) == ABOVE


def _difference(acc1: float, n1: int, acc2: float, n2: int, paper: float) -> Difference:
    """The interval treats the two arms as independent samples (Newcombe's), and so does the
    detectable difference, at its worst place in [0, 1] (conservative where the cases are
    paired, as Table 1's base and meta-trained models on the same cases)."""
    lo, hi = difference_interval(round(acc1 * n1), n1, round(acc2 * n2), n2)
    verdict = DOES_NOT if math.isnan(lo) else verdict_difference(paper, lo, hi)
    detectable = detectable_difference(n1, n2)
    return Difference(acc1 - acc2, lo, hi, n1, paper, verdict, detectable)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def table1_gain(row: Mapping) -> Difference | None:
    """Table 1's rule for one row ``{scope, split, acc_base, acc_meta, n}``: the meta-trained
    accuracy minus the base's (the same ``n`` cases, treated as two samples), its interval and
    the verdict against Paper B's gain for that scope and split. ``None`` when Paper B has no
    number for the row or it has no case."""
    paper = PAPER_B_TABLE1.get((row["scope"], row["split"]))
    n = row.get("n") or 0
    if paper is None or not n or _missing(row.get("acc_meta")) or _missing(row.get("acc_base")):
        return None
    return _difference(row["acc_meta"], n, row["acc_base"], n, paper[1] / 100)


def layer_depth(chosen_layer: int, n_layers: int) -> str:
    """Fig. 2's rule: the chosen layer's depth (Paper B: a shallow layer, 9 of 32)."""
    return verdict_depth(chosen_layer, n_layers)


def table2_difference(rows: Sequence[Mapping], method: str, column: str = "cre_ood") -> Difference | None:
    """Table 2's rule: the meta-trained model's accuracy on ``column`` minus ``method``'s
    (each with its own number of cases), against Paper B's difference. ``None`` when the
    meta row or ``method``'s row is missing, either has no case or no accuracy, or Paper B
    reports no number for it."""
    n_key, idx = next(((k, i) for c, k, _, i in TABLE2_CLAIMED if c == column), ("n_" + column, None))
    by_method = {r["method"]: r for r in rows}
    meta, other = by_method.get("meta"), by_method.get(method)
    if meta is None or other is None or idx is None or method not in PAPER_B_TABLE2:
        return None
    paper, paper_meta = PAPER_B_TABLE2[method][idx], PAPER_B_TABLE2["meta"][idx]
    n1, n2 = meta.get(n_key) or 0, other.get(n_key) or 0
    if paper is None or not n1 or not n2 or _missing(meta.get(column)) or _missing(other.get(column)):
        return None
    return _difference(meta[column], n1, other[column], n2, (paper_meta - paper) / 100)


def ahead_of(rows: Sequence[Mapping], column: str = "cre_ood") -> list[tuple[str, Difference]]:
    """The methods the meta-trained model is ahead of on ``column`` by Table 2's rule: the
    interval of the difference lies above 0. ``(method, difference)`` in table order."""
    out = []
    for method in (r["method"] for r in rows):
        d = table2_difference(rows, method, column) if method != "meta" else None
        if d is not None and d.above_zero:
            out.append((method, d))
    return out


def _layers(layers) -> str:
    return "all layers" if layers == "all" else f"layer {layers}" if "," not in str(layers) else f"layers {layers}"


def _pct(x) -> str:
    return "–" if _missing(x) else f"{100 * x:.1f} %"


def table1_claims(res: dict) -> list[Claim]:
    rows = []
    for r in res.get("table1", []):
        d = table1_gain(r)
        if d is None:
            continue
        paper_gain = PAPER_B_TABLE1[(r["scope"], r["split"])][1]
        rows.append(Claim(
            "B", f"Table 1, {r['scope']} ({_layers(r.get('layers', 'all'))}), "
                 f"{SPLIT_NAMES.get(r['split'], r['split'])}: gain of meta-learning [95 % CI]",
            f"{paper_gain:+.1f} pts", f"{points_text(d.ours, d.low, d.high)}, n = {d.n}",
            d.verdict, "difference", CHAPTER, "ch6-table1", d.detectable_text, d.decided))
    return rows


def fig2_claims(res: dict) -> list[Claim]:
    data = res.get("data", {})
    if "chosen_layer" not in data or not data.get("n_layers"):
        return []
    layer, n_layers = data["chosen_layer"], data["n_layers"]
    return [Claim(
        "B", "Fig. 2: best layer for OOD accuracy (single-layer Attn+MLP updates)",
        f"shallow: layer {PAPER_B_LAYERS['Llama3-8B']} of {PAPER_B_LAYER_COUNTS['Llama3-8B']} (Llama3-8B)",
        f"layer {layer} of {n_layers}" + (f" (swept {data['swept_layers']})" if data.get("swept_layers") else ""),
        layer_depth(layer, n_layers), "depth", CHAPTER, "ch6-fig2")]


def table2_claims(res: dict) -> list[Claim]:
    table, rows = res.get("table2", []), []
    by_method = {r["method"]: r for r in table}
    for method in TABLE2_BASELINES:
        for column, _n_key, name, idx in TABLE2_CLAIMED:
            d = table2_difference(table, method, column)
            if d is None:
                continue
            pm, paper = PAPER_B_TABLE2["meta"][idx], PAPER_B_TABLE2[method][idx]
            meta, other = by_method["meta"], by_method[method]
            rows.append(Claim(
                "B", f"Table 2, {name}: meta-trained FT minus {METHOD_NAMES[method]} [95 % CI]",
                f"{pm - paper:+.1f} pts ({pm:.1f} vs {paper:.1f})",
                f"{points_text(d.ours, d.low, d.high)} ({_pct(meta[column])} vs {_pct(other[column])}, n = {d.n})",
                d.verdict, "difference", CHAPTER, "ch6-table2", d.detectable_text, d.decided))
    return rows


def propagation_claims(res: dict) -> list[Claim]:
    """Every Paper B claim of chapter 6's results: Table 1's gains, Fig. 2's layer, Table 2's
    differences (in that order)."""
    return table1_claims(res) + fig2_claims(res) + table2_claims(res)


def claim_records(res: dict) -> list[dict]:
    """:func:`propagation_claims` as JSON records (the results file's ``claims`` key)."""
    from dataclasses import asdict

    return [asdict(c) for c in propagation_claims(res)]


CLAIMS: dict[str, list[ClaimBuilder]] = {CHAPTER: [propagation_claims]}

__all__ = ["ABOVE", "BELOW", "CHAPTER", "CLAIMS", "HOLDS_ZERO", "METHOD_NAMES", "Difference", "ahead_of",
           "claim_records", "fig2_claims", "interval_side", "layer_depth", "points_text", "propagation_claims",
           "table1_claims", "table1_gain", "table2_claims", "table2_difference"]
