"""Chapter 6 beyond the paper: Paper B's experiment on chapter 1's graph (kedit_utils.propagation.kg_cases,
kedit_utils.propagation.kg_model)."""
import numpy as np
import pytest
import torch

from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.graphs import GraphSpec, build_graph
from kedit_utils.propagation.kg_cases import (
    split_new_entities,
    training_sequences,
    two_hop_cases,
    two_hop_chains,
    two_hop_vocabulary,
)
from kedit_utils.propagation.kg_model import (
    check_kg_parameters,
    evaluate_two_hop,
    load_or_train_two_hop,
    paired_gain,
    run_kg_two_hop,
    spec_from_parameters,
)

TINY = dict(kg_graph="ba", kg_entities=12, kg_relations=5, kg_ba_m=2, kg_new=16, kg_layers=1, kg_embd=32,
            kg_alpha=1e-3, kg_beta=3e-4, kg_epochs=1, kg_locality=5)


@pytest.fixture(scope="module")
def kg():
    return build_graph(GraphSpec(kind="ba", n_entities=30, n_relations=8, ba_m=2, seed=3))


def test_chains_are_compositions_of_two_facts(kg):
    chains = two_hop_chains(kg)
    assert len(chains) == sum(len(kg.facts_of(int(o))) for o in kg.triples[:, 2])
    for s, r1, o, r2, o2 in chains.tolist():
        assert kg.object_of[(s, r1)] == o and kg.object_of[(o, r2)] == o2
    again = two_hop_chains(build_graph(GraphSpec(kind="ba", n_entities=30, n_relations=8, ba_m=2, seed=3)))
    assert np.array_equal(chains, again)  # a seed reproduces the graph and its chains


def test_training_sequences_put_the_answer_after_the_question(kg):
    vocab = two_hop_vocabulary(kg, 4)
    ids, pos = training_sequences(kg, vocab)
    assert ids.shape == (kg.n_triples + len(two_hop_chains(kg)), 4)
    assert (pos[:kg.n_triples] == 1).all() and (pos[kg.n_triples:] == 2).all()
    to_entity = vocab.token_to_entity
    s, r, o = kg.triples[0]
    assert to_entity[ids[0, 0]] == s and to_entity[ids[0, 2]] == o and ids[0, 3] == 0  # padded first hop
    s, r1, o, r2, o2 = two_hop_chains(kg)[0]
    assert to_entity[ids[kg.n_triples, 0]] == s and to_entity[ids[kg.n_triples, 3]] == o2
    new = vocab.entity_ids[kg.n_entities:, 0]
    assert not np.isin(ids, new).any()  # the new entities occur in no training sentence


def test_cases_give_new_entities_a_first_hop_and_ask_its_second(kg):
    vocab = two_hop_vocabulary(kg, 10)
    cases = two_hop_cases(kg, vocab, range(kg.n_entities, kg.n_entities + 10), seed=1)
    assert len(cases) == 10
    for c in cases:
        kind, x, _ = vocab.parse(c.edits[0].subject)
        assert x >= kg.n_entities
        _, o, _ = vocab.parse(c.edits[0].target_new)
        _, r2, _ = vocab.parse(c.questions[0].split()[-1])
        _, o2, _ = vocab.parse(c.answers[0])
        assert kg.object_of[(o, r2)] == o2
        assert c.single_hops == ((c.edits[0].prompt, c.edits[0].target_new),)
    assert [c.case_id for c in cases] == [c.case_id for c in two_hop_cases(kg, vocab, range(30, 40), seed=1)]
    with pytest.raises(ParameterError, match="entities"):
        two_hop_cases(kg, vocab, [0], seed=1)  # an entity of the graph is not new


def test_split_is_disjoint_and_seeded(kg):
    train, held = split_new_entities(kg, 20, 0.25, seed=0)
    assert len(held) == 5 and len(train) == 15 and not set(train) & set(held)
    assert set(train) | set(held) == set(range(kg.n_entities, kg.n_entities + 20))
    assert (train, held) == split_new_entities(kg, 20, 0.25, seed=0)
    assert (train, held) != split_new_entities(kg, 20, 0.25, seed=1)


