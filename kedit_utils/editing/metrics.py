"""The survey's edit metrics (Paper C §4, with EasyEdit's names; Wang et al. 2023 EasyEdit
``easyeditor/evaluate``; ROME/MEMIT's fluency), for any editor of :mod:`kedit_utils.editing`.

Every metric takes ``condition``: how a prompt reaches the edited model (an
:class:`~kedit_utils.editing.EditHandle`'s ``condition``; the identity for weight edits, the
in-context prefix for ICE/IKE), so every method is scored the same way.

* ``rewrite_acc`` (reliability): teacher-forced token accuracy of ``target_new`` on the edit
  prompt — the prompt is followed by target[:-1] and each target token must be the argmax;
  the per-request mean over tokens, averaged over requests (EasyEdit's definition).
* ``rephrase_acc`` (generalization): the same on ``rephrase_prompts``.
* ``locality``: the fraction of the locality prompts' answer tokens whose argmax (teacher
  forced on the locality answer) is the same as before the edit
  (:func:`locality_reference`, taken before editing); per request, averaged.
* ``portability``: teacher-forced token accuracy on the portability (prompt, answer) pairs.
* ``fluency``: ROME's and EasyEdit's weighted bi-/tri-gram entropy of greedy generations,
  Σ_n w_n H_n / 2 with w = (2/3, 4/3) and H_n the entropy (bits) of the n-gram frequencies
  of the prompt plus its generation (ROME's ``compute_n_gram_entropy``; words split as
  NLTK's ``word_tokenize`` roughly does: runs of word characters, each punctuation mark).
* generation mode (Paper B): generate ≤ ``max_new_tokens`` greedily; correct when the
  normalised answer (lower case, no punctuation or articles, single spaces: SQuAD's
  ``normalize_answer``, which EasyEdit uses) is contained in the normalised generation.
  ``mode="generation"`` switches rewrite/rephrase/portability to it.
* erase (:func:`erase_metrics`): the old answer (``ground_truth``) is no longer produced, on
  the prompt and on its rephrases, and the erase target (``target_new``) is; both reported.
"""
from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from kedit_utils.core.tokens import encode, pad_right, target_token_ids
from kedit_utils.core.validation import ParameterError, check_choice, check_int
from kedit_utils.editing.requests import EditRequest, as_requests

MODES = ("teacher_forced", "generation")
Condition = Callable[[str], str]


def _identity(prompt: str) -> str:
    return prompt


def _cond(condition) -> Condition:
    if condition is None:
        return _identity
    c = getattr(condition, "condition", condition)  # an EditHandle or EditSequence works too
    if not callable(c):
        raise ParameterError("condition", type(condition).__name__, "must be a callable prompt -> text or an EditHandle")
    return c


# --------------------------------------------------------------------------- teacher forcing
@torch.no_grad()
def answer_argmax(model, tok, prompts: Sequence[str], answers: Sequence[str], condition=None,
                  batch_size: int = 64) -> list[tuple[list[int], list[int]]]:
    """Per (prompt, answer): (argmax token ids at the answer's positions, the answer's ids),
    teacher forced: ``condition(prompt)`` followed by answer[:-1].

    The pairs go in batches of similar length (less padding), and the unembedding is applied
    at the answer positions only (:func:`kedit_utils.editing.ft.position_logits`): on SmolLM2
    (V = 49,152) that took a third off checking the fact table (80 s on one thread)."""
    from kedit_utils.editing.ft import position_logits

    if len(prompts) != len(answers):
        raise ParameterError("answers", len(answers), f"must have one answer per prompt ({len(prompts)})")
    cond = _cond(condition)
    device = next(model.parameters()).device
    rows = []
    for p, a in zip(prompts, answers):
        ids = encode(tok, cond(p))
        t = target_token_ids(tok, a)
        rows.append((ids + t[:-1], len(ids) - 1, t))
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    was_training = model.training
    model.eval()
    out: list = [None] * len(rows)
    try:
        for s in range(0, len(order), batch_size):
            chunk = order[s:s + batch_size]
            ids, mask = pad_right([rows[i][0] for i in chunk], getattr(tok, "pad_token_id", None) or 0)
            r, pos = [], []  # (row in the batch, position) of every answer token
            for k, i in enumerate(chunk):
                _seq, start, t = rows[i]
                r += [k] * len(t)
                pos += range(start, start + len(t))
            r, pos = torch.tensor(r, device=device), torch.tensor(pos, device=device)
            pred = position_logits(model, ids.to(device), mask.to(device), r, pos).argmax(-1).tolist()
            at = 0
            for i in chunk:
                t = rows[i][2]
                out[i] = (pred[at:at + len(t)], t)
                at += len(t)
    finally:
        model.train(was_training)
    return out


