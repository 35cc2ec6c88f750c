"""FOMAML (Paper B §3) and its evaluation protocol on tiny GPT-2s built here (seconds on CPU).

The synthetic 2-hop world: countries c0..c3, each with a currency m(c) (common knowledge the
model is pre-trained on, "c r1 -> m(c)"), and subjects x; a task edits "x r0 -> c" (x is in
country c) and asks "x r0 r1 -> m(c)" (the currency of x's country). The outer update is
checked against AdamW applied by hand to the gradient computed by hand at θ_τ; both loops
move only the scoped tensors; meta-training makes an FT edit of an unseen subject propagate
to its 2-hop question (loss far below the base model's and below ln 4, the loss of knowing
the currencies but not the country); runs repeat exactly, the cache key moves with every
input, a killed run caches nothing, the evaluation restores bit for bit."""
import copy
import dataclasses
import math
import random

import pytest
import torch
from torch.func import functional_call

from kedit_utils.core.cache import artifact_dir, cache_root
from kedit_utils.core.validation import ParameterError
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.editing.ft import answer_batch, answer_loss
from kedit_utils.editing.requests import EditRequest
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.vocabulary import Vocabulary, hf_tokenizer
from kedit_utils.propagation import (
    FOMAMLConfig,
    evaluate_base_and_meta,
    evaluate_case,
    evaluate_cases,
    inner_loop,
    meta_cache_key,
    meta_train,
    related_loss,
    scope_parameter_names,
    tasks_from_cases,
    wilson_interval,
)
from kedit_utils.propagation.fomaml import CACHE_KIND, QA

K, S, P = 4, 64, 16  # countries, subjects, subjects whose country the base model is taught
VOCAB = Vocabulary(2 * K + S, 2, 1)
TOK = hf_tokenizer(VOCAB)
R0, R1 = "r0_0", "r1_0"


def country(i):
    return f"e{i}_0"


def currency(i):
    return f"e{K + i}_0"


def subject(i):
    return f"e{2 * K + i}_0"


def case(s, new, case_id=None):
    return PropagationCase(case_id or f"x{s}", (EditRequest(f"{subject(s)} {R0}", subject(s), country(new)),),
                           (f"{subject(s)} {R0} {R1}",), (currency(new),))


_rng = random.Random(0)
HOME = {s: _rng.randrange(K) for s in range(P)}
TRAIN = [case(s, _rng.randrange(K)) for s in range(P, P + 32)]
HELD_OUT = [case(s, _rng.randrange(K)) for s in range(P + 32, S)]  # unseen subjects
TINY = FOMAMLConfig(scope="mlp", inner_lr=1e-2, outer_lr=1e-3, inner_steps=5, epochs=3)


def fresh_model(n_layers=2):
    return gpt2_from_scratch(VOCAB, ModelSpec(n_layers=n_layers, n_embd=64, n_head=4, n_positions=8), seed=0).eval()


def pretrained_tiny():
    """A 2-layer GPT-2 that knows every currency and the country of P subjects, with their
    2-hop questions (150 full-batch AdamW steps, about 2 s)."""
    torch.manual_seed(0)
    model = fresh_model()
    seqs = [QA(f"{country(i)} {R1}", currency(i)) for i in range(K)] * 4
    for s, c in HOME.items():
        seqs += [QA(f"{subject(s)} {R0}", country(c)), QA(f"{subject(s)} {R0} {R1}", currency(c))]
    ids, mask, targets, last = answer_batch(TOK, seqs, "target_new")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        opt.zero_grad()
        answer_loss(model, ids, mask, targets, last).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def base_model():
    return pretrained_tiny()


@pytest.fixture
def model(base_model):
    return copy.deepcopy(base_model)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(model, snap):
    return {k for k, v in model.state_dict().items() if not torch.equal(v, snap[k])}


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("field, value", [("scope", "ffn"), ("inner_lr", -1e-3), ("outer_lr", 0.0),
                                          ("inner_steps", 0), ("epochs", 0), ("layers", (-1,)),
                                          ("layers", (1, 1)), ("inner_weight_decay", -0.1), ("seed", 1.5)])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ParameterError) as e:
        FOMAMLConfig(**{field: value})
    assert e.value.name == field


