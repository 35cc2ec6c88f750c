"""Integration fixtures: every chapter run through papermill with tiny parameters, and the
book built from those runs into a temporary folder (the developer's own build is untouched)."""
import functools
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from kedit_utils.book import runner
from kedit_utils.core.pretrained import _smollm2_from_gguf as _READ_GGUF

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
    # 16 relations, so that a hub of the 16-entity BA graph has a relation for each of its facts in
    # both directions (the rule's graph); its own tiny models, then (chapter 2's have 6 relations)
    "05_deletion_impact": dict(_TINY_MODELS, n_relations=16, max_entities=6, n_trace_facts=4, n_boot=20,
                               editor_max_entities=6,
                               variants=["baseline", "trained on", "clamp 1", "loss at edited layer", "relation token",
                                         "fixed relation", "trained target", "canonical prompt", "rule"],
                               variant_layers=2, variant_entities=4, trained_epochs=3, sequence_deletions=4,
                               sequence_every=2, rule_layers=[2]),
    # SmolLM2 (no tiny stand-in: the chapter is about a pretrained model's second hops), one
    # case per split, one inner step, one layer, no ROME/MEMIT/AlphaEdit (their covariances
    # would take a minute in the test's empty cache); the graph section on a 12-entity graph
    "06_meta_learning_propagation": dict(
        n_train=2, n_id=1, n_ood=1, n_mquake=1, n_mquake_subset=1, n_check_countries=6, n_style_cases=1,
        alphas=[1e-4], n_alpha_cases=1, scopes=["attn+mlp"], table1_layers="layer", sweep_layers=[8],
        inner_steps=1, checkpoint_every=1, baselines=[], threads=1,
        kg_entities=12, kg_relations=5, kg_ba_m=2, kg_new=16, kg_layers=1, kg_embd=32, kg_locality=5),
    # chapter 7 without SmolLM2 (run_pretrained=False): the KG model's grid, two methods
    "07_editing_methods": dict(_TINY_MODELS, run_pretrained=False, kg_methods=["rome", "ft_l", "ice"], kg_n_edits=2,
                               kg_layers=2, sequential_edits=3, reversibility_edits=2, n_trace_facts=4, n_boot=20),
    "scorecard": {},
}


def shared_gguf_reading(get):
    """A stand-in for ``pretrained._smollm2_from_gguf`` that returns ``get()`` (the session's
    reading) instead of reading the file. It carries the real reader as ``__wrapped__`` (its
    module and source). The cache key of an entry is the GGUF file's identity and the pin
    ``pretrained.SMOLLM2_FLOAT32_PIN``, not the reader, so an entry built through the stand-in
    is the one `make book` looks up."""

    @functools.wraps(_READ_GGUF)
    def read(path):
        return get()

    return read


@pytest.fixture
def gguf_stand_in(smollm2_gguf):
    """:func:`shared_gguf_reading` of the ``smollm2_gguf`` fixture."""
    return shared_gguf_reading(lambda: smollm2_gguf)


@contextmanager
def _gguf_read_from(request):
    """While open, a SmolLM2 cache entry that has to be built takes the session's one
    de-quantised reading of the GGUF file (the ``smollm2_gguf`` fixture, 30 s) instead of
    reading the file again: a fresh clone's test run de-quantises it once, not twice."""
    from kedit_utils.core import pretrained

    saved = pretrained._smollm2_from_gguf
    pretrained._smollm2_from_gguf = shared_gguf_reading(lambda: request.getfixturevalue("smollm2_gguf"))
    try:
        yield
    finally:
        pretrained._smollm2_from_gguf = saved


def _seed_smollm2(cache: Path, request) -> None:
    """Chapter 6 loads SmolLM2: give the book's empty cache the project cache's float32 copy
    (built here once if missing) instead of de-quantising the GGUF file again (30 s);
    tests/integration/test_smollm2_cache.py checks that copy against the GGUF file."""
    from kedit_utils.core.cache import cache_root
    from kedit_utils.core.pretrained import load_smollm2, smollm2_available

    if not smollm2_available():
        return
    with _gguf_read_from(request):
        load_smollm2()  # the project cache's entry (what the `smollm2` fixture reads too)
    shutil.copytree(cache_root() / "smollm2", cache / "smollm2")


@pytest.fixture(scope="session")
def smollm2_gguf():
    """``(model, tokenizer)`` of SmolLM2 exactly as read from the GGUF file the package ships
    (de-quantised, 30 s on 2 cores), once per session. Nothing may change it: it is what a
    cache entry is built from and the reference the cached float32 copy is checked against."""
    from kedit_utils.core import pretrained

    if not pretrained.smollm2_available():
        pytest.skip(f"SmolLM2 weights not installed ({pretrained.INSTALL_HINT})")
    return _READ_GGUF(pretrained.smollm2_gguf())


# The tiny chapters run in two lanes side by side (each chapter is its own kernel process):
# chapter 6 (SmolLM2, the longest, about 60 s) then 5 in one; 1-4 and 7 in the other, so chapter
# 2's tiny models are in the cache before chapter 5 asks for them (if not, it trains them too:
# the cache's writes are atomic, only time is lost). A chapter not named here joins lane two.
LANES = (("06_meta_learning_propagation", "05_deletion_impact"),
         ("01_knowledge_graphs", "02_training", "03_embeddings_pca", "04_causal_tracing", "07_editing_methods"))


def _run_in_lanes(chapters, output_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    named = [n for lane in LANES for n in lane]
    lanes = [[n for n in LANES[0] if n in chapters],
             [n for n in LANES[1] if n in chapters] + [n for n in chapters if n not in named]]

    def run(lane):
        for name in lane:
            runner.run_notebook(name, TINY[name], output_dir=output_dir, progress=False)

    with ThreadPoolExecutor(len(lanes)) as pool:
        for done in [pool.submit(run, lane) for lane in lanes]:
            done.result()  # a failed chapter raises here


@pytest.fixture(scope="session")
def tiny_parameters():
    """TINY, each chapter's tiny parameters (for a test that runs part of a chapter again)."""
    return TINY


@pytest.fixture(scope="session")
def tiny_book(tmp_path_factory, request):
    """Run every chapter with TINY parameters, build the book; returns (book dir, results dir)."""
    tmp = tmp_path_factory.mktemp("book")
    book = tmp / "book"
    book.mkdir()
    for item in (ROOT / "book").iterdir():
        if item.name in ("_build", "chapters"):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy)(item, book / item.name)
    results = tmp / "results"
    _seed_smollm2(tmp / "cache", request)
    old = {k: os.environ.get(k) for k in ("KEDIT_RESULTS", "KEDIT_CACHE")}
    os.environ["KEDIT_RESULTS"] = str(results)
    os.environ["KEDIT_CACHE"] = str(tmp / "cache")
    try:
        missing = set(runner.list_pages()) - set(TINY)
        assert not missing, f"no tiny parameters for {missing}"
        _run_in_lanes(runner.list_notebooks(), book / "chapters")
        for name in runner.list_pages()[len(runner.list_notebooks()):]:  # the scorecard reads every chapter
            runner.run_notebook(name, TINY[name], output_dir=book / "chapters", progress=False)
        runner.build_book(book)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return book, results


@pytest.fixture(scope="session")
def smollm2(request):
    """SmolLM2-135M-Instruct and its tokenizer, loaded once for every test that needs it
    (loading dominates those tests on a 2-core CPU). Tests that edit it restore it exactly."""
    from kedit_utils.core.pretrained import load_smollm2

    with _gguf_read_from(request):
        return load_smollm2()  # on one torch thread, like every test (tests/conftest.py)
