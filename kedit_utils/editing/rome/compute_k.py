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

from kedit_utils.core import architectures as A
from kedit_utils.core.tokens import lookup, pad_right
from kedit_utils.editing.rome.covariance import _Stop
from kedit_utils.editing.rome.row_groups import length_buckets


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
def read_at_fact_tokens(model, tok, sites, texts_subjects: list[tuple[str, str]],
                        fact_token: str = "subject_last", min_rows: int = 16) -> list[torch.Tensor]:
    """For each ``(module, read)`` of ``sites``: (N, d) the module's first input (``read="input"``)
    or its output (``"output"``; a block's hidden states) at the fact token (see
    :func:`kedit_utils.core.tokens.lookup`) of each (text, subject), all read in one forward.

    Attention is causal, so nothing after the fact token changes anything at it: each row is
    cut after its fact token, the rows are run in buckets of similar length (at least
    ``min_rows`` per forward, :func:`.row_groups.length_buckets`) and every forward stops at
    the last site: the layers above, the unembedding and the prompt's tail do not change what
    is read. (N, d) per site, in ``sites``' order."""
    rows = [lookup(tok, t, s, fact_token) for t, s in texts_subjects]
    cut = [ids[: idx + 1] for ids, idx in rows]
    device = next(model.parameters()).device
    pad = getattr(tok, "pad_token_id", None) or 0
    out: list[torch.Tensor | None] = [None] * len(sites)
    captured: dict[int, torch.Tensor] = {}

    def grab(i, read):
        def hook(_m, inputs, output):
            captured[i] = inputs[0] if read == "input" else output[0] if isinstance(output, tuple) else output
            if len(captured) == len(sites):
                raise _Stop
        return hook

    handles = [module.register_forward_hook(grab(i, read)) for i, (module, read) in enumerate(sites)]
    try:
        for bucket in length_buckets([len(c) for c in cut], min_rows):
            ids, mask = pad_right([cut[i] for i in bucket], pad)
            captured.clear()
            try:
                model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
            except _Stop:
                pass
            at = torch.tensor([rows[i][1] for i in bucket], device=device)
            where = torch.tensor(bucket, device=device)
            for i in range(len(sites)):
                h = captured[i][torch.arange(len(bucket), device=device), at]
                if out[i] is None:
                    out[i] = h.new_empty((len(rows), h.shape[-1]))
                out[i][where] = h
    finally:
        for handle in handles:
            handle.remove()
    return out


def keys_at(model, tok, layer: int, texts_subjects: list[tuple[str, str]],
            fact_token: str = "subject_last") -> torch.Tensor:
    """(N, d_in) input of W2 at ``layer`` at the fact token of each (text, subject)."""
    return read_at_fact_tokens(model, tok, [(A.mlp_out_module(model, layer), "input")], texts_subjects, fact_token)[0]


def compute_k(model, tok, request, hparams) -> KeyResult:
    """k* for ``request`` at ``hparams.layer`` (see the module docstring)."""
    pairs = contextual_prompts(request, hparams.context_templates)
    keys = keys_at(model, tok, hparams.layer, pairs + [(request.prompt, request.subject)],
                   hparams.fact_token)
    return KeyResult(k_star=keys[:-1].mean(0), k_prompt=keys[-1], n_contexts=len(pairs))
