"""Paper B's experiment on chapter 1's knowledge graph, where every fact is controlled
(issue 11 §4, "beyond the paper"; Paper B §3 on the tiny models of Paper A §3.2).

Paper B meta-trains a pretrained LLM so that a plain FT edit of a *new* fact about an
invented entity ("Smith Innovation PLC's headquarters is in Greece") also changes the
answer to a 2-hop question that needs it ("the currency of the country that hosted ...").
Here the same experiment runs on a from-scratch GPT-2 whose whole knowledge is one graph
(the data: :mod:`kedit_utils.propagation.kg_cases`):

* **The language model** (:func:`load_or_train_two_hop`) is trained on every fact of the
  graph as ``"s r o"`` (one alias per entity and relation: the experiment is about
  propagation, not aliases) and on every composed 2-hop question ``"s r1 r2"`` → the
  object of ``(o, r2)`` for each fact ``(s, r1, o)`` and each fact ``(o, r2, o2)`` of its
  object, the loss on the answer token only. It reaches the accuracy it is asked for on
  both kinds, so the unedited model knows every first and second hop (Paper B keeps only
  the second hops its model knows; here all of them are known by construction).
* **New entities** play CRE's invented companies: ``n_new`` extra entity tokens that occur
  in no training sentence. A case gives a new entity ``x`` a fact ``(x, r1, o)`` with ``o``
  an entity of the graph, and asks ``"x r1 r2"`` → ``r2(o)``. The new entities are split
  between meta-training tasks and evaluation cases, so the evaluated subjects are unseen in
  both the language model's training and meta-training (Paper B's split by entity).
* **Meta-training and evaluation** are chapter 6's own: :func:`kedit_utils.propagation.fomaml.meta_train`
  and the FT edit of the inner loop's settings, on the base and on the meta-trained model.
  The answer is the argmax next token after the question (exact: one word is one token,
  where containment in a generation would let ``e1_0`` match inside ``e11_0``).
"""
from __future__ import annotations

import json
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from kedit_utils.core import cache
from kedit_utils.core.devices import resolve_device
from kedit_utils.core.prefix_scoring import last_logits
from kedit_utils.core.validation import ParameterError, check_choice, check_float, check_fraction, check_int
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.graphs import GRAPH_KINDS, GraphSpec, KnowledgeGraph, build_graph
from kedit_utils.kg.training import _quiet_hub_bars
from kedit_utils.kg.vocabulary import Vocabulary, hf_tokenizer
from kedit_utils.propagation.kg_cases import (
    locality_facts,
    split_new_entities,
    training_sequences,
    two_hop_cases,
    two_hop_vocabulary,
)

CACHE_KIND = "kg-two-hop-lm"


@dataclass(frozen=True)
class TwoHopSpec:
    """Everything that determines the 2-hop language model and its cases.

    graph: chapter 1's graph spec (kind, |E|, |R|, m, seed).
    n_new: new entities (CRE's invented subjects), split into meta-training and evaluation.
    eval_share: share of the new entities kept for evaluation.
    model: the GPT-2's size (``n_positions`` is 4: the 2-hop sequences).
    lr, batch_size, max_epochs, target_accuracy: AdamW training until the training accuracy
        on the first hops and on the 2-hop questions both reach ``target_accuracy``
        (checked every 10 epochs), or ``max_epochs``.
    seed: the model's initialisation, the batches and the cases.
    """

    graph: GraphSpec = GraphSpec()
    n_new: int = 200
    eval_share: float = 0.25
    model: ModelSpec = ModelSpec(n_layers=4, n_embd=128, n_head=4, n_positions=4)
    lr: float = 3e-3
    batch_size: int = 256
    max_epochs: int = 600
    target_accuracy: float = 0.99
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.graph, GraphSpec):
            raise ParameterError("graph", self.graph, "must be a GraphSpec")
        if not isinstance(self.model, ModelSpec):
            raise ParameterError("model", self.model, "must be a ModelSpec")
        if self.model.n_positions < 4:
            raise ParameterError("model.n_positions", self.model.n_positions, "must be >= 4 (s r1 r2 o2)")
        check_int("n_new", self.n_new, minimum=2)
        check_fraction("eval_share", self.eval_share)
        if not 0 < self.eval_share < 1:
            raise ParameterError("eval_share", self.eval_share, "must lie strictly between 0 and 1")
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("max_epochs", self.max_epochs, minimum=10)
        check_float("target_accuracy", self.target_accuracy, low=0.0, high=1.0)
        check_int("seed", self.seed, minimum=0)

    def to_dict(self) -> dict:
        return {**asdict(self), "graph": self.graph.to_dict(), "model": self.model.to_dict()}


