"""Blocks computed once and replayed: the lower blocks of a model whose input does not change
and whose weights are not trained give the same output at every step of an optimisation
loop (FT's steps, :mod:`.ft`; the v*/z optimisation of ROME and MEMIT, :mod:`.rome.compute_v`),
so they are computed on the first forward and their output is given back on the later ones.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from kedit_utils.core import architectures as A


def lowest_block(model, params) -> int:
    """The first block that holds one of ``params`` (the number of blocks when none does)."""
    ids = {id(p) for p in params}
    for i in range(A.n_layers(model)):
        if any(id(p) in ids for p in A.layer_module(model, i).parameters()):
            return i
    return A.n_layers(model)


@contextmanager
def frozen_blocks_reused(model, below: int, key=None) -> Iterator[None]:
    """Inside the block, blocks ``0 .. below-1`` compute once and then give back what they
    gave the first time (FT's loop: the same input every step and no trained weight below
    the lowest trained block, so their outputs cannot change; on SmolLM2 with layer 8 that is
    8 of 30 blocks' forward saved at every step after the first). Only for a loop over one
    fixed input with those blocks frozen. The blocks' forward hooks still run on the replayed
    output (ROME's and MEMIT's δ is added by one at the site, which may be the last block).
    ``key``: a function of no argument naming the fixed input the next forward is on (a loop
    over several fixed inputs, as δ's row groups: :func:`.rome.compute_v.optimise_delta`);
    each input's outputs are kept and replayed apart."""
    blocks = [A.layer_module(model, i) for i in range(below)]
    saved: dict[tuple, object] = {}

    def patched(i, original):
        def forward(*args, **kwargs):
            k = (i, key() if key is not None else None)
            if k not in saved:
                with torch.no_grad():
                    saved[k] = original(*args, **kwargs)
            return saved[k]
        return forward

    own = [b.__dict__.get("forward") for b in blocks]  # an instance forward (accelerate's hooks) is kept
    for i, b in enumerate(blocks):
        b.forward = patched(i, b.forward)
    try:
        yield
    finally:
        for b, f in zip(blocks, own):
            if f is None:
                del b.forward  # the class's forward again
            else:
                b.forward = f


__all__ = ["frozen_blocks_reused", "lowest_block"]
