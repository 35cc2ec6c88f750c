"""The fast δ optimisation (issue 10 §6) computes the same thing as the slow one: on a tiny
GPT-2 and a tiny Llama, v* (ROME) and z (MEMIT) with the lower blocks replayed, the
unembedding only at the read positions, and several requests in one batch equal the plain
computation (a full forward per step; and the pre-speed-up implementation, kept below as the
reference) within 1e-5 relative, and the edits give the same predictions. ``early_stop_prob``
stops earlier and still reaches the target. No timings are asserted here (bench/rome_speed.py)."""
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from kedit_utils.core import architectures as A
from kedit_utils.core.tokens import lookup, pad_right, target_token_ids
from kedit_utils.editing import EditRequest, get_editor
from kedit_utils.editing.memit import MEMITHyperParams, compute_z, compute_zs
from kedit_utils.editing.rome import ROMEHyperParams, key_covariance
from kedit_utils.editing.rome.compute_k import contextual_prompts
from kedit_utils.editing.rome.compute_v import Speed, compute_v, frozen

sys.path.insert(0, str(Path(__file__).parent))
from test_editors import CORPUS, MORE, N_LAYERS, REQUESTS, TOK, snapshot, tiny_gpt2, tiny_llama, top  # noqa: E402

RTOL = 1e-5
SLOW = Speed(reuse_lower=False, logits_at_targets=False, batch_requests=1, prefix_once=False, mlp_where_used=False,
             eager_attention=False)


def reference_compute_v(model, tok, request, hparams):
    """compute_v as it was before the speed-up (a full forward and full logits per step)."""
    target_ids = target_token_ids(tok, request.target_new)
    seqs, idxs, tgt_pos = [], [], []
    for text, subject in contextual_prompts(request, hparams.context_templates):
        ids, idx = lookup(tok, text, subject, hparams.fact_token)
        tgt_pos.append(len(ids) - 1)
        seqs.append(ids + target_ids[:-1])
        idxs.append(idx)
    for template in hparams.kl_prompt_templates:
        ids, idx = lookup(tok, template.format(request.subject), request.subject, hparams.fact_token)
        seqs.append(ids)
        idxs.append(idx)
    n_rw = len(tgt_pos)
    ids, mask = pad_right(seqs, tok.pad_token_id or 0)
    targets = torch.full((n_rw, ids.shape[1]), -100, dtype=torch.long)
    for i, start in enumerate(tgt_pos):
        targets[i, start : start + len(target_ids)] = torch.tensor(target_ids)
    rows, look = torch.arange(len(idxs)), torch.tensor(idxs)
    n_kl = len(idxs) - n_rw
    delta = torch.zeros(A.mlp_dims(model, hparams.layer)[1], requires_grad=True)
    state = {}

    def add_delta(_m, _i, out):
        if "v_init" not in state:
            state["v_init"] = out[0, look[0]].detach().float().clone()
        out = out.clone()
        out[rows, look] = out[rows, look] + delta
        return out

    opt = torch.optim.Adam([delta], lr=hparams.v_lr)
    handle = A.mlp_out_module(model, hparams.layer).register_forward_hook(add_delta)
    try:
        with frozen(model), torch.enable_grad():
            for it in range(hparams.v_num_grad_steps):
                opt.zero_grad()
                logp = model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
                tl = logp[:n_rw].gather(2, targets.clamp(min=0)[..., None])[..., 0]
                nll = (-(tl * (targets != -100).float()).sum(1) / len(target_ids)).mean()
                kl_logp = logp[n_rw:][torch.arange(n_kl), look[n_rw:]]
                state.setdefault("kl_init", kl_logp.detach().clone())
                kl = hparams.kl_factor * F.kl_div(state["kl_init"], kl_logp, log_target=True, reduction="batchmean")
                v_init = state["v_init"]
                loss = nll + kl + hparams.v_weight_decay * (delta.norm() / v_init.norm() ** 2)
                if float(loss.detach()) < hparams.early_stop_loss or it == hparams.v_num_grad_steps - 1:
                    break
                loss.backward()
                opt.step()
                with torch.no_grad():
                    max_norm = hparams.clamp_norm_factor * v_init.norm()
                    if delta.norm() > max_norm:
                        delta.mul_(max_norm / delta.norm())
    finally:
        handle.remove()
    return state["v_init"] + delta.detach(), it + 1


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def model(request):
    return tiny_gpt2() if request.param == "gpt2" else tiny_llama()


