"""Where the parts of a transformer live, per architecture (Paper A §3.3, Appendix B).

Causal tracing patches three kinds of states (the residual stream after each block, each
block's MLP output and each block's attention output), and ROME edits one matrix: the MLP
*output projection* W2 of FFN(x) = σ(x W1 + b1) W2 + b2. This module says where those live
in a Hugging Face model, as one small :class:`Architecture` description per family rather
than code per model:

=============  ===================  =======================  ===================
part           GPT-2                Llama family             notes
=============  ===================  =======================  ===================
block          ``transformer.h.{}``  ``model.layers.{}``
MLP            ``….mlp``            ``….mlp``
W2             ``….mlp.c_proj``     ``….mlp.down_proj``      see orientation
attention      ``….attn``           ``….self_attn``
embedding      ``transformer.wte``  ``model.embed_tokens``   token embedding only
final norm     ``transformer.ln_f`` ``model.norm``
=============  ===================  =======================  ===================

**Orientation.** GPT-2's ``c_proj`` is a ``Conv1D`` whose weight has shape (d_in, d_out)
(y = x W + b); Llama's ``down_proj`` is an ``nn.Linear`` with weight (d_out, d_in)
(y = x Wᵀ). :func:`weight_in_out` always returns the (d_in, d_out) view and
:func:`add_in_out` adds an (d_in, d_out) update in the parameter's own orientation, so the
ROME code is written once.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from kedit_utils.core.validation import ParameterError


@dataclass(frozen=True)
class Architecture:
    """Module paths of one model family (``{}`` is the layer index).

    weight_layout: ``"in_out"`` (Conv1D, weight (d_in, d_out)) or ``"out_in"`` (nn.Linear).
    """

    name: str
    layer: str
    mlp: str
    mlp_out: str
    attn: str
    embed: str
    final_norm: str
    weight_layout: str


GPT2 = Architecture(
    name="gpt2",
    layer="transformer.h.{}",
    mlp="transformer.h.{}.mlp",
    mlp_out="transformer.h.{}.mlp.c_proj",
    attn="transformer.h.{}.attn",
    embed="transformer.wte",
    final_norm="transformer.ln_f",
    weight_layout="in_out",
)

LLAMA = Architecture(
    name="llama",
    layer="model.layers.{}",
    mlp="model.layers.{}.mlp",
    mlp_out="model.layers.{}.mlp.down_proj",
    attn="model.layers.{}.self_attn",
    embed="model.embed_tokens",
    final_norm="model.norm",
    weight_layout="out_in",
)

ARCHITECTURES = (GPT2, LLAMA)


def _has(model: torch.nn.Module, path: str) -> bool:
    try:
        model.get_submodule(path)
    except AttributeError:
        return False
    return True


def arch_of(model: torch.nn.Module) -> Architecture:
    """The :class:`Architecture` whose paths all resolve in ``model`` (probed at layer 0).

    Raises :class:`ParameterError` for a model of another family.
    """
    for arch in ARCHITECTURES:
        paths = (arch.layer, arch.mlp, arch.mlp_out, arch.attn)
        if all(_has(model, p.format(0)) for p in paths) and _has(model, arch.embed):
            return arch
    raise ParameterError(
        "model",
        type(model).__name__,
        "must be a GPT-2 (transformer.h.{i}.mlp.c_proj) or Llama-family "
        "(model.layers.{i}.mlp.down_proj) causal LM",
    )


def n_layers(model: torch.nn.Module) -> int:
    """Number of transformer blocks."""
    arch = arch_of(model)
    return len(model.get_submodule(arch.layer.rsplit(".", 1)[0]))


def check_layer(model: torch.nn.Module, layer, name: str = "layer") -> int:
    """``layer`` as an int in [0, n_layers); :class:`ParameterError` naming ``name`` otherwise."""
    n = n_layers(model)
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n:
        raise ParameterError(name, layer, f"must be an integer in [0, {n}) for this {n}-layer model")
    return layer


def layer_module(model, layer: int) -> torch.nn.Module:
    """The whole block ``layer`` (its output is the residual stream after the block)."""
    return model.get_submodule(arch_of(model).layer.format(check_layer(model, layer)))


def mlp_module(model, layer: int) -> torch.nn.Module:
    return model.get_submodule(arch_of(model).mlp.format(check_layer(model, layer)))


def attn_module(model, layer: int) -> torch.nn.Module:
    return model.get_submodule(arch_of(model).attn.format(check_layer(model, layer)))


def mlp_out_module(model, layer: int) -> torch.nn.Module:
    """The edited projection W2 (``c_proj`` / ``down_proj``)."""
    return model.get_submodule(arch_of(model).mlp_out.format(check_layer(model, layer)))


def embedding_module(model) -> torch.nn.Module:
    return model.get_submodule(arch_of(model).embed)


def final_norm_module(model) -> torch.nn.Module:
    return model.get_submodule(arch_of(model).final_norm)


def edited_weight_name(model, layer: int) -> str:
    """Parameter name of W2 at ``layer``, e.g. ``transformer.h.0.mlp.c_proj.weight``."""
    return arch_of(model).mlp_out.format(check_layer(model, layer)) + ".weight"


def edited_weight(model, layer: int) -> torch.nn.Parameter:
    """W2 at ``layer`` in its own orientation (see the module docstring)."""
    return mlp_out_module(model, layer).weight


def weight_in_out(model, layer: int) -> torch.Tensor:
    """W2 at ``layer`` as a (d_in, d_out) view: output = input @ W (+ bias)."""
    w = edited_weight(model, layer)
    return w if arch_of(model).weight_layout == "in_out" else w.T


def add_in_out(model, layer: int, delta: torch.Tensor) -> None:
    """Add ``delta`` of shape (d_in, d_out) to W2 at ``layer``, in place, in its orientation."""
    w = edited_weight(model, layer)
    d = delta if arch_of(model).weight_layout == "in_out" else delta.T
    if d.shape != w.shape:
        raise ParameterError("delta", tuple(delta.shape), f"must be (d_in, d_out) for weight {tuple(w.shape)}")
    with torch.no_grad():
        w.add_(d.to(w.dtype))


def mlp_dims(model, layer: int = 0) -> tuple[int, int]:
    """(d_in, d_out) of W2: (MLP width, model width)."""
    w = weight_in_out(model, layer)
    return int(w.shape[0]), int(w.shape[1])


@functools.lru_cache(maxsize=None)
def _forward_takes(cls: type, name: str) -> bool:
    return name in inspect.signature(cls.forward).parameters


def with_kv_cache(module: torch.nn.Module, cache) -> dict:
    """``{name: cache}`` for ``module``'s forward: the key/value cache is ``cache`` in recent
    transformers (which deprecate the old name, with a warning in every chapter's output) and
    ``past_key_values`` before."""
    return {"cache" if _forward_takes(type(module), "cache") else "past_key_values": cache}


def returned_kv_cache(out):
    """The key/value cache a forward with ``use_cache=True`` returned, under either name."""
    return out["cache"] if "cache" in out else out["past_key_values"]


@contextmanager
def attention_implementation(model, name: str) -> Iterator[None]:
    """Inside the block, ``model``'s attention is computed by transformers' ``name``
    implementation (``"eager"``: plain matrix products and a softmax; ``"sdpa"``: torch's fused
    kernel); the one it had is set back on exit. The same attention either way, within float
    tolerance. Models that cannot switch (old transformers, a custom model) are left as they
    are."""
    config = getattr(model, "config", None)
    old = getattr(config, "_attn_implementation", None)
    if old is None or old == name or not hasattr(model, "set_attn_implementation"):
        yield
        return
    model.set_attn_implementation(name)
    try:
        yield
    finally:
        model.set_attn_implementation(old)
