"""Deletion sweep (Paper A §4): zero impact for a no-op, order independence through restore."""
import numpy as np
import pytest
import torch

from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.deletion.impact import deletion_fact, deletion_sweep, sweep_summary
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.graphs import GraphSpec, build_graph


@pytest.fixture(scope="module")
def setup():
    kg = build_graph(GraphSpec(kind="ba", n_entities=16, n_relations=8, ba_m=2, seed=0))
    corpus = alias_corpus(kg, n_aliases=2, sample_fraction=0.5, seed=0)
    model = gpt2_from_scratch(corpus.vocab, ModelSpec(n_layers=2, n_embd=32, n_head=2), seed=0)
    return kg, corpus, model


def noop_edit(model, triple, aliases):
    return lambda: None


def embedding_edit(corpus):
    """A real, destructive edit: overwrite the subject alias's embedding row; restore copies back."""

    def edit(model, triple, aliases):
        tok = int(corpus.vocab.entity_ids[corpus.kg.triples[triple, 0], aliases[0]])
        wte = model.transformer.wte.weight
        saved = wte.data[tok].clone()
        with torch.no_grad():
            wte[tok] = torch.randn(wte.shape[1], generator=torch.Generator().manual_seed(tok)) * 5

        def restore():
            with torch.no_grad():
                wte[tok] = saved

        return restore

    return edit


def test_noop_edit_has_zero_impact(setup):
    _, corpus, model = setup
    res = deletion_sweep(model, corpus, noop_edit, progress=False)
    done = res.entities[~res.entities.skipped]
    assert (done.impact == 0).all() and (done.side_effect == 0).all()
    assert (res.by_hop.broken == 0).all()


def test_sweep_is_order_independent_and_restores_bit_for_bit(setup):
    _, corpus, model = setup
    before = {k: v.clone() for k, v in model.state_dict().items()}
    edit = embedding_edit(corpus)
    fwd = deletion_sweep(model, corpus, edit, progress=False).entities.set_index("entity")
    rev = deletion_sweep(model, corpus, edit, entities=reversed(range(16)), progress=False).entities.set_index("entity")
    cols = ["impact", "side_effect", "deleted_ok"]
    done = ~fwd.skipped
    assert np.array_equal(fwd.loc[done, cols].to_numpy(), rev.loc[fwd.index[done], cols].to_numpy())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_deletion_fact_rule_and_errors(setup):
    kg, _, _ = setup
    for e in range(kg.n_entities):
        t = deletion_fact(kg, e)
        facts = kg.facts_of(e)
        assert (t is None) == (len(facts) == 0)
        if t is not None:
            assert kg.triples[t, 1] == facts[:, 1].min()
    with pytest.raises(ParameterError, match="entity"):
        deletion_fact(kg, 99)


def test_sweep_summary_pools_broken_prompts_per_group(setup):
    _, corpus, model = setup
    edit = embedding_edit(corpus)
    res = deletion_sweep(model, corpus, edit, progress=False, label={"edit_token": "x", "graph": "BA", "layers": 2})
    noop = deletion_sweep(model, corpus, noop_edit, progress=False, label={"edit_token": "y", "graph": "BA", "layers": 2})
    import pandas as pd

    ents = pd.concat([res.entities, noop.entities], ignore_index=True)
    rel = pd.concat([res.by_relation, noop.by_relation], ignore_index=True)
    hop = pd.concat([res.by_hop, noop.by_hop], ignore_index=True)
    summ = sweep_summary(ents, rel, hop).set_index("edit_token")
    assert list(summ.index) == ["x", "y"]
    assert summ.loc["y", "mean impact (1e-2)"] == 0 and summ.loc["y", "other prompts broken"] == 0
    done = res.entities[~res.entities.skipped]
    assert summ.loc["x", "mean impact (1e-2)"] == pytest.approx(100 * done.impact.mean())
    same = res.by_relation[res.by_relation.same_relation]
    assert summ.loc["x", "same-relation prompts broken"] == pytest.approx(same.broken.sum() / same.prompts.sum())
    h0 = res.by_hop[res.by_hop.hop == 0]
    assert summ.loc["x", "same-subject prompts broken"] == pytest.approx(h0.broken.sum() / max(h0.prompts.sum(), 1))
    assert summ.loc["y", "same-subject prompts broken"] == 0


