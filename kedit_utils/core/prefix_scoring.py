"""Next-token logits of many short prompts that share prefixes (the evaluation behind Paper A
§3.2, Table 1, and §4, where every deletion is followed by an evaluation of all knowledge).

Chapter 5 evaluates every (subject alias, relation alias) prompt after every deletion:
14,775 two-word prompts × 1,200 deletions at paper scale. Two facts make that cheaper
without changing what is computed:

* **Shared prefixes.** In a causal model a prefix's states do not depend on the tokens after
  it, so each distinct prefix ``prompts[:, :-1]`` (a subject alias) runs once, with its
  attention keys and values kept, and each prompt runs only its last token against them.
  At paper scale: 1,000 subject aliases instead of 14,775 prompts, so about half the tokens.
* **A lean last-token step for GPT-2.** For the last token of a GPT-2 model,
  :func:`_gpt2_last_token` runs the same modules (embeddings, LayerNorms, ``c_attn``,
  ``c_proj``, MLP, ``ln_f``, ``lm_head``: an in-place ROME edit is seen) but does the
  attention of one query over a handful of cached keys with two small einsums, without the
  cache objects and attention dispatch of a general forward (measured: those took about a
  third of the time at 24 layers). With one cached position (chapter 5's two-token prompts)
  the softmax over two scores is a sigmoid of their difference, without concatenating keys;
  GPT-2's tanh-approximated GELU is computed as h · σ(2√(2/π)(h + 0.044715 h³)), the same
  function, because this CPU's ``tanh`` kernel is slow (:func:`gelu_tanh`; ``bench/scoring.py``).
  Other architectures use the model's own forward with a ``DynamicCache``.

Both paths equal one forward per whole prompt up to float rounding (tests compare them on
GPT-2 and Llama).
"""
from __future__ import annotations

import math

import torch

from kedit_utils.core.architectures import returned_kv_cache, with_kv_cache

DEFAULT_BATCH = 512


def _batches(n: int, batch_size: int | None):
    step = n if batch_size is None else batch_size
    for start in range(0, n, max(step, 1)):
        yield slice(start, min(start + step, n))


def last_logits(model, prompts: torch.Tensor) -> torch.Tensor:
    """(P, T) token ids -> (P, V) next-token logits at the last position (one forward)."""
    out = model(input_ids=prompts, logits_to_keep=1)
    return out.logits[:, -1, :]


def _lean_gpt2(model) -> bool:
    """True for a plain GPT-2 LM (no cross-attention, no upcast/reordered attention)."""
    from transformers import GPT2LMHeadModel

    cfg = model.config
    return (isinstance(model, GPT2LMHeadModel) and not cfg.add_cross_attention
            and not cfg.reorder_and_upcast_attn)


def _gpt2_last_token(model, tokens: torch.Tensor, position: int, keys: list, values: list) -> torch.Tensor:
    """Logits after one token per row, attending to cached prefix keys/values.

    tokens: (B,) the last token of each prompt, at ``position``; keys[i] / values[i]:
    (B, H, T_prefix, head_dim) layer i's cached prefix keys / values for these rows.
    Returns (B, V) logits. Mirrors ``GPT2Block``: x += attn(ln_1 x); x += mlp(ln_2 x).
    """
    tr = model.transformer
    pos = torch.full_like(tokens, position)
    x = tr.wte(tokens) + tr.wpe(pos)  # (B, d)
    tanh_gelu = model.config.activation_function in GELU_TANH_NAMES
    for i, block in enumerate(tr.h):
        attn = block.attn
        q, k, v = attn.c_attn(block.ln_1(x)).split(attn.split_size, dim=-1)
        b, hd = q.shape[0], attn.head_dim
        q, k, v = (t.view(b, -1, hd) for t in (q, k, v))  # (B, H, hd)
        if keys[i].shape[2] == 1:  # one cached position: softmax over two scores is a sigmoid
            k0, v0 = keys[i][:, :, 0], values[i][:, :, 0]  # (B, H, hd)
            w = torch.sigmoid(((q * k).sum(-1) - (q * k0).sum(-1)) * attn.scaling)  # (B, H): weight of itself
            a = (v0 + w[..., None] * (v - v0)).reshape(b, -1)
        else:
            ks = torch.cat([keys[i], k[:, :, None]], dim=2)  # (B, H, T, hd)
            vs = torch.cat([values[i], v[:, :, None]], dim=2)
            w = (torch.einsum("bhd,bhtd->bht", q, ks) * attn.scaling).softmax(-1)
            a = torch.einsum("bht,bhtd->bhd", w, vs).reshape(b, -1)
        x = x + attn.c_proj(a)
        mlp = block.mlp
        h = mlp.c_fc(block.ln_2(x))
        x = x + mlp.dropout(mlp.c_proj(gelu_tanh(h) if tanh_gelu else mlp.act(h)))
    return model.lm_head(tr.ln_f(x))


