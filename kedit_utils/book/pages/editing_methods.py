"""Chapter 7's page (Paper C, the survey, §5: the comparison of editing methods, erasure, the
knowledge-graph model, the findings, the weight-change heatmaps, sequential editing and
reversibility): the tables of :class:`~kedit_utils.survey.chapter.EditingMethodsChapter` with the
book's method labels and column names, the glued texts, the figures and ``results/07_editing_methods.json``.

Each ``*_tables`` method returns the displayable objects of one section: one or two styled
tables, none where the section's study did not run (``display(*page.data_tables())`` shows
nothing then); each ``glued_*`` method the values the section's prose glues, already rendered.
"""
from __future__ import annotations

import pandas as pd

from kedit_utils.book.figures.editing import (
    comparison_figure,
    label,
    not_run_figure,
    sequential_curves,
    weight_heatmaps,
)
from kedit_utils.book.results import frame_records
from kedit_utils.datasets import facts as F
from kedit_utils.survey import findings as FD
from kedit_utils.survey import grid as G
from kedit_utils.survey import sequential as S
from kedit_utils.survey.chapter import EditingMethodsChapter

NOT_RUN = "(not run)"
SHORT = {"reliability": "rel", "generalization": "gen", "locality": "loc", "portability": "port", "fluency": "flu",
         "seconds_per_edit": "s/edit"}
ERASE_COLUMNS = {"old_gone": "old gone", "old_gone_rephrase": "old gone (para.)", "erase_target": "target",
                 "erase_target_rephrase": "target (para.)"}
WEIGHT_COLUMNS = {"n_layers": "layers changed", "mean_norm": "‖ΔW‖ (sum)", "share_attn": "attn",
                  "share_mlp_in": "MLP in", "share_mlp_out": "MLP out"}
SEQUENTIAL_COLUMNS = {"n_edits": "edits", "reliability_first_1": "rel. first (1)",
                      "reliability_first_n": "rel. first (all)", "locality_1": "loc. (1)", "locality_n": "loc. (all)",
                      "locality_drop": "loc. drop"}
REVERSIBILITY_COLUMNS = {"reliability_edited": "rel. edit", "locality_edited": "loc. after edit",
                         "reliability_reverted": "old answer back", "locality_reverted": "loc. after edit back",
                         "weight_residual": "weight residual"}


