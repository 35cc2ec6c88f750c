"""Alias-aware accuracy (Paper A §3.2, Table 1; the accuracy of §4 is the same measure).

The paper's inference: input the first two words of a sentence, a *prompt* (subject alias,
relation alias), take the single word the model predicts next, and count it correct when it
is **any** alias of the right object entity. Here the predicted word is the argmax of the
next-token logits at the last prompt position, and "any alias" is read from
``vocab.token_to_entity``.

Accuracies over the corpus (:func:`accuracy_from_correct`):

* ``acc_all``: over every sentence ("all data"). Every prompt starts exactly ``n_aliases``
  sentences (one per object alias) and the prediction depends on the prompt only, so this is
  the plain mean over prompts.
* ``acc_train``: over the training sentences: each prompt weighted by how many training
  sentences start with it (``corpus.prompt_train_count``).
* ``acc_seen`` / ``acc_unseen``: over prompts that start some / no training sentence.
* with a validation mask (the held-out early stop of :mod:`kedit_utils.kg.training`):
  ``acc_val`` over the unseen prompts in the mask and ``acc_test`` over the other unseen
  prompts, which no training decision has looked at.

:func:`score_prompts` is the fast path for chapters that evaluate thousands of times: one
batched forward over all prompts returning per-prompt correctness and the probability of the
correct object, defined as the **sum** of the softmax probabilities of all its aliases (the
probability that the next word names the right entity, the event the accuracy counts).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from kedit_utils.core.prefix_scoring import DEFAULT_BATCH, iter_last_logits
from kedit_utils.core.validation import ParameterError, check_int
from kedit_utils.kg.corpus import AliasCorpus
from kedit_utils.kg.vocabulary import Vocabulary

# Prompts per forward (prefix_scoring.DEFAULT_BATCH = 512). Small batches keep the
# activations (batch x 4d floats per layer) in the CPU cache: scoring 14,775 prompts with a
# 6-layer, 128-wide model took 4.1 s in one batch and 1.6 s in batches of 512 (one thread).


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


def _as_prompt_tensor(prompts, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(prompts), dtype=torch.long, device=device)
    if t.ndim != 2 or t.shape[1] < 1:
        raise ParameterError("prompts", tuple(t.shape), "must have shape (P, T) with T >= 1")
    return t


def _check_batch(batch_size: int | None) -> None:
    if batch_size is not None:
        check_int("batch_size", batch_size, minimum=1)


class _EvalMode:
    """Context: model in eval mode under no_grad, training flag restored afterwards."""

    def __init__(self, model):
        self.model, self.was_training = model, model.training

    def __enter__(self):
        self.model.eval()
        self._grad = torch.no_grad()
        self._grad.__enter__()
        return self.model

    def __exit__(self, *exc):
        self._grad.__exit__(*exc)
        self.model.train(self.was_training)


def predict_tokens(
    model, prompts, batch_size: int | None = DEFAULT_BATCH, device: str | torch.device | None = None
) -> np.ndarray:
    """Argmax next token of each prompt.

    prompts: (P, T) token ids (T = 2 for the alias corpus). Returns (P,) int64 token ids.
    ``device`` defaults to the model's; the model is moved there when it differs.
    """
    _check_batch(batch_size)
    dev = torch.device(device) if device is not None else _model_device(model)
    model.to(dev)
    x = _as_prompt_tensor(prompts, dev)
    out = np.empty(x.shape[0], dtype=np.int64)
    with _EvalMode(model):
        for sl, logits in iter_last_logits(model, x, batch_size):
            out[sl] = logits.argmax(-1).cpu().numpy()
    return out


def alias_correct(predicted: np.ndarray, objects: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """(P,) bool: predicted token is an alias of the object entity (``<deleted>`` included)."""
    predicted = np.asarray(predicted)
    objects = np.asarray(objects)
    if predicted.shape != objects.shape:
        raise ParameterError("objects", objects.shape, f"must match predicted {predicted.shape}")
    return vocab.token_to_entity[predicted] == objects


def prompt_correct(
    model,
    prompts,
    objects,
    vocab: Vocabulary,
    batch_size: int | None = DEFAULT_BATCH,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """(P,) bool: the argmax next word after each prompt is an alias of its object entity."""
    return alias_correct(predict_tokens(model, prompts, batch_size, device), objects, vocab)


def accuracy_from_correct(
    correct: np.ndarray, corpus: AliasCorpus, val_mask: np.ndarray | None = None
) -> dict[str, float]:
    """The corpus accuracies of per-prompt correctness ``correct`` (P,) (see module docstring).

    val_mask: optional (P,) bool marking the validation prompts (a subset of the unseen ones);
    adds ``acc_val`` and ``acc_test``. An empty group gives NaN.
    """
    correct = np.asarray(correct, dtype=bool)
    n_prompts = corpus.prompts.shape[0]
    if correct.shape != (n_prompts,):
        raise ParameterError("correct", correct.shape, f"must have shape ({n_prompts},)")
    counts = corpus.prompt_train_count
    seen = corpus.prompt_seen

    def mean(mask):
        return float(correct[mask].mean()) if mask.any() else float("nan")

    report = {
        "acc_train": float((correct * counts).sum() / counts.sum()),
        "acc_all": float(correct.mean()),
        "acc_seen": mean(seen),
        "acc_unseen": mean(~seen),
    }
    if val_mask is not None:
        val_mask = np.asarray(val_mask, dtype=bool)
        if val_mask.shape != (n_prompts,) or (val_mask & seen).any():
            raise ParameterError("val_mask", "mask", f"must be ({n_prompts},) bool over unseen prompts only")
        report["acc_val"] = mean(val_mask)
        report["acc_test"] = mean(~seen & ~val_mask)
    return report


def accuracy_report(
    model,
    corpus: AliasCorpus,
    val_mask: np.ndarray | None = None,
    batch_size: int | None = DEFAULT_BATCH,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """acc_train, acc_all, acc_seen, acc_unseen (and acc_val, acc_test with ``val_mask``)."""
    correct = prompt_correct(model, corpus.prompts, corpus.prompt_object, corpus.vocab, batch_size, device)
    return accuracy_from_correct(correct, corpus, val_mask)


@dataclass(frozen=True)
class PromptScores:
    """Per-prompt results of one batched forward.

    predicted: (P,) argmax token; correct: (P,) bool alias-aware correctness;
    p_object: (P,) probability of the correct object = sum of its aliases' probabilities.
    """

    predicted: np.ndarray
    correct: np.ndarray
    p_object: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())


def _entity_buckets(vocab: Vocabulary, device: torch.device) -> torch.Tensor:
    """(V,) bucket of each token: its entity (``<deleted>`` = n_entities), else n_entities + 1."""
    t2e = vocab.token_to_entity.copy()
    t2e[t2e < 0] = vocab.n_entities + 1
    return torch.as_tensor(t2e, device=device)


def score_prompts(
    model,
    prompts,
    objects,
    vocab: Vocabulary,
    batch_size: int | None = DEFAULT_BATCH,
    device: str | torch.device | None = None,
    shared_prefix: bool = True,
) -> PromptScores:
    """Correctness and correct-object probability of every prompt.

    prompts: (P, T) token ids; objects: (P,) entity index of the right object (``n_entities``
    for ``<deleted>``). ``batch_size``: prompts per forward (``None``: all in one);
    ``shared_prefix``: compute each distinct prefix once (:mod:`kedit_utils.core.prefix_scoring`).
    Deterministic on the CPU.
    """
    _check_batch(batch_size)
    dev = torch.device(device) if device is not None else _model_device(model)
    model.to(dev)
    x = _as_prompt_tensor(prompts, dev)
    obj = torch.as_tensor(np.asarray(objects), dtype=torch.long, device=dev)
    if obj.shape != (x.shape[0],):
        raise ParameterError("objects", tuple(obj.shape), f"must have shape ({x.shape[0]},)")
    buckets = _entity_buckets(vocab, dev)
    pred, prob = [], []
    with _EvalMode(model):
        for sl, logits in iter_last_logits(model, x, batch_size, shared_prefix):
            logits = logits.float()
            probs = logits.softmax(-1)
            ent = torch.zeros(probs.shape[0], vocab.n_entities + 2, device=dev, dtype=probs.dtype)
            ent.scatter_add_(1, buckets.expand_as(probs), probs)
            pred.append(logits.argmax(-1))
            prob.append(ent.gather(1, obj[sl, None])[:, 0])
    predicted = torch.cat(pred).cpu().numpy()
    return PromptScores(
        predicted=predicted,
        correct=alias_correct(predicted, np.asarray(objects), vocab),
        p_object=torch.cat(prob).cpu().numpy(),
    )


def entity_margins(model, prompts, objects, vocab: Vocabulary, batch_size: int | None = DEFAULT_BATCH) -> np.ndarray:
    """Shape (P,): per prompt, log p(object) − log p(best other entity), each entity's
    probability summed over its aliases (as :func:`score_prompts` reads them; ``<deleted>``
    counts as an entity). Positive: answered correctly, by that many nats."""
    _check_batch(batch_size)
    dev = _model_device(model)
    x = _as_prompt_tensor(prompts, dev)
    obj = torch.as_tensor(np.asarray(objects), dtype=torch.long, device=dev)
    buckets = _entity_buckets(vocab, dev)
    out = []
    with _EvalMode(model):
        for sl, logits in iter_last_logits(model, x, batch_size, True):
            probs = logits.float().softmax(-1)
            ent = torch.zeros(probs.shape[0], vocab.n_entities + 2, device=dev, dtype=probs.dtype)
            ent.scatter_add_(1, buckets.expand_as(probs), probs)
            ent = ent[:, : vocab.n_entities + 1].clamp_min(1e-30).log()  # entities and <deleted>
            right = ent.gather(1, obj[sl, None])[:, 0]
            other = ent.scatter(1, obj[sl, None], -math.inf).max(-1).values
            out.append(right - other)
    return torch.cat(out).cpu().numpy()


class EntityLevelLM(torch.nn.Module):
    """An alias model read at the level of entities, for scoring with the token metrics of
    :mod:`kedit_utils.editing.metrics` (chapter 7's knowledge-graph comparison).

    The alias models spread an answer's probability over the entity's aliases ("e94_0" …
    "e94_4"), and the book's accuracy counts the entity whose aliases have the most
    probability together (:func:`score_prompts`). This wrapper returns log-probabilities in
    which each entity's alias-0 token carries the sum of its aliases' probabilities and the
    other aliases have none (``-inf``); every other token keeps its own. So a teacher-forced
    argmax is the book's entity-level prediction, and a target written with alias 0
    (``kg_requests``) is "produced" when its entity wins. Editors edit ``model`` itself; this
    only reads it (its parameters are the model's).
    """

    def __init__(self, model, vocab: Vocabulary):
        super().__init__()
        self.model = model
        self.config = model.config
        ids = vocab.entity_ids  # (n_entities, n_aliases)
        owner = torch.full((vocab.size,), -1, dtype=torch.long)
        owner[torch.as_tensor(ids.ravel())] = torch.as_tensor(ids[:, 0]).repeat_interleave(ids.shape[1])
        self.register_buffer("owner", owner, persistent=False)  # (V,) alias-0 id of an entity token, else -1

    def forward(self, input_ids=None, attention_mask=None, **kw):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kw)
        logp = out.logits.float().log_softmax(-1)  # (B, T, V)
        is_ent = self.owner >= 0
        probs = logp.exp() * is_ent
        summed = torch.zeros_like(probs).index_add_(-1, self.owner.clamp(min=0), probs)  # on alias-0 ids
        merged = torch.where(is_ent, torch.full_like(logp, float("-inf")), logp)
        heads = torch.unique(self.owner[is_ent])
        merged[..., heads] = summed[..., heads].clamp_min(1e-45).log()
        out.logits = merged
        return out
