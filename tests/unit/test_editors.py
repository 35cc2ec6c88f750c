"""The editing API on a tiny GPT-2 and a tiny Llama, both built here (random weights, a few
seconds): every editor reaches its target and restores bit for bit, alone and in a sequence
of edits; AlphaEdit keeps the preserved keys' outputs while MEMIT need not; MEMIT with one
edit and one layer is parallel to ROME; ICE/IKE change no weight and, on a model that reads
its context, reach the target; hyper-parameter files and presets; bad requests name the field."""
import importlib.util
import json

import numpy as np
import pytest
import torch

from kedit_utils.core import architectures as A
from kedit_utils.core.validation import ParameterError
from kedit_utils.editing import EditRequest, EditSequence, as_requests, available_methods, get_editor
from kedit_utils.editing import metrics as M
from kedit_utils.editing.alphaedit import AlphaEditHyperParams
from kedit_utils.editing.ft import FTHyperParams
from kedit_utils.editing.ft_l import FTLHyperParams
from kedit_utils.editing.ice import ICEHyperParams
from kedit_utils.editing.ike import IKEHyperParams
from kedit_utils.editing.lora import LoRAHyperParams
from kedit_utils.editing.memit import MEMITHyperParams
from kedit_utils.editing.rome import ROMEHyperParams, key_covariance
from kedit_utils.editing.serac import SERACHyperParams
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.vocabulary import Vocabulary, hf_tokenizer

VOCAB = Vocabulary(8, 4, 2)
TOK = hf_tokenizer(VOCAB)
N_LAYERS = 3
REQUESTS = [EditRequest("e1_0 r2_1", "e1_0", "e4_1"), EditRequest("e2_0 r0_1", "e2_0", "e5_1")]
MORE = [EditRequest("e3_1 r1_0", "e3_1", "e6_0"), EditRequest("e6_1 r3_0", "e6_1", "e0_1"),
        EditRequest("e0_0 r1_1", "e0_0", "e7_1")]
HAS_PEFT = importlib.util.find_spec("peft") is not None
WEIGHT_METHODS = ["rome", "memit", "alphaedit", "ft", "ft_l"] + (["lora"] if HAS_PEFT else [])


def tiny_gpt2():
    return gpt2_from_scratch(VOCAB, ModelSpec(n_layers=N_LAYERS, n_embd=32, n_head=4, n_positions=32,
                                              initializer_range=0.2), seed=0).eval()


def tiny_llama(initializer_range=0.2):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=VOCAB.size, hidden_size=32, intermediate_size=64, num_hidden_layers=N_LAYERS,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      initializer_range=initializer_range)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return LlamaForCausalLM(cfg).eval()


# random models: MLP outputs are small, so ROME's clamp and weight decay (relative to them)
# are lifted, as in tests/unit/test_rome.py; a random corpus of 600 keys gives a full-rank C
HPARAMS = {
    "rome": ROMEHyperParams.tiny_gpt2(layer=1, fact_token="last", v_weight_decay=0.0, clamp_norm_factor=1e4),
    "memit": MEMITHyperParams.tiny_gpt2(layers=(0, 1)),
    "alphaedit": AlphaEditHyperParams.tiny_gpt2(layers=(0, 1)),
    "ft": FTHyperParams.tiny_gpt2(),
    "ft_l": FTLHyperParams.tiny_gpt2(),
    "lora": LoRAHyperParams.tiny_gpt2(),
}
CORPUS = np.random.default_rng(0).integers(2, VOCAB.size, size=(200, 3))


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def setup(request):
    model = tiny_gpt2() if request.param == "gpt2" else tiny_llama()
    covs = {layer: key_covariance(model, layer, CORPUS, cache=False) for layer in range(N_LAYERS)}
    return request.param, model, covs


def context(method, covs):
    """What each method needs besides the model: the covariances {layer: C} (ROME takes its
    layer's; the parity test below passes it a single KeyCovariance)."""
    return {"cov": covs} if method in ("rome", "memit", "alphaedit") else {}


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same(model, snap):
    for k, v in model.state_dict().items():
        assert torch.equal(v, snap[k]), k


@torch.no_grad()
def top(model, prompt, condition=lambda p: p):
    ids = TOK(condition(prompt))["input_ids"]
    return TOK.decode([int(model(torch.tensor([ids])).logits[0, -1].argmax())])