def test_bad_inputs_raise_before_any_work(model, monkeypatch):
    import kedit_utils.propagation.fomaml as F

    def no_work(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(F, "meta_step", no_work)
    snap = snapshot(model)
    bad = [((model, TOK, TRAIN, FOMAMLConfig(layers=(2,))), {}, "layers"),  # 2-layer model
           ((model, TOK, [], TINY), {}, "cases"),
           ((model, TOK, [TRAIN[0], "x"], TINY), {}, "cases"),
           ((model, TOK, TRAIN, TINY), {"on_checkpoint": print, "checkpoint_every": 0}, "checkpoint_every"),
           ((model, TOK, [case(0, 1), dataclasses.replace(case(1, 1), answers=("zzz",))], TINY), {}, "target_new")]
    for args, kwargs, field in bad:
        with pytest.raises(ParameterError) as e:
            meta_train(*args, progress=False, **kwargs)
        assert e.value.name == field
    assert not changed(model, snap)
    assert not (cache_root() / CACHE_KIND).exists()
    with pytest.raises(ParameterError) as e:
        evaluate_cases(model, TOK, HELD_OUT, "ft", TINY.ft_hparams(model), max_new_tokens=0)
    assert e.value.name == "max_new_tokens"
    with pytest.raises(ParameterError) as e:
        evaluate_cases(model, TOK, HELD_OUT, "no-such-editor")
    assert e.value.name == "method"
    with pytest.raises(ParameterError, match="ft takes no argument 'cov'") as e:  # before the first edit
        evaluate_cases(model, TOK, HELD_OUT, "ft", TINY.ft_hparams(model), progress=False, cov=None)
    assert e.value.name == "cov"
    assert not changed(model, snap)


# --------------------------------------------------------------------------- the outer update by hand
def hand_loss(model, params, prompt, answer):
    """Mean NLL of the answer's tokens after the prompt (teacher forced), written out."""
    p = TOK(prompt)["input_ids"]
    t = TOK(" " + answer, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + t[:-1]])
    logits = functional_call(model, params, (ids,)).logits[0]
    logp = torch.log_softmax(logits.double(), -1)
    return -sum(logp[len(p) - 1 + j, tok] for j, tok in enumerate(t)) / len(t)


def hand_adamw(theta, grads, state, lr, wd, b1=0.9, b2=0.999, eps=1e-8):
    """One AdamW step (Loshchilov & Hutter; torch's defaults), written out."""
    state["k"] = state.get("k", 0) + 1
    k, out = state["k"], {}
    for n, g in grads.items():
        m = b1 * state.get(("m", n), torch.zeros_like(g)) + (1 - b1) * g
        v = b2 * state.get(("v", n), torch.zeros_like(g)) + (1 - b2) * g * g
        state[("m", n)], state[("v", n)] = m, v
        step = (m / (1 - b1 ** k)) / ((v / (1 - b2 ** k)).sqrt() + eps)
        out[n] = theta[n] * (1 - lr * wd) - lr * step
    return out


def hand_meta_train(model, cases, cfg, names, at_theta=False, tiny=1e-8):
    """FOMAML written out: inner AdamW from θ (fresh state per task), the related loss's
    gradient at θ_τ (``at_theta``: at θ instead, the wrong rule), outer AdamW on θ.

    Also returns, per tensor, the elements whose gradient was ever below ``tiny`` in either
    loop: there Adam's step g / (|g| + 1e-8) turns float32 rounding noise into a step of
    up to ±lr (e.g. the attention's key bias, whose true gradient is 0: softmax ignores it),
    so float32 and float64 runs may legitimately differ there (measured: 0.1 % of the MLP's
    elements, 4 % with attention; elsewhere the runs agree to 1e-5 at lr 1e-2)."""
    theta = {n: p.detach().double().clone() for n, p in model.named_parameters()}
    model = copy.deepcopy(model).double()
    noisy = {n: torch.zeros_like(theta[n], dtype=torch.bool) for n in names}
    outer_state = {}

    def grad(at, prompt, answer):
        params = {n: (v.clone().requires_grad_(True) if n in names else v) for n, v in at.items()}
        g = dict(zip(names, torch.autograd.grad(hand_loss(model, params, prompt, answer), [params[n] for n in names])))
        for n in names:
            noisy[n] |= g[n].abs() < tiny
        return g

    for c in cases:
        edit = c.edits[0]
        inner, state = dict(theta), {}
        for _ in range(cfg.inner_steps):
            g = grad(inner, edit.prompt, edit.target_new)
            inner.update(hand_adamw(inner, g, state, cfg.inner_lr, cfg.inner_weight_decay))
        g = grad(theta if at_theta else inner, c.questions[0], c.answer)
        theta.update(hand_adamw(theta, g, outer_state, cfg.outer_lr, cfg.outer_weight_decay))
    return theta, noisy


