"""The value v* of a ROME edit (Meng et al. 2022 §3.1 Eq. 4; Paper A §3.3 step 2).

v* = v_init + δ, where v_init is the MLP output (the output of W2, bias included) at the
subject's last token (``fact_token``) of the edited prompt and δ is optimised by Adam, added at that position
of every prompt, to minimise (ROME reference ``compute_v``):

    L(δ) = NLL(target | prompt_j)                                   (mean over contexts j)
         + kl_factor · KL( p(· | essence prompts, δ) ‖ p(· | essence prompts, 0) )
         + v_weight_decay · ‖δ‖ / ‖v_init‖²

with ‖δ‖ clamped to clamp_norm_factor · ‖v_init‖ after every step. The NLL is taken on
every target token (teacher forcing: the prompt is followed by target[:-1]); the KL on the
essence prompts (``kl_prompt_templates`` filled with the subject) is read at the subject's
last token, as in ROME. ``v_loss_layer`` other than the last reads the NLL through the final
norm and the unembedding at that layer (logit lens), as the reference does.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ... import architectures as A
from .compute_k import contextual_prompts
from .tokens import lookup, pad_right, target_token_ids


@dataclass
class ValueResult:
    """v_star, v_init, delta: (d_out,). losses: (nll, kl, weight decay, total) per step."""

    v_star: torch.Tensor
    v_init: torch.Tensor
    delta: torch.Tensor
    target_ids: list[int]
    steps: int
    losses: list[tuple[float, float, float, float]] = field(default_factory=list)


@contextmanager
def frozen(model):
    """Parameters without gradients and the model in eval mode; both restored on exit."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    was_training = model.training
    for p, _ in flags:
        p.requires_grad_(False)
    model.eval()
    try:
        yield
    finally:
        for p, f in flags:
            p.requires_grad_(f)
        model.train(was_training)


def _batch(tok, request, hparams, target_ids):
    """Padded rewriting + essence prompts, their lookup indices and the NLL target mask."""
    rewrites = contextual_prompts(request, hparams.context_templates)
    seqs, idxs, tgt_pos = [], [], []
    for text, subject in rewrites:
        ids, idx = lookup(tok, text, subject, hparams.fact_token)
        tgt_pos.append(len(ids) - 1)
        seqs.append(ids + target_ids[:-1])
        idxs.append(idx)
    kl_seqs, kl_idxs = [], []
    for template in hparams.kl_prompt_templates:
        ids, idx = lookup(tok, template.format(request.subject), request.subject, hparams.fact_token)
        kl_seqs.append(ids)
        kl_idxs.append(idx)
    ids, mask = pad_right(seqs + kl_seqs, getattr(tok, "pad_token_id", None) or 0)
    n_rw = len(seqs)
    # rewriting targets: position tgt_pos + j predicts target_ids[j]; -100 elsewhere
    targets = torch.full((n_rw, ids.shape[1]), -100, dtype=torch.long)
    for i, start in enumerate(tgt_pos):
        targets[i, start : start + len(target_ids)] = torch.tensor(target_ids)
    return ids, mask, idxs + kl_idxs, targets, n_rw


def _log_probs(model, out, loss_layer: int | None) -> torch.Tensor:
    n = A.n_layers(model)
    if loss_layer is None or loss_layer == n - 1:
        return out.logits.float().log_softmax(-1)
    h = A.final_norm_module(model)(out.hidden_states[loss_layer + 1])
    return model.get_output_embeddings()(h).float().log_softmax(-1)


def compute_v(model, tok, request, hparams) -> ValueResult:
    """Optimise δ and return v* = v_init + δ for ``request`` at ``hparams.layer``."""
    device = next(model.parameters()).device
    layer = hparams.layer
    target_ids = target_token_ids(tok, request.target_new)
    ids, mask, idxs, targets, n_rw = _batch(tok, request, hparams, target_ids)
    ids, mask, targets = ids.to(device), mask.to(device), targets.to(device)
    rows = torch.arange(len(idxs), device=device)
    look = torch.tensor(idxs, device=device)
    n_kl = len(idxs) - n_rw
    d_out = A.mlp_dims(model, layer)[1]
    dtype = A.edited_weight(model, layer).dtype
    delta = torch.zeros(d_out, dtype=torch.float32, device=device, requires_grad=True)
    state: dict = {}

    def add_delta(_m, _i, out):
        if "v_init" not in state:
            state["v_init"] = out[0, look[0]].detach().float().clone()
        out = out.clone()
        out[rows, look] = out[rows, look] + delta.to(out.dtype)
        return out

    opt = torch.optim.Adam([delta], lr=hparams.v_lr)
    losses = []
    need_hidden = hparams.v_loss_layer is not None and hparams.v_loss_layer != A.n_layers(model) - 1
    handle = A.mlp_out_module(model, layer).register_forward_hook(add_delta)
    steps = 0
    try:
        with frozen(model), torch.enable_grad():
            for it in range(hparams.v_num_grad_steps):
                steps = it + 1
                opt.zero_grad()
                out = model(input_ids=ids, attention_mask=mask, output_hidden_states=need_hidden)
                logp = _log_probs(model, out, hparams.v_loss_layer)
                tl = logp[:n_rw].gather(2, targets.clamp(min=0)[..., None])[..., 0]
                tmask = (targets != -100).float()
                nll = (-(tl * tmask).sum(1) / len(target_ids)).mean()
                if n_kl:
                    kl_logp = logp[n_rw:][torch.arange(n_kl, device=device), look[n_rw:]]
                    if "kl_init" not in state:
                        state["kl_init"] = kl_logp.detach().clone()
                    kl = hparams.kl_factor * F.kl_div(state["kl_init"], kl_logp, log_target=True,
                                                      reduction="batchmean")
                else:
                    kl = torch.zeros((), device=device)
                v_init = state["v_init"]
                wd = hparams.v_weight_decay * (delta.norm() / v_init.norm() ** 2)
                loss = nll + kl + wd
                losses.append(tuple(float(x.detach()) for x in (nll, kl, wd, loss)))
                if float(loss.detach()) < hparams.early_stop_loss or it == hparams.v_num_grad_steps - 1:
                    break
                loss.backward()
                opt.step()
                max_norm = hparams.clamp_norm_factor * v_init.norm()
                with torch.no_grad():
                    if delta.norm() > max_norm:
                        delta.mul_(max_norm / delta.norm())
    finally:
        handle.remove()
    v_init = state["v_init"]
    d = delta.detach().clone()
    return ValueResult(v_star=(v_init + d).to(dtype), v_init=v_init.to(dtype), delta=d.to(dtype),
                       target_ids=target_ids, steps=steps, losses=losses)