def token_accuracy(model, tok, prompts, answers, condition=None) -> np.ndarray:
    """(n,) per pair: the fraction of answer tokens that are the argmax (teacher forced)."""
    return np.array([np.mean([a == b for a, b in zip(p, t)]) for p, t in
                     answer_argmax(model, tok, prompts, answers, condition)], dtype=float)


# --------------------------------------------------------------------------- generation
def normalize_answer(s: str) -> str:
    """Lower case, no punctuation, no articles (a/an/the), single spaces (SQuAD's)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


@torch.no_grad()
def generated_ids(model, tok, prompts: Sequence[str], max_new_tokens: int = 10, condition=None) -> list[list[int]]:
    """Greedy continuation token ids of ``condition(prompt)``, at most ``max_new_tokens``
    (fewer when the model's context is shorter; stops at the end-of-sequence token)."""
    check_int("max_new_tokens", max_new_tokens, minimum=1)
    cond = _cond(condition)
    device = next(model.parameters()).device
    limit = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", None)
    pad = getattr(tok, "pad_token_id", None)
    eos = getattr(tok, "eos_token_id", None)
    was_training = model.training
    model.eval()
    out = []
    try:
        for p in prompts:
            ids = encode(tok, cond(p))
            n = max_new_tokens if limit is None else min(max_new_tokens, limit - len(ids))
            if n <= 0:
                out.append([])
                continue
            x = torch.tensor([ids], device=device)
            if hasattr(model, "generate"):  # Hugging Face: KV cache
                g = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=n,
                                   do_sample=False, pad_token_id=pad if pad is not None else eos)
                out.append(g[0, len(ids):].tolist())
                continue
            new = []
            for _ in range(n):  # any other causal LM: whole-prefix greedy steps
                nxt = int(model(input_ids=x).logits[0, -1].argmax())
                if eos is not None and nxt == eos:
                    break
                new.append(nxt)
                x = torch.cat([x, torch.tensor([[nxt]], device=device)], 1)
            out.append(new)
    finally:
        model.train(was_training)
    return out


def generate(model, tok, prompts: Sequence[str], max_new_tokens: int = 10, condition=None) -> list[str]:
    """Greedy continuations (the text after the prompt), see :func:`generated_ids`."""
    return [tok.decode(g, skip_special_tokens=True) for g in generated_ids(model, tok, prompts, max_new_tokens, condition)]


def generation_acc(model, tok, prompts, answers, max_new_tokens: int = 10, condition=None) -> np.ndarray:
    """(n,) bool: the normalised answer is contained in the normalised greedy generation."""
    gens = generate(model, tok, prompts, max_new_tokens, condition)
    return np.array([bool(normalize_answer(a)) and normalize_answer(a) in normalize_answer(g)
                     for g, a in zip(gens, answers)])


