"""Synthetic knowledge graphs (Paper A §3.1).

A knowledge graph is a set of triples (s, r, o) over an entity set E and a relation set R.
The paper builds two graphs over |E| = 200 entities and |R| = 50 relations, an Erdős–Rényi
(ER) graph with uniform edge probability and a Barabási–Albert (BA) graph with power-law
degrees, but leaves the construction rules open. The rules used here:

1. **Undirected skeleton.** BA: ``networkx.barabasi_albert_graph(n, m)``. ER: the G(n, M)
   model (``networkx.gnm_random_graph``) with M equal to the BA graph's edge count for the
   same n and m, so both graphs hold *exactly* the same number of triples (a fair comparison).
   ``er_p`` may instead fix the edge probability of G(n, p).
2. **Edge direction.** Each undirected edge becomes *one* triple. Edges are oriented along an
   Euler circuit of the graph (odd-degree vertices paired through a virtual vertex), so every
   entity is the subject of ⌊deg/2⌋ or ⌈deg/2⌉ facts: every entity of degree ≥ 2 has a fact
   to delete, and no hub needs more relations than exist. ``orientation="both"`` (issue 12's
   variant, the public implementation's data) instead makes *two* triples of every edge, one
   in each direction, so an entity is the subject of as many facts as its degree.
3. **Relations.** The facts of one subject get distinct relations drawn without replacement
   from R (seeded), so every (s, r) has exactly one object and the prediction task is
   well-posed. A subject with more facts than |R| is an error raised before any work.
4. **Degree.** The degree of an entity is the number of entities it is related to, as subject
   or object: its degree in the undirected skeleton.
5. **Deleted entity.** ``<deleted>`` is an extra entity (index ``n_entities``) that appears in
   no triple; it is the target of a deletion edit (§3.4).

Everything is drawn from ``seed``; the same spec gives the same graph bit for bit.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np

from kedit_utils.core.validation import ParameterError, check_choice, check_float, check_int

GRAPH_KINDS = ("er", "ba")
ORIENTATIONS = ("one", "both")  # one triple per edge (rule 2) | both directions
DELETED_ENTITY = "<deleted>"


@dataclass(frozen=True)
class GraphSpec:
    """Everything that determines a knowledge graph.

    kind: ``"er"`` (Erdős–Rényi) or ``"ba"`` (Barabási–Albert).
    n_entities, n_relations: |E| and |R| (paper: 200 and 50).
    ba_m: BA attachment count m; also sets the ER edge count (BA's, for a fair comparison).
    er_p: optional ER edge probability; ``None`` matches the BA edge count instead.
    seed: random seed for the skeleton, the orientation and the relation assignment.
    orientation: ``"one"`` triple per edge (rule 2) or ``"both"`` directions of every edge.
    """

    kind: str = "ba"
    n_entities: int = 200
    n_relations: int = 50
    ba_m: int = 3
    er_p: float | None = None
    seed: int = 0
    orientation: str = "one"

    def __post_init__(self):
        check_choice("kind", self.kind, GRAPH_KINDS)
        check_choice("orientation", self.orientation, ORIENTATIONS)
        check_int("n_entities", self.n_entities, minimum=2)
        check_int("n_relations", self.n_relations, minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_int("ba_m", self.ba_m, minimum=1)
        if self.ba_m >= self.n_entities:
            raise ParameterError(
                "ba_m", self.ba_m, f"must be smaller than n_entities = {self.n_entities}"
            )
        if self.er_p is not None:
            check_float("er_p", self.er_p, low=0.0, high=1.0, low_open=True)

    def to_dict(self) -> dict:
        """The spec's fields; ``orientation`` only when it is not the default ``"one"``, so the
        artifacts keyed by the one-direction graphs keep their keys."""
        d = asdict(self)
        if d["orientation"] == "one":
            del d["orientation"]
        return d


def ba_edge_count(n_entities: int, m: int) -> int:
    """Edges of ``networkx.barabasi_albert_graph(n, m)``: a star of m+1 nodes, then m per node."""
    return m + m * (n_entities - m - 1)


@dataclass(frozen=True)
class KnowledgeGraph:
    """Triples over entities ``0..n_entities-1`` and relations ``0..n_relations-1``.

    triples: int array of shape (n_triples, 3), columns (subject, relation, object), sorted.
    The special entity ``<deleted>`` has index ``n_entities`` and takes part in no triple.
    """

    spec: GraphSpec
    triples: np.ndarray = field(repr=False)

    @property
    def n_entities(self) -> int:
        return self.spec.n_entities

    @property
    def n_relations(self) -> int:
        return self.spec.n_relations

    @property
    def deleted_entity(self) -> int:
        return self.spec.n_entities

    @property
    def n_triples(self) -> int:
        return int(self.triples.shape[0])

    @cached_property
    def skeleton(self) -> nx.Graph:
        """The undirected entity graph (all entities, isolated ones included)."""
        g = nx.Graph()
        g.add_nodes_from(range(self.n_entities))
        g.add_edges_from((int(s), int(o)) for s, _, o in self.triples)
        return g

    @cached_property
    def degree(self) -> np.ndarray:
        """Shape (n_entities,): number of entities each entity is related to."""
        return np.array([self.skeleton.degree(i) for i in range(self.n_entities)], dtype=np.int64)

    @cached_property
    def out_degree(self) -> np.ndarray:
        """Shape (n_entities,): number of facts in which each entity is the subject."""
        return np.bincount(self.triples[:, 0], minlength=self.n_entities)

    @cached_property
    def object_of(self) -> dict[tuple[int, int], int]:
        """(subject, relation) -> object."""
        return {(int(s), int(r)): int(o) for s, r, o in self.triples}

    def facts_of(self, entity: int) -> np.ndarray:
        """Triples with ``entity`` as subject, shape (k, 3), sorted by relation."""
        rows = self.triples[self.triples[:, 0] == entity]
        return rows[np.argsort(rows[:, 1], kind="stable")]

    def statistics(self) -> dict:
        """Summary numbers of the graph (the chapter's statistics table)."""
        deg = self.degree
        g = self.skeleton
        largest = max(nx.connected_components(g), key=len)
        return {
            "graph": self.spec.kind.upper(),
            "entities": self.n_entities,
            "relations": self.n_relations,
            "triples": self.n_triples,
            "mean degree": float(deg.mean()),
            "max degree": int(deg.max()),
            "min degree": int(deg.min()),
            "std degree": float(deg.std()),
            "max facts per subject": int(self.out_degree.max()),
            "isolated entities": int((deg == 0).sum()),
            "largest component": len(largest),
            "clustering": float(nx.average_clustering(g)),
        }


def _skeleton(spec: GraphSpec, rng: np.random.Generator) -> nx.Graph:
    graph_seed = int(rng.integers(2**31 - 1))
    if spec.kind == "ba":
        return nx.barabasi_albert_graph(spec.n_entities, spec.ba_m, seed=graph_seed)
    if spec.er_p is not None:
        return nx.gnp_random_graph(spec.n_entities, spec.er_p, seed=graph_seed)
    n_edges = ba_edge_count(spec.n_entities, spec.ba_m)
    return nx.gnm_random_graph(spec.n_entities, n_edges, seed=graph_seed)


def _balanced_orientation(g: nx.Graph) -> list[tuple[int, int]]:
    """Orient every edge so each vertex has out-degree floor(deg/2) or ceil(deg/2).

    Odd-degree vertices are joined to a virtual vertex, which makes every degree even; an
    Euler circuit of each component then enters and leaves every vertex equally often.
    """
    aug = nx.MultiGraph()
    aug.add_nodes_from(g.nodes)
    aug.add_edges_from(g.edges)
    virtual = -1
    odd = [v for v, d in g.degree() if d % 2 == 1]
    aug.add_edges_from((virtual, v) for v in odd)
    directed = []
    for comp in nx.connected_components(aug):
        if len(comp) < 2:
            continue
        sub = aug.subgraph(comp)
        start = min(comp)
        for u, v in nx.eulerian_circuit(sub, source=start):
            if u != virtual and v != virtual:
                directed.append((int(u), int(v)))
    return directed


def build_graph(spec: GraphSpec) -> KnowledgeGraph:
    """Build the knowledge graph of ``spec`` (see the module docstring for the rules).

    Raises :class:`ParameterError` when some subject would need more relations than exist.
    """
    rng = np.random.default_rng(spec.seed)
    skeleton = _skeleton(spec, rng)
    edges = _balanced_orientation(skeleton)
    if spec.orientation == "both":
        edges = edges + [(o, s) for s, o in edges]
    out = {}
    for s, o in edges:
        out.setdefault(s, []).append(o)
    worst = max((len(v) for v in out.values()), default=0)
    if worst > spec.n_relations:
        raise ParameterError(
            "n_relations",
            spec.n_relations,
            f"the {spec.kind.upper()} graph gives one entity {worst} facts as subject, and each "
            f"needs its own relation: use n_relations >= {worst} or a smaller ba_m / er_p"
            + (' (or orientation="one")' if spec.orientation == "both" else ""),
        )
    rows = []
    for s in sorted(out):
        objects = sorted(out[s])
        relations = rng.choice(spec.n_relations, size=len(objects), replace=False)
        rows.extend((s, int(r), o) for r, o in zip(relations, objects))
    triples = np.array(sorted(rows), dtype=np.int64).reshape(-1, 3)
    return KnowledgeGraph(spec=spec, triples=triples)


def hop_distances(kg: KnowledgeGraph, source: int) -> np.ndarray:
    """Shape (n_entities,): shortest-path hops from ``source`` in the skeleton (-1 = unreachable)."""
    dist = np.full(kg.n_entities, -1, dtype=np.int64)
    for node, d in nx.single_source_shortest_path_length(kg.skeleton, source).items():
        dist[node] = d
    return dist