# layer 1 of 3: one block below is replayed; two context templates and a KL prompt
ROME_HP = ROMEHyperParams.tiny_gpt2(layer=1, fact_token="last", v_weight_decay=0.0, clamp_norm_factor=1e4,
                                    context_templates=("{}", "e7_1 r0_0 e3_0 {}"), kl_prompt_templates=("{}",))


def close(a, b, rtol=RTOL):
    torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * float(b.abs().max()))


@pytest.mark.parametrize("loss_layer", [None, 2])
def test_rome_fast_v_star_equals_slow_and_reference(model, loss_layer):
    hp = ROME_HP.with_(v_loss_layer=loss_layer, early_stop_loss=0.0)
    for req in REQUESTS:
        fast = compute_v(model, TOK, req, hp)
        slow = compute_v(model, TOK, req, hp, speed=SLOW)
        assert fast.steps == slow.steps == hp.v_num_grad_steps
        close(fast.v_star, slow.v_star)
        close(fast.v_init, slow.v_init, rtol=1e-6)
        if loss_layer is None:
            ref, ref_steps = reference_compute_v(model, TOK, req, hp)
            assert ref_steps == fast.steps
            close(fast.v_star, ref)


def test_rome_fast_edit_gives_the_same_edit(model):
    covs = {layer: key_covariance(model, layer, CORPUS, cache=False) for layer in range(N_LAYERS)}
    snap = snapshot(model)
    out = {}
    for name, opts in (("fast", Speed()), ("slow", SLOW)):
        h = get_editor("rome").apply(model, TOK, REQUESTS, ROME_HP, cov=covs, speed=opts)
        w = A.edited_weight(model, ROME_HP.layer).detach().clone()
        preds = [top(model, r.prompt) for r in REQUESTS + MORE]
        h.restore()
        out[name] = (w, preds)
    assert out["fast"][1] == out["slow"][1]
    assert out["fast"][1][: len(REQUESTS)] == [r.target_new for r in REQUESTS]
    close(out["fast"][0] - snap[A.edited_weight_name(model, ROME_HP.layer)],
          out["slow"][0] - snap[A.edited_weight_name(model, ROME_HP.layer)], rtol=1e-4)


def test_memit_batched_z_equals_one_at_a_time(model):
    """Five requests' z optimised in one batch (each stopping on its own) = one by one, slow path."""
    hp = MEMITHyperParams.tiny_gpt2(layers=(0, 1), kl_prompt_templates=("{}",), early_stop_loss=0.5)
    reqs = REQUESTS + MORE
    zs, hs, steps = compute_zs(model, TOK, reqs, hp, z_layer=1)
    one = [compute_z(model, TOK, r, hp, z_layer=1, speed=SLOW) for r in reqs]
    assert steps == [s for _z, _h, s in one]
    assert len(set(steps)) > 1  # the requests really stopped at different steps
    close(zs, torch.stack([z for z, _h, _s in one], 1))
    close(hs, torch.stack([h for _z, h, _s in one], 1), rtol=1e-6)


def test_early_stop_prob_stops_earlier_and_still_edits(model):
    hp = ROME_HP.with_(early_stop_loss=0.0)
    req = REQUESTS[0]
    full = compute_v(model, TOK, req, hp)
    early = compute_v(model, TOK, req, hp.with_(early_stop_prob=0.5))
    assert early.steps < full.steps
    assert early.probs[-1] >= 0.5 > early.probs[-2]  # stopped at the first step that reached it
    assert full.probs[: early.steps] == pytest.approx(early.probs)  # the same path until then
    covs = {hp.layer: key_covariance(model, hp.layer, CORPUS, cache=False)}
    with get_editor("rome").apply(model, TOK, req, hp.with_(early_stop_prob=0.5), cov=covs) as h:
        assert top(model, req.prompt) == req.target_new
        assert h.info["rome"][0].value.steps == early.steps


# subjects at the start (δ at position 0: no prefix), in the middle, of two tokens; two-token
# targets; a paraphrase; a context prefix; KL prompts with the subject first and alone
PREFIX_REQUESTS = [EditRequest("e1_0 r2_1 r0_0", "e1_0", "e4_1 e5_0"),
                   EditRequest("r1_0 e2_0 e3_1 r0_1", "e2_0 e3_1", "e5_1", paraphrases=(("e2_0 e3_1 r0_1", "e2_0 e3_1"),)),
                   EditRequest("e6_1 r3_0", "e6_1", "e0_1")]