def _scores(model, tok, pairs, condition, mode, max_new_tokens) -> np.ndarray:
    check_choice("mode", mode, MODES)
    if not pairs:
        return np.array([], dtype=float)
    prompts, answers = [p for p, _ in pairs], [a for _, a in pairs]
    if mode == "generation":
        return generation_acc(model, tok, prompts, answers, max_new_tokens, condition).astype(float)
    return token_accuracy(model, tok, prompts, answers, condition)


def _per_request(model, tok, requests, pairs_of, condition, mode, max_new_tokens) -> float:
    """Mean over requests (that have pairs) of the mean score of their pairs; NaN if none."""
    reqs = as_requests(requests)
    groups = [pairs_of(r) for r in reqs]
    flat = [pair for g in groups for pair in g]
    scores = _scores(model, tok, flat, condition, mode, max_new_tokens)
    means, i = [], 0
    for g in groups:
        if g:
            means.append(float(np.mean(scores[i:i + len(g)])))
            i += len(g)
    return float(np.mean(means)) if means else math.nan


# --------------------------------------------------------------------------- the five metrics
def rewrite_acc(model, tok, requests, condition=None, mode: str = "teacher_forced", max_new_tokens: int = 10) -> float:
    """Reliability: ``target_new`` on the edit prompt (module docstring)."""
    return _per_request(model, tok, requests, lambda r: [(r.prompt, r.target_new)], condition, mode, max_new_tokens)


def rephrase_acc(model, tok, requests, condition=None, mode: str = "teacher_forced", max_new_tokens: int = 10) -> float:
    """Generalization: ``target_new`` on the rephrase prompts; NaN when no request has one."""
    return _per_request(model, tok, requests, lambda r: [(p, r.target_new) for p in r.rephrase_prompts],
                        condition, mode, max_new_tokens)


def portability(model, tok, requests, condition=None, mode: str = "teacher_forced", max_new_tokens: int = 10) -> float:
    """Portability: the portability answers on their prompts; NaN when there are none."""
    return _per_request(model, tok, requests, lambda r: list(r.portability), condition, mode, max_new_tokens)


@dataclass(frozen=True)
class LocalityReference:
    """The unedited model's argmax tokens on each request's locality pairs (teacher forced)."""

    argmax: tuple[tuple[tuple[int, ...], ...], ...]


def locality_reference(model, tok, requests, condition=None) -> LocalityReference:
    """Take before the edit (the unedited model, ``condition`` normally none)."""
    reqs = as_requests(requests)
    out = []
    for r in reqs:
        got = answer_argmax(model, tok, [p for p, _ in r.locality], [a for _, a in r.locality], condition) \
            if r.locality else []
        out.append(tuple(tuple(g) for g, _t in got))
    return LocalityReference(tuple(out))


def locality(model, tok, requests, reference: LocalityReference, condition=None) -> float:
    """Locality: share of locality answer tokens whose argmax is unchanged (per request,
    averaged); NaN when no request has locality prompts."""
    reqs = as_requests(requests)
    if not isinstance(reference, LocalityReference) or len(reference.argmax) != len(reqs):
        raise ParameterError("reference", type(reference).__name__,
                             "must be locality_reference(...) of the same requests, taken before the edit")
    means = []
    for r, ref in zip(reqs, reference.argmax):
        if not r.locality:
            continue
        got = answer_argmax(model, tok, [p for p, _ in r.locality], [a for _, a in r.locality], condition)
        same = [a == b for (g, _t), before in zip(got, ref) for a, b in zip(g, before)]
        means.append(float(np.mean(same)))
    return float(np.mean(means)) if means else math.nan


WORDS = re.compile(r"\w+|[^\w\s]")


def ngram_entropy(text: str, ns: Sequence[int] = (2, 3), weights: Sequence[float] = (2 / 3, 4 / 3)) -> float:
    """ROME's ``compute_n_gram_entropy``: mean over n of w_n · H_n (bits) of the n-grams."""
    words = WORDS.findall(text)
    vals = []
    for n, w in zip(ns, weights):
        grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
        total = sum(grams.values())
        h = -sum(c / total * math.log2(c / total) for c in grams.values()) if total else 0.0
        vals.append(w * h)
    return float(np.mean(vals))