@pytest.mark.parametrize("scope, layers", [("mlp", None), ("attn+mlp", (1,))])
def test_outer_update_is_adamw_on_the_first_order_gradient_by_hand(model, scope, layers):
    """Two tasks (the outer AdamW's state carries over): the meta-trained weights equal
    AdamW applied by hand (float64) to ∇L_related computed by hand at θ_τ, and not at θ;
    elementwise to 5e-5 (0.5 % of lr) wherever the gradient is not ~0 (see hand_meta_train)."""
    cfg = FOMAMLConfig(scope=scope, layers=layers, inner_lr=1e-2, outer_lr=1e-2, inner_steps=3, shuffle=False)
    names = scope_parameter_names(model, cfg)
    want, noisy = hand_meta_train(model, TRAIN[:2], cfg, names)
    wrong, _ = hand_meta_train(model, TRAIN[:2], cfg, names, at_theta=True)
    meta_train(model, TOK, TRAIN[:2], cfg, cache=False, progress=False)
    n_noisy = sum(int(m.sum()) for m in noisy.values())
    assert n_noisy <= 0.05 * sum(m.numel() for m in noisy.values())
    for n in names:
        got = model.get_parameter(n).detach().double()
        err = (got - want[n]).abs()[~noisy[n]]
        assert float(err.max()) < 5e-5, (n, float(err.max()))
    gap = max(float((model.get_parameter(n).detach().double() - wrong[n]).abs().max()) for n in names)
    assert gap > 2e-3  # 40 x the tolerance: the test tells the first-order rule from the gradient at θ


# --------------------------------------------------------------------------- scope
@pytest.mark.parametrize("scope, layers", [("attn", (1,)), ("mlp", (0,)), ("attn+mlp", None)])
def test_both_loops_change_only_the_scoped_parameters(model, scope, layers):
    cfg = dataclasses.replace(TINY, scope=scope, layers=layers, epochs=1)
    names = set(scope_parameter_names(model, cfg))
    prefixes = {"attn": ".attn.", "mlp": ".mlp."}
    assert names and all(any(p in n for p in (prefixes[m] for m in cfg.modules)) for n in names)
    if layers:
        assert all(n.startswith(f"transformer.h.{layers[0]}.") for n in names)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    snap = snapshot(model)
    inner_loop(model, TOK, TRAIN[0].edits[0], sorted(names), cfg)  # the inner loop alone
    assert changed(model, snap) == names
    model.load_state_dict(snap)
    result = meta_train(model, TOK, TRAIN[:4], cfg, cache=False, progress=False)  # both loops
    assert changed(model, snap) == names == set(result.names)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    result.restore()
    assert not changed(model, snap)


# --------------------------------------------------------------------------- a real effect
def mean_post_edit_loss(model, cfg, cases):
    names = scope_parameter_names(model, cfg)
    out = []
    for t in tasks_from_cases(cases):
        snap = {n: model.get_parameter(n).detach().clone() for n in names}
        inner_loop(model, TOK, t.target, names, cfg)
        out.append(related_loss(model, TOK, t.related))
        with torch.no_grad():
            for n, v in snap.items():
                model.get_parameter(n).copy_(v)
    return sum(out) / len(out)


