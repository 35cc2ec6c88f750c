"""Knowledge graphs (Paper A §3.1): reproducibility, well-posedness, fair ER/BA, validation."""
import numpy as np
import pytest

from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.graphs import GraphSpec, ba_edge_count, build_graph, hop_distances


@pytest.mark.parametrize("kind", ["er", "ba"])
def test_seed_reproduces_graph_bit_for_bit(kind):
    a = build_graph(GraphSpec(kind=kind, n_entities=60, n_relations=20, seed=3))
    b = build_graph(GraphSpec(kind=kind, n_entities=60, n_relations=20, seed=3))
    c = build_graph(GraphSpec(kind=kind, n_entities=60, n_relations=20, seed=4))
    assert a.triples.tobytes() == b.triples.tobytes()
    assert a.triples.tobytes() != c.triples.tobytes()


@pytest.mark.parametrize("kind", ["er", "ba"])
def test_each_subject_relation_has_one_object(kind):
    kg = build_graph(GraphSpec(kind=kind, n_entities=80, n_relations=20, seed=1))
    pairs = {(s, r) for s, r, _ in kg.triples.tolist()}
    assert len(pairs) == kg.n_triples
    assert (kg.triples[:, 0] != kg.triples[:, 2]).all()  # no self loops
    assert kg.triples[:, :2].max() < max(kg.n_entities, kg.n_relations)


def test_er_and_ba_have_the_same_number_of_triples():
    er = build_graph(GraphSpec(kind="er", n_entities=200, n_relations=50, ba_m=3))
    ba = build_graph(GraphSpec(kind="ba", n_entities=200, n_relations=50, ba_m=3))
    assert er.n_triples == ba.n_triples == ba_edge_count(200, 3)
    assert ba.degree.max() > 2 * er.degree.max()  # hubs only in BA


def test_degree_counts_related_entities_and_orientation_is_balanced():
    kg = build_graph(GraphSpec(kind="ba", n_entities=100, n_relations=30, ba_m=2, seed=0))
    assert kg.degree.sum() == 2 * kg.n_triples
    in_deg = np.bincount(kg.triples[:, 2], minlength=kg.n_entities)
    assert (kg.out_degree + in_deg == kg.degree).all()
    assert (np.abs(kg.out_degree - in_deg) <= 1).all()
    assert (kg.out_degree[kg.degree >= 2] >= 1).all()


def test_deleted_entity_is_reserved():
    kg = build_graph(GraphSpec(kind="er", n_entities=30, n_relations=10, ba_m=2))
    assert kg.deleted_entity == 30
    assert kg.deleted_entity not in kg.triples[:, [0, 2]]


def test_hop_distances():
    kg = build_graph(GraphSpec(kind="ba", n_entities=40, n_relations=15, ba_m=2))
    d = hop_distances(kg, 0)
    assert d[0] == 0
    assert set(np.flatnonzero(d == 1)) == set(kg.skeleton.neighbors(0))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(ba_m=10, n_entities=10), "ba_m"),
        (dict(n_entities=-5), "n_entities"),
        (dict(kind="ws"), "kind"),
        (dict(er_p=1.5, kind="er"), "er_p"),
        (dict(n_relations=0), "n_relations"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ParameterError) as err:
        GraphSpec(**kwargs)
    assert err.value.name == name
    assert repr(kwargs[name]) in str(err.value)


def test_too_few_relations_is_a_clear_error():
    with pytest.raises(ParameterError, match="n_relations"):
        build_graph(GraphSpec(kind="ba", n_entities=200, n_relations=3, ba_m=3))


def test_both_orientations_give_every_edge_in_each_direction_with_one_object_per_subject_and_relation():
    one = build_graph(GraphSpec(kind="ba", n_entities=40, n_relations=30, ba_m=2, seed=3))
    both = build_graph(GraphSpec(kind="ba", n_entities=40, n_relations=30, ba_m=2, seed=3, orientation="both"))
    assert both.n_triples == 2 * one.n_triples
    edges = {(int(s), int(o)) for s, _, o in both.triples}
    assert edges == {(int(s), int(o)) for s, _, o in one.triples} | {(int(o), int(s)) for s, _, o in one.triples}
    assert (both.out_degree == both.degree).all() and np.array_equal(both.degree, one.degree)
    assert len({(int(s), int(r)) for s, r, _ in both.triples}) == both.n_triples  # unambiguous
    assert "orientation" not in one.spec.to_dict() and both.spec.to_dict()["orientation"] == "both"
    with pytest.raises(ParameterError, match="n_relations"):
        build_graph(GraphSpec(kind="ba", n_entities=40, n_relations=5, ba_m=2, seed=3, orientation="both"))
    with pytest.raises(ParameterError, match="orientation"):
        GraphSpec(orientation="sideways")
