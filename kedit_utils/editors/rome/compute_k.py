"""The key k* of a ROME edit (Meng et al. 2022 §3.1 Eq. 3; Paper A §3.3 step 2).

k* is the input of the edited projection W2 at the subject's *last* token, i.e. the MLP's
hidden activation there, averaged over the prompt written into each context template
(ROME: k* = 1/N Σ_j k(x_j + s)). The tiny models have no context (template ``"{}"``): k* is
read on the prompt itself. ``hparams.fact_token = "last"`` (a ROME reference option, not
the paper's) reads k* at the prompt's last token instead of the subject's. With paraphrases
(an extension beyond the paper, e.g. the other aliases of the subject) k* is averaged over
every (template, paraphrase) pair too.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ... import architectures as A
from .covariance import _Stop
from .tokens import lookup, pad_right


@dataclass(frozen=True)
class KeyResult:
    """k_star: (d_in,) averaged key; k_prompt: (d_in,) key on the bare edited prompt;
    n_contexts: how many (template, prompt) pairs were averaged."""

    k_star: torch.Tensor
    k_prompt: torch.Tensor
    n_contexts: int


def contextual_prompts(request, templates) -> list[tuple[str, str]]:
    """(text, subject) for each template × (prompt, subject) of the request (and its paraphrases)."""
    pairs = [(request.prompt, request.subject), *request.paraphrases]
    return [(t.format(p), s) for t in templates for p, s in pairs]


@torch.no_grad()
def at_fact_tokens(model, tok, module, texts_subjects: list[tuple[str, str]], fact_token: str = "subject_last",
                   read: str = "input") -> torch.Tensor:
    """(N, d) ``module``'s first input (``read="input"``) or its output (``"output"``; a block's
    hidden states) at the fact token (see :func:`.tokens.lookup`) of each (text, subject). The
    forward stops at ``module``: the layers above and the unembedding do not change it."""
    rows = [lookup(tok, t, s, fact_token) for t, s in texts_subjects]
    ids, mask = pad_right([r[0] for r in rows], getattr(tok, "pad_token_id", None) or 0)
    device = next(model.parameters()).device
    captured = {}

    def grab(_m, inputs, out):
        captured["h"] = inputs[0] if read == "input" else out[0] if isinstance(out, tuple) else out
        raise _Stop

    handle = module.register_forward_hook(grab)
    try:
        model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
    except _Stop:
        pass
    finally:
        handle.remove()
    idx = torch.tensor([r[1] for r in rows], device=device)
    return captured["h"][torch.arange(len(rows), device=device), idx]


def keys_at(model, tok, layer: int, texts_subjects: list[tuple[str, str]],
            fact_token: str = "subject_last") -> torch.Tensor:
    """(N, d_in) input of W2 at ``layer`` at the fact token of each (text, subject)."""
    return at_fact_tokens(model, tok, A.mlp_out_module(model, layer), texts_subjects, fact_token, read="input")


def compute_k(model, tok, request, hparams) -> KeyResult:
    """k* for ``request`` at ``hparams.layer`` (see the module docstring)."""
    pairs = contextual_prompts(request, hparams.context_templates)
    keys = keys_at(model, tok, hparams.layer, pairs + [(request.prompt, request.subject)],
                   hparams.fact_token)
    return KeyResult(k_star=keys[:-1].mean(0), k_prompt=keys[-1], n_contexts=len(pairs))
