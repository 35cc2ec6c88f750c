"""The scorecard: every number of the papers' tables that a chapter reproduces, the paper's
value beside this build's, and a verdict by a rule stated once (:data:`RULES`).

It is computed from ``results/<chapter>.json`` when the book is built (the page
``notebooks/scorecard.py`` runs after every chapter), never typed. Each chapter adds its rows
with a function registered by :func:`rows_for`; a row links to the chapter's section through
a MyST label the chapter's markdown defines (``(ch2-table1)=`` before the heading).

    @rows_for("02_training")
    def _table1(results: dict) -> list[Claim]:
        ...

The paper's values come from :mod:`kedit_utils.book.paper_numbers` (quotations of the papers);
this build's from the results file. A chapter whose results file is missing gives no rows and
is listed as not run.
"""
from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kedit_utils.core.stats import reported_interval
from kedit_utils.kg.paper_numbers import PAPER_A_TABLE1, PAPER_A_TABLE2, PAPER_A_TABLE3
from kedit_utils.propagation.paper_numbers import PAPER_B_LAYER_COUNTS, PAPER_B_LAYERS, PAPER_B_TABLE1, PAPER_B_TABLE2

AGREES, PARTLY, DOES_NOT = "agrees", "partly", "does not"
VERDICTS = (AGREES, PARTLY, DOES_NOT)

# One rule per kind of number: what "agrees", "partly" and "does not" mean. Stated once, on the
# scorecard page, and applied by the verdict functions below.
RULES: dict[str, dict[str, str]] = {
    "accuracy": {
        "what": "an accuracy the paper reports (Table 1)",
        AGREES: "each of ours is at least the paper's value − 0.005",
        PARTLY: "each is at least the paper's value − 0.02",
        DOES_NOT: "otherwise",
    },
    "correlation": {
        "what": "a correlation coefficient (Table 2)",
        AGREES: "the paper's value lies inside our 95 % interval",
        PARTLY: "our interval excludes 0 on the paper's side (the sign reproduces, not the size)",
        DOES_NOT: "otherwise",
    },
    "magnitude": {
        "what": "a size of effect (Table 3: max and mean impact)",
        AGREES: "our max and mean are each within a factor of 2 of the paper's",
        PARTLY: "each within a factor of 5",
        DOES_NOT: "otherwise",
    },
    "clustering": {
        "what": "a picture of alias embeddings that cluster at 20 % and scatter at 2 % (Figs. 3, 5)",
        AGREES: "silhouette ≥ 0.5 at 20 % and ≤ 0.25 at 2 % (Kaufman and Rousseeuw's "
                "'reasonable structure' and 'no substantial structure')",
        PARTLY: "the 20 % silhouette is larger than the 2 % one, without both thresholds",
        DOES_NOT: "otherwise",
    },
    "difference": {
        "what": "a gain in accuracy (Paper B Tables 1-2: meta-learning over the base model or a baseline)",
        AGREES: "our 95 % interval of the gain (Newcombe's, from Wilson intervals) excludes 0 on the paper's "
                "side and contains the paper's gain",
        PARTLY: "it excludes 0 on the paper's side without containing the paper's gain (the sign reproduces, "
                "not the size)",
        DOES_NOT: "otherwise: no gain measured, the opposite sign, or too few cases to tell",
    },
    "depth": {
        "what": "which layer works best (Paper B Fig. 2: a shallow one, 9 of 32 for Llama3-8B)",
        AGREES: "our best layer lies in the shallowest third of the model",
        PARTLY: "in the shallower half",
        DOES_NOT: "otherwise",
    },
    "finding": {
        "what": "a finding the survey states in words (Paper C §5), checked by its rule in chapter 7 "
                "(differences count only when the 95 % intervals do not overlap)",
        AGREES: "it holds on both models (the pretrained one and the knowledge-graph one)",
        PARTLY: "it holds on one of them",
        DOES_NOT: "it holds on neither (where it could be checked)",
    },
    "location": {
        "what": "where causal tracing peaks (Fig. 6: the MLP of the first layer, at the subject token)",
        AGREES: "our MLP peak is at the paper's layer and token",
        PARTLY: "at the paper's layer or at its token, not both",
        DOES_NOT: "at neither",
    },
}