# GPT-2's activation names for the tanh approximation of GELU (the Python and the fused kernel)
GELU_TANH_NAMES = ("gelu_new", "gelu_pytorch_tanh")
_TWO_SQRT_2_OVER_PI = 2.0 * math.sqrt(2.0 / math.pi)


def gelu_tanh(h: torch.Tensor) -> torch.Tensor:
    """GELU's tanh approximation, 0.5 h (1 + tanh(√(2/π) (h + 0.044715 h³))), written with
    tanh z = 2 σ(2z) − 1 as h · σ(2 √(2/π) (h + 0.044715 h³)): the same function up to float
    rounding; on this machine's PyTorch build ``torch.sigmoid`` is about 4× faster than the
    ``tanh`` inside ``F.gelu(approximate="tanh")`` (bench/scoring.py)."""
    u = torch.mul(h, h).mul_(0.044715 * _TWO_SQRT_2_OVER_PI).add_(_TWO_SQRT_2_OVER_PI).mul_(h)  # in place: no
    return u.sigmoid_().mul_(h)  # temporaries


def _prefix_cache(model, prefixes: torch.Tensor, batch_size: int | None):
    """Per layer, the keys and values of every distinct prefix: two lists of (U, H, T-1, hd)."""
    keys, values = None, None
    for sl in _batches(prefixes.shape[0], batch_size):
        cache = returned_kv_cache(model(input_ids=prefixes[sl], use_cache=True))
        ks = [layer.keys for layer in cache.layers]
        vs = [layer.values for layer in cache.layers]
        keys = ks if keys is None else [torch.cat(pair) for pair in zip(keys, ks)]
        values = vs if values is None else [torch.cat(pair) for pair in zip(values, vs)]
    return keys, values


def iter_last_logits(model, prompts: torch.Tensor, batch_size: int | None = DEFAULT_BATCH,
                     shared_prefix: bool = True):
    """Yield ``(slice, logits)``: (n, V) next-token logits of consecutive slices of ``prompts``.

    prompts: (P, T) token ids, run under the caller's ``no_grad``/eval mode. With
    ``shared_prefix`` (Hugging Face models, T >= 2, and fewer distinct prefixes than half the
    prompts), each distinct prefix runs once and each prompt runs its last token on the
    prefix's cached keys and values (see the module docstring); otherwise whole prompts run
    in batches of ``batch_size``.
    """
    from transformers import DynamicCache, PreTrainedModel

    n, t = prompts.shape
    prefixes = None
    if shared_prefix and t >= 2 and isinstance(model, PreTrainedModel):
        prefixes, inverse = torch.unique(prompts[:, :-1], dim=0, return_inverse=True)
        if 2 * prefixes.shape[0] > n:
            prefixes = None
    if prefixes is None:
        for sl in _batches(n, batch_size):
            yield sl, last_logits(model, prompts[sl])
        return
    keys, values = _prefix_cache(model, prefixes, batch_size)
    lean = _lean_gpt2(model)
    for sl in _batches(n, batch_size):
        idx = inverse[sl]
        ks, vs = [k[idx] for k in keys], [v[idx] for v in values]
        if lean:
            yield sl, _gpt2_last_token(model, prompts[sl, -1], t - 1, ks, vs)
            continue
        past = DynamicCache(list(zip(ks, vs)), config=model.config)
        position = torch.full((idx.shape[0], 1), t - 1, dtype=torch.long, device=prompts.device)
        out = model(input_ids=prompts[sl, -1:], position_ids=position, use_cache=False, **with_kv_cache(model, past))
        yield sl, out.logits[:, -1, :]
