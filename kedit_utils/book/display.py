"""Display helpers the chapters call where what a page shows depends on what ran (issue 29 §4:
the choice lives here, not in a notebook cell)."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from IPython.display import display


def show_rows_or_note(rows: Sequence[dict], note: str, transpose: bool = True) -> None:
    """Display ``rows`` as a table (one column per row when ``transpose``), or print ``note``
    (why there are none: a demo skipped) when there are no rows."""
    if not rows:
        print(note)
        return
    frame = pd.DataFrame(list(rows))
    display(frame.T if transpose else frame)


def show_notes(lines: Sequence[str]) -> None:
    """Print a section's notes, one per line (nothing when there are none)."""
    for line in lines:
        print(line)