@dataclass(frozen=True)
class Claim:
    """One scorecard row: a number (or a few) of a paper, ours beside it, and the verdict."""

    paper: str  # "A", "B", "C"
    item: str  # "Table 1, ER 6 layers: accuracy train / all"
    paper_value: str
    ours: str
    verdict: str  # one of VERDICTS
    rule: str  # a key of RULES
    chapter: str  # the notebook, e.g. "02_training"
    anchor: str  # the MyST label of the chapter's section, e.g. "ch2-table1"

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} must be one of {VERDICTS}")
        if self.rule not in RULES:
            raise ValueError(f"rule {self.rule!r} must be one of {sorted(RULES)}")


# ---------------------------------------------------------------------------------------------
# Verdicts: the rules of RULES as functions.

def verdict_accuracy(ours: Sequence[float], paper: Sequence[float], agree: float = 0.005,
                     partly: float = 0.02) -> str:
    gaps = [p - o for o, p in zip(ours, paper, strict=True)]
    if max(gaps) <= agree:
        return AGREES
    return PARTLY if max(gaps) <= partly else DOES_NOT


def verdict_correlation(paper: float, ci_low: float, ci_high: float) -> str:
    if ci_low <= paper <= ci_high:
        return AGREES
    same_side = ci_low > 0 if paper > 0 else ci_high < 0
    return PARTLY if same_side else DOES_NOT


def verdict_magnitude(ours: Sequence[float], paper: Sequence[float], agree: float = 2.0,
                      partly: float = 5.0) -> str:
    ratios = []
    for o, p in zip(ours, paper, strict=True):
        if o <= 0 or p <= 0:
            ratios.append(np.inf if (o > 0) != (p > 0) else 1.0)
        else:
            ratios.append(max(o / p, p / o))
    worst = max(ratios)
    if worst <= agree:
        return AGREES
    return PARTLY if worst <= partly else DOES_NOT


def verdict_clustering(big: float, small: float, clustered: float = 0.5, scattered: float = 0.25) -> str:
    if big >= clustered and small <= scattered:
        return AGREES
    return PARTLY if big > small else DOES_NOT


def verdict_depth(layer: int, n_layers: int) -> str:
    share = (layer + 1) / n_layers
    if share <= 1 / 3:
        return AGREES
    return PARTLY if share <= 1 / 2 else DOES_NOT


def verdict_difference(paper: float, ci_low: float, ci_high: float) -> str:
    same_side = ci_low > 0 if paper > 0 else ci_high < 0
    if not same_side:
        return DOES_NOT
    return AGREES if ci_low <= paper <= ci_high else PARTLY


def difference_interval(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """95 % interval of p1 - p2 (Newcombe's method 10, from the two Wilson intervals)."""
    from kedit_utils.propagation.protocol import wilson_interval

    if not n1 or not n2:
        return (float("nan"), float("nan"))
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson_interval(k1, n1), wilson_interval(k2, n2)
    d = p1 - p2
    return (d - float(np.hypot(p1 - l1, u2 - p2)), d + float(np.hypot(u1 - p1, p2 - l2)))


def verdict_location(layer_matches: bool, token_matches: bool) -> str:
    return {2: AGREES, 1: PARTLY, 0: DOES_NOT}[int(layer_matches) + int(token_matches)]


# ---------------------------------------------------------------------------------------------
# Rows per chapter.

RowBuilder = Callable[[dict], list[Claim]]
ROW_BUILDERS: dict[str, list[RowBuilder]] = {}


def rows_for(notebook: str) -> Callable[[RowBuilder], RowBuilder]:
    """Register a function turning ``results/<notebook>.json`` into scorecard rows."""

    def register(fn: RowBuilder) -> RowBuilder:
        ROW_BUILDERS.setdefault(notebook, []).append(fn)
        return fn

    return register


def _acc(x: float) -> str:
    return f"{x:.4f}".lstrip("0") if x < 1 else "1.000"


def _model(graph: str, layers: int) -> str:
    return f"{graph.upper()} {layers}L"


@rows_for("02_training")
def _paper_a_table1(res: dict) -> list[Claim]:
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


@rows_for("03_embeddings_pca")
def _paper_a_clustering(res: dict) -> list[Claim]:
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


@rows_for("04_causal_tracing")
def _paper_a_fig6(res: dict) -> list[Claim]:
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


@rows_for("05_deletion_impact")
def _paper_a_tables23(res: dict) -> list[Claim]:
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


def _layers(layers) -> str:
    return "all layers" if layers == "all" else f"layer {layers}" if "," not in str(layers) else f"layers {layers}"


def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f} %"


@rows_for("06_meta_learning_propagation")
def _paper_b(res: dict) -> list[Claim]:
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


# ---------------------------------------------------------------------------------------------
# The whole card.