@pytest.mark.parametrize("method", WEIGHT_METHODS)
def test_editor_reaches_targets_and_restores_bit_for_bit(setup, method):
    arch, model, covs = setup
    snap = snapshot(model)
    assert [top(model, r.prompt) for r in REQUESTS] != [r.target_new for r in REQUESTS]
    handle = get_editor(method).apply(model, TOK, REQUESTS, HPARAMS[method], **context(method, covs))
    with handle:
        assert [top(model, r.prompt) for r in REQUESTS] == [r.target_new for r in REQUESTS], (arch, method)
        assert M.rewrite_acc(model, TOK, REQUESTS, handle) == 1.0
        assert handle.seconds > 0 and handle.changes and handle.changes_weights
        changed = {c.name for c in handle.changes}
        assert changed == set(handle.backup.originals) - {n for n in handle.backup.originals
                                                           if torch.equal(model.get_parameter(n), snap[n])}
        for c in handle.changes:  # the reported norm is the actual change
            d = (model.get_parameter(c.name).detach().double() - snap[c.name].double())
            assert c.delta_norm == pytest.approx(float(d.norm()), rel=1e-9)
        others = set(snap) - changed
        assert all(torch.equal(model.state_dict()[k], snap[k]) for k in others)
    assert handle.restored
    assert_same(model, snap)


@pytest.mark.parametrize("intermediate_copies", [True, False])
def test_sequence_of_edits_restores_exactly(setup, intermediate_copies):
    """Every weight method in turn on one model (AlphaEdit twice, with history), then one restore;
    without intermediate copies the sequence keeps one copy per tensor."""
    arch, model, covs = setup
    snap = snapshot(model)
    seq = EditSequence(model, TOK, intermediate_copies=intermediate_copies)
    plan = [("memit", REQUESTS[:1]), ("rome", REQUESTS[1:]), ("alphaedit", MORE[:1]), ("ft", MORE[1:2]),
            ("alphaedit", MORE[2:]), ("ft_l", MORE[2:])] + ([("lora", REQUESTS[:1])] if HAS_PEFT else [])
    for method, reqs in plan:
        h = seq.apply(method, reqs, HPARAMS[method], **context(method, covs))
        assert [top(model, r.prompt) for r in reqs] == [r.target_new for r in reqs], (arch, method)
    assert "kkt" in seq.handles[2].info and len(seq.handles) == len(plan)
    copies = [n for h in seq.handles for n in h.backup.originals]
    assert (len(copies) == len(set(copies))) == (not intermediate_copies)
    with pytest.raises(AssertionError):
        assert_same(model, snap)
    if not intermediate_copies:
        with pytest.raises(ParameterError):
            seq.handles[-1].restore()  # only the whole sequence can be undone
    seq.restore()
    assert_same(model, snap)


# what each method takes besides the requests (its EditContext's fields)
DECLARED = {"rome": {"cov", "corpus", "model_id", "progress", "speed"},
            "memit": {"cov", "corpus", "model_id", "progress", "speed"},
            "alphaedit": {"cov", "corpus", "model_id", "progress", "speed", "history"},
            "ft": set(), "ft_l": set(), "lora": set(), "ice": set(),
            "ike": {"demonstrations"}, "serac": {"scope", "scope_examples"}, "mend": {"network"}}


def test_every_editor_declares_its_context_and_refuses_other_keys(setup):
    """A misspelt or foreign keyword is an error naming it, the method and what it takes,
    raised before any work (the model untouched); ``context_for`` keeps the declared keys."""
    arch, model, covs = setup
    snap = snapshot(model)
    assert set(available_methods()) == set(DECLARED)
    shared = {"cov": covs, "corpus": ["e1_0 r2_1"], "demonstrations": MORE, "scope_examples": POOL, "network": None}
    for method, declared in DECLARED.items():
        editor = get_editor(method)
        assert set(editor.context_keys()) == declared, method
        assert {editor.pool_argument, editor.trained_argument} - {None} <= declared, method
        assert set(editor.context_for(shared)) == declared & set(shared), method
        for key in ("covv", "demonstration", "history" if "history" not in declared else "histroy"):
            with pytest.raises(ParameterError) as e:
                editor.apply(model, TOK, REQUESTS[0], **{key: covs})
            message = str(e.value)
            assert e.value.name == key and f"{method} takes no argument {key!r}" in message, message
            assert all(k in message for k in declared) and ("nothing" in message) == (not declared), message
    with pytest.raises(ParameterError, match=r"'covv'.*did you mean 'cov'\?"):
        get_editor("rome").apply(model, TOK, REQUESTS[0], HPARAMS["rome"], covv=covs)
    with pytest.raises(ParameterError, match="'progress'"):
        get_editor("memit").apply(model, TOK, REQUESTS[0], HPARAMS["memit"], cov=covs, progress="yes")
    with pytest.raises(ParameterError, match="'history'.*EditHandle"):
        get_editor("alphaedit").apply(model, TOK, REQUESTS[0], HPARAMS["alphaedit"], cov=covs, history=[1])
    assert_same(model, snap)


