"""Chapter 5's builder (Paper A §3.4 and §4: Fig. 4, Tables 2 and 3; issue 12's variants): every
table, figure's data and verdict of ``notebooks/05_deletion_impact.py``, which displays and glues
what :func:`build_deletion_chapter` returns.

It runs, in the chapter's order, the sweep (:func:`.sweep.run_deletion_experiment`), the setup
variants and the rule's Table 2 (:mod:`.variants`), the re-trace, the margins, the deletions that
accumulate (:mod:`.sequence`), and assembles the tables: Table 2 with the paper's column
(:func:`kedit_utils.kg.claims.paper_r`, the same for the chapter's, the stored and the rule's
tables), Table 3, the decomposition, the token comparison, the editors' comparison. Every verdict
it glues comes from :mod:`kedit_utils.kg.claims`, the module the scorecard reads, so the page's
prose and the scorecard cannot disagree. Interval text is :func:`kedit_utils.core.stats.interval_text`.

The paper-scale run stored under ``results/stored`` (if any) reaches the builder as
:class:`StoredPaperScale` (read by :func:`kedit_utils.book.stored_parts.stored_paper_scale`), so
the builder computes its Table 2 with the chapter's own functions and never reads files itself.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kedit_utils.core.stats import interval_text
from kedit_utils.kg import claims
from kedit_utils.kg.deletion.config import PAPER_EDITOR, DeletionChapterConfig
from kedit_utils.kg.deletion.impact import (
    IMPACT_PARTS,
    margin_breakage,
    margin_breakage_wide,
    margin_contrast,
    sweep_summary,
)
from kedit_utils.kg.deletion.sequence import run_sequences
from kedit_utils.kg.deletion.statistics import (
    compact_table2,
    decomposition_table,
    degree_impact_table,
    disjoint_intervals,
    impact_summary,
)
from kedit_utils.kg.deletion.sweep import DeletionExperiment, run_deletion_experiment
from kedit_utils.kg.deletion.variants import (
    RULE,
    edit_effect,
    edit_effect_text,
    model_margins,
    run_variants,
    site_check,
    variant_rows,
    variants_by_graph,
    variants_by_name,
)

TABLE2_COLUMNS = ["editor", "graph", "layers", "pearson", "spearman", "ci_low", "ci_high", "seeds_low", "seeds_high",
                  "n_seeds", "n"]
RULE_COLUMNS = ["pearson", "ci_low", "ci_high", "seeds_low", "seeds_high", "mean_impact", "deleted_ok", "n_seeds", "n"]
TOKEN_NAMES = {"deleted_ok": "deleted", "old_still_correct": "old kept", "mean impact (1e-2)": "impact",
               "mean side effect (1e-2)": "side effect", "spearman(degree, impact)": "Spearman",
               "same-relation prompts broken": "same relation", "other prompts broken": "other relations",
               "same-subject prompts broken": "same subject", "neighbour prompts broken": "neighbours"}
NOT_RUN = "(not run)"


class MarkdownText(str):
    """Text that a notebook's ``display`` renders as Markdown (IPython's ``_repr_markdown_``)."""

    def _repr_markdown_(self) -> str:
        return str(self)


@dataclass(frozen=True)
class StoredPaperScale:
    """The paper-scale run stored for the chapter, as read from ``results/stored``: the whole
    chapter stored by ``kedit run ... --store`` (``results`` and ``provenance``, or ``None``) and
    its parts stored by ``kedit store-part`` (each part's per-entity rows joined, its seeds, and
    its provenance as Markdown). ``this_build_is_paper``: the build runs the paper profile itself,
    so nothing stored is shown."""

    results: dict | None = None
    provenance: dict | None = None
    sweep_entities: pd.DataFrame = field(default_factory=pd.DataFrame)
    sweep_seeds: tuple[int, ...] = ()
    sweep_provenance: str = ""
    rule_entities: pd.DataFrame = field(default_factory=pd.DataFrame)
    rule_seeds: tuple[int, ...] = ()
    rule_provenance: str = ""
    parts_provenance: pd.DataFrame = field(default_factory=pd.DataFrame)
    this_build_is_paper: bool = False


@dataclass
class DeletionChapter:
    """What chapter 5 shows, section by section (:func:`build_deletion_chapter`). Frames are
    ready to display (the notebook styles them); ``*_items`` are lists of things to display in
    order (tables, Markdown, text) where a section's content depends on what ran or is stored;
    ``*_panels`` are a figure's panels ({title: the plotting function's keyword arguments});
    ``glue`` is {name: (value, format or None)} for every number and sentence the page glues;
    ``results`` is ``results/05_deletion_impact.json``'s content (its tables of rows with missing
    values as DataFrames: :meth:`results_to_save`)."""

    config: DeletionChapterConfig
    experiment: DeletionExperiment
    sweep_counts: pd.DataFrame
    fig4_panels: dict[str, dict]
    scatter_panels: dict[str, dict]
    table2: pd.DataFrame
    table2_shown: pd.DataFrame
    stored_run_items: list
    stored_parts_items: list
    editor_items: list
    table3: pd.DataFrame
    decomposition_means: pd.DataFrame
    decomposition_r: pd.DataFrame
    rule_choices: pd.DataFrame
    variant_rows: pd.DataFrame
    variants_paper: dict[str, float]
    variant_tables: list[pd.DataFrame]
    rule_table2: pd.DataFrame
    rule_table2_shown: pd.DataFrame
    margin_panels: dict[str, dict]
    trained_margins: pd.DataFrame
    sites_shown: pd.DataFrame
    curves: pd.DataFrame
    by_hop: pd.DataFrame
    by_relation_shares: pd.DataFrame
    margin_breakage_shown: pd.DataFrame
    recovery: pd.DataFrame
    lens_panels: dict[str, dict]
    token_deletion: pd.DataFrame
    token_breakage: pd.DataFrame
    glue: dict[str, tuple[Any, str | None]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)

    def results_to_save(self, frame_records: Callable[[pd.DataFrame], list[dict]]) -> dict[str, Any]:
        """:attr:`results` with every DataFrame turned into JSON-ready rows by ``frame_records``
        (:func:`kedit_utils.book.results.frame_records`), in the results file's key order."""
        return {k: frame_records(v) if isinstance(v, pd.DataFrame) else v for k, v in self.results.items()}


