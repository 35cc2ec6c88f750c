"""A tiny knowledge graph is learned to the paper's accuracy in seconds (Paper A §3.2, Table 1)."""
import numpy as np
import pytest

from kedit_utils.kg.alias_accuracy import accuracy_report, score_prompts
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.embeddings import alias_clustering, input_embeddings
from kedit_utils.kg.gpt2 import ModelSpec
from kedit_utils.kg.graphs import GraphSpec, build_graph
from kedit_utils.kg.training import TrainConfig, train_model

pytestmark = pytest.mark.slow  # integration tier: `make test`, not `make test-fast`


@pytest.mark.parametrize("kind", ["er", "ba"])
def test_tiny_graph_reaches_paper_accuracy(kind):
    kg = build_graph(GraphSpec(kind=kind, n_entities=12, n_relations=4, ba_m=2, seed=0))
    corpus = alias_corpus(kg, n_aliases=5, sample_fraction=0.2, seed=0)
    spec = ModelSpec(n_layers=2, n_embd=32, n_head=2)
    cfg = TrainConfig(lr=3e-3, batch_size=32, warmup=20, eval_every=10, max_epochs=150, patience=30)
    trained = train_model(corpus, spec, cfg, seed=0, device="cpu", progress=False)
    rep = trained.report
    assert rep["stop_reason"] == "target"
    assert rep["acc_train"] >= 0.99 and rep["acc_all"] >= 0.99
    assert trained.seconds < 60
    # the kept checkpoint is the one the report describes
    again = accuracy_report(trained.model, corpus, trained.val_mask)
    assert again["acc_all"] == pytest.approx(rep["acc_all"])
    scores = score_prompts(trained.model, corpus.prompts, corpus.prompt_object, corpus.vocab)
    assert scores.accuracy == pytest.approx(rep["acc_all"])
    assert np.median(scores.p_object) > 0.5
    # aliases of one entity end up nearer each other than chance
    clus = alias_clustering(input_embeddings(trained.model, corpus.vocab, "entity"))
    assert clus["nn_recall"] > 2 * clus["chance_recall"]
