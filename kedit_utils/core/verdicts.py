"""One rule per kind of number the book checks against a paper: what "agrees", "partly" and
"does not" mean (:data:`RULES`, stated once on the scorecard page), the rules as functions,
and :class:`Claim`, one checked number of a paper.

Each paper's claims module (:mod:`kedit_utils.kg.claims`, :mod:`kedit_utils.propagation.claims`,
:mod:`kedit_utils.survey.claims`) turns a chapter's results into claims with these rules; the
chapter's prose, its results file and the scorecard (:mod:`kedit_utils.book.scorecard`) all
read the verdicts from there.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

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
    "contrast": {
        "what": "a contrast between the graphs (Table 2: BA ≫ ER, issue 12's criterion: BA r ≥ .8 with its 95 % "
                "interval above ER's, at 6 and 12 layers)",
        AGREES: "at every depth of the criterion, BA r ≥ .8 and BA's interval above ER's",
        PARTLY: "BA's interval above ER's at every such depth, BA r below .8 at one at least (the order "
                "reproduces, not the size)",
        DOES_NOT: "otherwise (a depth that did not run leaves the claim unchecked: no row)",
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
    detectable: str = ""  # the smallest effect its sample can detect, "this n detects ≥ 24.3 pts" ("": not computed)
    decided: bool = True  # False: the interval holds both 0 and the paper's effect, too few cases to tell

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} must be one of {VERDICTS}")
        if self.rule not in RULES:
            raise ValueError(f"rule {self.rule!r} must be one of {sorted(RULES)}")


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


def verdict_location(layer_matches: bool, token_matches: bool) -> str:
    return {2: AGREES, 1: PARTLY, 0: DOES_NOT}[int(layer_matches) + int(token_matches)]


def verdict_finding(holds: Sequence[bool | None]) -> str | None:
    """A survey finding checked on several models: None when it could be checked on none."""
    checked = [h for h in holds if h is not None]
    if not checked:
        return None
    n = sum(bool(h) for h in checked)
    return AGREES if n == len(checked) and len(checked) > 1 else PARTLY if n else DOES_NOT


ClaimBuilder = Callable[[dict], list[Claim]]
"""A chapter's results (``results/<chapter>.json`` as a dict) -> its claims."""


def sample_note(detectable: str, decided: bool) -> str:
    """What a claim's sample can tell, for beside its verdict (issue 30 §3): " — too few cases to
    tell (this n detects ≥ 72.4 pts)" when the interval holds both 0 and the paper's effect,
    " (this n detects ≥ 19.8 pts)" otherwise; "" when no detectable effect was computed."""
    if not detectable:
        return ""
    return f" — too few cases to tell ({detectable})" if not decided else f" ({detectable})"
