"""Alias-clustering scores and PCA (Paper A Fig. 3 / Fig. 5) on constructed embeddings."""
import numpy as np
import pytest

from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.embeddings import (
    alias_clustering,
    alias_recall,
    choose_items,
    flatten_groups,
    input_embeddings,
    pairwise_distances,
    pca_2d,
    pca_of_items,
    silhouette,
)
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.vocabulary import Vocabulary


def clustered(n_items=40, n_aliases=5, d=32, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_items, 1, d))
    return centres + noise * rng.normal(size=(n_items, n_aliases, d))


def scattered(n_items=40, n_aliases=5, d=32, seed=0):
    return np.random.default_rng(seed).normal(size=(n_items, n_aliases, d))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_clustered_scores_high_random_scores_chance(metric):
    good = alias_clustering(clustered(), metric)
    bad = alias_clustering(scattered(), metric)
    assert good["silhouette"] > 0.8 and good["nn_recall"] == 1.0
    # no structure: a point's own group is no closer than the nearest other group (s <= ~0)
    assert -0.3 < bad["silhouette"] < 0.02
    assert bad["nn_recall"] < 5 * bad["chance_recall"]
    assert good["chance_recall"] == pytest.approx(4 / 199)


def test_silhouette_matches_hand_computation():
    X = np.array([[0.0], [1.0], [10.0], [12.0]])
    labels = np.array([0, 0, 1, 1])
    # point 0: a=1, b=mean(10,12)=11 -> 10/11; point 1: a=1, b=10 -> 0.9
    # point 2: a=2, b=mean(10,9)=9.5 -> 7.5/9.5; point 3: a=2, b=11.5 -> 9.5/11.5
    expected = np.mean([10 / 11, 0.9, 7.5 / 9.5, 9.5 / 11.5])
    assert silhouette(X, labels, "euclidean") == pytest.approx(expected)


def test_recall_partial_structure():
    # two groups of 3; one point of group 0 sits inside group 1
    X = np.array([[0.0, 0], [0.1, 0], [5.0, 5], [5, 5.1], [5.1, 5], [5.05, 5.05]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    r = alias_recall(X, labels, k=2, metric="euclidean")
    # point0: nn {1, 2 or 5...}: [1, one of group1] -> .5; point1: .5; point2: nn in group1 -> 0
    # group-1 points: neighbours among {3,4,5,2} -> the two closest of group 1 mostly
    assert 0.3 < r < 0.9
    assert alias_recall(X[:2].repeat(1, 0), labels[:2], k=1, metric="euclidean") == 1.0


def test_pairwise_distances_and_validation():
    X = np.array([[1.0, 0], [0, 2.0], [2.0, 0]])
    D = pairwise_distances(X, "cosine")
    assert D[0, 2] == pytest.approx(0.0) and D[0, 1] == pytest.approx(1.0)
    assert pairwise_distances(X, "euclidean")[0, 2] == pytest.approx(1.0)
    with pytest.raises(ParameterError):
        pairwise_distances(X, "manhattan")
    with pytest.raises(ParameterError):
        silhouette(X, np.zeros(3), "cosine")
    with pytest.raises(ParameterError):
        alias_clustering(np.zeros((3, 1, 2)))


def test_pca_2d_recovers_dominant_directions():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(200, 2)) * [5.0, 2.0]
    basis = np.linalg.qr(rng.normal(size=(10, 10)))[0][:2]
    X = t @ basis + 0.01 * rng.normal(size=(200, 10)) + 3.0
    coords, ratio = pca_2d(X)
    assert coords.shape == (200, 2) and ratio.shape == (2,)
    assert ratio[0] > ratio[1] > 0 and ratio.sum() > 0.99
    assert abs(np.corrcoef(coords[:, 0], t[:, 0])[0, 1]) > 0.99
    assert np.allclose(coords.mean(axis=0), 0, atol=1e-9)
    coords2, _ = pca_2d(X.copy())
    assert np.allclose(coords, coords2)


def test_pca_of_items_and_choice():
    emb = clustered(n_items=20, d=8)
    items = choose_items(20, 6, seed=1)
    assert len(set(items.tolist())) == 6 and (np.diff(items) > 0).all()
    for fit in ("shown", "all"):
        coords, ratio = pca_of_items(emb, items, fit=fit)
        assert coords.shape == (6, 5, 2)
    X, labels = flatten_groups(emb)
    assert X.shape == (100, 8) and labels[:6].tolist() == [0, 0, 0, 0, 0, 1]


def test_input_embeddings_reads_alias_rows():
    vocab = Vocabulary(7, 3, 5)
    model = gpt2_from_scratch(vocab, ModelSpec(n_layers=1, n_embd=16, n_head=2), seed=0)
    ent = input_embeddings(model, vocab, "entity")
    rel = input_embeddings(model, vocab, "relation")
    w = model.get_input_embeddings().weight.detach().numpy()
    assert ent.shape == (7, 5, 16) and rel.shape == (3, 5, 16)
    assert np.array_equal(ent[2, 3], w[vocab.entity_ids[2, 3]])
    assert np.array_equal(rel[1, 4], w[vocab.relation_ids[1, 4]])
    # untrained embeddings do not cluster by alias group
    assert alias_clustering(ent)["silhouette"] < 0.2


def test_pca_figure_has_two_panels_of_six_groups():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kedit_utils.book.figures.embeddings import plot_alias_pca, plot_pca_panel

    vocab = Vocabulary(10, 8, 5)
    model = gpt2_from_scratch(vocab, ModelSpec(n_layers=1, n_embd=16, n_head=2), seed=0)
    fig = plot_alias_pca(model, vocab, n_items=6, seed=0, title="untrained")
    left, right = fig.axes[:2]
    assert len(left.collections) == 6 and len(right.collections) == 6
    assert all(len(c.get_offsets()) == 5 for c in left.collections)
    plt.close(fig)
    fig, ax = plt.subplots()
    assert plot_pca_panel(clustered(n_items=8, d=4), [0, 1, 2], ax=ax) is fig
    plt.close(fig)
