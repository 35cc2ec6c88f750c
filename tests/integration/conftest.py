"""Integration fixtures: every chapter run through papermill with tiny parameters, and the
book built from those runs into a temporary folder (the developer's own build is untouched)."""
import os
import shutil
from pathlib import Path

import pytest

from kedit_utils import runner

ROOT = Path(__file__).resolve().parents[2]

# Tiny parameters per chapter: seconds each, same code paths as the real runs.
TINY = {
    "01_knowledge_graphs": dict(n_entities=30, n_relations=10, ba_m=2, n_examples=3),
}


@pytest.fixture(scope="session")
def tiny_book(tmp_path_factory):
    """Run every chapter with TINY parameters, build the book; returns (book dir, results dir)."""
    tmp = tmp_path_factory.mktemp("book")
    book = tmp / "book"
    book.mkdir()
    for item in (ROOT / "book").iterdir():
        if item.name in ("_build", "chapters"):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy)(item, book / item.name)
    results = tmp / "results"
    old = {k: os.environ.get(k) for k in ("KEDIT_RESULTS", "KEDIT_CACHE")}
    os.environ["KEDIT_RESULTS"] = str(results)
    os.environ["KEDIT_CACHE"] = str(tmp / "cache")
    try:
        missing = set(runner.list_notebooks()) - set(TINY)
        assert not missing, f"no tiny parameters for {missing}"
        for name in runner.list_notebooks():
            runner.run_notebook(name, TINY[name], output_dir=book / "chapters", progress=False)
        runner.build_book(book)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return book, results
