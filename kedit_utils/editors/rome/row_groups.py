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
group's padding stays small; each group is one forward pass per step.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ...architectures import returned_kv_cache, with_kv_cache


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


__all__ = ["RowGroup", "length_buckets", "row_groups", "suffix_ends", "suffix_hidden"]
