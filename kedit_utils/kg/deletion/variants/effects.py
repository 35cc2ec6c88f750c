"""Chapter 5's setup variants, their effects (issue 12 §2; Paper A §4, Tables 2-3): per variant
× graph × depth the degree–impact correlation with its intervals, the impact's size and where it
lands (:func:`variant_rows`); whether a setup's deletions deleted anything (:func:`edit_effect`,
in words :func:`edit_effect_text`); a page-wide table per graph (:func:`variants_by_graph`).
The verdicts on these rows (Table 2 reproduced or not) are Paper A's claims,
:mod:`kedit_utils.kg.claims`.
"""
from __future__ import annotations

import pandas as pd

from kedit_utils.kg.deletion.statistics import degree_impact_table


def variant_rows(entities: pd.DataFrame, variants, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Issue 12's ``variants`` rows: per variant × graph × depth, the degree–impact correlation
    (Pearson with its bootstrap 95 % interval over entities and, with several seeds, its
    t-interval across seeds; Spearman), the mean and max impact (×10⁻²),
    the share of the impact on the deleted fact's own prompts (``own_share``) and one or more
    hops away (``far_share``), ``deleted_ok`` and the number of seeds. A ``canonical``
    variant reads the impact over the canonical prompts (``impact_canonical``)."""
    variants = {v.name: v for v in variants}
    done = entities[~entities.skipped.astype(bool)].copy()
    rows = []
    for name, v in variants.items():
        part = done[done.variant == name].copy()
        if part.empty:
            continue
        if v.prompts == "canonical":
            part["impact"] = part["impact_canonical"]
            part["side_effect"] = part["side_effect_canonical"]
        table = degree_impact_table(part, ["graph", "layers"], n_boot=n_boot, seed=seed)
        for row in table.itertuples():
            g = part[(part.graph == row.graph) & (part.layers == row.layers)]
            total = g.impact.sum()
            own = g["impact_own"].sum() if v.prompts == "aliases" else float("nan")
            far = (g["impact_hop1"] + g["impact_far"]).sum() if v.prompts == "aliases" else float("nan")
            rows.append({"variant": name, "family": v.family, "orientation": v.orientation, "graph": row.graph,
                         "layers": int(row.layers), "pearson": row.pearson, "spearman": row.spearman,
                         "ci_low": row.ci_low, "ci_high": row.ci_high, "seeds_low": row.seeds_low,
                         "seeds_high": row.seeds_high, "mean_impact": 100 * g.impact.mean(),
                         "max_impact": 100 * g.impact.max(), "own_share": own / total if total else float("nan"),
                         "far_share": far / total if total else float("nan"), "deleted_ok": g.deleted_ok.mean(),
                         "n_seeds": int(row.n_seeds), "n": int(row.n)})
    return pd.DataFrame(rows)


def edit_effect(entities: pd.DataFrame, variant: str | None = None) -> dict[str, float]:
    """Did the deletions of one setup (``variant``'s rows of ``entities``; ``None``: all rows)
    delete anything? ``deleted_ok``: mean share of the deleted facts' alias prompts that answer
    the target; ``mean_impact``: mean impact (×10⁻²); ``kept``: share of the deletions after
    which the deleted fact's own prompts are answered exactly as before (``impact_own`` = 0),
    i.e. the edit did not remove the fact; ``n``: deletions."""
    done = entities[~entities.skipped.astype(bool)]
    if variant is not None:
        done = done[done.variant == variant]
    if done.empty:
        return {"deleted_ok": float("nan"), "mean_impact": float("nan"), "kept": float("nan"), "n": 0}
    return {"deleted_ok": float(done.deleted_ok.mean()), "mean_impact": float(100 * done.impact.mean()),
            "kept": float((done.impact_own.abs() < 1e-12).mean()), "n": int(len(done))}


def edit_effect_text(effect: dict[str, float]) -> str:
    """:func:`edit_effect` in words, for the chapter's glue."""
    if not effect["n"]:
        return "not run"
    return (f"<deleted> on {effect['deleted_ok']:.1%} of the deleted facts' prompts, the fact's own prompts "
            f"unchanged after {effect['kept']:.0%} of the {effect['n']} deletions, mean impact "
            f"{effect['mean_impact']:.2f} ×10⁻²")


def variants_by_graph(rows: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """:func:`variant_rows`' ``columns`` ({column: short label}) with one row per variant (in
    table order) and one column per label × graph (graphs in alphabetical order), so a
    table of a few columns fits a page."""
    out = rows.pivot_table(index="variant", columns="graph", values=list(columns), sort=False)
    out = out[[(c, g) for c in columns for g in sorted(rows.graph.unique())]]
    out.columns = [f"{columns[c]} {g}" for c, g in out.columns]
    return out