def fluency(model, tok, prompts: Sequence[str], max_new_tokens: int = 100, condition=None) -> float:
    """Mean n-gram entropy of prompt + greedy generation (ROME/EasyEdit: 100 new tokens)."""
    gens = generated_ids(model, tok, prompts, max_new_tokens, condition)
    texts = [tok.decode(encode(tok, p) + g, skip_special_tokens=True) for p, g in zip(prompts, gens)]
    return float(np.mean([ngram_entropy(t) for t in texts]))


# --------------------------------------------------------------------------- erase
def erase_metrics(model, tok, requests, condition=None, mode: str = "teacher_forced",
                  max_new_tokens: int = 10) -> dict:
    """For erase requests (``target_new`` = the erase target, e.g. "nothing" or ``<deleted>``;
    ``ground_truth`` = the answer to remove). "Produced" means, teacher forced, every token
    of the answer is the argmax, or, in generation mode, the answer is contained.

    Returns ``old_answer_gone`` / ``old_answer_gone_rephrase`` (share of prompts where the
    old answer is not produced) and ``erase_target`` / ``erase_target_rephrase`` (share where
    the erase target is), each averaged over requests (NaN without rephrases).
    """
    reqs = as_requests(requests)
    for r in reqs:
        if r.ground_truth is None:
            raise ParameterError("ground_truth", None, f"an erase request needs the old answer ({r.prompt!r})")
    check_choice("mode", mode, MODES)

    def produced(pairs) -> np.ndarray:
        if not pairs:
            return np.array([], dtype=float)
        if mode == "generation":
            return generation_acc(model, tok, [p for p, _ in pairs], [a for _, a in pairs], max_new_tokens,
                                  condition).astype(float)
        return (token_accuracy(model, tok, [p for p, _ in pairs], [a for _, a in pairs], condition) == 1.0).astype(float)

    def mean(groups):
        vals = [float(np.mean(g)) for g in groups if len(g)]
        return float(np.mean(vals)) if vals else math.nan

    out = {}
    for key, prompts_of in (("", lambda r: [r.prompt]), ("_rephrase", lambda r: list(r.rephrase_prompts))):
        old = [1.0 - produced([(p, r.ground_truth) for p in prompts_of(r)]) for r in reqs]
        new = [produced([(p, r.target_new) for p in prompts_of(r)]) for r in reqs]
        out[f"old_answer_gone{key}"] = mean(old)
        out[f"erase_target{key}"] = mean(new)
    return out


def evaluate(model, tok, requests, condition=None, reference: LocalityReference | None = None,
             fluency_prompts: Sequence[str] | None = None, fluency_tokens: int = 100,
             mode: str = "teacher_forced", max_new_tokens: int = 10) -> dict:
    """All five metrics in EasyEdit's names (locality only with a ``reference``; fluency
    only with ``fluency_prompts``)."""
    reqs = as_requests(requests)
    out = {"rewrite_acc": rewrite_acc(model, tok, reqs, condition, mode, max_new_tokens),
           "rephrase_acc": rephrase_acc(model, tok, reqs, condition, mode, max_new_tokens),
           "portability": portability(model, tok, reqs, condition, mode, max_new_tokens)}
    if reference is not None:
        out["locality"] = locality(model, tok, reqs, reference, condition)
    if fluency_prompts:
        out["fluency"] = fluency(model, tok, fluency_prompts, fluency_tokens, condition)
    return out


__all__ = ["EditRequest", "LocalityReference", "answer_argmax", "erase_metrics", "evaluate", "fluency", "generate",
           "generated_ids", "generation_acc", "locality", "locality_reference", "ngram_entropy", "normalize_answer", "portability",
           "rephrase_acc", "rewrite_acc", "token_accuracy"]
