"""Causal tracing: batched = loop, restoring clean states recovers the clean score, the
corruption hurts on a trained model, the aggregation's arithmetic, the heatmaps."""
import numpy as np
import pytest
import torch

from kedit_utils.core.validation import ParameterError
from kedit_utils.kg import tracing as T
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.graphs import GraphSpec, build_graph
from kedit_utils.kg.vocabulary import Vocabulary, hf_tokenizer

VOCAB = Vocabulary(6, 3, 2)


def random_gpt2(n_layers=3):
    return gpt2_from_scratch(VOCAB, ModelSpec(n_layers=n_layers, n_embd=32, n_head=2), seed=1).eval()


def random_llama(n_layers=3):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=VOCAB.size, hidden_size=32, intermediate_size=64, num_hidden_layers=n_layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16)
    return LlamaForCausalLM(cfg).eval()


def some_prompts(n=3):
    prompts = np.stack([VOCAB.entity_ids[:n, 0], VOCAB.relation_ids[np.arange(n) % 3, 1]], axis=1)
    return T.alias_prompts(VOCAB, prompts, (np.arange(n) + 1) % VOCAB.n_entities)


@pytest.fixture(scope="module")
def trained():
    """A 2-layer GPT-2 trained for a few seconds on a 12-entity graph (all sentences)."""
    torch.manual_seed(0)
    kg = build_graph(GraphSpec(kind="ba", n_entities=12, n_relations=5, ba_m=2, seed=0))
    corpus = alias_corpus(kg, n_aliases=2, sample_fraction=1.0)
    model = gpt2_from_scratch(corpus.vocab, ModelSpec(n_layers=2, n_embd=32, n_head=2), seed=0)
    x = torch.as_tensor(corpus.train_sentences)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(120):
        logits = model(x[:, :2]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), corpus


@pytest.mark.parametrize("make", [random_gpt2, random_llama])
def test_batched_equals_loop(make):
    model = make()
    prompts = some_prompts(3)
    kw = dict(noise_std=0.5, n_samples=3, window=2, include_embedding=True, seed=3)
    batched = T.trace(model, prompts, **kw)
    loop = T.trace_loop(model, prompts, **kw)
    chunked = T.trace(model, prompts, max_rows=7, **kw)  # uneven chunks, same numbers
    for b, l, c in zip(batched, loop, chunked):
        assert set(b) == set(T.KINDS)
        for kind in T.KINDS:
            np.testing.assert_allclose(b[kind].scores, l[kind].scores, atol=2e-6)
            np.testing.assert_allclose(c[kind].scores, l[kind].scores, atol=2e-6)
            assert b[kind].low_score == pytest.approx(l[kind].low_score, abs=2e-6)
            assert b[kind].high_score == pytest.approx(l[kind].high_score, abs=2e-6)
    assert batched[0]["hidden"].scores.shape == (4, 2)  # embedding + 3 layers, 2 tokens
    assert list(batched[0]["hidden"].layers) == [-1, 0, 1, 2]
    assert batched[0]["mlp"].scores.shape == (3, 2)


@pytest.mark.parametrize("make", [random_gpt2, random_llama])
def test_restoring_clean_states_recovers_clean_score(make):
    model = make()
    res = T.trace(model, some_prompts(2), kinds="hidden", noise_std=1.0, n_samples=4, include_embedding=True)
    for r in res:
        h = r["hidden"]
        # the last block's output at the last token is everything the prediction reads
        assert h.scores[-1, -1] == pytest.approx(h.high_score, abs=1e-6)
        # restoring the embedding of the (one-token) subject removes all the noise
        assert h.scores[0, 0] == pytest.approx(h.high_score, abs=1e-6)
        # states of the uncorrupted token before any layer mixed in the noise change nothing
        assert h.scores[0, 1] == pytest.approx(h.low_score, abs=1e-6)
        assert h.low_score != pytest.approx(h.high_score, abs=1e-4)


def test_mlp_window_covering_all_layers_at_last_token():
    model = random_gpt2(3)
    # window 1: the MLP at the subject token of layer 0 is the only state restored there
    res = T.trace(model, some_prompts(1), kinds=("mlp", "attn"), noise_std=1.0, n_samples=2, window=1)[0]
    assert res["mlp"].window == 1 and res["mlp"].scores.shape == (3, 2)
    assert T._window(0, 10, 3) == range(0, 3)
    assert T._window(5, 10, 30) == range(0, 10)
    assert T._window(29, 10, 30) == range(24, 30)


def test_corruption_lowers_clean_probability_on_trained_model(trained):
    model, corpus = trained
    vocab = corpus.vocab
    prompts = T.alias_prompts(vocab, corpus.prompts[:24], corpus.prompt_object[:24])
    std = T.alias_noise_std(model, vocab)
    res = T.trace(model, prompts, n_samples=4, noise_std=std)
    high = np.array([r["hidden"].high_score for r in res])
    low = np.array([r["hidden"].low_score for r in res])
    assert high.mean() > 0.9
    assert low.mean() < high.mean() - 0.2
    summaries = T.summarise(res)
    peaks = T.peaks(summaries)
    assert list(peaks.kind) == list(T.KINDS)
    assert (peaks.effect > 0).all()
    # the last layer's hidden state at the last token restores the clean score
    h = summaries["hidden"]
    assert h.mean[-1, -1] == pytest.approx(h.high_mean - h.low_mean, abs=1e-5)


