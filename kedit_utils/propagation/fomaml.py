"""First-order MAML for edit propagation (Paper B §3, eqs. 1-4).

A task τ = (target, related): the new fact (an :class:`~kedit_utils.editing.EditRequest`,
``case.edits[0]``) and a question that needs it (``case.questions[0]``, answer ``case.answer``).
For each task, in a seeded random order, once per epoch:

1. **inner loop** (eq. 2): starting from the current weights θ, plain FT on the target —
   :func:`kedit_utils.editing.ft.fine_tune` itself, the FT editor's own loop: AdamW at lr α
   with a fresh optimiser state, ``inner_steps`` steps, batch 1, the NLL of the answer's
   tokens only (teacher forced). This gives θ_τ.
2. **outer loop** (eqs. 3-4, first order): the related question's answer-only loss
   (:func:`kedit_utils.editing.ft.answer_loss`), its gradient taken at θ_τ with no second
   derivatives, ∇_{θ_τ} L_related(f_{θ_τ}); the weights go back to θ (a copy, bit for bit)
   and the gradient is applied to θ by the outer AdamW at lr β, whose state persists over
   all tasks.

Only the *scoped* parameters move, in both loops (:func:`scope_parameter_names`: the
attention and/or MLP of chosen layers, the same selection as FT's ``modules``); every other
parameter has ``requires_grad`` off during training and is never written.

The defaults are Paper B's (§4 "実験設定"): α = 2e-5, β = 1e-5, 10 inner steps, batch 1,
1 epoch, AdamW in both loops (torch's default weight decay 0.01).

:func:`meta_train` changes the model in place and returns a :class:`MetaResult`
(``restore()`` puts the base weights back bit for bit, ``apply()`` the meta-trained ones).
Its result is cached (safetensors, only the scoped tensors) under a key of every input: a
fingerprint of the model's weights and of the tokenizer, ``model_id``, the whole config
(scope, layers, α, β, steps, epochs, weight decays, shuffle, seed), a hash of the training
cases' content, the checkpoint interval, the device type, and the code version of this
module and of FT. A killed run leaves nothing behind (the artifact is written in a temporary
folder and renamed when complete, :func:`kedit_utils.core.cache.atomic_dir`).

The curve of Paper B's Fig. 3 (accuracy against meta-training steps):
``meta_train(..., on_checkpoint=f, checkpoint_every=k)`` calls ``f(tasks_seen, model)`` at
0, every k tasks and at the end, with the model holding the meta-weights θ of that moment
(the callback may edit and must restore, as :mod:`.protocol` does); the returned
values form ``result.curve``. The weights of each checkpoint are cached too, so a cached
run calls ``f`` on bit-identical weights and gives the same curve (k is part of the key).
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from kedit_utils.core import architectures as A
from kedit_utils.core.cache import _canonical, artifact_dir, atomic_dir, cache_key, code_version, is_complete
from kedit_utils.core.fingerprints import tokenizer_fingerprint, weights_fingerprint
from kedit_utils.core.tokens import target_token_ids
from kedit_utils.core.validation import ParameterError, check_choice, check_float, check_int
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.editing import ft as _ft
from kedit_utils.editing.ft import (  # and _ft.fine_tune/answer_loss, looked up at call time
    QA,
    FTHyperParams,
    answer_batch,
    trained_parameter_names,
)
from kedit_utils.editing.requests import EditRequest

SCOPES = {"attn": ("attn",), "mlp": ("mlp",), "attn+mlp": ("attn", "mlp")}
CACHE_KIND = "fomaml"


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class FOMAMLConfig:
    """Settings of one meta-training run (defaults: Paper B's, its paper profile).

    scope: ``"attn"``, ``"mlp"`` or ``"attn+mlp"`` (Paper B Table 1's three rows).
    layers: ``None`` (all layers, Table 1) or the trained layers (Fig. 2: one layer).
    inner_lr (α), inner_steps, inner_weight_decay: the inner loop's AdamW = the FT edit's.
    outer_lr (β), outer_weight_decay: the outer AdamW's.
    epochs: passes over the training tasks (Paper B: 1).
    shuffle: visit the tasks in a seeded random order (else in the given order).
    seed: the order's seed (nothing else is random).
    """

    scope: str = "attn+mlp"
    layers: tuple[int, ...] | None = None
    inner_lr: float = 2e-5
    outer_lr: float = 1e-5
    inner_steps: int = 10
    epochs: int = 1
    inner_weight_decay: float = 0.01
    outer_weight_decay: float = 0.01
    shuffle: bool = True
    seed: int = 0

    def __post_init__(self):
        check_choice("scope", self.scope, list(SCOPES))
        if self.layers is not None and not (isinstance(self.layers, str) and self.layers == "all"):
            layers = (self.layers,) if isinstance(self.layers, int) and not isinstance(self.layers, bool) \
                else self.layers
            try:
                layers = tuple(layers)
            except TypeError:
                raise ParameterError("layers", self.layers, "must be None (all layers) or a list of layer indices") \
                    from None
            if not layers or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in layers):
                raise ParameterError("layers", self.layers, "must be None (all layers) or a non-empty list of "
                                     "integers >= 0")
            if len(set(layers)) != len(layers):
                raise ParameterError("layers", self.layers, "must not repeat a layer")
            object.__setattr__(self, "layers", tuple(sorted(layers)))
        else:
            object.__setattr__(self, "layers", None)
        check_float("inner_lr", self.inner_lr, low=0.0, low_open=True)
        check_float("outer_lr", self.outer_lr, low=0.0, low_open=True)
        check_int("inner_steps", self.inner_steps, minimum=1)
        check_int("epochs", self.epochs, minimum=1)
        check_float("inner_weight_decay", self.inner_weight_decay, low=0.0)
        check_float("outer_weight_decay", self.outer_weight_decay, low=0.0)
        if not isinstance(self.shuffle, bool):
            raise ParameterError("shuffle", self.shuffle, "must be True or False")
        check_int("seed", self.seed)

    @property
    def modules(self) -> tuple[str, ...]:
        """FT's ``modules`` for this scope."""
        return SCOPES[self.scope]

    def resolved_layers(self, model) -> tuple[int, ...]:
        """The trained layers on ``model`` (all of them for ``layers=None``); a layer out of
        range raises :class:`ParameterError` naming ``layers``."""
        n = A.n_layers(model)
        if self.layers is None:
            return tuple(range(n))
        for layer in self.layers:
            if layer >= n:
                raise ParameterError("layers", self.layers, f"every layer must be in [0, {n}) for this "
                                     f"{n}-layer model")
        return self.layers

    def ft_hparams(self, model) -> FTHyperParams:
        """The plain FT edit with the inner loop's settings (Paper B's FT baseline and its
        evaluation edit)."""
        return FTHyperParams(layers=self.resolved_layers(model), modules=self.modules, num_steps=self.inner_steps,
                             lr=self.inner_lr, weight_decay=self.inner_weight_decay,
                             objective_optimization="target_new")

    def to_dict(self) -> dict:
        return asdict(self)


def scope_parameter_names(model, config: FOMAMLConfig) -> list[str]:
    """The parameters both loops train (FT's selection for the scope's modules and layers)."""
    return trained_parameter_names(model, config.resolved_layers(model), config.modules)


# --------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class Task:
    """τ = (target, related): the edit, and the related question with its answer."""

    target: EditRequest
    question: str
    answer: str

    @property
    def related(self) -> QA:
        return QA(self.question, self.answer)


def tasks_from_cases(cases: Sequence[PropagationCase]) -> list[Task]:
    """One task per case: (case.edits[0], case.questions[0], case.answer)."""
    out = []
    for i, c in enumerate(cases):
        if not isinstance(c, PropagationCase):
            raise ParameterError("cases", type(c).__name__, f"item {i} must be a PropagationCase")
        out.append(Task(c.edits[0], c.questions[0], c.answer))
    return out


def cases_hash(cases: Sequence[PropagationCase]) -> str:
    """sha256 of every field of every case, in order."""
    payload = json.dumps([_canonical(c) for c in cases], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- the two loops
def inner_loop(model, tok, target, names: Sequence[str], config: FOMAMLConfig) -> list[float]:
    """Eq. 2: FT on ``target`` in place (the FT editor's own loop, fresh AdamW); the losses
    before each step."""
    return _ft.fine_tune(model, tok, [target], list(names), num_steps=config.inner_steps, lr=config.inner_lr,
                     weight_decay=config.inner_weight_decay, objective="target_new", norm_constraint=0.0,
                     early_stop_loss=0.0, backup=None)


def related_gradient(model, tok, related, names: Sequence[str]) -> tuple[float, list[torch.Tensor]]:
    """Eq. 4: (L_related, ∇ L_related) with respect to ``names`` at the model's current
    weights (θ_τ after the inner loop): the answer-only loss of ``related`` (prompt,
    target_new). Gradients of the other parameters are not computed."""
    device = next(model.parameters()).device
    ids, mask, targets, last = answer_batch(tok, [related], "target_new")
    params = [model.get_parameter(n) for n in names]
    was_training = model.training
    model.eval()
    try:
        with _ft.trainable_only(model, params), torch.enable_grad():
            loss = _ft.answer_loss(model, ids.to(device), mask.to(device), targets.to(device), last)
            grads = torch.autograd.grad(loss, params)
    finally:
        model.train(was_training)
    return float(loss.detach()), list(grads)


def related_loss(model, tok, related) -> float:
    """L_related at the current weights (no gradient)."""
    device = next(model.parameters()).device
    ids, mask, targets, last = answer_batch(tok, [related], "target_new")
    with torch.no_grad():
        return float(_ft.answer_loss(model, ids.to(device), mask.to(device), targets.to(device), last))


def make_outer_optimizer(model, names: Sequence[str], config: FOMAMLConfig) -> torch.optim.AdamW:
    return _ft.adamw([model.get_parameter(n) for n in names], lr=config.outer_lr,
                     weight_decay=config.outer_weight_decay)


@dataclass(frozen=True)
class TaskLog:
    """One meta-training task: inner losses (before each step), L_related at θ_τ, seconds."""

    index: int
    inner_losses: tuple[float, ...]
    related_loss: float
    seconds: float


def meta_step(model, tok, task: Task, names: Sequence[str], outer: torch.optim.Optimizer, config: FOMAMLConfig,
              buffers: list[torch.Tensor] | None = None, index: int = -1) -> TaskLog:
    """One task: inner loop from θ, the related gradient at θ_τ, θ restored bit for bit,
    one outer AdamW step on θ with that gradient."""
    t0 = time.perf_counter()
    params = [model.get_parameter(n) for n in names]
    with torch.no_grad():
        if buffers is None:
            buffers = [p.detach().clone() for p in params]
        else:
            for b, p in zip(buffers, params):
                b.copy_(p)
    try:
        inner = inner_loop(model, tok, task.target, names, config)
        loss, grads = related_gradient(model, tok, task.related, names)
    finally:
        with torch.no_grad():
            for b, p in zip(buffers, params):
                p.copy_(b)
    for p, g in zip(params, grads):
        p.grad = g
    try:
        outer.step()
    finally:
        for p in params:
            p.grad = None
    return TaskLog(index, tuple(inner), loss, time.perf_counter() - t0)


# --------------------------------------------------------------------------- meta_train
@dataclass(eq=False)
class MetaResult:
    """A meta-training run applied to a model.

    names: the scoped parameters; meta: their meta-trained values; base: their values before;
    log: one :class:`TaskLog` per task (empty when loaded from the cache: see ``info``);
    curve: ``[(tasks_seen, on_checkpoint's return)]``; from_cache; key: the cache key;
    seconds: meta-training wall time (of the original run when cached).
    """

    model: Any = field(repr=False)
    config: FOMAMLConfig
    names: list[str]
    meta: dict[str, torch.Tensor] = field(repr=False)
    base: dict[str, torch.Tensor] = field(repr=False)
    log: list[TaskLog] = field(default_factory=list, repr=False)
    curve: list[tuple[int, Any]] = field(default_factory=list)
    from_cache: bool = False
    key: str | None = None
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    def restore(self) -> None:
        """Put the base weights back (bit for bit)."""
        _load(self.model, self.base)

    def apply(self) -> None:
        """Put the meta-trained weights in."""
        _load(self.model, self.meta)

    @property
    def n_tasks(self) -> int:
        return int(self.info.get("n_tasks", len(self.log)))

    @property
    def seconds_per_task(self) -> float:
        return self.seconds / max(self.n_tasks, 1)

    def __enter__(self) -> "MetaResult":
        return self

    def __exit__(self, *exc) -> None:
        self.restore()


def _load(model, tensors: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for n, t in tensors.items():
            p = model.get_parameter(n)
            if p.shape != t.shape:
                raise ParameterError("model", n, f"shape {tuple(p.shape)} differs from the saved {tuple(t.shape)}")
            p.copy_(t.to(p.device, p.dtype))


def _snapshot(model, names) -> dict[str, torch.Tensor]:
    return {n: model.get_parameter(n).detach().clone() for n in names}


def cache_inputs(model, tok, cases: Sequence[PropagationCase], config: FOMAMLConfig, *, model_id: str = "",
                 checkpoint_every: int | None = None) -> dict:
    """Every input of a meta-training run (the cache key hashes this dict)."""
    return {"model_id": str(model_id), "weights": weights_fingerprint(model), "tokenizer": tokenizer_fingerprint(tok),
            "config": {**config.to_dict(), "layers": list(config.resolved_layers(model))},  # None = all, named
            "cases": cases_hash(cases), "n_cases": len(cases), "checkpoint_every": checkpoint_every,
            "device": next(model.parameters()).device.type, "dtype": str(next(model.parameters()).dtype)}


def meta_cache_key(model, tok, cases, config, *, model_id: str = "", checkpoint_every: int | None = None) -> str:
    """The cache key of :func:`meta_train` for these inputs."""
    return cache_key(cache_inputs(model, tok, cases, config, model_id=model_id, checkpoint_every=checkpoint_every),
                     _version())


def _version() -> str:
    """This module's code version: :func:`~kedit_utils.core.cache.code_version` of the producer
    (the kedit_utils modules it imports, ``editing.ft`` among them, are in its closure)."""
    import sys

    return code_version(sys.modules[__name__])


def _check(model, tok, cases, config, on_checkpoint, checkpoint_every) -> list[Task]:
    if not isinstance(config, FOMAMLConfig):
        raise ParameterError("config", type(config).__name__, "must be a FOMAMLConfig")
    config.resolved_layers(model)
    if isinstance(cases, PropagationCase) or not len(cases):
        raise ParameterError("cases", cases if isinstance(cases, PropagationCase) else len(cases),
                             "must be a non-empty list of PropagationCases")
    if on_checkpoint is not None and not callable(on_checkpoint):
        raise ParameterError("on_checkpoint", type(on_checkpoint).__name__, "must be callable(tasks_seen, model)")
    if checkpoint_every is not None:
        check_int("checkpoint_every", checkpoint_every, minimum=1)
    tasks = tasks_from_cases(cases)
    for t in tasks:  # every answer tokenises (ParameterError naming target_new), before any work
        target_token_ids(tok, t.target.target_new)
        target_token_ids(tok, t.answer)
    return tasks


def task_order(n: int, config: FOMAMLConfig) -> list[int]:
    """The visiting order of ``n`` tasks over all epochs (a fresh seeded shuffle per epoch)."""
    rng = random.Random(config.seed)
    order = []
    for _ in range(config.epochs):
        idx = list(range(n))
        if config.shuffle:
            rng.shuffle(idx)
        order.extend(idx)
    return order


def meta_train(model, tok, cases: Sequence[PropagationCase], config: FOMAMLConfig | None = None, *,
               model_id: str = "", cache: bool = True, progress: bool = True,
               on_checkpoint: Callable[[int, Any], Any] | None = None,
               checkpoint_every: int | None = None) -> MetaResult:
    """FOMAML on ``cases`` (one task each, see :func:`tasks_from_cases`), in place.

    Returns a :class:`MetaResult`; the model then holds the meta-trained weights
    (``result.restore()`` gives the base model back bit for bit). With ``cache`` the
    scoped tensors are loaded from / saved to the artifact cache (module docstring).
    ``on_checkpoint(tasks_seen, model)`` is called at 0, every ``checkpoint_every`` tasks
    (default: only at 0 and at the end) and at the end. On an exception (Ctrl-C included)
    the model is restored and nothing is cached. Progress: tqdm on stderr.
    """
    config = FOMAMLConfig() if config is None else config
    tasks = _check(model, tok, cases, config, on_checkpoint, checkpoint_every)
    names = scope_parameter_names(model, config)
    every = checkpoint_every if on_checkpoint is not None else None
    base = _snapshot(model, names)
    key = None
    if cache:
        inputs = cache_inputs(model, tok, cases, config, model_id=model_id, checkpoint_every=every)
        key = cache_key(inputs, _version())
        folder = artifact_dir(CACHE_KIND, key)
        if is_complete(folder):
            return _from_cache(model, folder, config, names, base, key, on_checkpoint, every)
    try:
        result, checkpoints = _train(model, tok, tasks, config, names, base, progress, on_checkpoint, every)
    except BaseException:
        _load(model, base)
        raise
    result.key = key
    if cache:
        _save(folder, inputs, result, checkpoints)
    return result


def _checkpoint_steps(n: int, every: int | None) -> list[int]:
    steps = [0] + (list(range(every, n, every)) if every else []) + [n]
    return sorted(set(steps))


def _train(model, tok, tasks, config, names, base, progress, on_checkpoint, every):
    from tqdm.auto import tqdm

    order = task_order(len(tasks), config)
    ckpts = set(_checkpoint_steps(len(order), every)) if on_checkpoint is not None else set()
    outer = make_outer_optimizer(model, names, config)
    buffers = [torch.empty_like(model.get_parameter(n)) for n in names]
    log, curve, saved = [], [], {}
    t0 = time.perf_counter()
    eval_seconds = 0.0

    def checkpoint(seen):
        nonlocal eval_seconds
        if seen in ckpts:
            saved[seen] = _snapshot(model, names)
            te = time.perf_counter()
            curve.append((seen, on_checkpoint(seen, model)))
            _load(model, saved[seen])  # whatever the callback did, θ goes on unchanged
            eval_seconds += time.perf_counter() - te

    checkpoint(0)
    bar = tqdm(order, desc=f"FOMAML {config.scope}", disable=not progress, unit="task")
    for seen, i in enumerate(bar, start=1):
        entry = meta_step(model, tok, tasks[i], names, outer, config, buffers, index=i)
        log.append(entry)
        if progress:
            bar.set_postfix(related=f"{entry.related_loss:.3f}", refresh=False)
        checkpoint(seen)
    bar.close()
    seconds = time.perf_counter() - t0 - eval_seconds
    meta = _snapshot(model, names)
    info = {"n_tasks": len(order), "order": order, "eval_seconds": eval_seconds}
    result = MetaResult(model, config, list(names), meta, base, log, curve, False, None, seconds, info)
    return result, {s: t for s, t in saved.items() if s not in (0, len(order))}  # 0 = base, end = meta


def _save(folder: Path, inputs: dict, result: MetaResult, checkpoints: dict) -> None:
    from safetensors.torch import save_file

    with atomic_dir(folder) as tmp:
        (tmp / "inputs.json").write_text(json.dumps(_canonical(inputs), indent=2, sort_keys=True))
        save_file({n: t.detach().cpu().contiguous() for n, t in result.meta.items()}, str(tmp / "meta.safetensors"))
        for seen, tensors in checkpoints.items():
            save_file({n: t.detach().cpu().contiguous() for n, t in tensors.items()},
                      str(tmp / f"checkpoint_{seen:07d}.safetensors"))
        log = {"seconds": result.seconds, "n_tasks": result.n_tasks, "order": result.info["order"],
               "tasks": [asdict(t) for t in result.log]}
        (tmp / "log.json").write_text(json.dumps(_canonical(log)))


def _from_cache(model, folder: Path, config, names, base, key, on_checkpoint, every) -> MetaResult:
    from safetensors.torch import load_file

    log = json.loads((folder / "log.json").read_text())
    meta = load_file(str(folder / "meta.safetensors"))
    if sorted(meta) != sorted(names):
        raise ParameterError("cache", folder.name, "holds other tensors than this scope's: delete the folder")
    curve = []
    try:
        if on_checkpoint is not None:
            n = log["n_tasks"]
            for seen in _checkpoint_steps(n, every):
                tensors = base if seen == 0 else meta if seen == n else \
                    load_file(str(folder / f"checkpoint_{seen:07d}.safetensors"))
                _load(model, tensors)
                curve.append((seen, on_checkpoint(seen, model)))
        _load(model, meta)
    except BaseException:
        _load(model, base)
        raise
    tasks = [TaskLog(t["index"], tuple(t["inner_losses"]), t["related_loss"], t["seconds"]) for t in log["tasks"]]
    meta = {n: model.get_parameter(n).detach().clone() for n in names}
    return MetaResult(model, config, list(names), meta, base, tasks, curve, True, key, float(log["seconds"]),
                      {"n_tasks": log["n_tasks"], "order": log["order"]})


__all__ = ["FOMAMLConfig", "MetaResult", "QA", "SCOPES", "Task", "TaskLog", "cache_inputs", "cases_hash",
           "inner_loop", "make_outer_optimizer", "meta_cache_key", "meta_step", "meta_train", "related_gradient",
           "related_loss", "scope_parameter_names", "task_order", "tasks_from_cases"]
