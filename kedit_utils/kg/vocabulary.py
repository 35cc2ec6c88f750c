"""Alias vocabulary (Paper A §3.2): every entity and relation has ``n_aliases`` names.

The names are the model's whole vocabulary, one token each: entity i's j-th alias is
``e{i}_{j}``, relation k's j-th alias is ``r{k}_{j}``, and the deletion target ``<deleted>``
(§3.4) is one more token. Token ids are laid out as

    0 <pad> | 1 <unk> | entity aliases (entity-major) | relation aliases | <deleted>

:func:`hf_tokenizer` wraps the vocabulary as a Hugging Face ``PreTrainedTokenizerFast``
(word-level, whitespace split) that saves and loads with a GPT-2 model.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from kedit_utils.core.validation import ParameterError, check_int
from kedit_utils.kg.graphs import DELETED_ENTITY

PAD, UNK = "<pad>", "<unk>"
N_SPECIAL = 2


@dataclass(frozen=True)
class Vocabulary:
    """Token ids of every alias.

    entity_ids: shape (n_entities, n_aliases); relation_ids: shape (n_relations, n_aliases).
    """

    n_entities: int
    n_relations: int
    n_aliases: int = 5

    def __post_init__(self):
        check_int("n_aliases", self.n_aliases, minimum=1)
        check_int("n_entities", self.n_entities, minimum=1)
        check_int("n_relations", self.n_relations, minimum=1)

    @cached_property
    def entity_ids(self) -> np.ndarray:
        return N_SPECIAL + np.arange(self.n_entities * self.n_aliases).reshape(
            self.n_entities, self.n_aliases
        )

    @cached_property
    def relation_ids(self) -> np.ndarray:
        start = N_SPECIAL + self.n_entities * self.n_aliases
        return start + np.arange(self.n_relations * self.n_aliases).reshape(
            self.n_relations, self.n_aliases
        )

    @property
    def deleted_id(self) -> int:
        return N_SPECIAL + (self.n_entities + self.n_relations) * self.n_aliases

    @property
    def size(self) -> int:
        return self.deleted_id + 1

    @cached_property
    def tokens(self) -> list[str]:
        toks = [PAD, UNK]
        toks += [f"e{i}_{j}" for i in range(self.n_entities) for j in range(self.n_aliases)]
        toks += [f"r{k}_{j}" for k in range(self.n_relations) for j in range(self.n_aliases)]
        toks.append(DELETED_ENTITY)
        return toks

    @cached_property
    def token_to_entity(self) -> np.ndarray:
        """Shape (size,): entity index of each token id; -1 for non-entity tokens.

        ``<deleted>`` maps to ``n_entities`` (the deleted entity's index).
        """
        out = np.full(self.size, -1, dtype=np.int64)
        out[self.entity_ids.ravel()] = np.repeat(np.arange(self.n_entities), self.n_aliases)
        out[self.deleted_id] = self.n_entities
        return out

    def entity_token(self, entity: int, alias: int = 0) -> str:
        if entity == self.n_entities:
            return DELETED_ENTITY
        return self.tokens[int(self.entity_ids[entity, alias])]

    def relation_token(self, relation: int, alias: int = 0) -> str:
        return self.tokens[int(self.relation_ids[relation, alias])]

    def parse(self, token: str) -> tuple[str, int, int]:
        """``"e12_3"`` -> ("entity", 12, 3); ``"r4_0"`` -> ("relation", 4, 0).

        Raises :class:`ParameterError` for a token outside the vocabulary.
        """
        if token == DELETED_ENTITY:
            return ("entity", self.n_entities, 0)
        try:
            kind = {"e": "entity", "r": "relation"}[token[0]]
            idx, alias = (int(x) for x in token[1:].split("_"))
        except (KeyError, ValueError, IndexError):
            raise ParameterError("token", token, "must be an alias like 'e12_3' or 'r4_0'") from None
        limit = self.n_entities if kind == "entity" else self.n_relations
        if not (0 <= idx < limit and 0 <= alias < self.n_aliases):
            raise ParameterError(
                "token", token, f"{kind} index must be < {limit} and alias < {self.n_aliases}"
            )
        return (kind, idx, alias)

    def to_dict(self) -> dict:
        return {"n_entities": self.n_entities, "n_relations": self.n_relations, "n_aliases": self.n_aliases}


def hf_tokenizer(vocab: Vocabulary):
    """A word-level ``PreTrainedTokenizerFast`` over ``vocab.tokens`` (whitespace split)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(WordLevel({t: i for i, t in enumerate(vocab.tokens)}, unk_token=UNK))
    tok.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=UNK, pad_token=PAD)