def with_paper_r(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (Table 2 rows: graph, layers, optionally editor and edit_token) with the paper's
    Pearson r as ``paper`` (:func:`kedit_utils.kg.claims.paper_r`: blank for other editors, key
    tokens and depths)."""
    editors = table["editor"] if "editor" in table else [PAPER_EDITOR] * len(table)
    tokens = table["edit_token"] if "edit_token" in table else [claims.PAPER_TOKEN] * len(table)
    paper = [claims.paper_r(g, n, e, t) for g, n, e, t in zip(table.graph, table.layers, editors, tokens)]
    return table.assign(paper=paper)


def with_interval_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without the interval across seeds when no row has two seeds (there is none)."""
    if len(table) and table.n_seeds.max() >= 2:
        return table
    return table.drop(columns=[c for c in ("seeds_low", "seeds_high") if c in table])


def table2(entities: pd.DataFrame, edit_token: str, n_boot: int, seed: int) -> pd.DataFrame:
    """Paper A Table 2 of this build: per editor × graph × depth the degree–impact correlation
    (:func:`~kedit_utils.kg.deletion.statistics.degree_impact_table`) of the deletions at ``edit_token``, with
    the paper's r, ROME first and the other editors in alphabetical order."""
    done = entities[(entities.edit_token == edit_token) & ~entities.skipped.astype(bool)]
    out = with_paper_r(degree_impact_table(done, ["editor", "graph", "layers"], n_boot=n_boot, seed=seed))
    out["editor"] = pd.Categorical(out.editor, [PAPER_EDITOR] + sorted(set(out.editor) - {PAPER_EDITOR}))
    return out.sort_values(["editor", "graph", "layers"]).reset_index(drop=True)


def table3(done: pd.DataFrame) -> pd.DataFrame:
    """Paper A Table 3 of this build: per graph × depth the impact's max / min / mean / std
    (×10⁻², :func:`~kedit_utils.kg.deletion.statistics.impact_summary`) beside the paper's."""
    rows = [{"graph": kind, "layers": n_layers, **impact_summary(part.impact),
             "paper max/min/mean/std": claims.paper_table3_text(kind, n_layers)}
            for (kind, n_layers), part in done.groupby(["graph", "layers"])]
    return pd.DataFrame(rows, columns=["graph", "layers", "max", "min", "mean", "std", "paper max/min/mean/std"])


def editors_table(entities: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Every editor on the same entities (ROME restricted to the other editors' subset): per
    graph × depth × editor the correlation with its interval, the mean impact (×10⁻²) and the
    share of the deleted facts' prompts that answer ``<deleted>``; empty when only ROME ran."""
    others = sorted(set(entities.editor) - {PAPER_EDITOR})
    if not others:
        return pd.DataFrame()
    keys = ["graph", "layers", "seed", "entity"]
    subset = entities[entities.editor.isin(others)][keys].drop_duplicates()
    same = entities.merge(subset, on=keys)
    by_editor = degree_impact_table(same, ["graph", "layers", "editor"], n_boot=n_boot, seed=seed)
    means = same.groupby(["graph", "layers", "editor"]).agg(impact=("impact", "mean"), deleted=("deleted_ok", "mean"))
    by_editor = by_editor.merge(means.reset_index(), on=["graph", "layers", "editor"])
    by_editor["impact"] *= 100
    return by_editor[["graph", "layers", "editor", "pearson", "ci_low", "ci_high", "impact", "deleted", "n"]]


def editor_verdict(by_editor: pd.DataFrame) -> str:
    """The rule fixed before looking (Paper A's future work): the degree–impact relation depends
    on the editor when, on some model, two editors' 95 % intervals do not overlap."""
    if by_editor.empty:
        return "not run"
    split = disjoint_intervals(by_editor, ("graph", "layers"), "editor")
    if split:
        return "depends on the editor on " + "; ".join(split)
    return "does not measurably depend on the editor: on every model the editors' intervals overlap"


def decomposition_glue(decomposition: pd.DataFrame) -> dict[str, tuple[Any, str | None]]:
    """Per graph, the part of the impact most correlated with degree (``<g>_carrier``) and the
    largest part (``<g>_largest``), averaged over depths; "(not run)" for a graph that did not run."""
    out = {}
    for kind in ("BA", "ER"):
        part = decomposition[(decomposition.graph == kind) & (decomposition.part != "all")]
        if part.empty:
            out[f"{kind.lower()}_carrier"] = out[f"{kind.lower()}_largest"] = (NOT_RUN, None)
            continue
        per_part = part.groupby("part").agg(mean=("mean", "mean"), r=("corr_with_degree", "mean"))
        carrier, largest = per_part.r.idxmax(), per_part["mean"].idxmax()
        out[f"{kind.lower()}_carrier"] = (f"`{carrier}` (mean r {per_part.r[carrier]:.2f})", None)
        mean, r = per_part["mean"][largest] * 100, per_part.r[largest]
        out[f"{kind.lower()}_largest"] = (f"`{largest}` ({mean:.2f} ×10⁻², r {r:.2f})", None)
    return out


def margin_glue(by_margin: pd.DataFrame) -> dict[str, tuple[Any, str | None]]:
    """The margins' contrast in words (:func:`~.impact.margin_contrast`, thin < 1 nat, thick ≥ 4):
    the shares broken, their ratio, and whether most of the damage falls on thin margins."""
    contrast = margin_contrast(by_margin, thin_below=1.0, thick_from=4.0)
    ratio = contrast["thin_share"] / contrast["thick_share"] if contrast["thick_share"] > 0 else float("inf")
    verdict = ("most of the damage falls on thinly answered prompts, so thin margins carry it"
               if contrast["thin_of_broken"] > 0.5 else
               "most of the damage falls on prompts answered by 1 nat or more, so thin margins are not what carries it")
    return {"margin_thin_share": (contrast["thin_share"], ".2%"), "margin_thick_share": (contrast["thick_share"], ".2%"),
            "margin_thin_of_broken": (contrast["thin_of_broken"], ".0%"),
            "margin_thin_of_all": (contrast["thin_of_all"], ".0%"), "margin_ratio": (ratio, ".1f"),
            "margin_verdict": (verdict, None)}


def site_verdict(sites: pd.DataFrame) -> str:
    """Which of the re-traces find the paper's causal-trace site (an MLP peak at the subject)."""
    at_subject = sites[sites.peak_token == "subject"]
    if at_subject.empty:
        return f"none of the {len(sites)} traces (their peaks are at the relation token)"
    return "the traces of " + ", ".join(
        f"the {r.orientation}-direction {r.graph} model (window {r.window}, layer {r.peak_layer})"
        for r in at_subject.itertuples()) + f", of {len(sites)}"


def variant_glue(var_rows: pd.DataFrame, config: DeletionChapterConfig, n_variants: int) -> dict:
    """The variants' verdict (:func:`kedit_utils.kg.claims.reproduced_by` at ``variant_layers``),
    the rule's r on both graphs and the variant with the highest BA r."""
    reached = [name for name, ok in claims.reproduced_by(var_rows, layers=(config.variant_layers,)).items() if ok]
    rule_ba = var_rows[(var_rows.variant == "rule") & (var_rows.graph == "BA")]
    rule_er = var_rows[(var_rows.variant == "rule") & (var_rows.graph == "ER")]
    best = var_rows[var_rows.graph == "BA"].sort_values("pearson", ascending=False).head(1)
    verdict = (("reproduced (BA r ≥ .8, its interval above ER's) at this depth by: " + ", ".join(reached)) if reached
               else f"reproduced by none of the {n_variants} variants at this depth (BA r ≥ .8 with its interval "
                    "above ER's)")
    rule_r = NOT_RUN if rule_ba.empty or rule_er.empty else ", ".join(
        f"{g} {r.pearson.iloc[0]:.2f} {interval_text(r.ci_low.iloc[0], r.ci_high.iloc[0])}"
        for g, r in (("BA", rule_ba), ("ER", rule_er)))
    return {"variants_run": (n_variants, None), "variant_verdict": (verdict, None), "rule_pearson": (rule_r, None),
            "best_variant": (NOT_RUN if best.empty else f"`{best.variant.iloc[0]}` (BA r {best.pearson.iloc[0]:.2f})",
                             None)}


def sequence_glue(curves: pd.DataFrame) -> dict[str, tuple[Any, str | None]]:
    """The accuracy after the last deletion per graph × order (``seq_<graph>_<order>``), the
    number of deletions and the accuracy before any."""
    final = curves.sort_values("deleted").groupby(["graph", "order"]).tail(1).set_index(["graph", "order"])
    out = {f"seq_{kind.lower()}_{order}": (f"{final.loc[(kind, order), 'accuracy']:.3f}"
                                          if (kind, order) in final.index else NOT_RUN, None)
           for kind in ("ER", "BA") for order in ("high", "low", "random")}
    out["seq_n"] = (int(curves.deleted.max()), None)
    out["seq_start"] = (curves[curves.deleted == 0].accuracy.mean(), ".3f")
    return out


def token_glue(token_summary: pd.DataFrame) -> dict[str, tuple[Any, str | None]]:
    """Per key token, the share deleted and the shares broken (same relation, other relations,
    same subject); "(not run)" for a token no sweep edited."""
    columns = {"deleted_ok": ("deleted_ok", ".0%"), "same_rel": ("same-relation prompts broken", ".0%"),
               "other_rel": ("other prompts broken", ".1%"), "same_subj": ("same-subject prompts broken", ".0%")}
    by_token = token_summary.groupby("edit_token")[[c for c, _ in columns.values()]].mean()
    return {f"{key}_{token}": ((by_token.loc[token, column], fmt) if token in by_token.index else (NOT_RUN, None))
            for token in ("subject_last", "last") for key, (column, fmt) in columns.items()}


def table2_glue(table2_rows: pd.DataFrame, table3_rows: pd.DataFrame) -> dict[str, tuple[Any, str | None]]:
    """The chapter's summary of Tables 2-3: the mean Pearson r per graph (ROME), the paper's
    ranges, the verdict on the BA models (:func:`kedit_utils.kg.claims.table2_ba_verdict`, the
    scorecard's rule) and the largest impacts."""
    rome = table2_rows[table2_rows.editor.astype(str) == PAPER_EDITOR]
    paper2 = {g: [v for (k, _), v in claims.PAPER_A_TABLE2.items() if k == g] for g in ("BA", "ER")}
    paper3 = {g: max(v[0] for (k, _), v in claims.PAPER_A_TABLE3.items() if k == g) for g in ("BA", "ER")}
    _, ba_text = claims.table2_ba_verdict(rome)
    return {"ba_pearson": (rome[rome.graph == "BA"].pearson.mean(), ".2f"),
            "er_pearson": (rome[rome.graph == "ER"].pearson.mean(), ".2f"),
            "paper_ba_pearson": (f"{min(paper2['BA']):.2f}-{max(paper2['BA']):.2f}", None),
            "paper_er_pearson": (f"{min(paper2['ER']):.2f}-{max(paper2['ER']):.2f}", None),
            "paper_ba_max": (paper3["BA"], ".2f"), "paper_er_max": (paper3["ER"], ".2f"),
            "ba_verdict": (ba_text, None),
            "ba_max_impact": (table3_rows[table3_rows.graph == "BA"]["max"].max(), ".2f"),
            "er_max_impact": (table3_rows[table3_rows.graph == "ER"]["max"].max(), ".2f")}


def _styled(frame: pd.DataFrame, **fmt):
    return frame.style.format(**fmt)


def stored_run_items(stored: StoredPaperScale) -> list:
    """What the section on the stored paper-scale run shows: its provenance and tables (Table 2,
    the variants, the rule's Table 2), or a sentence saying there is none."""
    if stored.this_build_is_paper:
        return [MarkdownText("This build is the paper-scale run.")]
    if stored.results is None:
        return [MarkdownText("No paper-scale run of this chapter is stored.")]
    res = stored.results
    items: list = [pd.Series(stored.provenance, name="provenance").to_frame()]
    st2 = pd.DataFrame(res["table2"])
    st2 = with_paper_r(st2[st2.editor == PAPER_EDITOR])
    items.append(_styled(st2.drop(columns=["editor"]).set_index(["graph", "layers"]), precision=2, na_rep=""))
    if res.get("variants"):
        sv = pd.DataFrame(res["variants"])
        items.append(_styled(variants_by_graph(sv, {"pearson": "r", "ci_low": "low", "ci_high": "high"}), precision=2))
    if res.get("rule_table2"):  # issue 12 §4: the rule's setup, every seed
        sr = pd.DataFrame(res["rule_table2"])
        shown = [c for c in ["graph", "layers", "pearson", "ci_low", "ci_high", "seeds_low", "seeds_high", "paper",
                             "n_seeds", "n"] if c in sr]
        items.append(_styled(sr[shown].set_index(["graph", "layers"]), precision=2, na_rep=""))
    return items


def stored_parts_table2(stored: StoredPaperScale, n_boot: int, seed: int) -> pd.DataFrame:
    """Table 2 at the paper's scale, computed here from the stored sweep parts' per-entity rows
    (the chapter's own :func:`~kedit_utils.kg.deletion.statistics.degree_impact_table`), with the paper's r."""
    if stored.sweep_entities.empty:
        return pd.DataFrame()
    done = stored.sweep_entities[~stored.sweep_entities.skipped.astype(bool)]
    return with_paper_r(degree_impact_table(done, ["editor", "edit_token", "graph", "layers"], n_boot=n_boot, seed=seed))


def stored_rule_table2(stored: StoredPaperScale, n_boot: int, seed: int) -> pd.DataFrame:
    """The rule's Table 2 at the paper's scale: from the stored whole run when it has one, else
    computed here from the stored rule parts (:func:`.variants.variant_rows`)."""
    whole = pd.DataFrame((stored.results or {}).get("rule_table2") or [])
    if not whole.empty or stored.rule_entities.empty:
        return whole
    rows = variant_rows(stored.rule_entities, variants_by_name(["rule"]), n_boot=n_boot, seed=seed)
    return rows.drop(columns=["variant", "family"])


def stored_parts_items(stored: StoredPaperScale, parts_table2: pd.DataFrame, stored_rule: pd.DataFrame,
                       computed_rule: bool) -> list:
    """What the section on the stored parts shows: each part's provenance and Table 2 computed
    from them (one index level, "ROME (subject last)", to fit the column), then the rule's."""
    if parts_table2.empty:
        items: list = [MarkdownText("No part of the paper-scale sweep is stored.")]
    else:
        shown = ["pearson", "ci_low", "ci_high"] + (["seeds_low", "seeds_high"] if parts_table2.n_seeds.max() >= 2
                                                    else []) + ["paper", "n_seeds", "n"]
        method = [f"{e.upper()} ({t.replace('_', ' ')})" if e == PAPER_EDITOR else e.upper().replace("_", "-")
                  for e, t in zip(parts_table2.editor, parts_table2.edit_token)]
        table = compact_table2(parts_table2.assign(method=method).set_index(["method", "graph", "layers"])[shown])
        items = [MarkdownText(stored.sweep_provenance), _styled(table, precision=2, na_rep="")]
    if computed_rule:
        table = compact_table2(stored_rule.set_index(["graph", "layers"])[RULE_COLUMNS])
        items += [MarkdownText(stored.rule_provenance),
                  _styled(table.rename(columns={"mean_impact": "mean", "deleted_ok": "deleted"}), precision=2,
                          na_rep="")]
    return items


def paper_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a Table 2 (editor, edit_token columns) that the paper reports: ROME at the subject."""
    if table.empty:
        return table
    return table[(table.editor == PAPER_EDITOR) & (table.edit_token == claims.PAPER_TOKEN)]


def stored_glue(stored: StoredPaperScale, rome: pd.DataFrame, stored_rule: pd.DataFrame,
                rule_effect: dict | None) -> dict[str, tuple[Any, str | None]]:
    """The stored section's sentences: the seeds stored, the paper-scale r (``rome``: the stored
    parts' Table 2 rows the paper reports, :func:`paper_rows`), and the criterion
    (:func:`kedit_utils.kg.claims.table2_criterion_text`) on them and on the stored rule."""
    r_text = "no part of it is stored" if rome.empty else "; ".join(
        f"{g} r = " + " / ".join(f"{r:.2f}" for r in part.sort_values("layers").pearson)
        + " at " + " / ".join(str(n) for n in sorted(part.layers)) + " layers" for g, part in rome.groupby("graph"))
    return {"stored_part_seeds": (", ".join(map(str, stored.sweep_seeds)) or "none", None),
            "stored_table2_r": (r_text, None),
            "stored_table2_verdict": (claims.table2_criterion_text(rome), None),
            "stored_rule_verdict": (claims.table2_criterion_text(
                stored_rule, nothing="no paper-scale run of the rule is stored"), None),
            "stored_rule_edit_effect": ("no paper-scale run of the rule is stored" if rule_effect is None
                                        else edit_effect_text(rule_effect), None),
            "stored_rule_seeds": (", ".join(map(str, stored.rule_seeds)) or "none", None)}


def _margin_panels(config: DeletionChapterConfig, var_rows: pd.DataFrame) -> tuple[dict, dict, list[str]]:
    """The margins of the models stopped at the target and, when that variant ran, of those
    trained on: (figure panels per graph, median margin per graph and label, the variants)."""
    models = {"stopped at the target": variants_by_name(["baseline"])[0]}
    if "trained on" in set(var_rows.variant):
        models["trained on"] = variants_by_name(["trained on"])[0]
    panels, medians = {}, {}
    for kind in config.graph_kinds:
        m = {label: model_margins(config.training_params(), v, kind, config.variant_layers, config.trained_epochs)
             for label, v in models.items()}
        medians[kind] = {label: float(np.median(x)) for label, x in m.items()}
        panels[f"{kind.upper()}, {config.variant_layers} layers"] = {"margins": m}
    return panels, medians, [v.name for v in models.values()]


def build_deletion_chapter(config: DeletionChapterConfig, stored: StoredPaperScale | None = None,
                           progress: bool = True, on_sweep: Callable[[DeletionExperiment], None] | None = None
                           ) -> DeletionChapter:
    """Run chapter 5 with ``config`` and return everything it shows (:class:`DeletionChapter`).

    stored: the stored paper-scale run (``None``: nothing stored). on_sweep: called with the
    sweep as soon as it ran (e.g. to show its counts while the variants run)."""
    stored = stored or StoredPaperScale()
    params, n_boot, seed = config.training_params(), config.n_boot, config.seed
    grid = {"executor": config.executor, "workers": config.workers, "scheduler": config.scheduler}
    exp = run_deletion_experiment(config, progress=progress)
    if on_sweep is not None:
        on_sweep(exp)
    sweep_counts = exp.entities.groupby(["editor", "edit_token", "graph", "layers"]).agg(
        entities=("entity", "size"), skipped=("skipped", "sum"), deleted_ok=("deleted_ok", "mean"),
        seconds=("seconds", "sum"))
    # The paper's analysis (Fig. 4, Tables 2-3) uses ROME's sweep at edit_token.
    rome = {name: t[(t.editor == PAPER_EDITOR)] for name, t in
            (("entities", exp.entities), ("by_hop", exp.by_hop), ("by_relation", exp.by_relation),
             ("by_margin", exp.by_margin))}
    at_token = {name: t[t.edit_token == config.edit_token] for name, t in rome.items()}
    ents = at_token["entities"]
    done = ents[~ents.skipped.astype(bool)]
    depth0 = config.layers[0]
    first = done[done.seed == config.seeds[0]]
    fig4 = {f"{kind.upper()}, {depth0} layers": {"df": first[(first.graph == kind.upper()) & (first.layers == depth0)]}
            for kind in config.graph_kinds}
    scatter = {f"{n} layers": {"df": done[done.layers == n]} for n in config.layers}
    t2 = table2(exp.entities, config.edit_token, n_boot, seed)
    t2_shown = with_interval_columns(t2).drop(columns=["n_seeds"]).set_index(["editor", "graph", "layers"])

    # paper scale, stored (not computed by this build's runs; computed here from the stored rows)
    parts_t2 = stored_parts_table2(stored, n_boot, seed)
    stored_rule = stored_rule_table2(stored, n_boot, seed)
    computed_rule = not stored_rule.empty and not (stored.results or {}).get("rule_table2")
    rule_effect = edit_effect(stored.rule_entities, "rule") if not stored.rule_entities.empty else None

    all_done = exp.entities[(exp.entities.edit_token == config.edit_token) & ~exp.entities.skipped.astype(bool)]
    by_editor = editors_table(all_done, n_boot, seed)
    editor_items = [_styled(by_editor.set_index(["graph", "layers", "editor"]), precision=2)] if len(by_editor) else \
        [MarkdownText(f"Only ROME was run (editors={list(config.editors)}).")]
    others = sorted(set(exp.entities.editor) - {PAPER_EDITOR})

    t3 = table3(done)
    decomposition = decomposition_table(done, IMPACT_PARTS)
    dec_means = decomposition.pivot_table(index=["graph", "layers"], columns="part", values="mean", sort=False) * 100
    dec_r = decomposition.pivot_table(index=["graph", "layers"], columns="part", values="corr_with_degree", sort=False)

    # the setup variants, at variant_layers; then the rule's Table 2 at rule_layers, every seed
    variants = variants_by_name(config.variants)
    var_tables = run_variants(params, variants, kinds=config.graph_kinds, n_layers=config.variant_layers,
                              max_entities=config.variant_entities, trained_epochs=config.trained_epochs,
                              n_trace_facts=config.n_trace_facts, progress=progress, **grid)
    var_rows = variant_rows(var_tables["entities"], variants, n_boot=n_boot, seed=seed)
    paper_at = {g: claims.PAPER_A_TABLE2[(g, config.variant_layers)] for g in ("BA", "ER")
                if (g, config.variant_layers) in claims.PAPER_A_TABLE2}
    variant_tables = [variants_by_graph(var_rows, columns) for columns in
                      ({"pearson": "r", "mean_impact": "mean", "max_impact": "max"},
                       {"own_share": "own", "far_share": "far", "deleted_ok": "deleted"})]
    rule = variants_by_name(["rule"])
    rule_tables = run_variants(params, rule, kinds=config.graph_kinds, n_layers=list(config.rule_layers),
                               seeds=list(config.seeds), max_entities=config.variant_entities,
                               trained_epochs=config.trained_epochs, n_trace_facts=config.n_trace_facts,
                               layers_name="rule_layers", progress=progress, **grid)
    rule_t2 = with_paper_r(variant_rows(rule_tables["entities"], rule, n_boot=n_boot, seed=seed)
                           .drop(columns=["variant", "family"]))
    rule_shown = with_interval_columns(rule_t2)[[c for c in ["graph", "layers", "pearson", "ci_low", "ci_high",
                                                             "seeds_low", "seeds_high", "paper", "mean_impact",
                                                             "n_seeds", "n"] if c in with_interval_columns(rule_t2)]]
    margin_panels, margins, margin_variants = _margin_panels(config, var_rows)
    vm = var_tables["by_margin"]
    trained_margins = margin_breakage_wide(margin_breakage(vm[vm.variant.isin(margin_variants)],
                                                           keys=["variant", "graph"]), ["variant", "graph"])
    sites = site_check(params, kinds=config.graph_kinds, n_layers=config.variant_layers,
                       orientations=sorted({v.orientation for v in variants}), n_facts=config.n_trace_facts)
    sites_shown = sites.drop(columns=["layers"]).rename(columns={
        "peak_layer": "peak", "peak_token": "token", "first_layer_subject": "L0 subj.",
        "first_layer_relation": "L0 rel."}).set_index(["orientation", "graph", "window"])
    _, rule_outcome, rule_evidence = claims.table2_criterion(rule_t2)
    edit_effects = {"rule": edit_effect(rule_tables["entities"], "rule"),
                    "baseline": edit_effect(var_tables["entities"], "baseline"),
                    "loss at edited layer": edit_effect(var_tables["entities"], "loss at edited layer")}

    curves = run_sequences(params, config.graph_kinds, config.variant_layers, config.sequence_deletions,
                           config.sequence_every, config.n_trace_facts, progress=progress, **grid)

    rel = at_token["by_relation"].groupby(["graph", "same_relation"])[["broken", "prompts"]].sum()
    rel["share broken"] = rel.broken / rel.prompts.clip(lower=1)
    margin_table = margin_breakage(at_token["by_margin"])
    recovery = done.groupby(["graph", "layers"])[["deleted_ok", "old_still_correct", "old_p_before",
                                                  "old_p_after"]].mean()
    lens = {f"{kind.upper()} {depth0}L, e{exp.lens[(kind, depth0)]['entity']}'s fact deleted":
            {k: exp.lens[(kind, depth0)][k] for k in ("probs", "old_object", "deleted")} for kind in config.graph_kinds}

    # which token should ROME edit: the variants' two tokens by default, else the full second sweep
    tokens_from = ({k: t[t.variant.isin(["baseline", "relation token"])] for k, t in var_tables.items()}
                   if config.compare_token is None else rome)
    token_summary = sweep_summary(tokens_from["entities"], tokens_from["by_relation"], tokens_from["by_hop"])
    tokens_shown = token_summary.rename(columns=TOKEN_NAMES).set_index(["edit_token", "graph", "layers"])

    glue: dict[str, tuple[Any, str | None]] = {"first_seed": (config.seeds[0], None)}
    glue.update(stored_glue(stored, paper_rows(parts_t2), stored_rule, rule_effect))
    glue.update({"editors_compared": (", ".join([PAPER_EDITOR] + others) if others else "rome only", None),
                 "editor_verdict": (editor_verdict(by_editor), None)})
    glue.update(decomposition_glue(decomposition))
    glue.update({"site_verdict": (site_verdict(sites), None), "variant_layers": (config.variant_layers, None),
                 "variant_entities": ("all" if config.variant_entities is None else config.variant_entities, None),
                 "trained_epochs": (config.trained_epochs, None)})
    glue.update(variant_glue(var_rows, config, len(variants)))
    n_seeds = len(config.seeds)
    glue.update({"rule_layers": (", ".join(str(n) for n in config.rule_layers), None),
                 "rule_seeds": (f"{n_seeds} seed{'s' if n_seeds > 1 else ''}", None),
                 "rule_table2_verdict": (f"{rule_outcome} ({rule_evidence})", None)})
    glue.update({name: (edit_effect_text(edit_effects[setup]), None) for name, setup in
                 (("rule_edit_effect", "rule"), ("baseline_edit_effect", "baseline"),
                  ("loss_layer_edit_effect", "loss at edited layer"))})
    glue.update(sequence_glue(curves))
    glue.update(margin_glue(at_token["by_margin"]))
    glue.update(token_glue(token_summary))
    glue.update(table2_glue(t2, t3))
    glue.update({"edit_token": (config.edit_token, None), "deleted_ok": (done.deleted_ok.mean(), ".0%"),
                 "old_still": (done.old_still_correct.mean(), ".0%")})

    verdicts = {"table2_ba": claims.table2_ba_verdict(t2[t2.editor.astype(str) == PAPER_EDITOR])[0],
                "rule_table2": dict(zip(("verdict", "outcome", "evidence"), claims.table2_criterion(rule_t2))),
                "stored_table2": dict(zip(("verdict", "outcome", "evidence"),
                                          claims.table2_criterion(paper_rows(parts_t2)))),
                "stored_rule_table2": dict(zip(("verdict", "outcome", "evidence"), claims.table2_criterion(stored_rule))),
                "variants_reproduced": [name for name, ok in claims.reproduced_by(
                    var_rows, layers=(config.variant_layers,)).items() if ok]}
    effects = [{"setup": k, "scale": "this build", **v} for k, v in edit_effects.items()]
    effects += [{"setup": "rule", "scale": "stored paper-scale parts", **rule_effect}] if rule_effect else []
    results = {
        "edit_token": config.edit_token,
        "table2": t2.assign(editor=t2.editor.astype(str))[TABLE2_COLUMNS],
        "table3": t3[["graph", "layers", "max", "min", "mean", "std"]].to_dict("records"),
        "entities": done[["graph", "layers", "seed", "entity", "degree", "impact", "side_effect", "deleted_ok"]]
        .to_dict("records"),
        "token_comparison": token_summary.to_dict("records"),
        "decomposition": decomposition.to_dict("records"),
        "variants": var_rows.to_dict("records"),
        "rule_table2": rule_t2,
        # paper scale, computed by this build from the stored parts (kedit_utils.book.stored_parts)
        "stored_table2": parts_t2,
        "stored_rule_table2": stored_rule,
        # did the deletions delete? (kedit_utils.kg.deletion.variants.edit_effect)
        "edit_effects": pd.DataFrame(effects),
        "stored_parts": stored.parts_provenance,
        "site_check": sites.to_dict("records"),
        "sequential": curves.to_dict("records"),
        "median_margins": margins,
        "margin_breakage": margin_table[["graph", "layers", "margin_bin", "margin_low", "prompts", "broken", "share"]]
        .to_dict("records"),
        # Paper A's verdicts as the page states them (kedit_utils.kg.claims; the scorecard derives the same)
        "verdicts": verdicts,
    }
    return DeletionChapter(
        config=config, experiment=exp, sweep_counts=sweep_counts, fig4_panels=fig4, scatter_panels=scatter,
        table2=t2, table2_shown=t2_shown, stored_run_items=stored_run_items(stored),
        stored_parts_items=stored_parts_items(stored, parts_t2, stored_rule, computed_rule),
        editor_items=editor_items, table3=t3.set_index(["graph", "layers"]), decomposition_means=dec_means,
        decomposition_r=dec_r, rule_choices=pd.DataFrame(RULE, columns=["choice", "the rule's value", "source"])
        .set_index("choice"), variant_rows=var_rows, variants_paper=paper_at, variant_tables=variant_tables,
        rule_table2=rule_t2, rule_table2_shown=rule_shown.set_index(["graph", "layers"]), margin_panels=margin_panels,
        trained_margins=trained_margins, sites_shown=sites_shown, curves=curves, by_hop=at_token["by_hop"],
        by_relation_shares=rel, margin_breakage_shown=margin_breakage_wide(margin_table, ["graph", "layers"]),
        recovery=recovery, lens_panels=lens,
        token_deletion=tokens_shown[["deleted", "old kept", "impact", "side effect", "Spearman"]],
        token_breakage=tokens_shown[["same relation", "other relations", "same subject", "neighbours"]],
        glue=glue, results=results)


__all__ = ["DeletionChapter", "MarkdownText", "StoredPaperScale", "build_deletion_chapter", "editor_verdict",
           "editors_table", "site_verdict", "table2", "table3", "with_paper_r"]