def test_sequence_passes_history_only_to_the_methods_that_take_it(setup):
    """EditSequence gives its handles to AlphaEdit (which reads the earlier edits' keys) and
    to no other method; a caller's own ``history`` is refused."""
    arch, model, covs = setup
    snap = snapshot(model)
    with EditSequence(model, TOK) as seq:
        seq.apply("ice", REQUESTS[0], ICEHyperParams.tiny_gpt2())
        seq.apply("alphaedit", REQUESTS[1], HPARAMS["alphaedit"], cov=covs)
        h = seq.apply("alphaedit", MORE[0], HPARAMS["alphaedit"], cov=covs)
        assert "kkt" in h.info
        with pytest.raises(ParameterError, match="'history'"):
            seq.apply("alphaedit", MORE[1], HPARAMS["alphaedit"], cov=covs, history=())
    assert_same(model, snap)


def test_rome_batch_holds_one_copy_of_w2_and_restores_bit_for_bit(setup):
    """N requests through ROME's Editor: one copy of the original W2 in the whole handle (the
    backup's, shared by the first result; the others keep none), each request's edit changes
    its own prediction, and the restore is exact. The same path as ``edit``: one request
    through either gives the same W2 bit for bit."""
    from kedit_utils.editing.rome import edit, restore

    arch, model, covs = setup
    snap = snapshot(model)
    hp = HPARAMS["rome"]
    name = A.edited_weight_name(model, hp.layer)
    reqs = REQUESTS + MORE
    with get_editor("rome").apply(model, TOK, reqs, hp, cov=covs) as h:
        results = h.info["rome"]
        assert list(h.backup.originals) == [name] and len(results) == len(reqs)
        assert results[0].original is h.backup.originals[name] and torch.equal(results[0].original, snap[name])
        assert all(r.original is None for r in results[1:])
        w2_copies = {id(t) for t in [*h.backup.originals.values(), *(r.original for r in results)] if t is not None}
        assert len(w2_copies) == 1
        assert all(r.success and r.after.top_token == r.request.target_new != r.before.top_token for r in results)
        assert not torch.equal(model.get_parameter(name), snap[name])
        with pytest.raises(ParameterError, match="restore that call's EditHandle"):
            restore(model, results[1])
    assert_same(model, snap)
    with get_editor("rome").apply(model, TOK, reqs[0], hp, cov=covs):
        through_editor = model.get_parameter(name).detach().clone()
    res = edit(model, TOK, reqs[0], hp, covs)
    assert torch.equal(model.get_parameter(name), through_editor)
    restore(model, res)
    assert_same(model, snap)


def test_alphaedit_keeps_preserved_keys_memit_need_not(setup):
    """C from a small corpus (24 keys, rank < d_in) and eigenvalues < 1e-6·max as its null space:
    AlphaEdit's update is in C's null space, so
    W2's outputs on those keys move by < 1e-4 of their size (float32 round-off); MEMIT, with the
    ridge a singular C needs, moves them by more than 1e-2."""
    arch, model, _ = setup
    small = np.random.default_rng(1).integers(2, VOCAB.size, size=(8, 3))
    covs = {layer: key_covariance(model, layer, small, cache=False) for layer in range(N_LAYERS)}
    keys = []
    hook = A.mlp_out_module(model, 0).register_forward_hook(lambda _m, i, _o: keys.append(i[0].detach()))
    with torch.no_grad():
        model(torch.as_tensor(small))
    hook.remove()
    k0 = keys[0].reshape(-1, keys[0].shape[-1])
    with torch.no_grad():
        out0 = A.mlp_out_module(model, 0)(k0)
    change = {}
    for method, hp in [("alphaedit", HPARAMS["alphaedit"].with_(nullspace_threshold=1e-6)),
                       ("memit", HPARAMS["memit"].with_(mom2_ridge=1.0))]:
        with get_editor(method).apply(model, TOK, REQUESTS, hp, cov=covs) as h:
            assert [top(model, r.prompt) for r in REQUESTS] == [r.target_new for r in REQUESTS]
            with torch.no_grad():
                change[method] = float((A.mlp_out_module(model, 0)(k0) - out0).abs().max() / out0.abs().max())
            if method == "alphaedit":
                assert 0 < h.info["nullspace_dim"][0] < k0.shape[1]
    assert change["alphaedit"] < 1e-4, change
    assert change["memit"] > 1e-2, change