def test_meta_training_makes_an_edit_propagate_to_unseen_subjects(model):
    """After the same FT edit of an unseen subject's country, the 2-hop question's loss:
    base model ~6 nats (the edit does not reach the question); meta-trained well below ln 4
    (which is what knowing the four currencies but not the country would give)."""
    base = mean_post_edit_loss(model, TINY, HELD_OUT)
    unedited_base = sum(related_loss(model, TOK, t.related) for t in tasks_from_cases(HELD_OUT)) / len(HELD_OUT)
    result = meta_train(model, TOK, TRAIN, TINY, cache=False, progress=False)
    meta = mean_post_edit_loss(model, TINY, HELD_OUT)
    unedited_meta = sum(related_loss(model, TOK, t.related) for t in tasks_from_cases(HELD_OUT)) / len(HELD_OUT)
    assert base > 3.0 and unedited_base > 3.0
    assert meta < 0.5 * math.log(K) < base, (base, meta)
    assert unedited_meta > 0.8 * math.log(K)  # without the edit it cannot know: the effect is the edit's
    # Paper B's protocol on the same cases: generation accuracy after the FT edit
    reports = evaluate_base_and_meta(model, TOK, HELD_OUT, result, progress=False)
    assert reports["meta"].accuracy >= 0.8 > reports["base"].accuracy + 0.4, \
        (reports["meta"].summary(), reports["base"].summary())
    lo, hi = reports["meta"].interval
    assert lo < reports["meta"].accuracy < hi or reports["meta"].accuracy in (lo, hi)


# --------------------------------------------------------------------------- determinism and cache
def test_seeded_runs_repeat_exactly_and_the_seed_matters(model):
    snap = snapshot(model)
    cfg = dataclasses.replace(TINY, epochs=1)
    a = meta_train(model, TOK, TRAIN[:8], cfg, cache=False, progress=False)
    a.restore()
    assert not changed(model, snap)
    b = meta_train(model, TOK, TRAIN[:8], cfg, cache=False, progress=False)
    b.restore()
    c = meta_train(model, TOK, TRAIN[:8], dataclasses.replace(cfg, seed=1), cache=False, progress=False)
    assert all(torch.equal(a.meta[n], b.meta[n]) for n in a.names)
    assert [t.related_loss for t in a.log] == [t.related_loss for t in b.log]
    assert a.info["order"] != c.info["order"]
    assert not all(torch.equal(a.meta[n], c.meta[n]) for n in a.names)


def test_cache_key_changes_with_every_input(model):
    cfg = dataclasses.replace(TINY, layers=(0, 1))
    key = meta_cache_key(model, TOK, TRAIN, cfg, model_id="tiny")
    assert meta_cache_key(copy.deepcopy(model), TOK, list(TRAIN), cfg, model_id="tiny") == key
    variants = [dataclasses.replace(cfg, **{f: v}) for f, v in
                [("scope", "attn"), ("layers", (1,)), ("inner_lr", 2e-2), ("outer_lr", 2e-3), ("inner_steps", 6),
                 ("epochs", 2), ("inner_weight_decay", 0.0), ("outer_weight_decay", 0.0), ("shuffle", False),
                 ("seed", 1)]]
    keys = {meta_cache_key(model, TOK, TRAIN, v, model_id="tiny") for v in variants}
    keys.add(meta_cache_key(model, TOK, TRAIN, cfg, model_id="other"))
    keys.add(meta_cache_key(model, TOK, TRAIN, cfg, model_id="tiny", checkpoint_every=4))
    keys.add(meta_cache_key(model, TOK, TRAIN[:-1], cfg, model_id="tiny"))
    keys.add(meta_cache_key(model, TOK, TRAIN[1:] + TRAIN[:1], cfg, model_id="tiny"))  # order
    other_answer = next(currency(i) for i in range(K) if currency(i) != TRAIN[0].answer)
    keys.add(meta_cache_key(model, TOK, [dataclasses.replace(TRAIN[0], answers=(other_answer,))] + TRAIN[1:], cfg,
                            model_id="tiny"))
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.transformer.wte.weight[5, 0] += 1e-6  # a weight outside the scope still counts
    keys.add(meta_cache_key(other, TOK, TRAIN, cfg, model_id="tiny"))
    assert key not in keys and len(keys) == len(variants) + 6
    # the same training gives the same key: all layers named or None
    assert meta_cache_key(model, TOK, TRAIN, dataclasses.replace(cfg, layers=None), model_id="tiny") == key


