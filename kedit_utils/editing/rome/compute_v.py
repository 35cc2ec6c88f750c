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

The optimisation (:func:`optimise_delta`, shared with MEMIT's z) stops when the loss falls
below ``early_stop_loss`` (the reference's rule) or, when ``early_stop_prob`` is set (not in
the reference; ``None`` by default), once the target's mean probability over the rewriting
prompts reaches it. Ways of computing it that do not change the method (:class:`Speed`, a
value passed to :func:`compute_v` / :func:`optimise_delta`, or as ``speed=`` to ROME's,
MEMIT's and AlphaEdit's ``apply``; the default has them all on):
the blocks below the edited layer run once, their output replayed on every later step; the
unembedding is applied only at the positions the loss reads; as attention is causal, the
positions before δ's (the context prefix and the subject's first tokens) are computed once,
their keys and values kept, and every step runs only the positions from δ's to the last one
the loss reads (a KL row: δ's position alone); the MLPs above the site skip the pads, and the
last one the positions not read; and the attention is computed by plain matrix products.
"""
from __future__ import annotations

import dataclasses
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import torch

from kedit_utils.core import architectures as A
from kedit_utils.core.tokens import lookup, pad_right, target_token_ids
from kedit_utils.core.validation import ParameterError, check_int
from kedit_utils.editing.replay import frozen_blocks_reused
from kedit_utils.editing.rome.compute_k import contextual_prompts
from kedit_utils.editing.rome.row_groups import RowGroup, mlps_at_used_positions, row_groups, suffix_hidden


@dataclass
class ValueResult:
    """v_star, v_init, delta: (d_out,). losses: (nll, kl, weight decay, total) per step; probs:
    the target's mean probability over the rewriting prompts per step."""

    v_star: torch.Tensor
    v_init: torch.Tensor
    delta: torch.Tensor
    target_ids: list[int]
    steps: int
    losses: list[tuple[float, float, float, float]] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)


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


# --------------------------------------------------------------------------- the δ optimisation
@dataclass(frozen=True)
class Speed:
    """How the δ optimisation is computed; no option changes the method (the same loss and
    the same δ within float tolerance: tests/unit/test_edit_speed.py). A value: pass it to
    :func:`compute_v`, :func:`optimise_delta`, MEMIT's ``compute_zs`` or an editor's ``apply``
    (``speed=Speed(prefix_once=False)``, or ``Speed().with_(**options)``); ``Speed()`` (all on)
    is the default everywhere.

    reuse_lower: the blocks below the edited site do not depend on δ, so their outputs are
        computed once and replayed on every later step (their forward is skipped); the layers
        from the site up are recomputed.
    logits_at_targets: the unembedding (49,152 × 576 on SmolLM2) is applied only at the
        positions the loss reads (the target tokens and the KL token), not at every position.
    batch_requests: MEMIT/AlphaEdit optimise the z of this many requests in one forward pass
        (1 = one request after another, as the reference).
    prefix_once: attention is causal, so no position before δ's depends on δ: every row's
        prefix (its tokens before δ's position) runs once through all blocks and its keys and
        values are kept; each step then runs only the positions from δ's to the last one the
        loss reads (:mod:`.row_groups`; a KL row: one position). Implies ``logits_at_targets``.
    group_rows: with ``prefix_once``, rows are grouped by that length, at least this many
        per group (one forward pass per group and step): fewer pads against more passes.
    mlp_where_used: with ``prefix_once``, the MLPs of the blocks above the site run only at
        the real suffix tokens (not the pads), and the MLP of the block the loss reads only at
        the positions read (:func:`~.row_groups.mlps_at_used_positions`).
    eager_attention: the optimisation's attention is computed by plain matrix products
        (transformers' "eager" implementation) rather than torch's fused kernel: the same
        attention; on δ's short rows (a few tokens and a prefix of a few) the fused kernel's
        per-call cost dominates.
    """

    reuse_lower: bool = True
    logits_at_targets: bool = True
    batch_requests: int = 128
    prefix_once: bool = True
    group_rows: int = 32
    mlp_where_used: bool = True
    eager_attention: bool = True

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "bool" and not isinstance(value, bool):
                raise ParameterError(f"speed.{f.name}", value, "must be true or false")
        check_int("speed.batch_requests", self.batch_requests, minimum=1)
        check_int("speed.group_rows", self.group_rows, minimum=1)

    def with_(self, **options) -> "Speed":
        """A copy with ``options`` changed; an unknown option names itself and lists the options."""
        names = [f.name for f in dataclasses.fields(self)]
        for k in options:
            if k not in names:
                raise ParameterError("speed", k, f"must be one of {names}")
        return dataclasses.replace(self, **options)


