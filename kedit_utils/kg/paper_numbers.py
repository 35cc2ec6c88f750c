"""The numbers Paper A reports (knowledge deletion vs graph structure), for the "paper"
columns beside each measured table.

These are quotations of the publications (``../shared/PAPERS.md``, originals in
``../shared/seeds/``), never results of this project: every measured number in the book is
computed by the run that built it.
"""
from __future__ import annotations

# Paper A, Table 1: accuracy on the training data / on all data after training.
PAPER_A_TABLE1 = {
    ("ER", 6): (0.9998, 0.9941), ("ER", 12): (0.9985, 0.9983), ("ER", 24): (0.9900, 0.9905),
    ("BA", 6): (0.9991, 0.9987), ("BA", 12): (0.9991, 0.9989), ("BA", 24): (0.9972, 0.9964),
}

# Paper A, Table 2: correlation of entity degree and deletion impact.
PAPER_A_TABLE2 = {
    ("ER", 6): 0.2093, ("ER", 12): 0.2634, ("ER", 24): 0.3045,
    ("BA", 6): 0.9348, ("BA", 12): 0.9892, ("BA", 24): 0.7540,
}

# Paper A, Table 3: impact I in units of 1e-2, (max, min, mean, std).
PAPER_A_TABLE3 = {
    ("ER", 6): (0.20, 0.00, 0.05, 0.04), ("ER", 12): (0.20, 0.00, 0.07, 0.04),
    ("ER", 24): (0.21, 0.00, 0.07, 0.05), ("BA", 6): (0.60, 0.00, 0.05, 0.08),
    ("BA", 12): (1.08, 0.00, 0.09, 0.18), ("BA", 24): (1.13, 0.00, 0.09, 0.17),
}


def paper_table1_row(graph: str, layers: int) -> dict:
    train, all_ = PAPER_A_TABLE1.get((graph.upper(), layers), (None, None))
    return {"paper acc_train": train, "paper acc_all": all_}
