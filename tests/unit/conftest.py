"""Unit-test fixtures shared by several test modules."""
import pytest
import torch

from kedit_utils.editing.rome import key_covariance
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.graphs import GraphSpec, build_graph


@pytest.fixture(scope="session")
def train_tiny_ba(tmp_path_factory):
    """``train_tiny_ba(spec, model_id) -> (model, corpus, cov)``: a GPT-2 of ``spec`` trained
    for a few seconds on a 16-entity BA graph (150 full-batch AdamW steps), and its layer-0
    key covariance C in float64, cached in a temporary folder."""

    def train(spec: ModelSpec, model_id: str):
        torch.manual_seed(0)
        kg = build_graph(GraphSpec(kind="ba", n_entities=16, n_relations=6, ba_m=2, seed=0))
        corpus = alias_corpus(kg, n_aliases=2, sample_fraction=1.0)
        model = gpt2_from_scratch(corpus.vocab, spec, seed=0)
        x = torch.as_tensor(corpus.train_sentences)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
        for _ in range(150):
            logits = model(x[:, :2]).logits
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("KEDIT_CACHE", str(tmp_path_factory.mktemp("cache")))
            cov = key_covariance(model, 0, corpus.train_sentences, dtype="float64", model_id=model_id)
        return model, corpus, cov

    return train