@dataclass
class DeltaBatch:
    """Rewriting and KL rows of one or more requests in one padded batch.

    ids, mask: (B, T); look: (B,) where δ is added (and the KL read); targets: (B, T), the
    target token at the positions that predict it, -100 elsewhere (all -100 on KL rows);
    owner: (B,) the request of each row; rewrite: (B,) bool; n_tok: (n_req,) target lengths;
    first: (n_req,) the row of each request's bare prompt (where v_init / h is read).
    """

    ids: torch.Tensor
    mask: torch.Tensor
    look: torch.Tensor
    targets: torch.Tensor
    owner: torch.Tensor
    rewrite: torch.Tensor
    n_tok: torch.Tensor
    first: torch.Tensor

    @property
    def n_req(self) -> int:
        return int(self.n_tok.shape[0])


def delta_batch(tok, requests, hparams, device) -> DeltaBatch:
    """:class:`DeltaBatch` of ``requests`` (each: context templates × prompt and paraphrases
    with the target teacher-forced, then the KL essence prompts), on ``device``."""
    seqs, looks, tgts, owner, rewrite, n_tok, first = [], [], [], [], [], [], []
    for r_i, request in enumerate(requests):
        target_ids = target_token_ids(tok, request.target_new)
        n_tok.append(len(target_ids))
        first.append(len(seqs))
        for text, subject in contextual_prompts(request, hparams.context_templates):
            ids, idx = lookup(tok, text, subject, hparams.fact_token)
            seqs.append(ids + target_ids[:-1])
            looks.append(idx)
            tgts.append((len(ids) - 1, target_ids))
            owner.append(r_i)
            rewrite.append(True)
        for template in hparams.kl_prompt_templates:
            ids, idx = lookup(tok, template.format(request.subject), request.subject, hparams.fact_token)
            seqs.append(ids)
            looks.append(idx)
            tgts.append(None)
            owner.append(r_i)
            rewrite.append(False)
    ids, mask = pad_right(seqs, getattr(tok, "pad_token_id", None) or 0)
    targets = torch.full(ids.shape, -100, dtype=torch.long)
    for i, t in enumerate(tgts):
        if t is not None:
            start, target_ids = t
            targets[i, start : start + len(target_ids)] = torch.tensor(target_ids)
    as_t = lambda x, dt=torch.long: torch.tensor(x, dtype=dt, device=device)  # noqa: E731
    return DeltaBatch(ids.to(device), mask.to(device), as_t(looks), targets.to(device), as_t(owner),
                      as_t(rewrite, torch.bool), as_t(n_tok), as_t(first))


@dataclass
class DeltaResult:
    """delta: (n_req, d); init: (n_req, d) the site's output at each request's fact token with
    δ = 0; steps: (n_req,) forward passes each request's δ took; losses: per step, (nll, kl,
    weight decay, total) of request 0 (ROME's single request); probs: per step, the mean
    target probability of request 0."""

    delta: torch.Tensor
    init: torch.Tensor
    steps: list[int]
    losses: list[tuple[float, float, float, float]]
    probs: list[float]


def _block_out(out):
    return out[0] if isinstance(out, tuple) else out


def loss_reads(batch: DeltaBatch) -> torch.Tensor:
    """(n, 2) the (row, column) positions δ's loss reads, in its order: the target tokens of
    the rewriting rows (row by row), then each KL row's ``look``."""
    kl_rows = torch.nonzero(~batch.rewrite)[:, 0]
    kl = torch.stack([kl_rows, batch.look[kl_rows]], 1)
    return torch.cat([torch.nonzero(batch.targets != -100), kl])


