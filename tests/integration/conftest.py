"""Integration fixtures: every chapter run through papermill with tiny parameters, and the
book built from those runs into a temporary folder (the developer's own build is untouched)."""
import os
import shutil
from pathlib import Path

import pytest

from kedit_utils import runner

ROOT = Path(__file__).resolve().parents[2]

# Tiny parameters per chapter: seconds each, same code paths as the real runs.
_TINY_MODELS = dict(
    n_entities=16, n_relations=6, ba_m=2, n_aliases=2, sample_fraction=0.5, layers=[2],
    n_embd=32, n_head=2, lr=3e-3, batch_size=64, max_epochs=60, warmup=10,
)
TINY = {
    "01_knowledge_graphs": dict(n_entities=30, n_relations=10, ba_m=2, n_examples=3),
    "02_training": _TINY_MODELS,
    "03_embeddings_pca": dict(_TINY_MODELS, pca_layers=2, appendix_fraction=0.25, n_show=3),
    "04_causal_tracing": dict(_TINY_MODELS, n_trace_facts=4, n_noise_samples=2, demo_layers=2,
                              run_smollm2=False),
    # the variants without both-direction graphs (the tiny BA hub has more facts than its 6 relations)
    "05_deletion_impact": dict(_TINY_MODELS, max_entities=6, n_trace_facts=4, n_boot=20, editor_max_entities=6,
                               variants=["baseline", "trained on", "clamp 1", "loss at edited layer", "relation token",
                                         "fixed relation", "trained target", "canonical prompt"],
                               variant_layers=2, variant_entities=4, trained_epochs=3, sequence_deletions=4,
                               sequence_every=2),
    # SmolLM2 (no tiny stand-in: the chapter is about a pretrained model's second hops), one
    # case per split, one inner step, one layer, no ROME/MEMIT/AlphaEdit (their covariances
    # would take a minute in the test's empty cache)
    "06_meta_learning_propagation": dict(
        n_train=2, n_id=1, n_ood=1, n_mquake=1, n_mquake_subset=1, n_check_countries=6, n_style_cases=1,
        alphas=[1e-4], n_alpha_cases=1, scopes=["attn+mlp"], table1_layers="layer", sweep_layers=[8],
        inner_steps=1, checkpoint_every=1, baselines=[], threads=1),
    # chapter 7 without SmolLM2 (run_pretrained=False): the KG model's grid, two methods
    "07_editing_methods": dict(_TINY_MODELS, run_pretrained=False, kg_methods=["rome", "ft_l", "ice"], kg_n_edits=2,
                               kg_layers=2, sequential_edits=3, reversibility_edits=2, n_trace_facts=4, n_boot=20),
    "scorecard": {},
}


def _seed_smollm2(cache: Path) -> None:
    """Chapter 6 loads SmolLM2: give the book's empty cache the project cache's float32 copy
    (built here once if missing) instead of de-quantising the GGUF file again (30 s);
    tests/integration/test_smollm2_cache.py checks that copy against the GGUF file."""
    from kedit_utils.cache import cache_root
    from kedit_utils.pretrained import load_smollm2, smollm2_available

    if not smollm2_available():
        return
    load_smollm2()  # the project cache's entry (what the `smollm2` fixture reads too)
    shutil.copytree(cache_root() / "smollm2", cache / "smollm2")


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
    _seed_smollm2(tmp / "cache")
    old = {k: os.environ.get(k) for k in ("KEDIT_RESULTS", "KEDIT_CACHE")}
    os.environ["KEDIT_RESULTS"] = str(results)
    os.environ["KEDIT_CACHE"] = str(tmp / "cache")
    try:
        missing = set(runner.list_pages()) - set(TINY)
        assert not missing, f"no tiny parameters for {missing}"
        for name in runner.list_pages():  # the chapters, then the scorecard
            runner.run_notebook(name, TINY[name], output_dir=book / "chapters", progress=False)
        runner.build_book(book)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return book, results


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M-Instruct and its tokenizer, loaded once for every test that needs it
    (loading dominates those tests on a 2-core CPU). Tests that edit it restore it exactly."""
    from kedit_utils.pretrained import load_smollm2

    return load_smollm2()  # on one torch thread, like every test (tests/conftest.py)
