"""The survey's findings (Paper C §5, "Main results" and §5.2 on erasure), stated once and
checked against the computed comparison (:func:`.grid.summary`).

Each finding is a :class:`Finding`: the claim in the survey's words, a rule that reads the
summary table, and an evidence sentence with the numbers the rule used. ``holds`` is
computed, never typed; the chapter glues it.

The rules compare means over the edits of one model (the summary's rows) and call a
difference real only when the 95 % bootstrap intervals do not overlap, so a handful of edits
cannot make a finding "hold" by noise:

1. ``locate_then_edit_reliable``: ROME and MEMIT reach high reliability on modify
   (interval's lower end ≥ 0.8);
2. ``locate_then_edit_weak_portability``: their portability is below their reliability
   (intervals disjoint) — the edit does not carry to reasoning that uses it;
3. ``locate_then_edit_weak_locality``: their locality is below FT-L's (intervals disjoint);
4. ``ft_l_lower_reliability``: FT-L's reliability is below ROME's (intervals disjoint);
5. ``erasure_poor``: no method erases well: for every method the old answer is still
   produced on at least a fifth of the paraphrases, or the erase target is produced on
   fewer than half of them.

:func:`undone_by_editing_back` is the rule of §6's contrast (an edit undone by editing back?),
on the reversibility measures; :func:`verdicts_by_model` gives each finding's verdicts as the
chapter glues them.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from kedit_utils.survey.grid import interval_text


@dataclass(frozen=True)
class Finding:
    key: str
    claim: str
    check: Callable[[pd.DataFrame], tuple[bool | None, str]]


def _row(table: pd.DataFrame, method: str, action: str):
    g = table[(table["method"] == method) & (table["action"] == action)]
    return None if g.empty else g.iloc[0]


def _iv(row, m: str) -> str:
    return interval_text(row[m], row[f"{m}_lo"], row[f"{m}_hi"])


def _below(a, ma: str, b, mb: str) -> bool:
    """a's interval entirely below b's."""
    return bool(a[f"{ma}_hi"] < b[f"{mb}_lo"])


def _missing(*names) -> tuple[None, str]:
    return None, f"not checked: {', '.join(names)} not in the comparison"


def _reliable(t: pd.DataFrame):
    rows = {m: _row(t, m, "modify") for m in ("rome", "memit")}
    if any(r is None for r in rows.values()):
        return _missing("ROME/MEMIT on modify")
    ok = all(r["reliability_lo"] >= 0.8 for r in rows.values())
    return ok, "; ".join(f"{m.upper()} reliability {_iv(r, 'reliability')}" for m, r in rows.items())


def _weak_portability(t: pd.DataFrame):
    rows = {m: _row(t, m, "modify") for m in ("rome", "memit")}
    if any(r is None for r in rows.values()):
        return _missing("ROME/MEMIT on modify")
    if any(not math.isfinite(r["portability"]) for r in rows.values()):
        return None, "not checked: no portability prompts"
    ok = all(_below(r, "portability", r, "reliability") for r in rows.values())
    return ok, "; ".join(f"{m.upper()} portability {_iv(r, 'portability')} vs reliability {_iv(r, 'reliability')}"
                         for m, r in rows.items())


def _weak_locality(t: pd.DataFrame):
    ftl = _row(t, "ft_l", "modify")
    rows = {m: _row(t, m, "modify") for m in ("rome", "memit")}
    if ftl is None or any(r is None for r in rows.values()):
        return _missing("ROME/MEMIT/FT-L on modify")
    ok = all(_below(r, "locality", ftl, "locality") for r in rows.values())
    return ok, "; ".join(f"{m.upper()} locality {_iv(r, 'locality')}" for m, r in rows.items()) + \
        f" vs FT-L {_iv(ftl, 'locality')}"


def _ft_l_reliability(t: pd.DataFrame):
    ftl, rome = _row(t, "ft_l", "modify"), _row(t, "rome", "modify")
    if ftl is None or rome is None:
        return _missing("ROME/FT-L on modify")
    return _below(ftl, "reliability", rome, "reliability"), \
        f"FT-L reliability {_iv(ftl, 'reliability')} vs ROME {_iv(rome, 'reliability')}"


def _erasure_poor(t: pd.DataFrame):
    e = t[t["action"] == "erase"]
    if e.empty or "old_gone_rephrase" not in e:
        return _missing("erase")
    poor, parts = [], []
    for _, r in e.iterrows():
        gone, target = r["old_gone_rephrase"], r["erase_target_rephrase"]
        if not (math.isfinite(gone) and math.isfinite(target)):
            continue
        poor.append(gone < 0.8 or target < 0.5)
        parts.append(f"{r['method']}: old answer gone {gone:.2f}, target {target:.2f}")
    if not poor:
        return None, "not checked: no erase paraphrases"
    return all(poor), "on paraphrases, " + "; ".join(parts)


FINDINGS = (
    Finding("locate_then_edit_reliable", "ROME and MEMIT succeed at the edit (high reliability)", _reliable),
    Finding("locate_then_edit_weak_portability",
            "ROME and MEMIT are weak on portability: the edit does not carry to reasoning that uses it",
            _weak_portability),
    Finding("locate_then_edit_weak_locality", "ROME and MEMIT are weaker on locality than FT-L", _weak_locality),
    Finding("ft_l_lower_reliability", "FT-L succeeds less often at the edit than ROME", _ft_l_reliability),
    Finding("erasure_poor", "Erasure is handled poorly by all methods", _erasure_poor),
)


def check_findings(table: pd.DataFrame, model: str | None = None) -> pd.DataFrame:
    """One row per finding: ``{key, claim, holds, evidence}`` (``holds`` None when the
    comparison lacks what the rule needs), on the summary rows of ``model`` (all if None)."""
    t = table if model is None else table[table["model"] == model]
    rows = []
    for f in FINDINGS:
        holds, evidence = f.check(t)
        rows.append({"key": f.key, "claim": f.claim, "holds": holds, "evidence": evidence})
    return pd.DataFrame(rows)


def verdict_word(holds: bool | None) -> str:
    return {True: "holds", False: "does not hold", None: "not checked"}[holds]


def verdicts_by_model(findings: pd.DataFrame) -> dict[str, str]:
    """finding key → its verdict on each model, in the table's order ("holds on A; does not hold
    on B"). findings: :func:`check_findings` rows of several models, with a ``model`` column."""
    return {key: "; ".join(f"{verdict_word(h)} on {m}" for m, h in zip(g.model, g.holds))
            for key, g in findings.groupby("key", sort=False)}


