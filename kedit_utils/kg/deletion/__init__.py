"""Paper A §3.3–3.4: deleting one fact per entity with an editor and measuring the impact
on all other knowledge.

:mod:`.requests` (the edit request of a graph fact), :mod:`.impact` (the deletion sweep and
its impact measure), :mod:`.sweep` (chapter 5's sweep over graphs, depths and editors, cached),
:mod:`.variants` (the setup variants behind Table 2: definitions, runs, re-trace, margins,
effects), :mod:`.sequence` (deletions that accumulate by degree order), :mod:`.edit_report`
(one edit, explained), :mod:`.config` (chapter 5's typed, validated parameters) and
:mod:`.chapter` (chapter 5's builder: its tables, figures' data and verdicts). The verdicts'
rules are Paper A's claims, :mod:`kedit_utils.kg.claims`.
"""
