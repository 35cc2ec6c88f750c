"""IKE, in-context knowledge editing with retrieved demonstrations (Zheng et al. 2023, "Can
We Edit Factual Knowledge by In-Context Learning?"; Paper C's recognition phase; EasyEdit's
``IKE``, k = 16 on GPT-2 XL).

No weight changes. The model is shown k demonstrations, then the new fact and the prompt:

    New Fact: {fact_1}\nPrompt: {prompt_1} {answer_1}\n\n ... New Fact: {new fact}\nPrompt: {prompt}

Each demonstration comes from a pool of other edits (``demonstrations=`` at apply time, any
request form): IKE's three kinds, *copy* (the fact's own prompt → its new target), *update*
(a rephrase of it → the new target) and *retain* (an unrelated locality prompt → its
unchanged answer), so the model learns from the context when to use the new fact and when
not. The k demonstrations are those of the pool edits most similar to the new fact, taken
in turn one kind after another. IKE retrieves with a sentence encoder (EasyEdit:
all-MiniLM-L6-v2); here the similarity is the TF-IDF cosine of the words (no extra model or
dependency), which ranks facts about the same subject or relation first as well.
"""
from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from kedit_utils.core.validation import ParameterError, check_int
from kedit_utils.editing.base import EditContext, EditHandle, Editor
from kedit_utils.editing.hparams import HyperParams
from kedit_utils.editing.ice import _check_template, check_context_length
from kedit_utils.editing.requests import EditRequest, as_requests

WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class IKEHyperParams(HyperParams):
    """k: demonstrations shown; fact_template / prompt_template: how a fact and a prompt
    are written (``{}``); separator: between a fact and its prompt; demo_separator: between
    demonstrations (and before the new fact)."""

    k: int = 16
    fact_template: str = "New Fact: {}"
    prompt_template: str = "Prompt: {}"
    separator: str = "\n"
    demo_separator: str = "\n\n"

    METHOD: ClassVar[str] = "IKE"

    def __post_init__(self):
        check_int("k", self.k, minimum=0)
        _check_template("fact_template", self.fact_template)
        _check_template("prompt_template", self.prompt_template)
        for name in ("separator", "demo_separator"):
            if not isinstance(getattr(self, name), str):
                raise ParameterError(name, getattr(self, name), "must be a string")

    @classmethod
    def tiny_gpt2(cls, k: int = 2, **changes):
        """The alias models: bare words ("s r o  s' r' o'  ...  s r o  s r"), 2 demonstrations
        (their contexts are short)."""
        return cls(**{**dict(k=k, fact_template="{}", prompt_template="{}", separator=" ", demo_separator=" "),
                      **changes})

    @classmethod
    def smollm2(cls, k: int = 4, **changes):
        """IKE's format (EasyEdit); k = 4 instead of EasyEdit's 16 to keep SmolLM2's CPU
        context short (stated; 16 on a GPU)."""
        return cls(**{**dict(k=k), **changes})

    @classmethod
    def gpt2_family(cls, n_layers: int = 48, **changes):
        """EasyEdit's ``hparams/IKE/gpt2-xl.yaml``: k = 16, IKE's format."""
        return cls(**{**dict(k=16), **changes})


def _tfidf(docs: list[str]) -> list[dict[str, float]]:
    toks = [Counter(w.lower() for w in WORD.findall(d)) for d in docs]
    df = Counter(w for t in toks for w in t)
    n = len(docs)
    vecs = []
    for t in toks:
        v = {w: c * (math.log((1 + n) / (1 + df[w])) + 1) for w, c in t.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vecs.append({w: x / norm for w, x in v.items()})
    return vecs


def similarity_ranking(query: str, facts: list[str]) -> list[int]:
    """Indices of ``facts`` by decreasing TF-IDF cosine similarity to ``query`` (ties: order)."""
    vecs = _tfidf(facts + [query])
    q = vecs[-1]
    scores = [sum(q.get(w, 0.0) * x for w, x in v.items()) for v in vecs[:-1]]
    return sorted(range(len(facts)), key=lambda i: (-scores[i], i))


def demonstrations_of(r: EditRequest) -> list[tuple[str, str, str]]:
    """(kind, fact, prompt with its answer) for one pool edit: copy, updates, retains."""
    out = [("copy", r.fact, f"{r.prompt} {r.target_new.strip()}")]
    out += [("update", r.fact, f"{p} {r.target_new.strip()}") for p in r.rephrase_prompts]
    out += [("retain", r.fact, f"{p} {a.strip()}") for p, a in r.locality]
    return out


def select_demonstrations(new: list[EditRequest], pool: list[EditRequest], k: int) -> list[tuple[str, str, str]]:
    """k demonstrations from the pool edits most similar to the new facts (module docstring)."""
    if k == 0:
        return []
    own = {(r.prompt, r.target_new) for r in new}
    pool = [r for r in pool if (r.prompt, r.target_new) not in own]
    if not pool:
        raise ParameterError("demonstrations", [], f"IKE needs a pool of other edits to draw k = {k} demonstrations from")
    order = similarity_ranking(" ".join(r.fact for r in new), [r.fact for r in pool])
    per = [demonstrations_of(pool[i]) for i in order]
    chosen, depth = [], 0
    while len(chosen) < k and any(depth < len(d) for d in per):
        for d in per:  # the most similar edits' copy demos first, then their updates, ...
            if depth < len(d) and len(chosen) < k:
                chosen.append(d[depth])
        depth += 1
    return chosen


@dataclass(frozen=True, eq=False)
class IKEContext(EditContext):
    """demonstrations: a pool of other edits (any form :func:`~.requests.as_requests` takes)
    the ``k`` demonstrations are chosen from (needed when ``k`` > 0)."""

    demonstrations: Any = ()


class IKE(Editor):
    """IKE (module docstring). Context: :class:`IKEContext` (``demonstrations``)."""

    name = "ike"
    hparams_class = IKEHyperParams
    context_class = IKEContext
    changes_weights = False
    pool_argument = "demonstrations"

    def _apply(self, model, tok, requests, hparams, context: IKEContext) -> EditHandle:
        demonstrations = context.demonstrations
        t0 = time.perf_counter()
        pool = as_requests(demonstrations) if hparams.k and demonstrations else []
        if hparams.k and not pool:
            raise ParameterError("demonstrations", demonstrations, f"IKE with k = {hparams.k} needs a pool of edits")
        demos = select_demonstrations(list(requests), pool, hparams.k)
        blocks = [hparams.fact_template.format(f) + hparams.separator + hparams.prompt_template.format(p)
                  for _kind, f, p in demos]
        news = [hparams.fact_template.format(r.fact) for r in requests]
        prefix = hparams.demo_separator.join(blocks + [hparams.separator.join(news)])
        pt = hparams.prompt_template

        def condition(prompt: str) -> str:
            return prefix + hparams.separator + pt.format(prompt)

        for r in requests:
            check_context_length(model, tok, condition(r.prompt), "IKE")
        return EditHandle(method=self.name, requests=requests, hparams=hparams,
                          seconds=time.perf_counter() - t0, condition=condition,
                          info={"demonstrations": demos, "prefix": prefix})