class FullWidth:
    """A DataFrame shown with every cell in full (``display.max_colwidth`` None), as plain text
    and as HTML: the findings' evidence wraps in its column instead of being cut."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", None):
            return repr(self.frame)

    def _repr_html_(self) -> str:
        with pd.option_context("display.max_colwidth", None):
            return self.frame._repr_html_()


def _labelled(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(method=table.method.map(label))


class EditingMethodsPage:
    """Chapter 7's page from its built chapter (module docstring)."""

    def __init__(self, chapter: EditingMethodsChapter):
        self.chapter = chapter
        self.config = chapter.config

    # ---- the facts, the requests and the metrics
    def data_tables(self) -> list:
        """The facts the model knows per relation, and one request of each action."""
        c = self.chapter
        if c.pretrained is None:
            return []
        return [c.known_by_relation.style.format({"share": "{:.0%}"}), c.request_examples]

    def glued_data(self) -> dict:
        c = self.chapter
        out = {"n_table": len(F.fact_table()), "n_relations": len(F.RELATIONS)}
        if c.pretrained is None:
            out.update(n_known=NOT_RUN, n_dropped=NOT_RUN, model_name=NOT_RUN)
        else:
            out.update(n_known=f"{c.n_known} ({c.pretrained.known.share():.0%})",
                       n_dropped=c.pretrained.known.dropped.get("prompt", 0), model_name=c.pretrained.model_name)
        out.update(n_edits=self.config.n_edits, n_methods=len(self.config.methods))
        return out

    # ---- the comparison on the pretrained model
    def comparison_tables(self) -> list:
        t = self.chapter.comparison
        if t is None:
            return []
        shown = _labelled(t).set_index(["action", "method"])[list(SHORT)]
        return [shown.rename(columns=SHORT).style.format(precision=2, na_rep="–")]

    def comparison_figure(self):
        t = self.chapter.comparison
        if t is None:
            return not_run_figure("not run here (run_pretrained=False)")
        return comparison_figure(t[t.method != "none"], methods=list(self.config.methods))

    def erase_tables(self) -> list:
        t = self.chapter.erase
        if t is None:
            return []
        shown = _labelled(t).set_index("method")[list(G.ERASE_METRICS)]
        return [shown.rename(columns=ERASE_COLUMNS).style.format(precision=2, na_rep="–")]

    # ---- the knowledge-graph model
    def kg_tables(self) -> list:
        shown = _labelled(self.chapter.kg_comparison).set_index(["action", "method"])[
            ["reliability", "generalization", "locality", "portability", "seconds_per_edit"]]
        return [shown.rename(columns=SHORT).style.format(precision=2, na_rep="–")]

    def glued_kg(self) -> dict:
        kg = self.chapter.kg
        return {"kg_name": kg.model_name, "kg_layer": kg.site["layer"],
                "kg_skipped": ", ".join(label(m) for m in kg.skipped) if kg.skipped else "none"}

    # ---- the findings
    def findings_tables(self) -> list:
        f = self.chapter.findings
        return [FullWidth(f.assign(holds=f.holds.map(FD.verdict_word)).set_index(["claim", "model"])[
            ["holds", "evidence"]])]

    def glued_findings(self) -> dict:
        return {f"finding_{key}": text for key, text in self.chapter.finding_verdicts.items()}

    # ---- where each method writes
    def weight_tables(self) -> list:
        t = self.chapter.weight_change
        if t is None:
            return []
        return [_labelled(t).set_index("method").rename(columns=WEIGHT_COLUMNS).style.format(precision=2)]

    def heatmap_figure(self):
        if not self.chapter.weight_maps:
            return not_run_figure("no weight-changing method on the pretrained model in this run")
        return weight_heatmaps(self.chapter.weight_maps)

    # ---- sequential editing
    def sequential_tables(self) -> list:
        t = self.chapter.sequential_drop
        if t is None:
            return []
        shown = _labelled(t).set_index("method").drop(columns=["model"]).rename(columns=SEQUENTIAL_COLUMNS)
        return [shown.style.format(precision=2)]

    def sequential_figure(self):
        if self.chapter.sequential_drop is None:
            return not_run_figure("no sequential edits in this run (sequential_edits=0)")
        return sequential_curves(self.chapter.kg.sequential)

    # ---- reversibility
    def reversibility_tables(self) -> list:
        t = self.chapter.reversibility_by_method
        if t is None:
            return []
        return [t.rename(index=label).rename(columns=REVERSIBILITY_COLUMNS).style.format(precision=2)]

    def glued_reversibility(self) -> dict:
        out = {"n_sequential": self.config.sequential_edits}
        rev = self.chapter.reversibility_by_method
        if rev is None:
            return out | dict.fromkeys(("rev_best_method", "rev_best_locality", "rev_min_residual", "rev_verdict"),
                                       NOT_RUN)
        return out | {
            "rev_best_method": label(rev.locality_reverted.idxmax()),
            "rev_best_locality": format(rev.locality_reverted.max(), ".2f"),
            "rev_min_residual": format(rev.weight_residual.min(), ".2f"),
            "rev_verdict": "an edit is undone by editing back, against the survey" if self.chapter.edit_undone else
            "an edit is not undone by editing back, only by restoring the saved weights, as the survey says"}

    # ---- try an edit
    def panels(self) -> list:
        """The live editing panel on the pretrained model (none without it)."""
        from kedit_utils.book.widgets.editing_panel import editing_panel

        c = self.chapter
        context = c.panel_context()
        if context is None:
            return []
        modify = c.pretrained.requests["modify"]
        return [editing_panel(c.loaded[0], c.loaded[1], list(self.config.methods), context=context,
                              locality=list(modify[0].request.locality), pool=[r.request for r in modify])]

    # ---- the results file
    def results(self) -> dict:
        """``results/07_editing_methods.json``'s data (:func:`kedit_utils.book.results.save_results`
        adds ``meta``): methods, findings, sequential, reversibility, erase, data."""
        c = self.chapter
        pre = c.pretrained
        comparison = c.comparison
        kg = c.kg_comparison
        return {
            "methods": (G.result_rows(comparison[comparison.method != "none"]) if comparison is not None else [])
            + G.result_rows(kg[kg.method != "none"]),
            "findings": frame_records(c.findings[["model", "claim", "holds", "evidence"]]),
            "sequential": S.curve_rows(c.kg.sequential) if len(c.kg.sequential) else [],
            "reversibility": frame_records(c.reversibility) if c.reversibility is not None else [],
            "erase": frame_records(c.erase) if c.erase is not None else [],
            "data": {"model": pre.model_name if pre is not None else None, "facts": len(F.fact_table()),
                     "known": c.n_known, "n_edits": self.config.n_edits, "kg_n_edits": self.config.kg_n_edits},
        }


__all__ = ["EditingMethodsPage", "FullWidth"]
