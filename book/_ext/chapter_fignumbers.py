"""Number a chapter's figures and tables by its chapter: Fig. 4.2 is the second figure of
chapter 4 (``chapters/04_causal_tracing``), so the book's numbers never look like the
papers' (Paper A's Fig. 6 is not this book's Fig. 6). Pages without a chapter number (the
scorecard, the glossary) keep Sphinx's own numbers.

Sphinx numbers figures across the whole book (``numfig``) when ``env-get-updated`` fires; this
extension runs after it and rewrites those numbers as (chapter, position in the page).
"""
from __future__ import annotations

import re

_CHAPTER = re.compile(r"(?:^|/)(\d\d)_[^/]+$")


def renumber(app, env) -> list[str]:
    changed = []
    for docname, by_type in env.toc_fignumbers.items():
        match = _CHAPTER.search(docname)
        if not match:
            continue
        chapter = int(match.group(1))
        for figtype, numbers in by_type.items():
            ordered = sorted(numbers, key=lambda fig_id: numbers[fig_id])
            renumbered = {fig_id: (chapter, k) for k, fig_id in enumerate(ordered, start=1)}
            if renumbered != numbers:
                by_type[figtype] = renumbered
                changed.append(docname)
    return sorted(set(changed))


def setup(app):
    app.connect("env-get-updated", renumber, priority=900)  # after the toctree collector (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
