"""SERAC, semi-parametric editing with a retrieval-augmented counterfactual model (Mitchell et
al. 2022, "Memory-Based Model Editing at Scale"; Paper C's memory-based family; EasyEdit's
``SERAC``).

No weight of the base model changes. SERAC has three parts:

1. an **edit memory**: the requests applied (a batch is stored at once);
2. a **scope classifier** g(e, x) ∈ [0, 1]: is input x about edit e? Trained beforehand, once,
   on a training split of *other* edits (:func:`trained_scope`, cached; SERAC's own training
   stage), then passed as ``scope=``: in scope are each training edit's own prompt and
   paraphrases, out of scope its locality prompts and the prompts of the most similar other
   training edits. g is a logistic regression on four features
   of the pair: the TF-IDF cosine of the words of x and of the edit's prompt, the same with
   the edit's subject, whether the subject occurs in x, and the cosine of the base model's
   mean hidden state (layer ``embedding_layer``) of x and of the edit's prompt. SERAC's own
   classifier is a fine-tuned cross-encoder (DistilBERT); this one is linear over those
   features, so it trains in a second on CPU and needs no second model;
3. a **counterfactual model**, which answers x when g(e, x) ≥ ``threshold`` for the edit e
   with the highest g: here the base model conditioned on e ("Imagine that {fact}." then x,
   ICE's prompt), where SERAC trains a small separate model (OPT-125m / T5) on (edit, input,
   answer) triples. Out of scope, x goes to the base model unchanged: locality by design,
   as far as the classifier is right.

The handle's ``condition(prompt)`` routes a prompt as above (metrics and generation read it
like ICE's); ``info["scope"]`` has the classifier's weights and its training accuracy;
``restore`` has nothing to do. Without ``scope``, ``scope_examples=`` (a list of edits) trains
a classifier for this one call (convenient by hand; slow on a large pool).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from kedit_utils.core.validation import ParameterError, check_float, check_int
from kedit_utils.editing.base import EditContext, EditHandle, Editor, trained_component_inputs
from kedit_utils.editing.hparams import HyperParams
from kedit_utils.editing.ice import _check_template, check_context_length
from kedit_utils.editing.ike import _tfidf, similarity_ranking
from kedit_utils.editing.requests import EditRequest, as_requests

FEATURES = ("prompt_tfidf", "subject_tfidf", "subject_in_x", "hidden_cosine")


@dataclass(frozen=True)
class SERACHyperParams(HyperParams):
    """threshold: g above which the counterfactual model answers; template / separator: how
    the counterfactual model is given the edit (ICE's form); embedding_layer: the hidden state
    of the hidden-state feature (None: the middle block); n_negative_edits: other pool edits'
    prompts taken as out-of-scope examples per pool edit; steps, lr, l2: the logistic
    regression's full-batch gradient descent."""

    threshold: float = 0.5
    template: str = "Imagine that {}."
    separator: str = " "
    embedding_layer: int | None = None
    n_negative_edits: int = 3
    steps: int = 500
    lr: float = 0.5
    l2: float = 1e-3

    METHOD: ClassVar[str] = "SERAC"

    def __post_init__(self):
        check_float("threshold", self.threshold, low=0.0, high=1.0, low_open=True, high_open=True)
        _check_template("template", self.template)
        if not isinstance(self.separator, str):
            raise ParameterError("separator", self.separator, "must be a string")
        if self.embedding_layer is not None:
            check_int("embedding_layer", self.embedding_layer, minimum=0)
        check_int("n_negative_edits", self.n_negative_edits, minimum=0)
        check_int("steps", self.steps, minimum=1)
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_float("l2", self.l2, low=0.0)

    @classmethod
    def tiny_gpt2(cls, **changes):
        """The alias models: the fact written bare, as ICE's tiny preset (their context is
        short: SERAC runs where ICE does)."""
        return cls(**{**dict(template="{}"), **changes})

    @classmethod
    def smollm2(cls, **changes):
        """ICE's wording for the counterfactual model; the classifier's defaults."""
        return cls(**changes)

    @classmethod
    def gpt2_family(cls, n_layers: int = 48, **changes):
        return cls(**changes)


# --------------------------------------------------------------------------- features
class _Embedder:
    """Mean hidden state (layer ``layer``) of a text under the base model, memoised."""

    def __init__(self, model, tok, layer: int | None):
        from kedit_utils.core import architectures as A

        n = A.n_layers(model)
        self.layer = n // 2 if layer is None else layer
        if self.layer > n:
            raise ParameterError("embedding_layer", layer, f"must be in [0, {n}] for this model")
        self.model, self.tok, self.memo = model, tok, {}

    @torch.no_grad()
    def prefetch(self, texts, batch_size: int = 64) -> None:
        """Embed every new text of ``texts``, ``batch_size`` at a time (right-padded; the mean
        is over each text's own tokens)."""
        from kedit_utils.core.tokens import encode, pad_right

        todo = list(dict.fromkeys(t for t in texts if t not in self.memo))
        device = next(self.model.parameters()).device
        for a in range(0, len(todo), batch_size):
            chunk = todo[a:a + batch_size]
            ids, mask = pad_right([encode(self.tok, t) for t in chunk], getattr(self.tok, "pad_token_id", None) or 0)
            ids, mask = ids.to(device), mask.to(device)
            hs = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[self.layer]
            m = mask[..., None].to(hs.dtype)
            vs = ((hs * m).sum(1) / m.sum(1)).float()
            for t, v in zip(chunk, vs):
                self.memo[t] = v / v.norm().clamp(min=1e-12)

    def __call__(self, text: str) -> torch.Tensor:
        if text not in self.memo:
            self.prefetch([text])
        return self.memo[text]


def _words_cosine(a: str, b: str) -> float:
    va, vb = _tfidf([a, b])
    return sum(x * vb.get(w, 0.0) for w, x in va.items())


def pair_features(embed: _Embedder, edit: EditRequest, x: str) -> list[float]:
    """The four features of (edit, x), in the order of :data:`FEATURES`."""
    return [_words_cosine(edit.prompt, x), _words_cosine(edit.subject, x),
            float(edit.subject.lower() in x.lower()), float(embed(edit.prompt) @ embed(x))]


def scope_training_pairs(pool: list[EditRequest], n_negative_edits: int) -> list[tuple[EditRequest, str, int]]:
    """(edit, x, in scope?) from the pool (module docstring): own prompt and paraphrases are
    1; locality prompts and the prompts of the ``n_negative_edits`` most similar other edits
    (the hardest negatives) are 0."""
    pairs = []
    for i, e in enumerate(pool):
        pairs += [(e, e.prompt, 1)] + [(e, p, 1) for p in e.rephrase_prompts]
        pairs += [(e, p, 0) for p, _a in e.locality]
        others = [r for j, r in enumerate(pool) if j != i and r.subject != e.subject]
        ranked = similarity_ranking(e.prompt, [r.prompt for r in others])[:n_negative_edits]
        pairs += [(e, others[j].prompt, 0) for j in ranked]
    return pairs


@dataclass(frozen=True)
class ScopeClassifier:
    """g(e, x) = σ(w · (f(e, x) − mean) / std + b); ``accuracy``: on its training pairs."""

    weight: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    accuracy: float
    n_pairs: int

    def probability(self, features: list[float]) -> float:
        z = sum(w * (f - m) / s for w, f, m, s in zip(self.weight, features, self.mean, self.std)) + self.bias
        return float(torch.sigmoid(torch.tensor(z)))


def train_scope_classifier(pairs_features: torch.Tensor, labels: torch.Tensor, hparams) -> ScopeClassifier:
    """Logistic regression (class-balanced, L2) by full-batch gradient descent.
    pairs_features: (n, 4); labels: (n,) in {0, 1}."""
    x = pairs_features.double()
    y = labels.double()
    if y.min() == y.max():
        raise ParameterError("scope_examples", f"{int(y.sum())} in scope of {len(y)}",
                             "must give in-scope and out-of-scope examples (edits with paraphrases and "
                             "locality prompts, or at least two edits)")
    mean, std = x.mean(0), x.std(0).clamp(min=1e-6)
    z = (x - mean) / std
    pos = y.mean()
    weights = torch.where(y > 0, 0.5 / pos, 0.5 / (1 - pos))
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=hparams.lr)
    with torch.enable_grad():
        for _ in range(hparams.steps):
            opt.zero_grad()
            logits = z @ w + b
            loss = (weights * torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")).mean()
            (loss + hparams.l2 * (w * w).sum()).backward()
            opt.step()
    with torch.no_grad():
        acc = float((((z @ w + b) > 0).double() == y).double().mean())
    return ScopeClassifier(tuple(w.detach().tolist()), float(b.detach()), tuple(mean.tolist()), tuple(std.tolist()),
                           acc, int(len(y)))


# --------------------------------------------------------------------------- the editor
def train_scope(model, tok, train_edits, hparams: SERACHyperParams) -> ScopeClassifier:
    """The scope classifier trained on ``train_edits`` (any request form; module docstring)."""
    pool = list(as_requests(train_edits)) if train_edits else []
    if not pool:
        raise ParameterError("scope_examples", train_edits, "SERAC needs edits to train its scope classifier on")
    embed = _Embedder(model, tok, hparams.embedding_layer)
    pairs = scope_training_pairs(pool, hparams.n_negative_edits)
    embed.prefetch([e.prompt for e, _, _ in pairs] + [x for _, x, _ in pairs])
    feats = torch.tensor([pair_features(embed, e, x) for e, x, _ in pairs])
    return train_scope_classifier(feats, torch.tensor([y for _, _, y in pairs]), hparams)


def trained_scope(model, tok, train_edits, hparams: SERACHyperParams, *, model_id: str) -> ScopeClassifier:
    """:func:`train_scope`, cached (JSON) under every input
    (:func:`~.base.trained_component_inputs`) and the code of this module's import closure."""
    import dataclasses
    import json
    import sys

    from kedit_utils.core.cache import cached, code_version

    reqs = list(as_requests(train_edits))
    inputs = trained_component_inputs(model, tok, reqs, hparams, model_id)

    def build(tmp) -> None:
        (tmp / "scope.json").write_text(json.dumps(dataclasses.asdict(train_scope(model, tok, reqs, hparams))))

    folder = cached("serac-scope", inputs, code_version(sys.modules[__name__]), build)
    data = json.loads((folder / "scope.json").read_text())
    return ScopeClassifier(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True, eq=False)
class SERACContext(EditContext):
    """scope: a trained :class:`ScopeClassifier` (e.g. from :func:`trained_scope`); or
    scope_examples: edits (any form :func:`~.requests.as_requests` takes) to train one on, for
    this call."""

    scope: ScopeClassifier | None = None
    scope_examples: Any = ()


class SERAC(Editor):
    """SERAC (module docstring). Context: :class:`SERACContext` (``scope`` or ``scope_examples``)."""

    name = "serac"
    hparams_class = SERACHyperParams
    context_class = SERACContext
    changes_weights = False
    trained_argument = "scope"

    def _apply(self, model, tok, requests, hparams, context: SERACContext) -> EditHandle:
        scope, scope_examples = context.scope, context.scope_examples
        t0 = time.perf_counter()
        if scope is None:
            own = {(r.prompt, r.target_new) for r in requests}
            pool = [r for r in as_requests(scope_examples) if (r.prompt, r.target_new) not in own] \
                if scope_examples else []
            if not pool:
                raise ParameterError("scope", None, "SERAC needs its trained scope classifier (kedit_utils.editing.serac."
                                     "trained_scope) or scope_examples, edits to train one on")
            scope = train_scope(model, tok, pool, hparams)
        if not isinstance(scope, ScopeClassifier):
            raise ParameterError("scope", type(scope).__name__, "must be a ScopeClassifier (kedit_utils.editing.serac.trained_scope)")
        clf = scope
        embed = _Embedder(model, tok, hparams.embedding_layer)
        memory = list(requests)

        def route(prompt: str) -> tuple[int, float]:
            scores = [clf.probability(pair_features(embed, e, prompt)) for e in memory]
            best = max(range(len(memory)), key=lambda i: scores[i])
            return best, scores[best]

        def condition(prompt: str) -> str:
            best, g = route(prompt)
            if g < hparams.threshold:
                return prompt  # out of scope: the base model
            return hparams.template.format(memory[best].fact) + hparams.separator + prompt

        for r in requests:
            check_context_length(model, tok, hparams.template.format(r.fact) + hparams.separator + r.prompt, "SERAC")
        info = {"scope": {"features": FEATURES, "weight": clf.weight, "bias": clf.bias,
                          "train_accuracy": clf.accuracy, "n_pairs": clf.n_pairs}, "route": route}
        return EditHandle(method=self.name, requests=requests, hparams=hparams, seconds=time.perf_counter() - t0,
                          condition=condition, info=info)


__all__ = ["FEATURES", "SERAC", "SERACHyperParams", "ScopeClassifier", "pair_features", "scope_training_pairs",
           "train_scope", "train_scope_classifier", "trained_scope"]