def test_memit_one_edit_one_layer_is_parallel_to_rome(setup):
    """(λC + kkᵀ)⁻¹k ∥ C⁻¹k (Sherman–Morrison) and z − h = v* − W k = δ: the two ΔW agree in
    direction: cosine > 1 − 1e-6 (measured 1 − 1e-9: the same δ optimisation, no weight decay,
    no clamp, same templates; float round-off only)."""
    arch, model, covs = setup
    layer = 1
    rome = ROMEHyperParams.tiny_gpt2(layer=layer, fact_token="last", v_weight_decay=0.0, clamp_norm_factor=1e4)
    memit = MEMITHyperParams.tiny_gpt2(layers=(layer,), v_weight_decay=0.0, clamp_norm_factor=1e4)
    name = A.edited_weight_name(model, layer)
    w0 = model.get_parameter(name).detach().clone().double()
    deltas = {}
    for method, hp in [("rome", rome), ("memit", memit)]:
        with get_editor(method).apply(model, TOK, REQUESTS[0], hp, cov={layer: covs[layer]} if method == "memit"
                                      else covs[layer]):
            deltas[method] = (model.get_parameter(name).detach().double() - w0).flatten()
    cos = float(deltas["rome"] @ deltas["memit"] / (deltas["rome"].norm() * deltas["memit"].norm()))
    assert cos > 1 - 1e-6, cos


# a pool with paraphrases and locality prompts: IKE's demonstrations, SERAC's training edits
POOL = MORE + [EditRequest("e1_0 r3_1", "e1_0", "e2_1", rephrase_prompts=("e1_1 r3_1",),
                           locality=(("e5_0 r0_0", "e3_0"),)),
               EditRequest("e4_0 r2_0", "e4_0", "e3_1", rephrase_prompts=("e4_1 r2_0", "e4_0 r2_1"),
                           locality=(("e7_0 r1_0", "e2_0"), ("e6_1 r3_1", "e0_0")))]


def pools(method, demonstrations, scope_examples):
    """The pool arguments ``method`` declares (IKE's demonstrations, SERAC's scope examples; ICE none)."""
    return get_editor(method).context_for({"demonstrations": demonstrations, "scope_examples": scope_examples})


@pytest.mark.parametrize("method", ["ice", "ike", "serac"])
def test_in_context_editors_leave_every_weight_untouched(setup, method):
    arch, model, _ = setup
    snap = snapshot(model)
    h = get_editor(method).apply(model, TOK, REQUESTS[0], **pools(method, MORE, POOL))  # the preset
    assert h.hparams == get_editor(method).hparams_class.tiny_gpt2()  # chosen for a word-level vocabulary
    assert h.changes == () and not h.changes_weights
    text = h.condition(REQUESTS[0].prompt)
    assert text.endswith(REQUESTS[0].prompt) and REQUESTS[0].fact in text
    assert_same(model, snap)
    h.restore()
    assert_same(model, snap)


@pytest.fixture(scope="module")
def context_reader():
    """A tiny Llama trained (60 steps, ~2 s) on "<noise> s r o s r" → o: it answers a prompt from
    the fact just before it (RoPE learns the offset quickly; a tiny GPT-2 with learned positions
    needs far longer). Trained on random facts, never on the test's."""
    model = tiny_llama(initializer_range=0.02).train()
    rng = np.random.default_rng(0)
    ents, rels = VOCAB.entity_ids.ravel(), VOCAB.relation_ids.ravel()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(60):
        n, pre = 64, int(rng.integers(0, 20))
        s, r, o = rng.choice(ents, n), rng.choice(rels, n), rng.choice(ents, n)
        x = torch.tensor(np.column_stack([rng.integers(2, VOCAB.size - 1, size=(n, pre)), s, r, o, s, r]))
        loss = torch.nn.functional.cross_entropy(model(x).logits[:, -1], torch.as_tensor(o))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.mark.parametrize("method, hp", [("ice", ICEHyperParams.tiny_gpt2()), ("ike", IKEHyperParams.tiny_gpt2(k=2)),
                                        ("serac", SERACHyperParams.tiny_gpt2())])