# Paper C §6: "a knowledge graph can be undone, an LLM cannot" (:mod:`.reversibility`'s measures)
UNDONE_LOCALITY = 0.99  # the best method's locality after the edit back, at least
UNDONE_RESIDUAL = 0.05  # and the closest weights after both edits, at most this share of the first edit's distance


def undone_by_editing_back(means: pd.DataFrame) -> bool:
    """Whether editing back undoes an edit, against the survey: some method returns at least
    :data:`UNDONE_LOCALITY` of the unrelated knowledge (``locality_reverted``) and some method's
    weights come back within :data:`UNDONE_RESIDUAL` of the first edit's distance
    (``weight_residual``). means: one row per method of
    :func:`~kedit_utils.survey.reversibility.reversibility`'s columns, averaged over the facts."""
    from kedit_utils.core.validation import ParameterError

    for column in ("locality_reverted", "weight_residual"):
        if column not in means:
            raise ParameterError("means", list(means.columns), f"lack the column {column!r}")
    return bool(means.locality_reverted.max() >= UNDONE_LOCALITY and means.weight_residual.min() <= UNDONE_RESIDUAL)


__all__ = ["FINDINGS", "Finding", "UNDONE_LOCALITY", "UNDONE_RESIDUAL", "check_findings", "undone_by_editing_back",
           "verdict_word", "verdicts_by_model"]