@dataclass(frozen=True)
class Scorecard:
    """All rows, which profile built each chapter, and the chapters with no results yet."""

    rows: pd.DataFrame  # one row per Claim (its fields as columns)
    profiles: dict[str, str]  # chapter -> profile ("quick", "paper", or "unknown")
    missing: list[str]  # chapters with rows to give but no results file

    def counts(self) -> dict[str, int]:
        return {v: int((self.rows.verdict == v).sum()) for v in VERDICTS}

    def for_paper(self, paper: str) -> "Scorecard":
        """The rows of one paper ("A", "B", "C")."""
        rows = self.rows[self.rows.paper == paper].reset_index(drop=True)
        return Scorecard(rows, {k: v for k, v in self.profiles.items() if k in set(rows.chapter)}, self.missing)


def verdict_finding(holds: Sequence[bool | None]) -> str | None:
    """A survey finding checked on several models: None when it could be checked on none."""
    checked = [h for h in holds if h is not None]
    if not checked:
        return None
    n = sum(bool(h) for h in checked)
    return AGREES if n == len(checked) and len(checked) > 1 else PARTLY if n else DOES_NOT


@rows_for("07_editing_methods")
def _paper_c_findings(res: dict) -> list[Claim]:
    by_claim: dict[str, dict[str, bool | None]] = {}
    for r in res.get("findings", []):
        by_claim.setdefault(r["claim"], {})[r["model"]] = r["holds"]
    rows = []
    for claim, per_model in by_claim.items():
        verdict = verdict_finding(list(per_model.values()))
        if verdict is None:
            continue
        word = {True: "holds", False: "does not hold", None: "not checked"}
        ours = "; ".join(f"{m}: {word[h]}" for m, h in per_model.items())
        rows.append(Claim("C", f"§5: {claim}", "stated", ours, verdict, "finding", "07_editing_methods",
                          "ch7-findings"))
    return rows


def build_scorecard(results_dir: Path) -> Scorecard:
    """Read every results file that has registered rows and build the card."""
    claims, profiles, missing = [], {}, []
    for notebook, builders in ROW_BUILDERS.items():
        path = Path(results_dir) / f"{notebook}.json"
        if not path.is_file():
            missing.append(notebook)
            continue
        res = json.loads(path.read_text())
        profiles[notebook] = res.get("meta", {}).get("profile", "unknown")
        for build in builders:
            claims.extend(build(res))
    rows = pd.DataFrame([asdict(c) for c in claims], columns=list(Claim.__dataclass_fields__))
    return Scorecard(rows, profiles, missing)


_BADGE = {AGREES: "#1a7f37", PARTLY: "#9a6700", DOES_NOT: "#cf222e"}


def rules_html() -> str:
    """The verdict rules as an HTML table (stated once, above the card)."""
    head = "<tr><th>number</th>" + "".join(f"<th>{v}</th>" for v in VERDICTS) + "</tr>"
    body = "".join(
        f"<tr><td>{html.escape(r['what'])}</td>" + "".join(f"<td>{html.escape(r[v])}</td>" for v in VERDICTS) + "</tr>"
        for r in RULES.values()
    )
    return f'<div class="kedit-table"><table class="kedit-rules">{head}{body}</table></div>'


def scorecard_html(card: Scorecard, chapter_titles: dict[str, str] | None = None) -> str:
    """The card as one HTML table, a heading row per chapter (its title and the profile that
    built it), then its rows; each row links to its chapter's section (relative link)."""
    titles = chapter_titles or {}
    head = "<tr><th>what</th><th>paper</th><th>this build</th><th>verdict</th></tr>"
    body = []
    for chapter, part in card.rows.groupby("chapter", sort=False):
        title = html.escape(titles.get(chapter, chapter))
        profile = html.escape(card.profiles.get(chapter, "unknown"))
        body.append(f'<tr class="kedit-chapter"><th colspan="4"><a href="{chapter}.html">{title}</a> '
                    f'<small>({profile} profile)</small></th></tr>')
        for r in part.itertuples():
            badge = f'<span class="kedit-verdict" style="color:{_BADGE[r.verdict]}">{r.verdict}</span>'
            body.append(f'<tr><td><a href="{r.chapter}.html#{r.anchor}">{html.escape(r.item)}</a></td>'
                        f'<td>{html.escape(r.paper_value)}</td><td class="kedit-ours">{html.escape(r.ours)}</td>'
                        f'<td>{badge}</td></tr>')
    return f'<div class="kedit-table"><table class="kedit-scorecard">{head}{"".join(body)}</table></div>'
