"""FT: plain fine-tuning on the new fact (Paper B's baseline in Table 2 and its inner loop,
§3: AdamW on the answer/object tokens only, chosen modules of chosen layers, a fixed number
of steps; Paper C's "fine-tuning" family).

The loss is the NLL of the target's tokens given the prompt (teacher forcing: the prompt is
followed by target[:-1]; EasyEdit's ``objective_optimization="target_new"``, its FT-M), or,
with ``"prompt_last"``, ROME's original objective: every target token's log-probability read
at the prompt's last position (EasyEdit's FT-L; the same thing for one-token targets).
Requests of a batch are trained together (one AdamW step per step over the whole batch).
Only the parameters of ``modules`` in ``layers`` have gradients; ``norm_constraint``
(an L∞ radius, used by FT-L, :mod:`.ft_l`) clamps each of them to its original value ± ε
after every step. Nothing is trained but those tensors, and the handle restores them.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from kedit_utils.core import architectures as A
from kedit_utils.core.tokens import encode, pad_right, target_token_ids
from kedit_utils.core.validation import ParameterError, check_choice, check_float, check_int
from kedit_utils.editing.base import EditContext, EditHandle, Editor, weights_guard
from kedit_utils.editing.hparams import HyperParams, check_layers, scaled_layer
from kedit_utils.editing.replay import frozen_blocks_reused, lowest_block

MODULES = ("attn", "mlp", "mlp_out")
OBJECTIVES = ("target_new", "prompt_last")


@dataclass(frozen=True)
class FTHyperParams(HyperParams):
    """layers: blocks whose ``modules`` are trained.
    modules: any of ``"attn"`` (the whole attention), ``"mlp"`` (the whole MLP),
        ``"mlp_out"`` (only W2, the MLP output projection, weight and bias).
    num_steps: optimiser steps (fixed unless ``early_stop_loss`` is reached).
    lr, weight_decay: AdamW's.
    objective_optimization: ``"target_new"`` (teacher-forced answer tokens) or
        ``"prompt_last"`` (ROME's FT objective; see the module docstring).
    norm_constraint: L∞ radius ε around the original weights (0 = none).
    early_stop_loss: stop once the loss is below this (0 = never: Paper B's fixed steps).
    """

    layers: tuple[int, ...] = (0,)
    modules: tuple[str, ...] = ("mlp",)
    num_steps: int = 10
    lr: float = 2e-5
    weight_decay: float = 0.01
    objective_optimization: str = "target_new"
    norm_constraint: float = 0.0
    early_stop_loss: float = 0.0

    METHOD: ClassVar[str] = "FT"

    def __post_init__(self):
        object.__setattr__(self, "layers", check_layers("layers", self.layers))
        mods = (self.modules,) if isinstance(self.modules, str) else tuple(self.modules)
        if not mods:
            raise ParameterError("modules", self.modules, f"must name at least one of {list(MODULES)}")
        for m in mods:
            check_choice("modules", m, MODULES)
        object.__setattr__(self, "modules", mods)
        check_int("num_steps", self.num_steps, minimum=1)
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_float("weight_decay", self.weight_decay, low=0.0)
        check_choice("objective_optimization", self.objective_optimization, OBJECTIVES)
        if self.norm_constraint is False or self.norm_constraint is None:  # EasyEdit writes false
            object.__setattr__(self, "norm_constraint", 0.0)
        check_float("norm_constraint", self.norm_constraint, low=0.0)
        check_float("early_stop_loss", self.early_stop_loss, low=0.0)

    @classmethod
    def from_dict(cls, data: dict):
        """Also EasyEdit's FT files (``kl_factor`` must be 0: no KL term here)."""
        data = dict(data)
        if data.get("kl_factor", 0) not in (0, 0.0):
            raise ParameterError("kl_factor", data["kl_factor"], "FT here has no KL term: must be 0")
        data.pop("kl_factor", None)
        return super().from_dict(data)

    @classmethod
    def tiny_gpt2(cls, layers=(0,), **changes):
        """The alias GPT-2: Paper A's edited layer (the first), its whole MLP; lr 1e-2 and
        20 steps (measured: enough to move a tiny model's prediction; Paper B's 2e-5 is for
        an 8B model)."""
        base = dict(layers=tuple(layers), modules=("mlp",), num_steps=20, lr=1e-2, weight_decay=0.01)
        return cls(**{**base, **changes})

    @classmethod
    def smollm2(cls, layers=(8,), **changes):
        """SmolLM2-135M: Paper B's FT (§3, Fig. 2: one shallow layer, attention + MLP,
        AdamW, 10 steps) with layer 9 of Llama3-8B's 32 taken to the same relative depth
        (8 of 30). Paper B's α = 2e-5 is for an 8B model; lr 1e-4 here so that ten steps move
        a 135M model's answer (stated, not Paper B's value)."""
        base = dict(layers=tuple(layers), modules=("attn", "mlp"), num_steps=10, lr=1e-4, weight_decay=0.01)
        return cls(**{**base, **changes})

    @classmethod
    def gpt2_family(cls, n_layers: int = 48, **changes):
        """GPT-2 from a local folder: Paper B's values (GPT2-XL: layer 14 of 48, attention +
        MLP, AdamW at α = 2e-5, 10 steps), the layer at that relative depth for other sizes."""
        check_int("n_layers", n_layers, minimum=1)
        base = dict(layers=(scaled_layer(14, 48, n_layers),), modules=("attn", "mlp"), num_steps=10, lr=2e-5,
                    weight_decay=0.01)
        return cls(**{**base, **changes})


def trained_parameter_names(model, layers, modules) -> list[str]:
    """Names of the parameters of ``modules`` in ``layers`` (validated against the model)."""
    names = []
    for layer in layers:
        A.check_layer(model, layer, "layers")
        prefixes = []
        for m in modules:
            if m == "attn":
                prefixes.append(A.arch_of(model).attn.format(layer) + ".")
            elif m == "mlp":
                prefixes.append(A.arch_of(model).mlp.format(layer) + ".")
            else:
                prefixes.append(A.arch_of(model).mlp_out.format(layer) + ".")
        for name, _ in model.named_parameters():
            if any(name.startswith(p) for p in prefixes) and name not in names:
                names.append(name)
    return names


class QA(NamedTuple):
    """A prompt and the answer to teacher-force, in the form :func:`answer_batch` reads
    (``prompt``, ``target_new``): a question and its answer, a locality fact, ..."""

    prompt: str
    target_new: str


def answer_batch(tok, requests, objective: str):
    """Padded ids (B, T), mask, and targets (B, T) with -100 off the answer tokens.

    ``target_new``: position len(prompt)-1+j predicts target[j] (teacher forcing).
    ``prompt_last``: the prompt alone; every target token is read at its last position
    (returned separately as a list of (row, position, token) triples).
    """
    seqs, spans = [], []
    for r in requests:
        p = encode(tok, r.prompt)
        t = target_token_ids(tok, r.target_new)
        seqs.append(p + t[:-1] if objective == "target_new" else p)
        spans.append((len(p) - 1, t))
    ids, mask = pad_right(seqs, getattr(tok, "pad_token_id", None) or 0)
    targets = torch.full(ids.shape, -100, dtype=torch.long)
    last = []
    for i, (start, t) in enumerate(spans):
        if objective == "target_new":
            targets[i, start:start + len(t)] = torch.tensor(t)
        else:
            last.extend((i, start, x) for x in t)
    return ids, mask, targets, last


def position_logits(model, ids, mask, rows, pos) -> torch.Tensor:
    """Logits (N, V) at the N (row, position) pairs only.

    A Hugging Face causal LM (GPT-2, Llama, Qwen2: a decoder ``base_model`` whose last
    hidden state is already normed, then the unembedding) gets the unembedding at those
    positions alone: on SmolLM2 it is a quarter of the model's matmuls at every position
    (V = 49,152), so FT's step is that much cheaper. Any other model (a PEFT wrapper, ...)
    computes the full logits and picks the positions: the same numbers.
    """
    from transformers import PreTrainedModel

    if isinstance(model, PreTrainedModel) and model.base_model is not model \
            and isinstance(model.get_output_embeddings(), torch.nn.Linear) \
            and model.config.model_type in ("gpt2", "llama", "qwen2", "mistral"):
        head, base = model.get_output_embeddings(), model.base_model
        hidden = base(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state  # (B, T, d)
        return head(hidden[rows, pos])
    return model(input_ids=ids, attention_mask=mask).logits[rows, pos]


def answer_loss(model, ids, mask, targets, last) -> torch.Tensor:
    """Mean over requests of the mean NLL of each request's answer tokens.

    ids, mask, targets: (B, T) from :func:`answer_batch`; ``last``: its (row, position,
    token) triples (``prompt_last``) or empty (``target_new``, the tokens are ``targets``).
    The log-softmax is taken at the answer positions only (:func:`position_logits`).
    """
    if last:
        rows = torch.tensor([x[0] for x in last], device=ids.device)
        pos = torch.tensor([x[1] for x in last], device=ids.device)
        tok_ids = torch.tensor([x[2] for x in last], device=ids.device)
    else:
        rows, pos = (targets != -100).nonzero(as_tuple=True)
        tok_ids = targets[rows, pos]
    logp = position_logits(model, ids, mask, rows, pos).float().log_softmax(-1)  # (N, V)
    nll = -logp.gather(1, tok_ids[:, None])[:, 0]
    per = torch.zeros(ids.shape[0], device=ids.device).index_add(0, rows, nll)
    cnt = torch.zeros(ids.shape[0], device=ids.device).index_add(0, rows, torch.ones_like(nll))
    return (per / cnt).mean()


FUSED_DEVICES = ("cpu", "cuda")


def adamw(params, *, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """torch's AdamW, its fused kernel where torch has one (float tensors on the CPU or a CUDA
    GPU): the same update in one pass over each tensor instead of a dozen element-wise ops.
    On SmolLM2's layer (3.5 M parameters, 2 threads) a step takes 1.9 ms instead of 10.2 ms;
    the weights agree to float32 rounding (1e-7) and a seeded run still repeats exactly. Where
    torch has no such kernel (other devices or dtypes, torch < 2.4 on the CPU), the plain one."""
    params = list(params)
    fused = bool(params) and all(p.device.type in FUSED_DEVICES and p.dtype in (torch.float32, torch.float16,
                                                                                 torch.bfloat16) for p in params)
    if fused:
        try:
            return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
        except RuntimeError:  # torch < 2.4 has no fused CPU kernel
            pass
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


@contextmanager
def trainable_only(model, params) -> Iterator[None]:
    """Inside the block only ``params`` require gradients; every flag is put back after."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    try:
        yield
    finally:
        for p, f in flags:
            p.requires_grad_(f)


def fine_tune(model, tok, requests, names, *, num_steps, lr, weight_decay, objective, norm_constraint,
              early_stop_loss, backup) -> list[float]:
    """Train the parameters ``names`` on the requests' answers in place; returns the losses."""
    device = next(model.parameters()).device
    ids, mask, targets, last = answer_batch(tok, requests, objective)
    ids, mask, targets = ids.to(device), mask.to(device), targets.to(device)
    params = [model.get_parameter(n) for n in names]
    opt = adamw(params, lr=lr, weight_decay=weight_decay)
    losses = []
    model.eval()
    try:
        with trainable_only(model, params), torch.enable_grad(), \
                frozen_blocks_reused(model, lowest_block(model, params)):
            for _ in range(num_steps):
                opt.zero_grad()
                loss = answer_loss(model, ids, mask, targets, last)
                losses.append(float(loss.detach()))
                if early_stop_loss and losses[-1] < early_stop_loss:
                    break
                loss.backward()
                opt.step()
                if norm_constraint:
                    with torch.no_grad():
                        for n, p in zip(names, params):
                            orig = backup.originals[n]
                            p.copy_(torch.clamp(p, min=orig - norm_constraint, max=orig + norm_constraint))
    finally:
        for p in params:
            p.grad = None
    return losses


class FT(Editor):
    """Fine-tuning (module docstring). ``info["losses"]``: the loss before each step."""

    name = "ft"
    hparams_class = FTHyperParams
    changes_weights = True

    def parameter_names(self, model, hparams) -> list[str]:
        return trained_parameter_names(model, hparams.layers, hparams.modules)

    def check(self, model, tok, requests, hparams) -> None:
        super().check(model, tok, requests, hparams)
        self.parameter_names(model, hparams)

    def _apply(self, model, tok, requests, hparams, context: EditContext) -> EditHandle:
        names = self.parameter_names(model, hparams)
        with weights_guard(model, names) as backup:
            t0 = time.perf_counter()
            losses = fine_tune(model, tok, requests, names, num_steps=hparams.num_steps, lr=hparams.lr,
                               weight_decay=hparams.weight_decay, objective=hparams.objective_optimization,
                               norm_constraint=hparams.norm_constraint, early_stop_loss=hparams.early_stop_loss,
                               backup=backup)
            seconds = time.perf_counter() - t0
        return EditHandle(method=self.name, requests=requests, hparams=hparams, seconds=seconds,
                          backup=backup, info={"losses": losses, "parameters": names})
