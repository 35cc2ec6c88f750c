"""The alias corpus (Paper A §3.2, Appendix A).

Each triple (s, r, o) is written in every alias combination as a 3-word sentence
``"e_s^j r^k e_o^l"``: ``n_aliases**3`` sentences per triple ("all data"). The training data
is a sample of them (paper: 20 %; Appendix A: 2 %). The sample is stratified per triple:
every triple keeps ``max(1, round(fraction * n_aliases**3))`` of its sentences, so every
fact is seen in training and only the alias coverage varies with the fraction.

At inference the model reads the first two words, a *prompt* (subject alias, relation
alias), and predicts one word; the prediction is correct when it is any alias of the right
object. A prompt is *seen* when some training sentence starts with it, *unseen* otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from kedit_utils.core.validation import check_fraction, check_int
from kedit_utils.kg.graphs import KnowledgeGraph
from kedit_utils.kg.vocabulary import Vocabulary


@dataclass(frozen=True)
class AliasCorpus:
    """Token-id arrays of the corpus of one knowledge graph.

    sentences: (n_triples * A**3, 3) every sentence, triple-major (A = n_aliases).
    sentence_triple: (n_triples * A**3,) index of each sentence's triple.
    train_index: (n_train,) indices into ``sentences`` of the training sample, sorted.
    prompts: (n_triples * A**2, 2) every distinct (subject alias, relation alias) prompt.
    prompt_triple: (n_prompts,) index of each prompt's triple.
    prompt_train_count: (n_prompts,) how many training sentences start with each prompt.
    """

    kg: KnowledgeGraph
    vocab: Vocabulary
    sample_fraction: float
    seed: int
    sentences: np.ndarray
    sentence_triple: np.ndarray
    train_index: np.ndarray
    prompts: np.ndarray
    prompt_triple: np.ndarray
    prompt_train_count: np.ndarray

    @property
    def train_sentences(self) -> np.ndarray:
        """(n_train, 3) token ids of the training sample."""
        return self.sentences[self.train_index]

    @property
    def prompt_seen(self) -> np.ndarray:
        """(n_prompts,) bool: the prompt starts some training sentence."""
        return self.prompt_train_count > 0

    @cached_property
    def prompt_object(self) -> np.ndarray:
        """(n_prompts,) entity index of each prompt's correct object."""
        return self.kg.triples[self.prompt_triple, 2]

    def prompts_of_triple(self, triple: int) -> np.ndarray:
        """Indices of the A**2 prompts of one triple."""
        a2 = self.vocab.n_aliases**2
        return np.arange(triple * a2, (triple + 1) * a2)

    def sizes(self) -> dict:
        return {
            "triples": self.kg.n_triples,
            "all sentences": int(self.sentences.shape[0]),
            "training sentences": int(self.train_index.shape[0]),
            "prompts": int(self.prompts.shape[0]),
            "seen prompts": int(self.prompt_seen.sum()),
            "unseen prompts": int((~self.prompt_seen).sum()),
            "vocabulary": self.vocab.size,
        }

    def text(self, which: str = "train") -> list[str]:
        """Sentences as text lines; ``which`` is "train" or "all"."""
        rows = self.train_sentences if which == "train" else self.sentences
        toks = self.vocab.tokens
        return [" ".join(toks[i] for i in row) for row in rows]

    def export_text(self, path: str | Path, which: str = "train") -> Path:
        """Write the sentences, one per line, to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.text(which)) + "\n")
        return path


def sentences_per_triple(n_aliases: int, sample_fraction: float) -> int:
    return max(1, int(round(sample_fraction * n_aliases**3)))


def alias_corpus(
    kg: KnowledgeGraph, n_aliases: int = 5, sample_fraction: float = 0.2, seed: int = 0
) -> AliasCorpus:
    """Write every triple of ``kg`` in every alias combination and draw the training sample."""
    check_int("n_aliases", n_aliases, minimum=1)
    check_fraction("sample_fraction", sample_fraction)
    check_int("seed", seed, minimum=0)
    vocab = Vocabulary(kg.n_entities, kg.n_relations, n_aliases)
    a = n_aliases
    s, r, o = kg.triples.T
    # all alias combinations, triple-major then (j, k, l)
    j, k, l = (g.ravel() for g in np.meshgrid(np.arange(a), np.arange(a), np.arange(a), indexing="ij"))
    ent, rel = vocab.entity_ids, vocab.relation_ids
    sentences = np.stack(
        [ent[s][:, j], rel[r][:, k], ent[o][:, l]], axis=-1
    ).reshape(-1, 3)
    sentence_triple = np.repeat(np.arange(kg.n_triples), a**3)
    jp, kp = (g.ravel() for g in np.meshgrid(np.arange(a), np.arange(a), indexing="ij"))
    prompts = np.stack([ent[s][:, jp], rel[r][:, kp]], axis=-1).reshape(-1, 2)
    prompt_triple = np.repeat(np.arange(kg.n_triples), a**2)

    per = sentences_per_triple(a, sample_fraction)
    rng = np.random.default_rng(seed)
    picks = np.argsort(rng.random((kg.n_triples, a**3)), axis=1)[:, :per]
    train_index = np.sort((picks + (np.arange(kg.n_triples) * a**3)[:, None]).ravel())
    # a sentence's prompt index: triple * a^2 + j * a + k, with (j, k, l) = divmod of local index
    local = train_index % (a**3)
    prompt_of_sentence = sentence_triple[train_index] * a**2 + local // a
    counts = np.bincount(prompt_of_sentence, minlength=prompts.shape[0])
    return AliasCorpus(
        kg=kg,
        vocab=vocab,
        sample_fraction=float(sample_fraction),
        seed=seed,
        sentences=sentences,
        sentence_triple=sentence_triple,
        train_index=train_index,
        prompts=prompts,
        prompt_triple=prompt_triple,
        prompt_train_count=counts,
    )