def test_in_context_editors_reach_target_on_a_context_reader(context_reader, method, hp):
    model = context_reader
    snap = snapshot(model)
    pool = POOL[:4]
    for req in REQUESTS:
        before = M.rewrite_acc(model, TOK, req)
        h = get_editor(method).apply(model, TOK, req, hp, **pools(method, pool, POOL))
        assert top(model, req.prompt, h.condition) == req.target_new
        assert M.rewrite_acc(model, TOK, req, h) == 1.0 and before < 1.0
        if method == "ike":
            assert len(h.info["demonstrations"]) == 2
            if req is REQUESTS[0]:  # the pool's fact about the same subject ranks first
                assert h.info["demonstrations"][0][1] == pool[-1].fact
    assert_same(model, snap)


def test_bad_requests_name_the_field(setup):
    arch, model, covs = setup
    snap = snapshot(model)

    def field_of(fn):
        with pytest.raises(ParameterError) as e:
            fn()
        return e.value.name

    assert field_of(lambda: EditRequest("e1_0 r2_1", "e5_0", "e4_1")) == "subject"
    assert field_of(lambda: as_requests({"prompts": ["e1_0 r2_1"], "subject": ["e5_0"], "target_new": ["e4_1"]})) \
        == "subject"
    assert field_of(lambda: EditRequest("e1_0 r2_1", "e1_0", " ")) == "target_new"
    assert field_of(lambda: get_editor("grace")) == "method"
    assert "rome" in str(pytest.raises(ParameterError, get_editor, "grace").value)
    # layer out of range, for every method that takes one (the model has 3 layers)
    for method, hp, name in [("rome", HPARAMS["rome"].with_(layer=3), "layer"),
                             ("memit", HPARAMS["memit"].with_(layers=(1, 5)), "layers"),
                             ("alphaedit", HPARAMS["alphaedit"].with_(layers=(7,)), "layers"),
                             ("ft", HPARAMS["ft"].with_(layers=(3,)), "layers"),
                             ("ft_l", HPARAMS["ft_l"].with_(layer=9), "layer")]:
        ctx = get_editor(method).context_for({"cov": covs})
        assert field_of(lambda: get_editor(method).apply(model, TOK, REQUESTS, hp, **ctx)) == name, method
    # targets outside the vocabulary, malformed EasyEdit dicts
    assert field_of(lambda: get_editor("ft").apply(model, TOK, EditRequest("e1_0 r2_1", "e1_0", "Paris"),
                                                   HPARAMS["ft"])) == "target_new"
    bad_dicts = [
        ({"prompts": ["e1_0 r2_1"], "subject": ["e1_0"]}, "target_new"),
        ({"prompts": ["e1_0 r2_1", "e2_0 r0_1"], "subject": ["e1_0", "e2_0"], "target_new": ["e4_1"]}, "target_new"),
        ({"prompts": ["e1_0 r2_1"], "subject": ["e1_0"], "target_new": ["e4_1"], "targets": ["x"]}, "targets"),
        ({"prompts": ["e1_0 r2_1"], "subject": ["e1_0"], "target_new": ["e4_1"],
          "locality_inputs": {"nb": {"prompt": ["e5_0 r1_0"]}}}, "locality_inputs.nb"),
        ({"prompts": ["e1_0 r2_1"], "subject": ["e1_0"], "target_new": ["e4_1"],
          "portability_inputs": {"hop": {"prompt": ["a", "b"], "ground_truth": ["x", "y"]}}},
         "portability_inputs.hop.prompt"),
        ({"prompt": "e1_0 r2_1", "subject": "e1_0"}, "target_new"),
        ({"prompt": "e1_0 r2_1", "subject": "e1_0", "target_new": 7}, "target_new"),
        ({"question": "e1_0 r2_1"}, "prompts"),
    ]
    for d, name in bad_dicts:
        assert field_of(lambda: get_editor("rome").apply(model, TOK, d, HPARAMS["rome"], cov=covs[1])) == name, d
    assert field_of(lambda: get_editor("ike").apply(model, TOK, REQUESTS[0], IKEHyperParams.tiny_gpt2())) \
        == "demonstrations"
    assert field_of(lambda: get_editor("alphaedit").apply(model, TOK, REQUESTS, HPARAMS["alphaedit"])) == "cov"
    assert field_of(lambda: get_editor("lora").apply(model, TOK, REQUESTS, HPARAMS["lora"].with_(layers=(4,)))) \
        == "layers"
    assert_same(model, snap)  # nothing was touched


