"""LoRA: low-rank adapters trained on the request (Hu et al. 2022, "LoRA: Low-Rank Adaptation
of Large Language Models"; Paper C's "association phase"; EasyEdit's ``LoRA``).

Adapters ΔW = (α/r)·B A, with A (r, d_in) and B (d_out, r), are put on the chosen modules
with ``peft`` (``inject`` through ``get_peft_model``), trained with AdamW on the target's
answer tokens (the loss of :mod:`.ft`), then merged into the weights and the adapter
modules removed (``merge_and_unload``), so the edited model is a plain model of the same
class. The handle's restore removes the merged product by copying the original weights
back, bit for bit. ``peft`` is imported only here, when LoRA is used.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import torch

from kedit_utils.core import architectures as A
from kedit_utils.core.validation import ParameterError, check_choice, check_float, check_int
from kedit_utils.editing.base import EditContext, EditHandle, Editor, weights_guard
from kedit_utils.editing.ft import MODULES, OBJECTIVES, adamw, answer_batch, answer_loss
from kedit_utils.editing.hparams import HyperParams, check_layers

PEFT_HINT = "LoRA needs the peft package: pip install peft"


def _peft():
    try:
        import peft
    except ImportError as e:
        raise ImportError(PEFT_HINT) from e
    return peft


@dataclass(frozen=True)
class LoRAHyperParams(HyperParams):
    """layers: blocks with adapters (empty = every block, as EasyEdit's ``layers: []``);
    modules: which of them (``"attn"``, ``"mlp"``, ``"mlp_out"``, as :mod:`.ft`): every
    linear map inside gets an adapter; rank, lora_alpha, lora_dropout: LoRA's r, α, dropout;
    num_steps, lr, weight_decay: AdamW's; objective_optimization: as FT's."""

    layers: tuple[int, ...] = ()
    modules: tuple[str, ...] = ("attn", "mlp")
    rank: int = 8
    lora_alpha: float = 32.0
    lora_dropout: float = 0.0
    num_steps: int = 30
    lr: float = 5e-3
    weight_decay: float = 0.0
    objective_optimization: str = "target_new"

    METHOD: ClassVar[str] = "LoRA"

    def __post_init__(self):
        if self.layers not in ((), []):
            object.__setattr__(self, "layers", check_layers("layers", self.layers))
        else:
            object.__setattr__(self, "layers", ())
        mods = (self.modules,) if isinstance(self.modules, str) else tuple(self.modules)
        for m in mods or (None,):
            check_choice("modules", m, MODULES)
        object.__setattr__(self, "modules", mods)
        check_int("rank", self.rank, minimum=1)
        check_float("lora_alpha", self.lora_alpha, low=0.0, low_open=True)
        check_float("lora_dropout", self.lora_dropout, low=0.0, high=1.0, high_open=True)
        check_int("num_steps", self.num_steps, minimum=1)
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_float("weight_decay", self.weight_decay, low=0.0)
        check_choice("objective_optimization", self.objective_optimization, OBJECTIVES)

    @classmethod
    def from_dict(cls, data: dict):
        """Also EasyEdit's LoRA files: ``lora_type: adalora`` is read as plain LoRA (with a
        warning); ``kl_factor`` and ``norm_constraint`` are dropped (EasyEdit's files set them
        to 0 / false)."""
        data = dict(data)
        lora_type = data.pop("lora_type", "lora")
        if lora_type not in ("lora", "adalora"):
            raise ParameterError("lora_type", lora_type, "must be 'lora' (or 'adalora', read as plain LoRA)")
        if lora_type == "adalora":
            import warnings

            warnings.warn("lora_type 'adalora': AdaLoRA's rank schedule is not implemented; plain LoRA of the "
                          "given rank is used", stacklevel=2)
        for k in ("kl_factor", "norm_constraint"):
            data.pop(k, None)
        return super().from_dict(data)

    @classmethod
    def tiny_gpt2(cls, **changes):
        """The alias GPT-2: every block's attention and MLP, r = 4 (d is small), α = 16, no
        dropout (one prompt), 30 steps at lr 1e-2 (measured on the tiny models)."""
        return cls(**{**dict(layers=(), modules=("attn", "mlp"), rank=4, lora_alpha=16.0, num_steps=30, lr=1e-2),
                      **changes})

    @classmethod
    def smollm2(cls, **changes):
        """EasyEdit's ``hparams/LoRA/llama3.2-3b.yaml`` (every layer, r = 8, α = 32, lr 5e-3,
        70 steps; EasyEdit uses AdaLoRA there, plain LoRA here) with 30 steps to fit a CPU
        and no dropout (a single training prompt)."""
        return cls(**{**dict(layers=(), modules=("attn", "mlp"), rank=8, lora_alpha=32.0, num_steps=30, lr=5e-3),
                      **changes})

    @classmethod
    def gpt2_family(cls, n_layers: int = 48, **changes):
        """EasyEdit's ``hparams/LoRA/gpt2-xl.yaml``: every layer, r = 8, α = 32, lr 5e-3,
        30 steps (dropout 0.1 there; 0 here, see :meth:`smollm2`)."""
        return cls(**{**dict(layers=(), modules=("attn", "mlp"), rank=8, lora_alpha=32.0, num_steps=30, lr=5e-3),
                      **changes})


def adapter_targets(model, layers, modules) -> list[str]:
    """Full names of the linear maps (nn.Linear / GPT-2 Conv1D) that get an adapter."""
    arch = A.arch_of(model)
    layers = layers or range(A.n_layers(model))
    names = []
    for layer in layers:
        A.check_layer(model, layer, "layers")
        roots = {"attn": arch.attn, "mlp": arch.mlp, "mlp_out": arch.mlp_out}
        for m in modules:
            root = roots[m].format(layer)
            for name, mod in model.get_submodule(root).named_modules(prefix=root):
                if isinstance(mod, torch.nn.Linear) or type(mod).__name__ == "Conv1D":
                    if name not in names:
                        names.append(name)
    return names


class LoRA(Editor):
    """LoRA through peft (module docstring). ``info``: adapted modules, losses."""

    name = "lora"
    hparams_class = LoRAHyperParams
    changes_weights = True

    def check(self, model, tok, requests, hparams) -> None:
        super().check(model, tok, requests, hparams)
        adapter_targets(model, hparams.layers, hparams.modules)
        _peft()

    def _apply(self, model, tok, requests, hparams, context: EditContext) -> EditHandle:
        peft = _peft()
        targets = adapter_targets(model, hparams.layers, hparams.modules)
        weights = [t + ".weight" for t in targets]
        device = next(model.parameters()).device
        ids, mask, tgt, last = answer_batch(tok, requests, hparams.objective_optimization)
        ids, mask, tgt = ids.to(device), mask.to(device), tgt.to(device)
        flags = [(p, p.requires_grad) for p in model.parameters()]
        with weights_guard(model, weights) as backup:
            t0 = time.perf_counter()
            cfg = peft.LoraConfig(r=hparams.rank, lora_alpha=hparams.lora_alpha, lora_dropout=hparams.lora_dropout,
                                  target_modules=targets, bias="none",
                                  fan_in_fan_out=A.arch_of(model).weight_layout == "in_out")
            wrapped = peft.get_peft_model(model, cfg)
            losses = []
            try:
                params = [p for n, p in wrapped.named_parameters() if "lora_" in n]
                opt = adamw(params, lr=hparams.lr, weight_decay=hparams.weight_decay)
                wrapped.eval()
                with torch.enable_grad():
                    for _ in range(hparams.num_steps):
                        opt.zero_grad()
                        loss = answer_loss(wrapped, ids, mask, tgt, last)
                        losses.append(float(loss.detach()))
                        loss.backward()
                        opt.step()
            finally:
                merged = wrapped.merge_and_unload()  # adapters folded in, modules back to the base ones
                if hasattr(merged, "peft_config"):
                    del merged.peft_config
                for p, f in flags:
                    p.requires_grad_(f)
            seconds = time.perf_counter() - t0
        return EditHandle(method=self.name, requests=requests, hparams=hparams, seconds=seconds, backup=backup,
                          info={"modules": targets, "losses": losses})