def optimise_delta(model, batch: DeltaBatch, hparams, site, n_lower: int, d: int,
                   speed: Speed = Speed()) -> DeltaResult:
    """Adam on one δ per request, added at ``site``'s output (a module: ROME's W2, MEMIT's block)
    at each row's ``look`` position, minimising each request's ROME loss (module docstring);
    the requests' losses are summed, and as δ_i enters only request i's rows, each δ_i gets
    exactly its own gradient (Adam is element-wise): one batch = the requests one by one.
    A request stops (its δ frozen) when its loss < ``early_stop_loss`` (the reference), when its
    mean target probability ≥ ``early_stop_prob`` (if set), or after ``v_num_grad_steps``.
    ``n_lower``: blocks below the site, independent of δ; ``speed``: how it is computed
    (:class:`Speed`, never what)."""
    if not isinstance(speed, Speed):
        raise ParameterError("speed", type(speed).__name__, "must be a Speed (kedit_utils.editing.rome.compute_v)")
    device = batch.ids.device
    B, n_req = batch.ids.shape[0], batch.n_req
    rw_rows = torch.nonzero(batch.rewrite)[:, 0]
    kl_rows = torch.nonzero(~batch.rewrite)[:, 0]
    # the positions the loss reads: target tokens of the rewriting rows, the look of the KL rows
    p_rw = torch.nonzero(batch.targets != -100)
    reads = loss_reads(batch)
    g_rows, g_cols = reads[:, 0], reads[:, 1]
    n_g_rw = p_rw.shape[0]
    g_tgt = batch.targets[p_rw[:, 0], p_rw[:, 1]]
    count_rw = torch.zeros(n_req, device=device).index_add_(0, batch.owner[rw_rows], torch.ones(len(rw_rows), device=device))
    count_kl = torch.zeros(n_req, device=device).index_add_(0, batch.owner[kl_rows], torch.ones(len(kl_rows), device=device))
    all_rows = torch.arange(B, device=device)
    delta = torch.zeros(n_req, d, dtype=torch.float32, device=device, requires_grad=True)
    state: dict = {}

    def add_delta(_m, _i, out):
        h = _block_out(out)
        if "init" not in state:
            state["init"] = h[batch.first, batch.look[batch.first]].detach().float().clone()
        h = h.clone()
        h[all_rows, batch.look] = h[all_rows, batch.look] + delta[batch.owner].to(h.dtype)
        return (h, *out[1:]) if isinstance(out, tuple) else h

    loss_layer = hparams.v_loss_layer
    n = A.n_layers(model)
    lens = loss_layer is not None and loss_layer != n - 1
    fast_logits = speed.logits_at_targets
    reuse = speed.reuse_lower and n_lower > 0 and (loss_layer is None or loss_layer >= n_lower)
    unembed = model.get_output_embeddings()

    groups: list[RowGroup] = []
    current: dict = {}
    if groups_on := speed.prefix_once:
        state["init"] = torch.zeros(n_req, d, dtype=torch.float32, device=device)
        seen: set[int] = set()

    def add_delta_suffix(_m, _i, out):
        """δ at column 0 (δ's position) of the current group's suffix."""
        g = current["group"]
        h = _block_out(out)
        if id(g) not in seen:  # δ = 0 on a group's first pass: read z / v_init there
            seen.add(id(g))
            state["init"][batch.owner[g.rows[g.first]]] = h[g.first, 0].detach().float()
        h = h.clone()
        h[:, 0] = h[:, 0] + delta[batch.owner[g.rows]].to(h.dtype)
        return (h, *out[1:]) if isinstance(out, tuple) else h

    def log_probs_suffix():
        """Each group from δ's position on; the read positions' hidden states in the loss's
        order, then one unembedding."""
        hs, idx = [], []
        for g in groups:
            current["group"] = g
            h = suffix_hidden(model, g)
            if lens:
                h = A.final_norm_module(model)(state["lens"])
            hs.append(h[g.read[:, 0], g.read[:, 1]])
            idx.append(g.read_index)
        order = torch.argsort(torch.cat(idx))
        return unembed(torch.cat(hs)[order]).float().log_softmax(-1)

    def log_probs():
        if groups_on:
            return log_probs_suffix()
        kw = dict(input_ids=batch.ids, attention_mask=batch.mask, use_cache=False)
        if fast_logits:
            out = model.base_model(**kw)
            h = A.final_norm_module(model)(state["lens"]) if lens else out.last_hidden_state
            return unembed(h[g_rows, g_cols]).float().log_softmax(-1)
        out = model(**kw)
        logits = unembed(A.final_norm_module(model)(state["lens"])) if lens else out.logits
        return logits[g_rows, g_cols].float().log_softmax(-1)

    opt = torch.optim.Adam([delta], lr=hparams.v_lr)
    active = torch.ones(n_req, dtype=torch.bool, device=device)
    steps = [0] * n_req
    losses, probs = [], []
    prob_stop = getattr(hparams, "early_stop_prob", None)
    with ExitStack() as speedups:
        if speed.eager_attention:
            speedups.enter_context(A.attention_implementation(model, "eager"))
        if groups_on:
            with frozen(model):  # the prefixes' forward: in eval mode, before the replay and δ's hook
                groups = row_groups(model, batch, reads, speed.group_rows)
            if speed.mlp_where_used:
                # the blocks above the one holding the site (ROME's W2 is in block n_lower)
                above = n_lower + int(n_lower < n and any(m is site for m in A.layer_module(model, n_lower).modules()))
                read_block = loss_layer if lens else n - 1
                speedups.enter_context(mlps_at_used_positions(model, range(above, read_block + 1), read_block, current))
        replay_key = (lambda: id(current["group"])) if groups_on else None
        speedups.enter_context(frozen(model))
        speedups.enter_context(torch.enable_grad())
        speedups.enter_context(frozen_blocks_reused(model, n_lower if reuse else 0, key=replay_key))
        handles = [site.register_forward_hook(add_delta_suffix if groups_on else add_delta)]
        if lens:
            # block loss_layer's output, read after δ's hook (registered after it: on the site
            # itself it sees δ; HF's own hidden-state record may be taken before our hook)
            handles.append(A.layer_module(model, loss_layer).register_forward_hook(
                lambda _m, _i, out: state.__setitem__("lens", _block_out(out))))
        try:
            for it in range(hparams.v_num_grad_steps):
                opt.zero_grad()
                logp = log_probs()
                tok_lp = logp[:n_g_rw].gather(1, g_tgt[:, None])[:, 0]
                row_lp = torch.zeros(B, device=device).index_add(0, p_rw[:, 0], tok_lp)
                row_nll = -row_lp[rw_rows] / batch.n_tok[batch.owner[rw_rows]]
                nll = torch.zeros(n_req, device=device).index_add(0, batch.owner[rw_rows], row_nll) / count_rw
                prob = torch.zeros(n_req, device=device).index_add(
                    0, batch.owner[rw_rows], row_nll.detach().neg().exp()) / count_rw
                if len(kl_rows):
                    kl_lp = logp[n_g_rw:]
                    if "kl_init" not in state:
                        state["kl_init"] = kl_lp.detach().clone()
                    row_kl = (kl_lp.exp() * (kl_lp - state["kl_init"])).sum(-1)
                    kl = hparams.kl_factor * torch.zeros(n_req, device=device).index_add(
                        0, batch.owner[kl_rows], row_kl) / count_kl.clamp(min=1)
                else:
                    kl = torch.zeros(n_req, device=device)
                init = state["init"]
                wd = hparams.v_weight_decay * (delta.norm(dim=1) / init.norm(dim=1) ** 2)
                loss = nll + kl + wd
                losses.append(tuple(float(x[0].detach()) for x in (nll, kl, wd, loss)))
                probs.append(float(prob[0]))
                done = loss.detach() < hparams.early_stop_loss
                if prob_stop is not None:
                    done |= prob >= prob_stop
                if it == hparams.v_num_grad_steps - 1:
                    done |= True
                for r in torch.nonzero(active)[:, 0].tolist():
                    steps[r] = it + 1
                active &= ~done
                if not bool(active.any()):
                    break
                keep = delta.detach().clone()
                (loss * active).sum().backward()
                opt.step()
                max_norm = hparams.clamp_norm_factor * init.norm(dim=1)
                with torch.no_grad():
                    norms = delta.norm(dim=1)
                    scale = torch.where(norms > max_norm, max_norm / norms, torch.ones_like(norms))
                    delta.mul_(scale[:, None])
                    delta[~active] = keep[~active]  # a stopped request keeps its δ
        finally:
            for h in handles:
                h.remove()
    return DeltaResult(delta=delta.detach().clone(), init=state["init"], steps=steps, losses=losses, probs=probs)


def compute_v(model, tok, request, hparams, speed: Speed = Speed()) -> ValueResult:
    """Optimise δ and return v* = v_init + δ for ``request`` at ``hparams.layer``, computed as
    ``speed`` says (:class:`Speed`)."""
    device = next(model.parameters()).device
    layer = hparams.layer
    target_ids = target_token_ids(tok, request.target_new)
    batch = delta_batch(tok, [request], hparams, device)
    d_out = A.mlp_dims(model, layer)[1]
    dtype = A.edited_weight(model, layer).dtype
    # δ enters at W2's output in block `layer`: blocks 0..layer-1 do not depend on it
    res = optimise_delta(model, batch, hparams, A.mlp_out_module(model, layer), n_lower=layer, d=d_out, speed=speed)
    v_init, d = res.init[0], res.delta[0]
    return ValueResult(v_star=(v_init + d).to(dtype), v_init=v_init.to(dtype), delta=d.to(dtype),
                       target_ids=target_ids, steps=res.steps[0], losses=res.losses, probs=res.probs)
