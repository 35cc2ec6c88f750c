"""Sequential deletions (issue 12 §5): orders, accumulation, bit-exact restore."""
import numpy as np
import pytest
import torch

from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.deletion.sequence import deletion_order, sequential_deletions
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.graphs import GraphSpec, build_graph


def test_orders_sort_by_degree_or_draw_a_seeded_permutation():
    degree = np.array([3, 1, 4, 1, 5])
    assert list(deletion_order(degree, "high")) == [4, 2, 0, 1, 3]
    assert list(deletion_order(degree, "low")) == [1, 3, 0, 2, 4]
    r = deletion_order(degree, "random", seed=2)
    assert sorted(r) == list(range(5)) and np.array_equal(r, deletion_order(degree, "random", seed=2))
    with pytest.raises(ParameterError, match="order"):
        deletion_order(degree, "middle")


def test_deletions_accumulate_and_the_model_comes_back_bit_for_bit():
    kg = build_graph(GraphSpec(kind="ba", n_entities=14, n_relations=8, ba_m=2, seed=0))
    corpus = alias_corpus(kg, n_aliases=2, sample_fraction=0.5, seed=0)
    model = gpt2_from_scratch(corpus.vocab, ModelSpec(n_layers=1, n_embd=16, n_head=2), seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    live = []

    def edit(model, triple, aliases):  # a destructive edit: zero the subject's alias-0 embedding
        tok = int(corpus.vocab.entity_ids[kg.triples[triple, 0], 0])
        wte = model.transformer.wte.weight
        saved = wte.data[tok].clone()
        with torch.no_grad():
            wte[tok] = 0.0
        live.append(tok)

        def restore():
            with torch.no_grad():
                wte[tok] = saved
            live.remove(tok)

        return restore

    rows = sequential_deletions(model, corpus, edit, deletion_order(kg.degree, "high")[:5], every=2)
    assert list(rows.deleted) == [0, 2, 4, 5] and len(live) == 0
    assert np.isnan(rows.old_kept.iloc[0]) and rows.accuracy_kept.iloc[0] == rows.accuracy.iloc[0]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