def test_hparams_validation_presets_and_files(tmp_path):
    for method in ["rome", "memit", "alphaedit", "ft", "ft_l", "lora", "ice", "ike", "serac", "mend"]:
        cls = get_editor(method).hparams_class
        for preset in ("tiny_gpt2", "smollm2", "gpt2_family"):
            hp = cls.preset(preset)
            assert cls.from_yaml(hp.to_yaml()) == hp
            assert cls.from_json(hp.to_json()) == hp
            hp.to_yaml(tmp_path / f"{method}.yaml")
            assert cls.from_file(tmp_path / f"{method}.yaml") == hp
    with pytest.raises(ParameterError) as e:
        FTHyperParams(lr=-1.0)
    assert e.value.name == "lr" and "-1.0" in str(e.value) and "(0.0, inf]" in str(e.value)
    with pytest.raises(ParameterError) as e:
        MEMITHyperParams(layers=(3, 2))
    assert e.value.name == "layers" and "increasing" in str(e.value)
    with pytest.raises(ParameterError) as e:
        MEMITHyperParams.from_dict({"layers": [1], "v_lrr": 0.1})
    assert e.value.name == "v_lrr"
    with pytest.raises(ParameterError) as e:
        ROMEHyperParams.from_dict({"alg_name": "MEMIT", "layer": 1})
    assert e.value.name == "alg_name"
    # a published file, module templates and all, loads as it is (MEMIT's hparams/MEMIT/gpt2-xl.json)
    published = {"layers": [13, 14, 15, 16, 17], "clamp_norm_factor": 0.75, "layer_selection": "all",
                 "fact_token": "subject_last", "v_num_grad_steps": 20, "v_lr": 5e-1, "v_loss_layer": 47,
                 "v_weight_decay": 0.5, "kl_factor": 0.0625, "mom2_adjustment": True, "mom2_update_weight": 20000,
                 "rewrite_module_tmp": "transformer.h.{}.mlp.c_proj", "layer_module_tmp": "transformer.h.{}",
                 "mlp_module_tmp": "transformer.h.{}.mlp", "attn_module_tmp": "transformer.h.{}.attn",
                 "ln_f_module": "transformer.ln_f", "lm_head_module": "transformer.wte", "mom2_dataset": "wikipedia",
                 "mom2_n_samples": 100000, "mom2_dtype": "float32"}
    (tmp_path / "gpt2-xl.json").write_text(json.dumps(published))
    hp = MEMITHyperParams.from_file(tmp_path / "gpt2-xl.json")
    assert hp.layers == (13, 14, 15, 16, 17) and hp.v_loss_layer == 47
    assert MEMITHyperParams.gpt2_family(48).layers == hp.layers
    assert ROMEHyperParams.from_dict({"layers": [17], "v_lr": 0.5}).layer == 17 == ROMEHyperParams.gpt2_family().layer
    assert FTLHyperParams.from_dict({"layers": [0], "norm_constraint": 5e-4, "weight_decay": 0}).layer == 0
    easyedit_ft_l = {"alg_name": "FT", "model_name": "./hugging_cache/gpt2-xl", "device": 0, "layers": [0],
                     "num_steps": 25, "batch_size": 3, "max_length": 40, "lr": 5e-4, "weight_decay": 0,
                     "kl_factor": 0, "norm_constraint": 5e-4, "objective_optimization": "prompt_last"}
    assert FTLHyperParams.from_dict(easyedit_ft_l) == FTLHyperParams.gpt2_family(48)
    assert FTHyperParams.from_dict({**easyedit_ft_l, "norm_constraint": False}).norm_constraint == 0.0


