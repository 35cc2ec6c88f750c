"""Alias-aware accuracy (Paper A §3.2) on constructed predictions and a lookup-table model."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.alias_accuracy import (
    accuracy_from_correct,
    accuracy_report,
    alias_correct,
    predict_tokens,
    prompt_correct,
    score_prompts,
)
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.graphs import GraphSpec, build_graph


@pytest.fixture(scope="module")
def corpus():
    kg = build_graph(GraphSpec(kind="er", n_entities=12, n_relations=4, ba_m=2, seed=1))
    return alias_corpus(kg, n_aliases=5, sample_fraction=0.2, seed=3)


class TableModel(torch.nn.Module):
    """Next-token logits looked up from (first token, last token): a model with known answers."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = torch.nn.Parameter(table, requires_grad=False)

    def forward(self, input_ids, logits_to_keep=0):
        logits = self.table[input_ids[:, 0], input_ids[:, -1]][:, None, :]
        return SimpleNamespace(logits=logits)


def _table_model(corpus, answers: np.ndarray, probs: dict | None = None) -> TableModel:
    """Model predicting ``answers[p]`` (a token id) after prompt p, with optional full probabilities."""
    v = corpus.vocab.size
    table = torch.full((v, v, v), -30.0)
    for p, (s, r) in enumerate(corpus.prompts):
        if probs is not None and p in probs:
            table[s, r] = torch.log(torch.as_tensor(probs[p], dtype=torch.float32).clamp_min(1e-12))
        else:
            table[s, r, answers[p]] = 10.0
    return TableModel(table)


def test_alias_correct_any_alias_of_the_object(corpus):
    vocab = corpus.vocab
    obj = np.array([3, 3, 3, 3, 5])
    pred = np.array(
        [vocab.entity_ids[3, 0], vocab.entity_ids[3, 4], vocab.entity_ids[4, 0], vocab.relation_ids[0, 0], vocab.deleted_id]
    )
    assert alias_correct(pred, obj, vocab).tolist() == [True, True, False, False, False]
    # the <deleted> token is the (only) alias of the deleted entity
    assert alias_correct(np.array([vocab.deleted_id]), np.array([vocab.n_entities]), vocab).tolist() == [True]


def test_accuracy_weights_match_sentence_level_definitions(corpus):
    rng = np.random.default_rng(0)
    correct = rng.random(corpus.prompts.shape[0]) < 0.6
    a = corpus.vocab.n_aliases
    # each sentence's prompt: its first two tokens
    prompt_index = {tuple(p): i for i, p in enumerate(corpus.prompts.tolist())}
    per_sentence = np.array([correct[prompt_index[tuple(s[:2])]] for s in corpus.sentences.tolist()])
    rep = accuracy_from_correct(correct, corpus)
    assert rep["acc_all"] == pytest.approx(per_sentence.mean())
    assert rep["acc_train"] == pytest.approx(per_sentence[corpus.train_index].mean())
    assert rep["acc_seen"] == pytest.approx(correct[corpus.prompt_seen].mean())
    assert rep["acc_unseen"] == pytest.approx(correct[~corpus.prompt_seen].mean())
    assert corpus.sentences.shape[0] == a * corpus.prompts.shape[0]


def test_train_weighting_differs_from_prompt_mean(corpus):
    counts = corpus.prompt_train_count
    # correct exactly on the prompts with the most training sentences
    correct = counts >= 2
    rep = accuracy_from_correct(correct, corpus)
    assert rep["acc_train"] == pytest.approx((counts * correct).sum() / counts.sum())
    assert rep["acc_train"] > correct[corpus.prompt_seen].mean()
    assert rep["acc_unseen"] == 0.0


def test_validation_split_reports(corpus):
    unseen = np.flatnonzero(~corpus.prompt_seen)
    val = np.zeros(corpus.prompts.shape[0], dtype=bool)
    val[unseen[::2]] = True
    correct = val.copy()
    rep = accuracy_from_correct(correct, corpus, val)
    assert rep["acc_val"] == 1.0 and rep["acc_test"] == 0.0
    with pytest.raises(ParameterError):
        accuracy_from_correct(correct, corpus, corpus.prompt_seen)
    with pytest.raises(ParameterError):
        accuracy_from_correct(correct[:-1], corpus)