def test_default_noise_is_three_subject_embedding_stds():
    model = random_gpt2()
    prompts = some_prompts(3)
    res = T.trace(model, prompts, kinds="hidden", n_samples=1)
    subj = [p.token_ids[0] for p in prompts]
    expected = 3 * float(model.transformer.wte.weight.detach()[subj].std())
    assert res[0]["hidden"].noise_std == pytest.approx(expected, rel=1e-6)
    assert T.alias_noise_std(model, VOCAB) == pytest.approx(3 * float(model.transformer.wte.weight.detach()[VOCAB.entity_ids.ravel()].std()))


def _fake(kind, scores, low, high, tokens=("a", "b"), rng=(0, 1)):
    scores = np.asarray(scores, dtype=float)
    return T.TraceResult(kind=kind, scores=scores, low_score=low, high_score=high, tokens=tokens,
                         token_ids=tuple(range(len(tokens))), subject_range=rng, answer=(0,),
                         layers=np.arange(scores.shape[0]), window=1, noise_std=1.0)


def test_average_indirect_effect_arithmetic():
    a = _fake("mlp", [[0.5, 0.1], [0.2, 0.1]], 0.1, 0.9)
    b = _fake("mlp", [[0.3, 0.1], [0.4, 0.1]], 0.1, 0.7)
    s = T.average_indirect_effect([a, b])
    eff = np.stack([a.effect, b.effect])
    np.testing.assert_allclose(s.mean, eff.mean(0))
    sem = eff.std(0, ddof=1) / np.sqrt(2)
    np.testing.assert_allclose(s.ci_high - s.mean, 1.96 * sem)
    np.testing.assert_allclose(s.mean - s.ci_low, 1.96 * sem)
    assert s.low_mean == pytest.approx(0.1) and s.high_mean == pytest.approx(0.8)
    assert s.peak() == (0, "a", pytest.approx(0.3))
    with pytest.raises(ParameterError):
        T.average_indirect_effect([a, _fake("attn", [[0.1, 0.1]], 0.0, 1.0)])


def test_roles_for_prompts_of_different_lengths():
    a = _fake("hidden", [[1.0, 2.0, 3.0, 4.0]], 0.0, 1.0, tokens=("The", "Eif", "fel", "is"), rng=(0, 3))
    b = _fake("hidden", [[1.0, 2.0, 3.0, 4.0, 5.0]], 0.0, 1.0, tokens=("A", "B", "is", "in", "x"), rng=(0, 2))
    s = T.average_indirect_effect([a, b])
    assert s.positions == T.ROLE_NAMES
    # first subject token: 1 and 1; last subject token: 3 and 2; last token: 4 and 5
    assert s.mean[0, 0] == pytest.approx(1.0)
    assert s.mean[0, 2] == pytest.approx(2.5)
    assert s.mean[0, 5] == pytest.approx(4.5)
    assert s.n[1] == 1  # only the first prompt has a middle subject token


def test_text_prompt_with_word_level_tokenizer():
    model = random_gpt2()
    tok = hf_tokenizer(VOCAB)
    p = T.text_prompt(model, tok, "e3_1 r2_0", "e3_1", answer="e4_0")
    assert p.token_ids == (int(VOCAB.entity_ids[3, 1]), int(VOCAB.relation_ids[2, 0]))
    assert p.subject_range == (0, 1) and p.answer == (int(VOCAB.entity_ids[4, 0]),)
    with pytest.raises(ParameterError) as e:
        T.text_prompt(model, tok, "e3_1 r2_0", "e5_0")
    assert e.value.name == "subject"


def test_validation_before_work():
    model = random_gpt2()
    for kw, name in [(dict(kinds=("mlp", "neurons")), "kinds"), (dict(window=0), "window"),
                     (dict(n_samples=0), "n_samples"), (dict(noise_std=-1.0), "noise_std")]:
        with pytest.raises(ParameterError) as e:
            T.trace(model, some_prompts(1), **kw)
        assert e.value.name == name
    with pytest.raises(ParameterError) as e:
        T.TracePrompt((1, 2), (1, 3), (0,))
    assert e.value.name == "subject_range"


def test_heatmaps_return_figures():
    import matplotlib.pyplot as plt

    from kedit_utils.book.figures.tracing import effect_by_layer, trace_heatmap, trace_heatmaps

    model = random_gpt2()
    res = T.trace(model, some_prompts(2), noise_std=1.0, n_samples=2, include_embedding=True)
    fig = trace_heatmap(res[0]["mlp"])
    assert fig.axes
    fig2, ax = plt.subplots()
    assert trace_heatmap(res[0]["hidden"], ax=ax) is fig2
    summaries = T.summarise(res)
    fig3 = trace_heatmaps(summaries)
    assert len([a for a in fig3.axes if a.get_title()]) == 3
    fig4 = effect_by_layer(summaries["hidden"], 0)
    assert fig4.axes
    plt.close("all")
