"""MEND (editors/mend.py) on the tiny GPT-2 and tiny Llama of test_editors: the factors are
the gradient's rank-one decomposition; training lowers the edit loss; a trained network
makes unseen edits reach their targets, restores bit for bit (alone and in a sequence) and is
cached; a missing or untrained network, or bad hyper-parameters, stop naming the field."""
import numpy as np
import pytest
import torch
from test_editors import MORE, REQUESTS, TOK, assert_same, snapshot, tiny_gpt2, tiny_llama, top

from kedit_utils.core import architectures as A
from kedit_utils.core.validation import ParameterError
from kedit_utils.editing import EditRequest, EditSequence, get_editor
from kedit_utils.editing.ft import answer_batch, answer_loss
from kedit_utils.editing.mend import MENDHyperParams, MENDNetwork, edit_factors, train_mend, trained_network


def training_edits(n=40, seed=1):
    """Random counterfactual edits over the test vocabulary, with an alias paraphrase and an
    unrelated locality prompt each (never the test's edits)."""
    rng = np.random.default_rng(seed)
    ents = [f"e{i}_{a}" for i in range(8) for a in range(2)]
    rels = [f"r{i}_{a}" for i in range(4) for a in range(2)]
    test = {r.prompt for r in REQUESTS + MORE}
    out = []
    while len(out) < n:
        s, r, o = rng.choice(ents), rng.choice(rels), rng.choice(ents)
        if f"{s} {r}" in test:
            continue
        alias = f"{s[:-1]}{1 - int(s[-1])}"
        out.append(EditRequest(f"{s} {r}", s, o, rephrase_prompts=(f"{alias} {r}",),
                               locality=((f"{rng.choice(ents)} {rng.choice(rels)}", rng.choice(ents)),)))
    return out


HP = MENDHyperParams.tiny_gpt2(layers=(1, 2), train_steps=400)


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def trained(request):
    torch.manual_seed(0)
    model = tiny_gpt2() if request.param == "gpt2" else tiny_llama()
    net, log = train_mend(model, TOK, training_edits(), HP, progress=False)
    return model, net, log


def test_factors_are_the_gradients_rank_one_terms():
    """Σ_t x_t δ_tᵀ over the tokens equals autograd's gradient of W2 (in the (d_in, d_out)
    orientation), on both architectures."""
    for model in (tiny_gpt2(), tiny_llama()):
        factors = edit_factors(model, TOK, REQUESTS, [1])
        x, delta = factors[1]
        ids, mask, targets, last = answer_batch(TOK, REQUESTS, "target_new")
        w = A.edited_weight(model, 1)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(answer_loss(model, ids, mask, targets, last), [w])
        g_in_out = g if A.arch_of(model).weight_layout == "in_out" else g.T
        assert torch.allclose(x.T @ delta, g_in_out, atol=1e-6)


def test_training_lowers_the_edit_loss_and_edits_reach_unseen_targets(trained):
    model, net, log = trained
    first, last = np.mean([r["edit"] for r in log[:40]]), np.mean([r["edit"] for r in log[-40:]])
    assert last < 0.5 * first, (first, last)
    snap = snapshot(model)
    reached = 0
    for r in REQUESTS + MORE:
        h = get_editor("mend").apply(model, TOK, r, HP, network=net)
        reached += top(model, r.prompt) == r.target_new
        assert h.changes_weights and {c.name for c in h.changes} == {A.edited_weight_name(model, l) for l in (1, 2)}
        h.restore()
        assert_same(model, snap)
    assert reached >= 4, reached  # of 5 edits never seen in training


def test_sequence_of_mend_edits_restores_exactly(trained):
    model, net, _ = trained
    snap = snapshot(model)
    with EditSequence(model, TOK) as seq:
        for r in REQUESTS + MORE:
            seq.apply("mend", r, HP, network=net)
    assert_same(model, snap)


def test_network_is_cached_and_errors_name_the_field(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    model = tiny_gpt2()
    hp = MENDHyperParams.tiny_gpt2(layers=(1, 2), train_steps=5)
    a = trained_network(model, TOK, training_edits(8), hp, model_id="tiny", progress=False)
    b = trained_network(model, TOK, training_edits(8), hp, model_id="tiny", progress=False)  # from the cache
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert len(list((tmp_path / "mend").iterdir())) == 1 and len(b.training_log) == 5
    with pytest.raises(ParameterError, match="network"):
        get_editor("mend").apply(model, TOK, REQUESTS[0], hp)
    with pytest.raises(ParameterError, match="network"):  # never trained: no statistics
        get_editor("mend").apply(model, TOK, REQUESTS[0], hp, network=MENDNetwork(model, hp))
    with pytest.raises(ParameterError, match="network"):  # trained for other layers
        get_editor("mend").apply(model, TOK, REQUESTS[0], MENDHyperParams.tiny_gpt2(layers=(0,)), network=a)
    with pytest.raises(ParameterError, match="train_edits"):
        train_mend(model, TOK, training_edits(1), hp, progress=False)
    with pytest.raises(ParameterError, match="rank"):
        MENDHyperParams(rank=0)
    with pytest.raises(ParameterError, match="layers"):
        get_editor("mend").apply(model, TOK, REQUESTS[0], MENDHyperParams.tiny_gpt2(layers=(7,)), network=a)
