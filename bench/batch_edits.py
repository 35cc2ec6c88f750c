"""Benchmark: MEMIT and AlphaEdit on a batch of counterfactual edits on SmolLM2-135M-Instruct
(issue 10 §6: a batch of 100 in ≤ 60 s on this 2-core CPU, covariances cached).

The requests are modify requests from the facts the model knows (chapter 7's table,
:func:`kedit_utils.survey.experiment.cached_known_facts`); the key covariances come from the
artifact cache (estimated once from the generated corpus), so the time is the edit alone:
the z optimisation (``compute_zs``, ``SPEED.batch_requests`` requests per forward pass) and
the per-layer update. Also printed: the batch's reliability (teacher-forced) and ‖ΔW‖.

    python bench/batch_edits.py [--edits 100] [--threads 2] [--methods memit alphaedit]
"""
from __future__ import annotations

import argparse
import time

import torch

from kedit_utils import metrics as M
from kedit_utils.datasets import facts as F
from kedit_utils.editors import get_editor
from kedit_utils.pretrained import default_covariance_texts
from kedit_utils.survey import experiment as E, grid as G


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", nargs="+", default=["memit", "alphaedit"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, tok, name, model_id = E.load_pretrained("smollm2")
    known = E.cached_known_facts(model, tok, model_id)
    reqs = [r.request for r in F.make_requests("modify", args.edits, known, seed=0, n_locality=0)]
    ctx = G.covariance_context(model, tok, args.methods, {}, default_covariance_texts(1000), model_id, progress=False)
    print(f"{name}, {len(reqs)} modify edits in one batch, {args.threads} thread(s)")
    print(f"{'method':10} {'seconds':>8} {'s/edit':>7} {'reliability':>11} {'|dW|':>7}")
    for m in args.methods:
        t0 = time.perf_counter()
        h = get_editor(m).apply(model, tok, reqs, None, **ctx[m])
        wall = time.perf_counter() - t0
        rel = M.rewrite_acc(model, tok, reqs)
        print(f"{m:10} {wall:8.1f} {wall / len(reqs):7.2f} {rel:11.2f} {h.delta_norm:7.2f}")
        h.restore()


if __name__ == "__main__":
    main()