@pytest.mark.parametrize("loss_layer", [None, 1])
def test_prefix_once_equals_full_rows(model, loss_layer):
    """``prefix_once`` (the positions before δ's computed once, each step from δ's position on)
    gives the same z and steps as full rows with the other speed-ups on, at the last layer's
    loss and through the logit lens, on rows with and without a prefix."""
    hp = MEMITHyperParams.tiny_gpt2(layers=(0,), fact_token="subject_last", early_stop_loss=0.0,
                                    v_num_grad_steps=8, v_loss_layer=loss_layer,
                                    context_templates=("{}", "e7_1 r0_0 {}"), kl_prompt_templates=("{} r3_0", "{}"))
    fast = compute_zs(model, TOK, PREFIX_REQUESTS, hp, z_layer=0)
    full = compute_zs(model, TOK, PREFIX_REQUESTS, hp, z_layer=0, speed=Speed(prefix_once=False))
    assert fast[2] == full[2] == [8, 8, 8]
    close(fast[1], full[1], rtol=1e-6)
    close(fast[0], full[0])


@pytest.mark.parametrize("loss_layer", [None, 1])
def test_mlps_where_used_and_eager_attention_change_nothing(model, loss_layer):
    """The MLPs above the site run only at the real suffix tokens (one group of rows of several
    lengths: pads) and, in the block the loss reads, only at the positions read; the attention
    by plain matrix products: the same z (MEMIT, the site a block's output) and v* (ROME, the
    site inside a block) as with neither; the hooks and the model's attention are put back."""
    hp = MEMITHyperParams.tiny_gpt2(layers=(0,), fact_token="subject_last", early_stop_loss=0.0,
                                    v_num_grad_steps=6, v_loss_layer=loss_layer,
                                    context_templates=("{}", "e7_1 r0_0 {}"), kl_prompt_templates=("{} r3_0", "{}"))
    impl = model.config._attn_implementation
    grouped = Speed(group_rows=100)
    fast = compute_zs(model, TOK, PREFIX_REQUESTS, hp, z_layer=0, speed=grouped)
    plain = compute_zs(model, TOK, PREFIX_REQUESTS, hp, z_layer=0,
                       speed=grouped.with_(mlp_where_used=False, eager_attention=False))
    assert fast[2] == plain[2]
    close(fast[0], plain[0])
    rome_hp = ROME_HP.with_(v_loss_layer=loss_layer, early_stop_loss=0.0)
    v_fast = compute_v(model, TOK, REQUESTS[0], rome_hp)
    v_plain = compute_v(model, TOK, REQUESTS[0], rome_hp, speed=Speed(mlp_where_used=False, eager_attention=False))
    close(v_fast.v_star, v_plain.v_star)
    assert model.config._attn_implementation == impl
    assert all(not A.mlp_module(model, i)._forward_hooks and not A.mlp_module(model, i)._forward_pre_hooks
               for i in range(N_LAYERS))


def test_used_positions_are_the_real_tokens_and_the_reads():
    from kedit_utils.editing.rome.row_groups import RowGroup, used_positions

    mask = torch.tensor([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1]])  # prefix of 2, suffix of 3
    g = RowGroup(rows=None, suffix=torch.zeros(2, 3, dtype=torch.long), pos=None, mask=mask, cache=None,
                 read=torch.tensor([[0, 1], [1, 2], [1, 2]]), read_index=None, first=None)
    real, read = used_positions(g)
    assert real.tolist() == [0, 1, 3, 4, 5]
    assert read.tolist() == [1, 5]


def test_length_buckets_cover_every_row_once_in_length_order():
    from kedit_utils.editing.rome.row_groups import length_buckets

    lengths = [3, 1, 1, 5, 2, 2, 2, 9, 1, 4]
    buckets = length_buckets(lengths, min_rows=3)
    assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))
    assert all(len(b) >= 3 for b in buckets)
    flat = [lengths[i] for b in buckets for i in b]
    assert flat == sorted(flat)
    # a length is never split between two buckets
    assert all(max(lengths[i] for i in a) < min(lengths[i] for i in b) for a, b in zip(buckets, buckets[1:]))
    assert length_buckets(lengths, min_rows=100) == [sorted(range(10), key=lambda i: (lengths[i], i))]
    assert length_buckets([2, 1], min_rows=1) == [[1], [0]]