def test_paired_gain_is_newcombes_interval():
    before = np.array([0, 0, 1, 1, 0, 0] * 10, bool)
    after = np.array([1, 0, 1, 0, 1, 1] * 10, bool)
    gain, low, high = paired_gain(before, after)
    assert gain == pytest.approx(2 / 6)
    assert 0 < low < gain < high < 1
    # identical outcomes: no gain, and an interval that still has width (a normal one collapses)
    g, lo, hi = paired_gain(before, before)
    assert g == 0 and lo < 0 < hi
    # with many pairs it agrees with the normal interval of the paired differences
    rng = np.random.default_rng(0)
    x = rng.random(20000) < 0.3
    y = np.where(rng.random(20000) < 0.8, x, rng.random(20000) < 0.5)
    d = y.astype(float) - x.astype(float)
    half = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
    assert paired_gain(x, y) == pytest.approx((d.mean(), d.mean() - half, d.mean() + half), abs=1e-3)
    with pytest.raises(ParameterError, match="after"):
        paired_gain(before, after[:3])


@pytest.mark.parametrize("name, value", [("kg_graph", "ws"), ("kg_new", 2), ("kg_embd", 30), ("kg_alpha", 0.0),
                                         ("kg_ba_m", 12)])
def test_bad_parameters_are_named(name, value):
    with pytest.raises(ParameterError, match=name):
        check_kg_parameters({**TINY, name: value})


def test_tiny_run_end_to_end_restores_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    spec = spec_from_parameters(TINY, seed=0)
    lm = load_or_train_two_hop(spec, "cpu", progress=False)
    assert lm.log["n_one_hop"] == lm.kg.n_triples
    last = lm.log["log"][-1]
    assert min(last["acc_one_hop"], last["acc_two_hop"]) >= spec.target_accuracy  # it knows every first and second hop
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    train, held = split_new_entities(lm.kg, spec.n_new, spec.eval_share, spec.seed)
    cases = two_hop_cases(lm.kg, lm.vocab, held, seed=1)
    from kedit_utils.propagation import FOMAMLConfig

    out = evaluate_two_hop(lm.model, lm.tok, cases, FOMAMLConfig(inner_lr=1e-2).ft_hparams(lm.model), ["e0_0 r0_0"])
    assert out["locality"].shape == (len(cases),) and ((0 <= out["locality"]) & (out["locality"] <= 1)).all()
    assert out["two_hop_unedited"].shape == (len(cases),) and np.isnan(out["facts_known"])
    assert out["single_hop"].mean() > 0.5  # the FT edit lands on the new entity
    assert all(torch.equal(before[k], v) for k, v in lm.model.state_dict().items())
    run = run_kg_two_hop(TINY, seed=0, progress=False)
    assert [r["model"] for r in run.rows()] == ["base", "meta"] and run.rows()[0]["n"] == len(held)
    assert run.rows()[0]["facts_known"] >= spec.target_accuracy  # the unedited model answers the graph's facts
    assert all(np.isfinite(run.edit_effect("base")))
    assert run.n_train == len(train)
    assert run.lm.path == lm.path  # the language model came from the cache
    assert all(torch.equal(before[k], v) for k, v in run.lm.model.state_dict().items())  # base weights after



def test_a_graph_error_names_the_parameters_as_the_user_typed_them():
    """Issue 29 §9: the graph generator's own check names ``n_relations``; chapter 6's user typed
    ``kg_relations``, and the message says so (in the parameter and in the advice)."""
    from kedit_utils.core.validation import ParameterError
    from kedit_utils.propagation.kg_model import KGTwoHopSettings

    with pytest.raises(ParameterError) as err:
        KGTwoHopSettings("ba", 200, 3, 3, 400, 2, 64, 1e-3, 3e-4, 1, 10)
    assert err.value.name == "kg_relations" and "use kg_relations >=" in str(err.value)
    assert "n_relations" not in str(err.value).replace("kg_relations", "")