def test_impact_parts_add_up_to_the_impact_and_partition_the_prompts(setup):
    from kedit_utils.kg.deletion.impact import IMPACT_PARTS, impact_part_of_prompts

    kg, corpus, model = setup
    edit_fn = embedding_edit(corpus)
    hub = int(np.argmax(kg.degree))
    triple = deletion_fact(kg, hub)
    part = impact_part_of_prompts(corpus, hub, triple)
    assert set(np.unique(part)) <= set(range(len(IMPACT_PARTS)))
    assert (part[corpus.prompts_of_triple(triple)] == 0).all()
    subj = kg.triples[corpus.prompt_triple, 0]
    obj = kg.triples[corpus.prompt_triple, 2]
    assert ((part == 1) == ((subj == hub) & (corpus.prompt_triple != triple))).all()
    assert ((part == 2) == ((obj == hub) & (subj != hub))).all()
    res = deletion_sweep(model, corpus, edit_fn, [hub], progress=False)
    row = res.entities.iloc[0]
    assert row.impact != 0  # a real edit (the untrained model gains and loses prompts)
    assert abs(sum(row[f"impact_{p}"] for p in IMPACT_PARTS) - row.impact) < 1e-12


def test_a_fixed_relation_is_deleted_where_the_entity_has_it_and_the_lowest_id_elsewhere(setup):
    kg, _, _ = setup
    r = int(kg.triples[0, 1])
    for e in range(kg.n_entities):
        t, facts = deletion_fact(kg, e, relation=r), kg.facts_of(e)
        if t is None:
            assert len(facts) == 0
        elif r in facts[:, 1]:
            assert tuple(kg.triples[t, :2]) == (e, r)
        else:
            assert kg.triples[t, 1] == facts[:, 1].min()
    with pytest.raises(ParameterError, match="relation"):
        deletion_fact(kg, 0, relation=kg.n_relations)


def test_canonical_impact_counts_the_canonical_prompts_only_and_the_target_is_what_deleted_ok_checks(setup):
    from kedit_utils.kg.alias_accuracy import score_prompts
    from kedit_utils.kg.deletion.impact import canonical_prompts, delete_and_measure

    kg, corpus, model = setup
    canon = canonical_prompts(corpus)
    assert canon.sum() == kg.n_triples and (corpus.prompts[canon][:, 0] == corpus.vocab.entity_ids[
        kg.triples[:, 0], 0]).all() and (corpus.prompts[canon][:, 1] == corpus.vocab.relation_ids[kg.triples[:, 1], 0]).all()
    base = score_prompts(model, corpus.prompts, corpus.prompt_object, corpus.vocab)
    hub = int(np.argmax(kg.degree))
    out = delete_and_measure(model, corpus, hub, embedding_edit(corpus), base)
    post = out.post.correct
    assert out.row["impact_canonical"] == pytest.approx(base.correct[canon].mean() - post[canon].mean())
    # deleted_ok against a target the model already answers on the own prompts: the old object
    old = int(kg.triples[out.triple, 2])
    again = delete_and_measure(model, corpus, hub, noop_edit, base, target_of=lambda t: old)
    own = corpus.prompts_of_triple(out.triple)
    assert again.row["deleted_ok"] == pytest.approx(base.correct[own].mean())


def test_margin_bins_hold_every_answered_prompt_and_every_broken_one(train_tiny_ba):
    from kedit_utils.kg.alias_accuracy import entity_margins, score_prompts
    from kedit_utils.kg.deletion.impact import MARGIN_EDGES, margin_bin_labels, margin_breakage

    model, corpus, _ = train_tiny_ba(ModelSpec(n_layers=2, n_embd=32, n_head=2), "margin-test")
    res = deletion_sweep(model, corpus, embedding_edit(corpus), progress=False, label={"graph": "BA", "layers": 2})
    base = score_prompts(model, corpus.prompts, corpus.prompt_object, corpus.vocab)
    assert base.correct.mean() > 0.5
    margin = entity_margins(model, corpus.prompts, corpus.prompt_object, corpus.vocab)
    assert np.median(margin[base.correct]) > 0  # the bins read the margin of the answered prompts
    done = res.entities[~res.entities.skipped]
    by_m = res.by_margin.groupby("entity")[["prompts", "broken"]].sum()
    by_h = res.by_hop.groupby("entity")[["broken"]].sum()  # both leave the deleted fact's prompts out
    assert (by_m.loc[done.entity, "broken"] == by_h.loc[done.entity, "broken"]).all()
    assert by_m.broken.sum() > 0  # the embedding edit does break other prompts
    for e in done.entity:  # every prompt answered before, outside the deleted fact, in one bin
        own = corpus.prompts_of_triple(deletion_fact(corpus.kg, int(e)))
        assert by_m.loc[e, "prompts"] == base.correct.sum() - base.correct[own].sum()
    table = margin_breakage(res.by_margin)
    assert list(table.margin_bin) == margin_bin_labels() and list(table.margin_low) == list(MARGIN_EDGES)
    assert table.broken.sum() == res.by_margin.broken.sum()
    assert ((table.share >= 0) & (table.share <= 1)).all()