@pytest.mark.parametrize("fact_token", ["subject_last", "last"])
def test_fact_token_reads_cut_after_the_fact_token_equal_whole_prompts(model, fact_token):
    """Keys and residuals read at the fact token with each row cut after it, in length buckets,
    two sites in one stopped forward, equal those of each whole prompt run alone."""
    from kedit_utils.editing.rome.compute_k import read_at_fact_tokens

    pairs = [(r.prompt, r.subject) for r in REQUESTS + MORE] + [
        ("e7_1 r0_0 e3_0 e1_0 r2_1", "e1_0"), ("e2_0 r0_1 e4_1 e5_0", "e2_0"), ("e5_1 e6_0 e0_0", "e6_0")]
    sites = [(A.mlp_out_module(model, 0), "input"), (A.layer_module(model, 1), "output")]
    keys, resid = read_at_fact_tokens(model, tok=TOK, sites=sites, texts_subjects=pairs, fact_token=fact_token,
                                      min_rows=2)
    assert keys.shape == (len(pairs), A.mlp_dims(model, 0)[0]) and resid.shape[0] == len(pairs)
    cap = {}
    handle = A.mlp_out_module(model, 0).register_forward_hook(lambda _m, i, _o: cap.__setitem__("k", i[0]))
    try:
        with torch.no_grad():
            for n, (text, subject) in enumerate(pairs):
                ids, idx = lookup(TOK, text, subject, fact_token)
                out = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
                close(keys[n], cap["k"][0, idx])
                close(resid[n], out.hidden_states[2][0, idx])
    finally:
        handle.remove()


def test_keys_at_several_layers_in_one_forward_equal_one_layer_at_a_time(model):
    """AlphaEdit's post-edit keys (its ``kkt`` for sequential edits) are read at every layer
    of the range in one forward: the same keys as one layer at a time."""
    from kedit_utils.editing.memit import request_keys, requests_keys_at_layers

    hp = MEMITHyperParams.tiny_gpt2(layers=tuple(range(N_LAYERS)))
    keys = requests_keys_at_layers(model, TOK, REQUESTS + MORE, hp.layers, hp)
    for layer in hp.layers:
        torch.testing.assert_close(keys[layer], request_keys(model, TOK, REQUESTS + MORE, layer, hp), rtol=0, atol=0)


def test_speed_passed_explicitly_gives_the_default_delta(model):
    """``Speed`` is a value passed down, not a module switch: the default ``Speed()`` passed
    explicitly (to compute_v, to MEMIT's z, through ROME's Editor and ``edit``) gives
    bit for bit the δ of the call without it, and another value changes nothing outside its call."""
    from kedit_utils.editing.rome import edit, restore

    hp = ROME_HP.with_(early_stop_loss=0.0, v_num_grad_steps=6)
    implicit = compute_v(model, TOK, REQUESTS[0], hp)
    compute_v(model, TOK, REQUESTS[0], hp, speed=SLOW)  # no state left behind
    explicit = compute_v(model, TOK, REQUESTS[0], hp, speed=Speed())
    assert torch.equal(implicit.delta, explicit.delta) and implicit.steps == explicit.steps
    mhp = MEMITHyperParams.tiny_gpt2(layers=(0, 1), kl_prompt_templates=("{}",), v_num_grad_steps=6)
    z_default = compute_zs(model, TOK, REQUESTS, mhp, z_layer=1)[0]
    assert torch.equal(z_default, compute_zs(model, TOK, REQUESTS, mhp, z_layer=1, speed=Speed())[0])
    cov = key_covariance(model, hp.layer, CORPUS, cache=False)
    deltas = []
    for kw in ({}, {"speed": Speed()}):
        with get_editor("rome").apply(model, TOK, REQUESTS[0], hp, cov=cov, **kw) as h:
            deltas.append(h.info["rome"][0].value.delta)
        res = edit(model, TOK, REQUESTS[0], hp, cov, **kw)
        restore(model, res)
        deltas.append(res.value.delta)
    assert all(torch.equal(d, implicit.delta) for d in deltas)


def test_speed_options_are_checked_and_frozen():
    import dataclasses

    from kedit_utils.core.validation import ParameterError

    with pytest.raises(ParameterError, match="prefix_onse.*must be one of"):
        Speed().with_(prefix_onse=False)
    for bad in (dict(batch_requests=0), dict(group_rows=1.5), dict(reuse_lower="yes")):
        with pytest.raises(ParameterError, match="speed." + next(iter(bad))):
            Speed(**bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Speed().prefix_once = False
    assert Speed().with_(prefix_once=False) == Speed(prefix_once=False) != Speed()
    with pytest.raises(ParameterError, match="'speed'"):
        get_editor("memit").apply(tiny_gpt2(), TOK, REQUESTS[0], MEMITHyperParams.tiny_gpt2(), speed="fast")
