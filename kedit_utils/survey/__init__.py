"""Chapter 7, the survey (Paper C, Zhang et al. 2024, "A Comprehensive Study of Knowledge
Editing for Large Language Models"): its comparison of method families on insert / modify /
erase, computed with every editor of :mod:`kedit_utils.editing` and the metrics of
:mod:`kedit_utils.editing.metrics`.

* :mod:`.grid`: one edit at a time, every metric, every method × action (the survey's Table
  of EasyEdit/KnowEdit results); summaries with bootstrap intervals;
* :mod:`.findings`: the survey's findings, stated once and checked against the grid;
* :mod:`.weight_maps`: |ΔW| per layer × module (the survey's weight-change heatmaps);
* :mod:`.sequential`: many edits on one model (reliability of the first edits, locality);
* :mod:`.reversibility`: edit, then edit back (the survey's "a knowledge graph can be
  undone, an LLM cannot");
* :mod:`.studies`: chapter 7's runs on the pretrained and the knowledge-graph model, cached;
* :mod:`.chapter`: chapter 7's validated config and builder (the tables the page shows).
"""
from kedit_utils.survey import (
                                findings,
                                grid,
                                reversibility,
                                sequential,
                                weight_maps,
)
from kedit_utils.survey import (
                                studies as experiment,
)

__all__ = ["experiment", "findings", "grid", "reversibility", "sequential", "weight_maps"]