def test_easyedit_request_forms():
    batch = {"prompts": ["e1_0 r2_1", "e2_0 r0_1"], "ground_truth": ["e3_0", "e4_0"], "target_new": ["e4_1", "e5_1"],
             "subject": ["e1_0", "e2_0"], "rephrase_prompts": ["e1_1 r2_1", "e2_1 r0_1"],
             "locality_inputs": {"neighborhood": {"prompt": ["e5_0 r1_0", None], "ground_truth": ["e6_0", None]}},
             "portability_inputs": {"alias": {"prompt": ["e1_1 r2_0", "e2_1 r0_0"], "ground_truth": ["e4_1", "e5_1"]}}}
    a, b = as_requests(batch)
    assert (a.prompt, a.subject, a.target_new, a.ground_truth) == ("e1_0 r2_1", "e1_0", "e4_1", "e3_0")
    assert a.rephrase_prompts == ("e1_1 r2_1",) and a.locality == (("e5_0 r1_0", "e6_0"),)
    assert b.locality == () and b.portability == (("e2_1 r0_0", "e5_1"),)
    record = a.to_easyedit()
    assert as_requests(record) == [a]
    assert as_requests({"prompts": "e1_0 r2_1", "subject": "e1_0", "target_new": "e4_1"})[0].ground_truth is None
    assert as_requests([REQUESTS[0], record]) == [REQUESTS[0], a]
    assert set(available_methods()) >= {"rome", "memit", "alphaedit", "ft", "ft_l", "lora", "ice", "ike", "serac",
                                        "mend"}
    assert get_editor("FT-L").name == "ft_l"


def test_lora_without_peft_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "peft", None)  # import peft now raises ImportError
    with pytest.raises(ImportError, match="pip install peft"):
        get_editor("lora").apply(tiny_gpt2(), TOK, REQUESTS[0], HPARAMS["lora"])


def test_memit_and_alphaedit_updates_equal_the_direct_solves():
    """The push-through forms (an n × n solve, λC factorised once) give the papers' formulas:
    MEMIT Δ = (λC + K Kᵀ)⁻¹ K Rᵀ and AlphaEdit Δ = (P K Kᵀ + αI)⁻¹ P K Rᵀ."""
    from kedit_utils.editing.alphaedit import AlphaEdit, AlphaEditHyperParams, null_space_projector
    from kedit_utils.editing.memit import MEMIT, MEMITHyperParams
    from kedit_utils.editing.rome.covariance import KeyCovariance

    g = torch.Generator().manual_seed(0)
    d, n, d_out = 24, 3, 7
    x = torch.randn(d, 200, generator=g, dtype=torch.float64)
    cov = KeyCovariance(x @ x.T / 200, count=200, layer=0)
    keys = torch.randn(d, n, generator=g, dtype=torch.float64)
    resid = torch.randn(d_out, n, generator=g, dtype=torch.float64)
    hp = MEMITHyperParams.tiny_gpt2(mom2_update_weight=3.0)
    got = MEMIT().layer_delta(0, 0, keys, resid, cov, hp, {})
    want = torch.linalg.solve(3.0 * cov.mom2 + keys @ keys.T, keys) @ resid.T
    assert torch.allclose(got, want, atol=1e-10, rtol=1e-8)
    ahp = AlphaEditHyperParams.tiny_gpt2(L2=0.5)
    p, _ = null_space_projector(cov, ahp.nullspace_threshold, ahp.nullspace_relative)
    got = AlphaEdit().layer_delta(0, 0, keys, resid, cov, ahp, {"P": {0: p}, "prior": {}})
    want = torch.linalg.solve(p @ keys @ keys.T + 0.5 * torch.eye(d, dtype=torch.float64), p @ keys @ resid.T)
    assert torch.allclose(got, want, atol=1e-10, rtol=1e-8)


