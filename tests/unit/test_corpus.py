"""Alias vocabulary and corpus (Paper A §3.2)."""
import numpy as np
import pytest

from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.graphs import GraphSpec, build_graph
from kedit_utils.kg.vocabulary import Vocabulary, hf_tokenizer


@pytest.fixture(scope="module")
def kg():
    return build_graph(GraphSpec(kind="ba", n_entities=30, n_relations=10, ba_m=2, seed=0))


def test_all_data_has_every_alias_combination(kg):
    c = alias_corpus(kg, n_aliases=3, sample_fraction=0.2)
    assert c.sentences.shape == (kg.n_triples * 27, 3)
    assert len({tuple(r) for r in c.sentences.tolist()}) == kg.n_triples * 27
    # every sentence's words are aliases of its triple
    ent = c.vocab.token_to_entity
    s, r, o = kg.triples[c.sentence_triple].T
    assert (ent[c.sentences[:, 0]] == s).all() and (ent[c.sentences[:, 2]] == o).all()
    assert ((c.sentences[:, 1] - c.vocab.relation_ids[r, 0]) < 3).all()


def test_sample_is_stratified_and_seeded(kg):
    c = alias_corpus(kg, n_aliases=5, sample_fraction=0.2, seed=1)
    per_triple = np.bincount(c.sentence_triple[c.train_index], minlength=kg.n_triples)
    assert (per_triple == 25).all()
    assert c.prompt_train_count.sum() == len(c.train_index)
    again = alias_corpus(kg, n_aliases=5, sample_fraction=0.2, seed=1)
    assert (again.train_index == c.train_index).all()
    small = alias_corpus(kg, n_aliases=5, sample_fraction=0.02, seed=1)
    assert (np.bincount(small.sentence_triple[small.train_index]) == 2).all()
    assert small.prompt_seen.mean() < c.prompt_seen.mean()


def test_prompt_counts_match_training_sentences(kg):
    c = alias_corpus(kg, n_aliases=4, sample_fraction=0.3, seed=2)
    seen = {tuple(r) for r in c.train_sentences[:, :2].tolist()}
    assert {tuple(p) for p in c.prompts[c.prompt_seen].tolist()} == seen


def test_tokenizer_round_trips_text(kg):
    c = alias_corpus(kg, n_aliases=2, sample_fraction=0.5)
    tok = hf_tokenizer(c.vocab)
    line = c.text("all")[7]
    assert tok(line)["input_ids"] == c.sentences[7].tolist()
    assert tok.convert_ids_to_tokens([c.vocab.deleted_id]) == ["<deleted>"]


def test_export_text(kg, tmp_path):
    c = alias_corpus(kg, n_aliases=2, sample_fraction=0.5)
    lines = c.export_text(tmp_path / "train.txt").read_text().splitlines()
    assert len(lines) == len(c.train_index) and len(lines[0].split()) == 3


@pytest.mark.parametrize("frac", [0.0, 1.5, -0.1])
def test_bad_fraction(kg, frac):
    with pytest.raises(ParameterError, match="sample_fraction"):
        alias_corpus(kg, sample_fraction=frac)


def test_vocabulary_parse_errors():
    v = Vocabulary(4, 3, 5)
    assert v.parse("e2_4") == ("entity", 2, 4)
    with pytest.raises(ParameterError, match="token"):
        v.parse("e9_0")
    with pytest.raises(ParameterError, match="token"):
        v.parse("banana")