def test_cache_round_trip_and_curve(model):
    snap = snapshot(model)
    cfg = dataclasses.replace(TINY, epochs=1)
    seen = []

    def probe(tasks_seen, m):
        seen.append(tasks_seen)
        return mean_post_edit_loss(m, cfg, HELD_OUT[:4])

    a = meta_train(model, TOK, TRAIN[:10], cfg, model_id="tiny", progress=False, on_checkpoint=probe,
                   checkpoint_every=4)
    assert not a.from_cache and [s for s, _ in a.curve] == [0, 4, 8, 10] == seen
    after = snapshot(model)
    a.restore()
    assert not changed(model, snap)
    b = meta_train(model, TOK, TRAIN[:10], cfg, model_id="tiny", progress=False, on_checkpoint=probe,
                   checkpoint_every=4)
    assert b.from_cache and b.key == a.key and b.curve == a.curve  # same weights at every checkpoint
    assert not changed(model, after)
    assert [t.related_loss for t in b.log] == [t.related_loss for t in a.log]
    files = sorted(p.name for p in artifact_dir(CACHE_KIND, a.key).iterdir())
    assert files == [".complete", "checkpoint_0000004.safetensors", "checkpoint_0000008.safetensors",
                     "inputs.json", "log.json", "meta.safetensors"]


def test_an_interrupted_run_caches_nothing_and_restores_the_model(model):
    snap = snapshot(model)

    def stop(tasks_seen, m):
        if tasks_seen == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        meta_train(model, TOK, TRAIN[:6], dataclasses.replace(TINY, epochs=1), progress=False, on_checkpoint=stop,
                   checkpoint_every=1)
    assert not changed(model, snap)
    assert not (cache_root() / CACHE_KIND).exists() or not any((cache_root() / CACHE_KIND).iterdir())


# --------------------------------------------------------------------------- evaluation
def test_evaluation_restores_bit_for_bit_and_uses_mquake_rule(model):
    snap = snapshot(model)
    hp = TINY.ft_hparams(model)
    rep = evaluate_cases(model, TOK, HELD_OUT[:3] + TRAIN[:2], "ft", hp, progress=False)
    assert not changed(model, snap) and rep.n == 5 and rep.seconds_per_edit > 0
    # MQuAKE's rule: correct when any question is answered; the unedited model knows c0's currency
    two = PropagationCase("two", (EditRequest(f"{subject(60)} {R0}", subject(60), country(1)),
                                  EditRequest(f"{subject(61)} {R0}", subject(61), country(2))),
                          (f"{country(1)} {R0}", f"{country(0)} {R1}"), (currency(0), "e70_0"),
                          single_hops=((f"{country(0)} {R1}", currency(0)), (f"{country(1)} {R1}", currency(0))),
                          locality=((f"{country(2)} {R1}", currency(2)), (f"{country(3)} {R1}", currency(3))))
    none = evaluate_case(model, TOK, two, None)
    assert none.question_correct == (False, True) and none.correct and none.single_hop == 0.5
    assert none.locality == 1.0 and none.edit_seconds == 0.0 and none.generations[1].startswith(currency(0))
    r = evaluate_case(model, TOK, two, "ft", hp)  # both edits applied in one FT call
    assert r.n_edits == 2 and r.correct == any(r.question_correct) and r.edit_seconds > 0
    assert 0.0 <= r.locality <= 1.0
    assert not changed(model, snap)


def test_wilson_interval():
    lo, hi = wilson_interval(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    assert wilson_interval(0, 10)[0] == 0.0 and round(wilson_interval(0, 10)[1], 4) == 0.2775
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
