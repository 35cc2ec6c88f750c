"""Alias embeddings and how well they cluster (Paper A §3.2 Fig. 3, Appendix A Fig. 5).

Fig. 3 projects the learned input embeddings of 6 entities and 6 relations (5 aliases each)
on their first two principal components: the aliases of one item lie together, so the model
"recognises" paraphrases. Fig. 5 repeats this with a 2 % training sample, where they scatter.

A 2-D picture of 6 items is a small and selectable view, so this module also scores the
clustering over **all** entities / relations, in the full embedding space:

* :func:`silhouette`: mean silhouette of the alias groups (a point's mean distance to the
  other aliases of its item vs to the nearest other item): 1 = tight separated groups,
  ~0 = no group structure.
* :func:`alias_recall`: fraction of each alias's k nearest neighbours (k = n_aliases - 1)
  that are aliases of the same item; chance level is (k) / (N - 1) per neighbour slot,
  i.e. (n_aliases - 1) / (N - 1).

Distances are cosine (default) or euclidean, computed in numpy.
"""
from __future__ import annotations

import numpy as np

from kedit_utils.core.validation import ParameterError, check_choice, check_int
from kedit_utils.kg.vocabulary import Vocabulary

KINDS = ("entity", "relation")
METRICS = ("cosine", "euclidean")


def input_embeddings(model, vocab: Vocabulary, kind: str = "entity") -> np.ndarray:
    """(n_items, n_aliases, d) rows of the input embedding matrix for every alias."""
    check_choice("kind", kind, KINDS)
    ids = vocab.entity_ids if kind == "entity" else vocab.relation_ids
    weight = model.get_input_embeddings().weight.detach().float().cpu().numpy()
    return weight[ids]


def flatten_groups(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_items, A, d) -> points (n_items * A, d) and labels (n_items * A,) item index."""
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 3:
        raise ParameterError("embeddings", emb.shape, "must have shape (n_items, n_aliases, d)")
    n, a, d = emb.shape
    return emb.reshape(n * a, d), np.repeat(np.arange(n), a)


def pca_2d(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components of X (N, d), by SVD of the centred data.

    Returns coords (N, 2) and explained_ratio (2,) (share of total variance per component).
    Signs are fixed so each component's largest-magnitude loading is positive (deterministic).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ParameterError("X", X.shape, "must have shape (N, d) with N >= 2")
    Xc = X - X.mean(axis=0)
    U, S, Vt = np.linalg.svd(Xc, full_matrices=False)
    k = min(2, S.size)
    signs = np.sign(Vt[np.arange(k), np.abs(Vt[:k]).argmax(axis=1)])
    signs[signs == 0] = 1.0
    coords = np.zeros((X.shape[0], 2))
    coords[:, :k] = U[:, :k] * S[:k] * signs
    total = float((S**2).sum())
    ratio = np.zeros(2)
    if total > 0:
        ratio[:k] = S[:k] ** 2 / total
    return coords, ratio


def pairwise_distances(X: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """(N, N) distances between the rows of X (N, d): cosine (1 - cos) or euclidean."""
    check_choice("metric", metric, METRICS)
    X = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        Xn = X / np.where(norms == 0, 1.0, norms)
        D = 1.0 - Xn @ Xn.T
    else:
        sq = (X**2).sum(axis=1)
        D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * X @ X.T, 0.0))
    np.fill_diagonal(D, 0.0)
    return np.maximum(D, 0.0)


def _check_labels(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (np.asarray(X).shape[0],):
        raise ParameterError("labels", labels.shape, f"must have shape ({np.asarray(X).shape[0]},)")
    return np.unique(labels, return_inverse=True)[1]


def silhouette(X: np.ndarray, labels: np.ndarray, metric: str = "cosine") -> float:
    """Mean silhouette coefficient of the clusters ``labels`` (N,) of the points X (N, d).

    s_i = (b_i - a_i) / max(a_i, b_i), a_i = mean distance to the other members of i's cluster,
    b_i = smallest mean distance to another cluster; points in singleton clusters score 0.
    """
    inv = _check_labels(X, labels)
    k = inv.max() + 1
    if k < 2:
        raise ParameterError("labels", k, "need at least 2 clusters")
    D = pairwise_distances(X, metric)
    onehot = np.zeros((inv.size, k))
    onehot[np.arange(inv.size), inv] = 1.0
    sizes = onehot.sum(axis=0)
    sums = D @ onehot  # (N, k): distance sums to each cluster
    own = sizes[inv] - 1
    a = np.where(own > 0, sums[np.arange(inv.size), inv] / np.maximum(own, 1), 0.0)
    mean_other = sums / sizes
    mean_other[np.arange(inv.size), inv] = np.inf
    b = mean_other.min(axis=1)
    denom = np.maximum(a, b)
    s = np.where((own > 0) & (denom > 0), (b - a) / np.where(denom > 0, denom, 1.0), 0.0)
    return float(s.mean())


def alias_recall(X: np.ndarray, labels: np.ndarray, k: int | None = None, metric: str = "cosine") -> float:
    """Mean fraction of each point's k nearest neighbours (itself excluded) sharing its label.

    ``k=None`` uses (smallest cluster size - 1), i.e. n_aliases - 1 for alias groups.
    """
    inv = _check_labels(X, labels)
    n = inv.size
    if k is None:
        k = int(np.bincount(inv).min()) - 1
    check_int("k", k, minimum=1, maximum=n - 1)
    D = pairwise_distances(X, metric)
    np.fill_diagonal(D, np.inf)
    nn = np.argsort(D, axis=1, kind="stable")[:, :k]
    return float((inv[nn] == inv[:, None]).mean())


def alias_clustering(emb: np.ndarray, metric: str = "cosine") -> dict[str, float]:
    """Scores of the alias groups of ``emb`` (n_items, A, d) over all items.

    silhouette, nn_recall (k = A - 1) and chance_recall = (A - 1) / (N - 1), N = n_items * A.
    """
    X, labels = flatten_groups(emb)
    n_items, a = np.asarray(emb).shape[:2]
    if a < 2:
        raise ParameterError("embeddings", np.asarray(emb).shape, "need at least 2 aliases per item")
    return {
        "silhouette": silhouette(X, labels, metric),
        "nn_recall": alias_recall(X, labels, a - 1, metric),
        "chance_recall": (a - 1) / (X.shape[0] - 1),
    }


def choose_items(n_items: int, k: int = 6, seed: int = 0) -> np.ndarray:
    """k distinct item indices (sorted), drawn with ``seed``: the items a PCA figure shows."""
    check_int("k", k, minimum=1, maximum=n_items)
    return np.sort(np.random.default_rng(seed).choice(n_items, size=k, replace=False))


def pca_of_items(emb: np.ndarray, items, fit: str = "shown") -> tuple[np.ndarray, np.ndarray]:
    """2-D PCA coordinates of the aliases of ``items``: (len(items), A, 2) and explained ratio.

    fit: ``"shown"`` fits the components on the shown items' aliases (as the paper's figure
    presumably does), ``"all"`` on every item's aliases and projects the shown ones.
    """
    check_choice("fit", fit, ("shown", "all"))
    emb = np.asarray(emb, dtype=np.float64)
    items = np.asarray(items, dtype=np.int64)
    n, a, d = emb.shape
    if fit == "shown":
        coords, ratio = pca_2d(emb[items].reshape(-1, d))
        return coords.reshape(len(items), a, 2), ratio
    coords, ratio = pca_2d(emb.reshape(-1, d))
    return coords.reshape(n, a, 2)[items], ratio
