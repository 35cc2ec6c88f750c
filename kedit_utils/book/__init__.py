"""The companion's machinery: running chapters with papermill (:mod:`.runner`, :mod:`.cli`,
:mod:`.profiles`), their results files (:mod:`.results`), stored larger runs with provenance
(:mod:`.stored_results`, :mod:`.stored_parts`), the scorecard of every paper
(:mod:`.scorecard`), the book's offline assets (:mod:`.assets`), and what the pages show:
figures (:mod:`.figures`, :mod:`.style`) and ipywidgets panels (:mod:`.widgets`).

It sits on top: it may import every paper package, and none of them imports it.
"""
