"""The scorecard: every number of the papers' tables that a chapter reproduces, the paper's
value beside this build's, and a verdict by a rule stated once
(:data:`kedit_utils.core.verdicts.RULES`).

It is computed from ``results/<chapter>.json`` when the book is built (the page
``notebooks/scorecard.py`` runs after every chapter), never typed. The rows are each paper's
claims (:mod:`kedit_utils.kg.claims`, :mod:`kedit_utils.propagation.claims`,
:mod:`kedit_utils.survey.claims`), the same functions the chapters glue their verdicts from;
a row links to the chapter's section through a MyST label the chapter's markdown defines
(``(ch2-table1)=`` before the heading). A chapter whose results file is missing gives no rows
and is listed as not run. The page has one section per paper (:func:`paper_section_html`),
its rows grouped by chapter; the count it states (:func:`card_numbers`) is of the rows shown.

Each results file is validated against its chapter's schema
(:data:`kedit_utils.book.results.RESULTS_SCHEMAS`) before its rows are built, so a renamed key
fails the build instead of emptying a row.
"""
from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from kedit_utils.book.results import validate_results
from kedit_utils.core.verdicts import (
    AGREES,
    DOES_NOT,
    PARTLY,
    RULES,
    VERDICTS,
    Claim,
    ClaimBuilder,
)
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
# chapter -> the paper its rows check
CHAPTER_PAPER: dict[str, str] = {chapter: paper for paper, claims in
                                 (("A", paper_a.CLAIMS), ("B", paper_b.CLAIMS), ("C", paper_c.CLAIMS))
                                 for chapter in claims}


@dataclass(frozen=True)
class Scorecard:
    """All rows, which profile built each chapter, and the chapters with no results yet."""

    rows: pd.DataFrame  # one row per Claim (its fields as columns)
    profiles: dict[str, str]  # chapter -> profile ("quick", "paper", or "unknown")
    missing: list[str]  # chapters with rows to give but no results file

    def counts(self) -> dict[str, int]:
        return {v: int((self.rows.verdict == v).sum()) for v in VERDICTS}

    def for_paper(self, paper: str) -> Scorecard:
        """The rows of one paper ("A", "B", "C"), the profiles of its chapters and those of its
        chapters not run."""
        if paper not in PAPERS:
            raise ValueError(f"paper {paper!r} must be one of {sorted(PAPERS)}")
        rows = self.rows[self.rows.paper == paper].reset_index(drop=True)
        return Scorecard(rows, {k: v for k, v in self.profiles.items() if CHAPTER_PAPER.get(k) == paper},
                         [k for k in self.missing if CHAPTER_PAPER.get(k) == paper])


def build_scorecard(results_dir: Path) -> Scorecard:
    """Read every results file that has registered rows, check it against its schema
    (:class:`~kedit_utils.core.results_schema.ResultsSchemaError` if it does not follow it)
    and build the card."""
    claims, profiles, missing = [], {}, []
    for notebook, builders in ROW_BUILDERS.items():
        path = Path(results_dir) / f"{notebook}.json"
        if not path.is_file():
            missing.append(notebook)
            continue
        res = json.loads(path.read_text())
        profiles[notebook] = validate_results(notebook, res).meta.profile
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
            if not r.decided:  # the interval holds both 0 and the paper's effect (issue 30 §3)
                badge += '<br><small class="kedit-undecided">too few cases to tell</small>'
            power = f'<br><small class="kedit-detectable">{html.escape(r.detectable)}</small>' if r.detectable else ""
            body.append(f'<tr><td><a href="{r.chapter}.html#{r.anchor}">{html.escape(r.item)}</a></td>'
                        f'<td>{html.escape(r.paper_value)}</td><td class="kedit-ours">{html.escape(r.ours)}{power}</td>'
                        f'<td>{badge}</td></tr>')
    return f'<div class="kedit-table"><table class="kedit-scorecard">{head}{"".join(body)}</table></div>'


def card_numbers(card: Scorecard) -> dict[str, int | str]:
    """What the page's count sentence glues: ``n_rows`` (every row the page shows: the rows of
    all papers' sections), ``n_agrees`` / ``n_partly`` / ``n_does_not``, ``profiles`` (the
    profiles that built the chapters, quoted) and ``mixed_note`` (a remark when they differ)."""
    shown = card.rows[card.rows.paper.isin(list(PAPERS))]
    numbers: dict[str, int | str] = {"n_rows": len(shown)}
    for verdict in VERDICTS:
        numbers[f"n_{verdict.replace(' ', '_')}"] = int((shown.verdict == verdict).sum())
    built_with = sorted(set(card.profiles.values()))
    numbers["profiles"] = " and ".join(f'"{p}"' for p in built_with) or "(none)"
    numbers["mixed_note"] = "" if len(built_with) <= 1 else \
        " (chapters were built with different profiles: the chapter column says which)"
    return numbers


def paper_section_html(card: Scorecard, paper: str, chapter_titles: dict[str, str] | None = None) -> str:
    """One paper's section of the page: its rows grouped by chapter (:func:`scorecard_html`),
    then the paper's chapters not run yet; a paper with no rows says so."""
    part = card.for_paper(paper)
    out = scorecard_html(part, chapter_titles) if len(part.rows) else \
        f'<p class="kedit-no-rows">No chapter of {html.escape(PAPERS[paper].split(":")[0])} has given rows in ' \
        "this build.</p>"
    if part.missing:
        titles = chapter_titles or {}
        names = ", ".join(html.escape(titles.get(ch, ch)) for ch in part.missing)
        out += f'<p class="kedit-not-run">Not run yet, so not on the card: {names}</p>'
    return out
