"""Benchmark: MEMIT and AlphaEdit on a batch of counterfactual edits on SmolLM2-135M-Instruct
(issue 10 §6: a batch of 100 in ≤ 60 s on this 2-core CPU, covariances cached).

The requests are modify requests from the facts the model knows (chapter 7's table,
:func:`kedit_utils.survey.studies.cached_known_facts`); the key covariances come from the
artifact cache (estimated once from the generated corpus), so the time is the edit alone:
the z optimisation (``compute_zs``, ``Speed.batch_requests`` requests per forward pass) and
the per-layer update. Also printed: the batch's reliability (teacher-forced) and ‖ΔW‖.

    python bench/batch_edits.py [--edits 100] [--threads 2] [--methods memit alphaedit]
                                [--set early_stop_prob=0.9 ...] [--speed group_rows=8 ...]

``--set name=value`` changes a field of each method's SmolLM2 preset (to measure a proposed
change; the z optimisation's steps are printed with the time). ``--speed name=value`` sets
an option of the δ optimisation's :class:`~kedit_utils.editing.rome.compute_v.Speed` (how it
is computed, not what), passed to each edit as ``speed=``.

Also printed: the z optimisation's floating-point work, counted for these requests and the
steps each took (forward and activation backward of the blocks above the z layer from δ's
position on, the unembedding at the positions the loss reads; the blocks below are replayed
and the positions before δ's run once), the rate it ran at, and the time it would take at
this machine's float32 matmul rate (bench/train.py's ``matmul_gflops``): the floor for the
published settings (steps, KL rows) on this CPU.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import matmul_gflops  # noqa: E402  (bench/train.py)

from kedit_utils.core import architectures as A  # noqa: E402
from kedit_utils.core.pretrained import default_covariance_texts
from kedit_utils.datasets import facts as F
from kedit_utils.editing import get_editor, prerequisites
from kedit_utils.editing import metrics as M
from kedit_utils.editing.rome.compute_v import Speed
from kedit_utils.survey import studies as E


def z_flops(model, tok, requests, hp, steps, speed: Speed = Speed()) -> float:
    """FLOPs of the z optimisation as computed with ``speed`` (module docstring, ``prefix_once``): per
    request and step, each row's positions from δ's to the last one its loss reads (not the
    pads) through the blocks above the z layer, forward and activation backward (2 x 2 x
    tokens x matmul weights, plus attention 2 x 2 x tokens x row length x d per block; the last
    block's MLP only at the positions read), and the
    unembedding at the positions read (2 x 2 x d x V each); once per request, the prefixes
    before δ's position through every block (forward: 2 x tokens x matmul weights)."""
    from kedit_utils.editing.rome.compute_v import delta_batch, loss_reads
    from kedit_utils.editing.rome.row_groups import suffix_ends

    z_layer, n = max(hp.layers), A.n_layers(model)
    d, V = model.config.hidden_size, model.config.vocab_size
    per_block = sum(p.numel() for name, p in A.layer_module(model, z_layer + 1).named_parameters() if p.ndim == 2)
    per_mlp = sum(p.numel() for p in A.mlp_module(model, z_layer + 1).parameters() if p.ndim == 2)
    total = 0.0
    for r, k in zip(requests, steps):
        b = delta_batch(tok, [r], hp, "cpu")
        reads = loss_reads(b)
        ends = suffix_ends(b, reads)
        suffix = (ends - b.look).tolist()
        fwd = sum(2 * t * per_block + 4 * t * e * d for t, e in zip(suffix, ends.tolist())) * (n - 1 - z_layer) \
            + 2 * len(reads) * d * V
        if speed.mlp_where_used:  # the last block's MLP only at the positions read
            fwd -= 2 * (sum(suffix) - len(reads)) * per_mlp
        total += 2 * fwd * k + 2 * int(b.look.sum()) * per_block * n
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", nargs="+", default=["memit", "alphaedit"])
    ap.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="override a preset field")
    ap.add_argument("--speed", nargs="*", default=[], metavar="NAME=VALUE", help="set a Speed option")
    args = ap.parse_args()
    import ast

    changes = {k: ast.literal_eval(v) for k, v in (x.split("=", 1) for x in args.set)}
    speed_options = {k: ast.literal_eval(v) for k, v in (x.split("=", 1) for x in args.speed)}
    speed = Speed().with_(**speed_options)  # an unknown option fails here, before the model loads
    torch.set_num_threads(args.threads)
    model, tok, name, model_id = E.load_pretrained("smollm2")
    known = E.cached_known_facts(model, tok, model_id)
    reqs = [r.request for r in F.make_requests("modify", args.edits, known, seed=0, n_locality=0)]
    ctx = prerequisites.covariance_context(model, tok, args.methods, {}, default_covariance_texts(1000), model_id, progress=False)
    print(f"{name}, {len(reqs)} modify edits in one batch, {args.threads} thread(s)")
    if changes:
        print("preset changes:", changes)
    if speed_options:
        print("speed options:", speed_options)
    peak = matmul_gflops(torch.device("cpu"))
    print(f"float32 matmul at {args.threads} thread(s): {peak:.1f} GFLOP/s")
    print(f"{'method':10} {'seconds':>8} {'s/edit':>7} {'z steps':>7} {'reliability':>11} {'|dW|':>7} "
          f"{'z TFLOP':>8} {'GFLOP/s':>8} {'s at peak':>9}")
    for m in args.methods:
        editor = get_editor(m)
        hp = dataclasses.replace(editor.resolve_hparams(model, None), **changes)
        t0 = time.perf_counter()
        h = editor.apply(model, tok, reqs, hp, **ctx[m], speed=speed)
        wall = time.perf_counter() - t0
        steps = h.info.get("z_steps")
        flops = z_flops(model, tok, reqs, hp, steps, speed) if steps else float("nan")
        rel = M.rewrite_acc(model, tok, reqs)
        mean_steps = f"{sum(steps) / len(steps):7.1f}" if steps else f"{'':>7}"
        print(f"{m:10} {wall:8.1f} {wall / len(reqs):7.2f} {mean_steps} {rel:11.2f} {h.delta_norm:7.2f} "
              f"{flops / 1e12:8.2f} {flops / wall / 1e9:8.1f} {flops / peak / 1e9:9.1f}")
        h.restore()


if __name__ == "__main__":
    main()
