"""kedit_utils: the logic behind the kedit companion book.

Notebooks narrate and call; everything they compute lives here, in layers whose imports
flow one way (checked by the import-linter contracts in ``pyproject.toml``):

* :mod:`.core` — validation, devices, the artifact cache, jobs, architectures, tokens, statistics;
* :mod:`.editing` — the editing methods and the metrics every paper shares;
* :mod:`.datasets` — the real-world facts and edit cases Papers B and C share;
* :mod:`.kg` — Paper A (knowledge graphs, from-scratch GPT-2s, tracing, deletion);
* :mod:`.propagation` — Paper B (FOMAML so that edits propagate to 2-hop questions);
* :mod:`.survey` — Paper C (the survey's comparison of methods on insert / modify / erase);
* :mod:`.book` — running chapters, results, stored runs, the scorecard, figures and panels.

Each module's docstring names the paper section it reproduces.
"""