def test_model_paths_agree_with_constructed_answers(corpus):
    vocab = corpus.vocab
    rng = np.random.default_rng(1)
    n = corpus.prompts.shape[0]
    right = vocab.entity_ids[corpus.prompt_object, rng.integers(0, vocab.n_aliases, n)]
    wrong = vocab.entity_ids[(corpus.prompt_object + 1) % vocab.n_entities, 0]
    truth = rng.random(n) < 0.7
    answers = np.where(truth, right, wrong)
    model = _table_model(corpus, answers)
    for bs in (None, 7, 10_000):
        assert (predict_tokens(model, corpus.prompts, batch_size=bs) == answers).all()
    assert (prompt_correct(model, corpus.prompts, corpus.prompt_object, vocab, batch_size=13) == truth).all()
    rep = accuracy_report(model, corpus)
    assert rep == accuracy_from_correct(truth, corpus)
    scores = score_prompts(model, corpus.prompts, corpus.prompt_object, vocab)
    assert (scores.correct == truth).all() and scores.accuracy == pytest.approx(truth.mean())
    assert np.allclose(scores.p_object, np.where(truth, 1.0, 0.0), atol=1e-6)


def test_p_object_sums_the_aliases(corpus):
    vocab = corpus.vocab
    v = vocab.size
    obj = int(corpus.prompt_object[0])
    other = (obj + 1) % vocab.n_entities
    probs = np.zeros(v)
    probs[vocab.entity_ids[obj]] = [0.1, 0.1, 0.1, 0.05, 0.05]  # 0.4 on the object, spread
    probs[vocab.entity_ids[other, 0]] = 0.35  # the single most likely token is wrong
    probs[vocab.relation_ids[0, 0]] = 0.25
    answers = vocab.entity_ids[corpus.prompt_object, 0]
    model = _table_model(corpus, answers, probs={0: probs})
    scores = score_prompts(model, corpus.prompts[:3], corpus.prompt_object[:3], vocab, batch_size=2)
    assert scores.p_object[0] == pytest.approx(0.4, abs=1e-5)
    assert not scores.correct[0] and scores.correct[1:].all()
    assert scores.predicted[0] == vocab.entity_ids[other, 0]