@pytest.mark.parametrize("objective", ["target_new", "prompt_last"])
def test_answer_loss_reads_the_answer_positions_only_and_equals_the_full_logits(setup, objective):
    """FT's loss takes the unembedding at the answer positions alone (editors/ft.py); on a
    padded batch of two requests it equals the NLL read from the full logits, and its
    gradient too."""
    from kedit_utils.editing.ft import answer_batch, answer_loss

    _, model, _ = setup
    reqs = [EditRequest("e1_0 r2_1", "e1_0", "e4_1 e5_0"), EditRequest("e2_0", "e2_0", "e5_1")]
    ids, mask, targets, last = answer_batch(TOK, reqs, objective)
    assert mask[1].sum() < mask[0].sum()  # the second row is padded

    def full(m):
        logp = m(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
        if last:
            per = [[-logp[r, p, t] for r, p, t in last if r == i] for i in range(2)]
        else:
            per = [[-logp[i, p, targets[i, p]] for p in range(ids.shape[1]) if targets[i, p] != -100]
                   for i in range(2)]
        return torch.stack([torch.stack(x).mean() for x in per]).mean()

    p = A.edited_weight(model, 0)
    with torch.enable_grad():
        fast = answer_loss(model, ids, mask, targets, last)
        (g_fast,) = torch.autograd.grad(fast, [p])
        ref = full(model)
        (g_ref,) = torch.autograd.grad(ref, [p])
    assert torch.allclose(fast, ref, atol=1e-5), (float(fast), float(ref))
    assert torch.allclose(g_fast, g_ref, atol=1e-5)


def test_ft_reusing_the_frozen_blocks_gives_the_same_edit(setup):
    """FT computes the blocks below its lowest trained layer once (editors/ft.py
    ``frozen_blocks_reused``): the losses and the edited weights equal a run without the
    reuse, and the blocks' forward is the class's again afterwards."""
    import contextlib

    import kedit_utils.editing.ft as ft

    _, model, _ = setup
    hp = FTHyperParams.tiny_gpt2(layers=(2,), num_steps=5)
    runs = []
    for reuse in (True, False):
        original = ft.frozen_blocks_reused
        if not reuse:
            ft.frozen_blocks_reused = lambda m, below: contextlib.nullcontext()
        try:
            h = get_editor("ft").apply(model, TOK, REQUESTS, hp)
        finally:
            ft.frozen_blocks_reused = original
        runs.append((h.info["losses"], {n: model.get_parameter(n).detach().clone() for n in h.info["parameters"]}))
        h.restore()
    assert runs[0][0] == pytest.approx(runs[1][0], abs=1e-6)
    for n in runs[0][1]:
        assert torch.allclose(runs[0][1][n], runs[1][1][n], atol=1e-6), n
    assert all("forward" not in A.layer_module(model, i).__dict__ for i in range(N_LAYERS))


def test_serac_routes_in_scope_prompts_to_the_counterfactual_model_and_others_to_the_base(setup, tmp_path,
                                                                                           monkeypatch):
    """SERAC (editors/serac.py): the scope classifier, trained on the pool, separates its
    training pairs; the edit's own prompt and its paraphrase go to the counterfactual model
    (the edit in context), an unrelated prompt to the base model unchanged; without a pool
    it stops naming ``scope``; a batch keeps every edit in its memory; the classifier trained
    once and cached (``trained_scope``) routes the same."""
    _, model, _ = setup
    hp = SERACHyperParams.tiny_gpt2()
    edit = EditRequest("e1_0 r2_1", "e1_0", "e4_1", rephrase_prompts=("e1_1 r2_1",), locality=(("e6_0 r0_0", "e1_1"),))
    h = get_editor("serac").apply(model, TOK, [edit, REQUESTS[1]], hp, scope_examples=POOL)
    assert h.info["scope"]["train_accuracy"] >= 0.8 and h.info["scope"]["n_pairs"] > 10
    for p in (edit.prompt, edit.rephrase_prompts[0]):
        assert h.condition(p) == f"{edit.fact} {p}"
    assert h.condition(REQUESTS[1].prompt) == f"{REQUESTS[1].fact} {REQUESTS[1].prompt}"
    assert h.condition("e6_0 r0_0") == "e6_0 r0_0"
    with pytest.raises(ParameterError, match="scope"):
        get_editor("serac").apply(model, TOK, edit, hp)
    from kedit_utils.editing.serac import trained_scope

    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    trained = trained_scope(model, TOK, POOL, hp, model_id="tiny")  # the cached classifier routes the same
    h2 = get_editor("serac").apply(model, TOK, [edit, REQUESTS[1]], hp, scope=trained)
    assert all(h2.condition(p) == h.condition(p) for p in (edit.prompt, edit.rephrase_prompts[0], "e6_0 r0_0"))
    with pytest.raises(ParameterError, match="threshold"):
        SERACHyperParams(threshold=1.5)


def test_fused_adamw_matches_the_plain_one():
    """FT's optimiser (editors.ft.adamw): torch's fused kernel where it has one, the same
    update to float32 rounding; float64 tensors get the plain AdamW."""
    from kedit_utils.editing.ft import adamw

    torch.manual_seed(0)
    w = torch.randn(64, 32)
    fused, plain = torch.nn.Parameter(w.clone()), torch.nn.Parameter(w.clone())
    opt_f, opt_p = adamw([fused], lr=1e-2, weight_decay=0.01), torch.optim.AdamW([plain], lr=1e-2, weight_decay=0.01)
    for _ in range(10):
        g = torch.randn(64, 32)
        fused.grad, plain.grad = g.clone(), g.clone()
        opt_f.step()
        opt_p.step()
    assert torch.allclose(fused, plain, atol=1e-6) and not torch.equal(fused, w)
    assert not adamw([torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))], lr=1e-3,
                     weight_decay=0.0).defaults.get("fused")