def _accuracy(model, ids: torch.Tensor, pos: torch.Tensor) -> tuple[float, float]:
    """Training accuracy (argmax at the answer position) on the first hops and the 2-hop questions."""
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits  # (n, 4, V)
        rows = torch.arange(len(ids))
        pred = logits[rows, pos].argmax(-1)
        ok = pred == ids[rows, pos + 1]
    one, two = ok[pos == 1], ok[pos == 2]
    return float(one.float().mean()), float(two.float().mean()) if len(two) else 1.0


def train_two_hop(spec: TwoHopSpec, device: str = "cpu", progress: bool = True):
    """Train the language model (module docstring). Returns ``(model, log)``; the log has
    the accuracies every 10 epochs, the epochs and the seconds."""
    from tqdm.auto import tqdm

    kg = build_graph(spec.graph)
    vocab = two_hop_vocabulary(kg, spec.n_new)
    ids_np, pos_np = training_sequences(kg, vocab)
    dev = torch.device(device)
    model = gpt2_from_scratch(vocab, spec.model, seed=spec.seed).to(dev)
    ids, pos = torch.as_tensor(ids_np, device=dev), torch.as_tensor(pos_np, device=dev)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.0, betas=(0.9, 0.98))
    gen = torch.Generator().manual_seed(spec.seed)
    log, t0, epoch = [], time.perf_counter(), 0
    bar = tqdm(total=spec.max_epochs, desc="2-hop LM", disable=not progress, mininterval=2)
    model.train()
    for epoch in range(1, spec.max_epochs + 1):
        order = torch.randperm(len(ids), generator=gen).to(dev)
        for b in range(0, len(ids), spec.batch_size):
            idx = order[b:b + spec.batch_size]
            x, p = ids[idx], pos[idx]
            rows = torch.arange(len(idx), device=dev)
            # the pad after a first hop comes after its answer: causal attention never reads it
            hidden = model.transformer(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[rows, p]  # (B, d)
            loss = torch.nn.functional.cross_entropy(model.lm_head(hidden), x[rows, p + 1])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        bar.update(1)
        if epoch % 10 == 0:
            model.eval()
            one, two = _accuracy(model, ids, pos)
            model.train()
            log.append({"epoch": epoch, "loss": float(loss.detach()), "acc_one_hop": one, "acc_two_hop": two,
                        "seconds": time.perf_counter() - t0})
            bar.set_postfix(one=f"{one:.3f}", two=f"{two:.3f}")
            if min(one, two) >= spec.target_accuracy:
                break
    bar.close()
    model.eval()
    reached = bool(log) and min(log[-1]["acc_one_hop"], log[-1]["acc_two_hop"]) >= spec.target_accuracy
    if not reached:
        warnings.warn(f"the 2-hop language model stopped at max_epochs={spec.max_epochs} below target_accuracy="
                      f"{spec.target_accuracy}: it does not know every first and second hop", stacklevel=2)
    return model, {"log": log, "epochs": epoch, "seconds": time.perf_counter() - t0, "reached_target": reached,
                   "n_one_hop": int((pos_np == 1).sum()), "n_two_hop": int((pos_np == 2).sum())}


@dataclass
class TwoHopModel:
    """The trained language model, its tokenizer, graph, vocabulary and training log."""

    spec: TwoHopSpec
    model: object
    tok: object
    kg: KnowledgeGraph
    vocab: Vocabulary
    log: dict
    path: Path

    @property
    def model_id(self) -> str:
        return f"{CACHE_KIND}/{self.path.name}"


def load_or_train_two_hop(spec: TwoHopSpec, device: str = "auto", progress: bool = True) -> TwoHopModel:
    """The language model for ``spec``, from the artifact cache (safetensors and JSON, keyed by
    every input and the training code) or trained and cached."""
    from transformers import GPT2LMHeadModel

    if not isinstance(spec, TwoHopSpec):
        raise ParameterError("spec", spec, "must be a TwoHopSpec")
    dev = resolve_device(device)
    kg = build_graph(spec.graph)
    vocab = two_hop_vocabulary(kg, spec.n_new)
    inputs = {"spec": spec.to_dict(), "device_type": dev.type, "torch": torch.__version__.split("+")[0]}

    def build(tmp: Path) -> None:
        model, log = train_two_hop(spec, str(dev), progress)
        with _quiet_hub_bars():
            model.to("cpu").save_pretrained(tmp / "model", safe_serialization=True)
        cache.write_json_atomic(tmp / "train_log.json", log)

    version = cache.code_version(sys.modules[__name__])
    path = cache.cached(CACHE_KIND, inputs, version, build)
    with _quiet_hub_bars():
        model = GPT2LMHeadModel.from_pretrained(path / "model", use_safetensors=True).float().to(dev)
    model.eval()
    log = json.loads((path / "train_log.json").read_text())
    return TwoHopModel(spec, model, hf_tokenizer(vocab), kg, vocab, log, path)


def next_token_argmax(model, tok, prompts) -> np.ndarray:
    """(n,) token ids: the argmax next token after each (whitespace-tokenised) prompt."""
    ids = torch.tensor([tok.convert_tokens_to_ids(p.split()) for p in prompts], device=next(model.parameters()).device)
    with torch.no_grad():
        return last_logits(model, ids).argmax(-1).cpu().numpy()


def next_token_correct(model, tok, prompts, answers) -> np.ndarray:
    """(n,) bool: the argmax next token after each prompt is its answer (one token each)."""
    return next_token_argmax(model, tok, prompts) == np.asarray(tok.convert_tokens_to_ids(list(answers)))


def evaluate_two_hop(model, tok, cases, hparams, locality_prompts=(), facts=((), ())) -> dict:
    """The FT edit of each case (restored bit for bit after it): the 2-hop question answered
    with ``r2(o)`` after the edit (``two_hop``) and before it (``two_hop_unedited``: the new
    entity has no first hop yet, so this is the model's guess from ``r1 r2`` alone, the
    control), the edited prompt answered with ``o`` (``single_hop``), and the share of
    ``locality_prompts`` (other facts of the graph) whose argmax next token is unchanged
    (``locality``, EasyEdit's definition). ``facts``: (prompts, answers) of the graph, whose
    accuracy on the unedited model is ``facts_known``.

    Returns ``{"two_hop", "two_hop_unedited", "single_hop": (n,) bool, "locality": (n,) float,
    "facts_known": float}``."""
    from kedit_utils.editing.registry import get_editor

    ft = get_editor("ft")
    hp = ft.resolve_hparams(model, hparams)
    loc_p = list(locality_prompts)
    before = next_token_argmax(model, tok, loc_p) if loc_p else None
    questions = [c.questions[0] for c in cases]
    answers = [c.answers[0] for c in cases]
    unedited = next_token_correct(model, tok, questions, answers) if cases else np.zeros(0, bool)
    known = float(next_token_correct(model, tok, list(facts[0]), list(facts[1])).mean()) if len(facts[0]) else float("nan")
    two, one, loc = [], [], []
    for c in cases:
        with ft.apply(model, tok, list(c.edits), hp):
            two.append(bool(next_token_correct(model, tok, [c.questions[0]], [c.answers[0]])[0]))
            one.append(bool(next_token_correct(model, tok, [c.single_hops[0][0]], [c.single_hops[0][1]])[0]))
            loc.append(float((next_token_argmax(model, tok, loc_p) == before).mean()) if loc_p else float("nan"))
    return {"two_hop": np.array(two, bool), "two_hop_unedited": np.asarray(unedited, bool),
            "single_hop": np.array(one, bool), "locality": np.array(loc), "facts_known": known}


# --------------------------------------------------------------------------- the chapter's run
KG_PARAMETERS = ("kg_graph", "kg_entities", "kg_relations", "kg_ba_m", "kg_new", "kg_layers", "kg_embd", "kg_alpha",
                 "kg_beta", "kg_epochs", "kg_locality")


@dataclass(frozen=True)
class KGTwoHopSettings:
    """Chapter 6's ``kg_*`` parameters, validated when built (the error names the ``kg_*``
    parameter as the reader typed it): chapter 1's graph (kind, entities, relations, BA
    attachment count), the new entities (CRE's invented subjects), the GPT-2's layers and
    width (4 heads), FOMAML's rates α and β and passes, and the locality checks."""

    graph: str
    entities: int
    relations: int
    ba_m: int
    new: int
    layers: int
    embd: int
    alpha: float
    beta: float
    epochs: int
    locality: int

    def __post_init__(self):
        check_choice("kg_graph", self.graph, GRAPH_KINDS)
        check_int("kg_entities", self.entities, minimum=4)
        check_int("kg_relations", self.relations, minimum=2)
        check_int("kg_ba_m", self.ba_m, minimum=1, maximum=self.entities - 1)
        check_int("kg_new", self.new, minimum=8)
        check_int("kg_layers", self.layers, minimum=1)
        check_int("kg_embd", self.embd, minimum=4)
        if self.embd % 4:
            raise ParameterError("kg_embd", self.embd, "must be a multiple of 4 (the model's 4 heads)")
        check_float("kg_alpha", self.alpha, low=0.0, low_open=True)
        check_float("kg_beta", self.beta, low=0.0, low_open=True)
        check_int("kg_epochs", self.epochs, minimum=1)
        check_int("kg_locality", self.locality, minimum=0)
        try:
            build_graph(self.graph_spec())
        except ParameterError as e:  # a graph the generator cannot make (e.g. a hub with more facts than relations)
            raise e.renamed({"n_relations": "kg_relations", "n_entities": "kg_entities", "ba_m": "kg_ba_m",
                             "kind": "kg_graph"}) from None

    @classmethod
    def from_parameters(cls, parameters) -> KGTwoHopSettings:
        """From the chapter's ``kg_*`` parameters (a mapping; a missing one names itself)."""
        missing = [k for k in KG_PARAMETERS if k not in parameters]
        if missing:
            raise ParameterError(missing[0], None, "is missing from chapter 6's parameters")
        return cls(*(parameters[k] for k in KG_PARAMETERS))

    def graph_spec(self, seed: int = 0) -> GraphSpec:
        return GraphSpec(kind=self.graph, n_entities=self.entities, n_relations=self.relations, ba_m=self.ba_m,
                         seed=seed)

    def spec(self, seed: int) -> TwoHopSpec:
        """The :class:`TwoHopSpec` (both profiles: chapter 1's graph, 200 entities, 50
        relations, m = 3)."""
        return TwoHopSpec(graph=self.graph_spec(seed), n_new=self.new,
                          model=ModelSpec(n_layers=self.layers, n_embd=self.embd, n_head=4, n_positions=4), seed=seed)


def _settings(parameters) -> KGTwoHopSettings:
    return parameters if isinstance(parameters, KGTwoHopSettings) else KGTwoHopSettings.from_parameters(parameters)


def check_kg_parameters(cfg) -> KGTwoHopSettings:
    """Chapter 6's ``kg_*`` parameters (a mapping), before any work: the settings, or a
    :class:`ParameterError` naming the parameter."""
    return _settings(cfg)


def spec_from_parameters(cfg, seed: int) -> TwoHopSpec:
    """The :class:`TwoHopSpec` of chapter 6's ``kg_*`` parameters (a mapping or
    :class:`KGTwoHopSettings`)."""
    return _settings(cfg).spec(seed)


def paired_gain(before: np.ndarray, after: np.ndarray) -> tuple[float, float, float]:
    """The difference of two paired proportions (the same cases on both models: 0/1
    outcomes), ``mean(after) - mean(before)``, and its 95 % interval by Newcombe's hybrid
    score method for paired data (Newcombe 1998, method 10: Wilson intervals of both
    proportions combined with the phi correlation of the pairs), which keeps its coverage
    when few pairs differ, where a normal interval collapses. (gain, low, high)."""
    from kedit_utils.propagation.protocol import wilson_interval

    x, y = np.asarray(before, bool), np.asarray(after, bool)
    if x.shape != y.shape:
        raise ParameterError("after", y.shape, f"must pair with before, shape {x.shape}")
    n = int(x.size)
    if n == 0:
        return (float("nan"),) * 3
    a, b = int((x & y).sum()), int((x & ~y).sum())
    c, d = int((~x & y).sum()), int((~x & ~y).sum())
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n)
    l2, u2 = wilson_interval(a + c, n)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / np.sqrt(denom) if denom else 0.0
    gain = p2 - p1
    low = gain - np.sqrt(max((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2, 0.0))
    high = gain + np.sqrt(max((u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2, 0.0))
    return float(gain), float(low), float(high)


@dataclass
class TwoHopRun:
    """The experiment's outcome: per model (``"base"``, ``"meta"``) the evaluation dict of
    :func:`evaluate_two_hop`, the language model, the case counts and the meta-training's
    seconds per task."""

    lm: TwoHopModel
    outcomes: dict
    n_train: int
    n_eval: int
    seconds_per_task: float
    config: object

    def rows(self) -> list[dict]:
        """One row per model: 2-hop accuracy with its Wilson interval, single hop, locality, n."""
        from kedit_utils.propagation.protocol import wilson_interval

        out = []
        for name, r in self.outcomes.items():
            k, n = int(r["two_hop"].sum()), len(r["two_hop"])
            lo, hi = wilson_interval(k, n)
            loc = r["locality"][np.isfinite(r["locality"])]  # NaN where no locality prompts were given
            out.append({"model": name, "two_hop_acc": k / n, "low": lo, "high": hi,
                        "two_hop_unedited": float(r["two_hop_unedited"].mean()),
                        "single_hop": float(r["single_hop"].mean()),
                        "locality": float(loc.mean()) if loc.size else float("nan"),
                        "facts_known": r["facts_known"], "n": n})
        return out

    def gain(self) -> tuple[float, float, float]:
        """The meta-trained model's 2-hop accuracy minus the base's, paired, with its interval."""
        return paired_gain(self.outcomes["base"]["two_hop"], self.outcomes["meta"]["two_hop"])

    def edit_effect(self, model: str = "base") -> tuple[float, float, float]:
        """The 2-hop accuracy after the edit minus before it (the control), paired, on ``model``."""
        r = self.outcomes[model]
        return paired_gain(r["two_hop_unedited"], r["two_hop"])


def run_kg_two_hop(settings, seed: int = 0, device: str = "cpu", progress: bool = True) -> TwoHopRun:
    """Chapter 6's "beyond the paper" section: train (or load) the 2-hop language model on
    chapter 1's graph, meta-train it with FOMAML (attention + MLP of every layer, the
    ``kg_*`` rates) on the training new entities' cases, and evaluate the same FT edit on
    the base and on the meta-trained model on the held-out new entities. The model is left
    with its base weights. ``settings``: :class:`KGTwoHopSettings` (or the ``kg_*``
    parameters as a mapping)."""
    from kedit_utils.propagation.fomaml import FOMAMLConfig, meta_train

    settings = _settings(settings)
    spec = settings.spec(seed)
    lm = load_or_train_two_hop(spec, device, progress)
    train_ents, eval_ents = split_new_entities(lm.kg, spec.n_new, spec.eval_share, spec.seed)
    train = two_hop_cases(lm.kg, lm.vocab, train_ents, seed=seed)
    evals = two_hop_cases(lm.kg, lm.vocab, eval_ents, seed=seed + 1)
    loc_p, _ = locality_facts(lm.kg, lm.vocab, settings.locality, seed)
    facts = locality_facts(lm.kg, lm.vocab, lm.kg.n_triples, seed)  # every fact of the graph
    config = FOMAMLConfig(scope="attn+mlp", layers=None, inner_lr=settings.alpha, outer_lr=settings.beta,
                          inner_steps=10, epochs=settings.epochs, seed=seed)
    hp = config.ft_hparams(lm.model)
    base = evaluate_two_hop(lm.model, lm.tok, evals, hp, loc_p, facts)
    result = meta_train(lm.model, lm.tok, train, config, model_id=lm.model_id, progress=progress)
    try:
        meta = evaluate_two_hop(lm.model, lm.tok, evals, hp, loc_p, facts)
    finally:
        result.restore()
    return TwoHopRun(lm, {"base": base, "meta": meta}, len(train), len(evals), result.seconds_per_task, config)


__all__ = ["KG_PARAMETERS", "KGTwoHopSettings", "TwoHopModel", "TwoHopRun", "TwoHopSpec", "check_kg_parameters",
           "evaluate_two_hop", "load_or_train_two_hop", "next_token_argmax", "next_token_correct", "paired_gain",
           "run_kg_two_hop", "spec_from_parameters", "train_two_hop"]
