"""The scorecard: every number of the papers' tables that a chapter reproduces, the paper's
value beside this build's, and a verdict by a rule stated once
(:data:`kedit_utils.core.verdicts.RULES`).

It is computed from ``results/<chapter>.json`` when the book is built (the page
``notebooks/scorecard.py`` runs after every chapter), never typed. The rows are each paper's
claims (:mod:`kedit_utils.kg.claims`, :mod:`kedit_utils.propagation.claims`,
:mod:`kedit_utils.survey.claims`), the same functions the chapters glue their verdicts from;
a row links to the chapter's section through a MyST label the chapter's markdown defines
(``(ch2-table1)=`` before the heading). A chapter whose results file is missing gives no rows
and is listed as not run.
"""
from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from kedit_utils.core.verdicts import AGREES, DOES_NOT, PARTLY, RULES, VERDICTS, Claim, ClaimBuilder
from kedit_utils.kg import claims as paper_a
from kedit_utils.propagation import claims as paper_b
from kedit_utils.survey import claims as paper_c

PAPERS = {
    "A": "Paper A: knowledge deletion and knowledge-graph structure",
    "B": "Paper B: meta-learning so that fine-tuning edits propagate",
    "C": "Paper C: the survey's comparison of editing methods",
}

# chapter -> its claim builders, in the book's order
ROW_BUILDERS: dict[str, list[ClaimBuilder]] = {**paper_a.CLAIMS, **paper_b.CLAIMS, **paper_c.CLAIMS}


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
