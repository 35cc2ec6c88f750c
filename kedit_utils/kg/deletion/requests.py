"""Edit requests for the tiny alias models (Paper A §3.3–§3.4).

A fact (s, r, o) of the knowledge graph is asked of the model as the two-word prompt
"<subject alias> <relation alias>"; an edit makes it answer ``new_object`` instead, and a
deletion is the edit to ``<deleted>``. :func:`graph_request` builds the
:class:`~kedit_utils.editing.rome.functional.EditRequest` with clear errors for impossible requests;
:func:`deletion_edit_fn` adapts the editor to :func:`kedit_utils.kg.deletion.impact.deletion_sweep`.

``all_subject_aliases=True`` is an **extension beyond the paper**: the paper edits one
prompt; here the other aliases of the subject (same relation alias) are added as
paraphrases, so k* is averaged and v* optimised over every alias of the subject.
"""
from __future__ import annotations

from collections.abc import Callable

from kedit_utils.core.validation import ParameterError
from kedit_utils.editing.rome.functional import EditRequest, edit, restore
from kedit_utils.editing.rome.hparams import ROMEHyperParams
from kedit_utils.kg.graphs import DELETED_ENTITY, KnowledgeGraph
from kedit_utils.kg.vocabulary import Vocabulary


def _index(name: str, value, limit: int, what: str) -> int:
    """``value`` as an int in [0, limit) (numpy integers accepted), else ParameterError."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ParameterError(name, value, f"must be an integer {what} index")
    value = int(value.__index__())
    if not 0 <= value < limit:
        raise ParameterError(name, value, f"must be a {what} index in [0, {limit})")
    return value


def _new_object(vocab: Vocabulary, new_object) -> int:
    if isinstance(new_object, str):
        if new_object == DELETED_ENTITY:
            return vocab.n_entities
        raise ParameterError("new_object", new_object, f"must be an entity index or {DELETED_ENTITY!r}")
    return _index("new_object", new_object, vocab.n_entities + 1, f"entity (or {vocab.n_entities} = {DELETED_ENTITY})")


def graph_request(kg: KnowledgeGraph, vocab: Vocabulary, entity: int, relation: int, new_object,
                  subject_alias: int = 0, relation_alias: int = 0, object_alias: int = 0,
                  all_subject_aliases: bool = False) -> EditRequest:
    """EditRequest "(entity, relation) → new_object" for a tiny alias model.

    new_object: an entity index, or ``"<deleted>"`` (also index ``n_entities``).
    all_subject_aliases: extension beyond the paper (see the module docstring).
    Raises :class:`ParameterError` for an unknown entity, a relation out of range, a
    relation the entity has no fact with (the message lists the ones it has), a bad object
    or alias index.
    """
    entity = _index("entity", entity, kg.n_entities, "entity")
    relation = _index("relation", relation, kg.n_relations, "relation")
    if (entity, relation) not in kg.object_of:
        has = [int(r) for r in kg.facts_of(entity)[:, 1]]
        raise ParameterError(
            "relation", relation,
            f"entity {entity} has no fact with relation {relation}; its relations are {has}",
        )
    obj = _new_object(vocab, new_object)
    subject_alias = _index("subject_alias", subject_alias, vocab.n_aliases, "alias")
    relation_alias = _index("relation_alias", relation_alias, vocab.n_aliases, "alias")
    object_alias = _index("object_alias", object_alias, vocab.n_aliases, "alias")
    subject = vocab.entity_token(entity, subject_alias)
    rel = vocab.relation_token(relation, relation_alias)
    target = vocab.entity_token(obj, object_alias if obj < vocab.n_entities else 0)
    paraphrases = ()
    if all_subject_aliases:
        paraphrases = tuple(
            (f"{vocab.entity_token(entity, j)} {rel}", vocab.entity_token(entity, j))
            for j in range(vocab.n_aliases) if j != subject_alias
        )
    return EditRequest(prompt=f"{subject} {rel}", subject=subject, target_new=target, paraphrases=paraphrases)


def deletion_edit_fn(kg: KnowledgeGraph, vocab: Vocabulary, hparams: ROMEHyperParams, cov,
                     tok=None, all_subject_aliases: bool = False) -> Callable:
    """``edit_fn(model, triple, (subject_alias, relation_alias)) -> restore`` for
    :func:`kedit_utils.kg.deletion.impact.deletion_sweep`: the ROME deletion of triple ``triple``."""
    from kedit_utils.kg.vocabulary import hf_tokenizer

    tok = tok if tok is not None else hf_tokenizer(vocab)

    def edit_fn(model, triple: int, aliases=(0, 0)):
        s, r, _o = (int(x) for x in kg.triples[triple])
        req = graph_request(kg, vocab, s, r, DELETED_ENTITY, subject_alias=aliases[0],
                            relation_alias=aliases[1], all_subject_aliases=all_subject_aliases)
        result = edit(model, tok, req, hparams, cov)
        return lambda: restore(model, result)

    return edit_fn