def test_model_mode_is_restored(corpus):
    model = _table_model(corpus, corpus.vocab.entity_ids[corpus.prompt_object, 0])
    model.train()
    predict_tokens(model, corpus.prompts)
    assert model.training
    model.eval()
    score_prompts(model, corpus.prompts, corpus.prompt_object, corpus.vocab)
    assert not model.training


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_shared_prefix_scores_equal_whole_prompt_forwards(corpus, arch):
    """Computing each subject alias once (KV cache) gives the same scores as whole prompts."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    v = corpus.vocab.size
    if arch == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=v, n_positions=8, n_embd=16, n_layer=2, n_head=2,
                                                    activation_function="gelu_pytorch_tanh"))
    else:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=v, hidden_size=16, intermediate_size=32,
                                             num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1))
    prompts, objects = corpus.prompts, corpus.prompt_object
    assert np.unique(prompts[:, 0]).size * 2 < prompts.shape[0]  # prefixes repeat: the shared path runs
    whole = score_prompts(model.eval(), prompts, objects, corpus.vocab, batch_size=7, shared_prefix=False)
    shared = score_prompts(model, prompts, objects, corpus.vocab, batch_size=7)
    assert np.array_equal(shared.predicted, whole.predicted)
    assert np.array_equal(shared.correct, whole.correct)
    np.testing.assert_allclose(shared.p_object, whole.p_object, rtol=1e-5, atol=1e-7)
    assert np.array_equal(predict_tokens(model, prompts, batch_size=5), whole.predicted)
    # a two-token prefix (the lean GPT-2 step attends to two cached positions)
    longer = np.concatenate([prompts[:, :1], prompts], axis=1)  # prefix (s, s): repeats
    whole3 = score_prompts(model, longer, objects, corpus.vocab, shared_prefix=False)
    shared3 = score_prompts(model, longer, objects, corpus.vocab, batch_size=11)
    assert np.array_equal(shared3.predicted, whole3.predicted)
    np.testing.assert_allclose(shared3.p_object, whole3.p_object, rtol=1e-5, atol=1e-7)


def test_gelu_tanh_is_the_tanh_approximation_of_gelu():
    """The lean scoring step's GELU (a sigmoid instead of tanh) is GPT-2's activation up to
    float rounding, over the range activations take."""
    from kedit_utils.core.prefix_scoring import gelu_tanh

    x = torch.linspace(-12, 12, 100_001)
    ref = torch.nn.functional.gelu(x.double(), approximate="tanh")
    assert (gelu_tanh(x).double() - ref).abs().max() < 2e-6
    assert (gelu_tanh(x).double() - ref).abs().max() <= 4 * (torch.nn.functional.gelu(x, approximate="tanh").double()
                                                             - ref).abs().max()


def test_entity_level_lm_reads_answers_as_entities(train_tiny_ba):
    """Teacher-forced argmax through EntityLevelLM is the book's entity-level prediction
    (score_prompts): the alias-0 token of the entity whose aliases have the most
    probability together, whichever alias the model itself prefers."""
    from kedit_utils.editing import metrics as M
    from kedit_utils.kg.alias_accuracy import EntityLevelLM
    from kedit_utils.kg.gpt2 import ModelSpec
    from kedit_utils.kg.vocabulary import hf_tokenizer

    model, corpus, _cov = train_tiny_ba(ModelSpec(n_layers=2, n_embd=32, n_head=2), "tiny-entity-level")
    vocab, tok = corpus.vocab, hf_tokenizer(corpus.vocab)
    wrapped = EntityLevelLM(model, vocab)
    prompts = corpus.prompts[:60]
    text = [" ".join(vocab.tokens[i] for i in p) for p in prompts]
    sc = score_prompts(model, prompts, corpus.prompt_object[:60], vocab)
    acc = M.token_accuracy(wrapped, tok, text, [vocab.entity_token(int(o), 0) for o in corpus.prompt_object[:60]])
    assert np.array_equal(acc == 1.0, np.asarray(sc.correct))
    ids = torch.as_tensor(prompts[:4])
    with torch.no_grad():
        p = model(ids).logits[:, -1].softmax(-1)
        q = wrapped(input_ids=ids).logits[:, -1].exp()
    e = vocab.entity_ids
    assert torch.allclose(q[:, e[:, 0]], p[:, e].sum(-1), atol=1e-6)  # alias-0 carries the entity's total
    assert (q[:, e[:, 1:].ravel()] == 0).all() and torch.allclose(q.sum(-1), torch.ones(4), atol=1e-5)


def test_entity_margins_compare_the_objects_alias_summed_probability_with_the_best_other_entity():
    from kedit_utils.kg.alias_accuracy import entity_margins
    from kedit_utils.kg.corpus import alias_corpus
    from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
    from kedit_utils.kg.graphs import GraphSpec, build_graph

    c = alias_corpus(build_graph(GraphSpec(kind="ba", n_entities=12, n_relations=6, ba_m=2, seed=1)), 2, 0.5, 0)
    model = gpt2_from_scratch(c.vocab, ModelSpec(n_layers=1, n_embd=16, n_head=2), seed=0)
    m = entity_margins(model, c.prompts, c.prompt_object, c.vocab)
    with torch.no_grad():  # the definition, prompt by prompt: entity probabilities summed over aliases
        probs = model(input_ids=torch.as_tensor(c.prompts)).logits[:, -1].softmax(-1).numpy()
    t2e = c.vocab.token_to_entity
    ent = np.stack([probs[:, t2e == e].sum(1) for e in range(c.vocab.n_entities + 1)], axis=1)  # + <deleted>
    right = ent[np.arange(len(m)), c.prompt_object]
    other = np.where(np.arange(ent.shape[1]) == c.prompt_object[:, None], -1.0, ent).max(1)
    assert m.shape == (c.prompts.shape[0],)
    assert np.allclose(m, np.log(right) - np.log(other), atol=1e-4)
    assert ((m > 0) == (ent.argmax(1) == c.prompt_object)).all()
