"""Paper C's claims: the survey's findings (§5), each checked by its rule in chapter 7
(:mod:`kedit_utils.survey.findings`) on every model, and decided across models by
:func:`~kedit_utils.core.verdicts.verdict_finding`. The chapter glues these verdicts and the
scorecard shows the same rows. The results are read through the chapter's schema
(:mod:`kedit_utils.survey.results_schema`): a renamed field fails there, not as an empty card.
"""
from __future__ import annotations

from kedit_utils.core.verdicts import Claim, ClaimBuilder, verdict_finding
from kedit_utils.survey.results_schema import parse_results


def findings_claims(res: dict) -> list[Claim]:
    by_claim: dict[str, dict[str, bool | None]] = {}
    for r in parse_results("07_editing_methods", res).findings:
        by_claim.setdefault(r.claim, {})[r.model] = r.holds
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


CLAIMS: dict[str, list[ClaimBuilder]] = {"07_editing_methods": [findings_claims]}
