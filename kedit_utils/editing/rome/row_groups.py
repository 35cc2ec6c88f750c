"""δ's rows computed from δ's position on (``Speed.prefix_once`` of :mod:`.compute_v`; ROME's v*
and MEMIT's z, Meng et al. 2022 §3.1 and 2023 §4.2).

δ is added at one position of each row: the subject's last token (or the prompt's last
token). Attention is causal, so no position before it depends on δ, in any block: each row's
prefix runs through the model once (:func:`row_groups`), its keys and values are kept, and
every optimisation step runs only the positions from δ's to the last one the loss reads
(:func:`suffix_hidden`): on a rewriting row "prompt + target[:-1]" that is the rest of the
prompt and the target; on a KL row, δ's position alone. The loss and the δ it gives are the
same as with whole rows, within float tolerance (tests/unit/test_edit_speed.py).

The rows are put in groups of similar suffix length (:func:`length_buckets`), so that a
group's padding stays small; each group is one forward pass per step. Inside a step, the MLPs
above the site run only where their output is used (:func:`mlps_at_used_positions`): at the
suffix's real tokens, not its pads, and in the block whose output the loss reads, only at the
positions read.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from kedit_utils.core import architectures as A
from kedit_utils.core.architectures import returned_kv_cache, with_kv_cache


@dataclass
class RowGroup:
    """Rows of a :class:`~.compute_v.DeltaBatch` that run from δ's position on.

    rows: (b,) their rows in the batch; suffix: (b, S) each row's tokens from its ``look`` to
    the last position its loss reads, right-padded; pos: (b, S) those tokens' positions in
    their row; mask: (b, P + S) the real tokens of the prefix (its first ``look`` tokens, in
    columns 0..P-1, P = the group's largest look) and of the suffix; cache: every block's keys
    and values at the prefixes (None when P = 0); read: (n, 2) (row in the group, suffix
    column) of the positions the loss reads; read_index: (n,) their places in the loss's
    order; first: (b,) bool, the rows of a request's bare prompt (where z / v_init is read).
    """

    rows: torch.Tensor
    suffix: torch.Tensor
    pos: torch.Tensor
    mask: torch.Tensor
    cache: object
    read: torch.Tensor
    read_index: torch.Tensor
    first: torch.Tensor


def length_buckets(lengths: list[int], min_rows: int) -> list[list[int]]:
    """Row indices sorted by ``lengths`` and cut, at a change of length, into buckets of at
    least ``min_rows`` rows (a smaller last bucket joins the one before)."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    buckets: list[list[int]] = []
    for k, i in enumerate(order):
        if not buckets or (len(buckets[-1]) >= min_rows and lengths[i] != lengths[order[k - 1]]):
            buckets.append([])
        buckets[-1].append(i)
    if len(buckets) > 1 and len(buckets[-1]) < min_rows:
        last = buckets.pop()
        buckets[-1] += last
    return buckets


def suffix_ends(batch, reads: torch.Tensor) -> torch.Tensor:
    """(B,) for each row of ``batch``, one past the last column of ``reads`` (n, 2) in it: a
    row runs from its ``look`` to there."""
    B = int(batch.ids.shape[0])
    return torch.zeros(B, dtype=torch.long, device=batch.ids.device).scatter_reduce_(
        0, reads[:, 0], reads[:, 1] + 1, reduce="amax")


def row_groups(model, batch, reads: torch.Tensor, min_rows: int = 16) -> list[RowGroup]:
    """The :class:`RowGroup` s of ``batch`` whose loss reads ``reads`` (n, 2) (row, column),
    in the loss's order; each row runs from its look to the last column read in it. The
    prefixes run here, once, without gradient, with causal attention only (a pad after a
    row's prefix is never attended by a real token, and is masked in the steps)."""
    device = batch.ids.device
    B = int(batch.ids.shape[0])
    lengths = (suffix_ends(batch, reads) - batch.look).tolist()
    is_first = torch.zeros(B, dtype=torch.bool, device=device)
    is_first[batch.first] = True
    groups = []
    for bucket in length_buckets(lengths, min_rows):
        rows = torch.tensor(bucket, dtype=torch.long, device=device)
        look = batch.look[rows]
        P, S, b = int(look.max()), max(lengths[i] for i in bucket), len(bucket)
        suffix = torch.zeros(b, S, dtype=torch.long, device=device)  # pads are masked
        mask = torch.zeros(b, P + S, dtype=torch.long, device=device)
        for j, (r, lo) in enumerate(zip(bucket, look.tolist())):
            suffix[j, : lengths[r]] = batch.ids[r, lo : lo + lengths[r]]
            mask[j, :lo] = 1
            mask[j, P : P + lengths[r]] = 1
        cache = None
        if P > 0:
            with torch.no_grad():
                cache = returned_kv_cache(model.base_model(input_ids=batch.ids[rows, :P], use_cache=True,
                                                           position_ids=torch.arange(P, device=device).expand(b, P)))
        at = torch.full((B,), -1, dtype=torch.long, device=device)
        at[rows] = torch.arange(b, device=device)
        mine = torch.nonzero(at[reads[:, 0]] >= 0)[:, 0]
        read = torch.stack([at[reads[mine, 0]], reads[mine, 1] - batch.look[reads[mine, 0]]], 1)
        groups.append(RowGroup(rows, suffix, look[:, None] + torch.arange(S, device=device)[None], mask, cache,
                               read, mine, is_first[rows]))
    return groups


def suffix_hidden(model, group: RowGroup) -> torch.Tensor:
    """(b, S, d) the last hidden state at ``group``'s suffix positions, the prefixes' keys and
    values taken from its cache (a copy: a forward appends to the cache it is given)."""
    cache = copy.deepcopy(group.cache) if group.cache is not None else None
    out = model.base_model(input_ids=group.suffix, attention_mask=group.mask, position_ids=group.pos,
                           use_cache=cache is not None, **with_kv_cache(model.base_model, cache))
    return out.last_hidden_state


def used_positions(group: RowGroup) -> tuple[torch.Tensor, torch.Tensor]:
    """(real, read): indices into ``group``'s flattened suffix (b·S positions) of its real
    tokens (not the pads) and of the positions its loss reads."""
    S = int(group.suffix.shape[1])
    real = torch.nonzero(group.mask[:, -S:].reshape(-1))[:, 0]
    read = torch.unique(group.read[:, 0] * S + group.read[:, 1])
    return real, read


@contextmanager
def mlps_at_used_positions(model, blocks: range, read_block: int, current: dict) -> Iterator[None]:
    """Inside the block, the MLP of each of ``blocks`` runs only at the real tokens of the
    group ``current["group"]`` (not at its pads), and the MLP of ``read_block`` only at the
    positions its loss reads; at the other positions the MLP gives back its input. An MLP acts on each
    position alone, a pad is never attended to, and no position but those read is used after
    ``read_block``: every value that reaches the loss is the same as with the MLPs run on the
    whole (b, S) suffix (tests/unit/test_edit_speed.py). On SmolLM2 the MLP is three quarters
    of a block's matrix work, and the pads were a sixth of a 100-edit batch's suffix tokens."""
    index: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    inputs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def where(i: int) -> torch.Tensor:
        g = current["group"]
        if id(g) not in index:
            index[id(g)] = used_positions(g)
        real, read = index[id(g)]
        return read if i == read_block else real

    def gather(i):
        def hook(_m, args):
            x, idx = args[0], where(i)
            inputs[i] = (x, idx)
            return (x.reshape(-1, x.shape[-1]).index_select(0, idx), *args[1:])
        return hook

    def scatter(i):
        def hook(_m, _args, out):
            if not torch.is_tensor(out):
                raise TypeError(f"block {i}'s MLP returned {type(out).__name__}, not a tensor")
            x, idx = inputs.pop(i)
            if out.shape[-1] != x.shape[-1]:
                raise TypeError(f"block {i}'s MLP changes the width ({x.shape[-1]} → {out.shape[-1]})")
            # the positions skipped keep the MLP's input (finite, and never used): no zero fill
            return x.reshape(-1, x.shape[-1]).index_copy(0, idx, out).reshape(x.shape)
        return hook

    handles = []
    try:
        for i in blocks:
            mlp = A.mlp_module(model, i)
            handles.append(mlp.register_forward_pre_hook(gather(i)))
            handles.append(mlp.register_forward_hook(scatter(i)))
        yield
    finally:
        for h in handles:
            h.remove()


__all__ = ["RowGroup", "length_buckets", "mlps_at_used_positions", "row_groups", "suffix_ends", "suffix_hidden",
           "used_positions"]
