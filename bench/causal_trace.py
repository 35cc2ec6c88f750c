"""Benchmark: batched causal tracing vs the one-forward-per-patch loop (Paper A Appendix B).

Same model, same prompts, same noise in one run; prints seconds for each and the ratio, and
the largest difference between their scores (float rounding only).

    python bench/causal_trace.py                 # tiny GPT-2 (6 layers, d = 128), 20 prompts
    python bench/causal_trace.py --smollm2       # also one SmolLM2-135M prompt (MLP kind)
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from kedit_utils.kg import tracing as T
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.vocabulary import Vocabulary


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def max_diff(a, b) -> float:
    return max(float(np.abs(x[k].scores - y[k].scores).max()) for x, y in zip(a, b) for k in x)


def bench_tiny(args) -> None:
    vocab = Vocabulary(200, 50, 5)
    model = gpt2_from_scratch(vocab, ModelSpec(n_layers=args.layers, n_embd=args.n_embd, n_head=4), seed=0).eval()
    rng = np.random.default_rng(0)
    n = args.prompts
    prompts = np.stack([vocab.entity_ids[rng.integers(200, size=n), 0], vocab.relation_ids[rng.integers(50, size=n), 0]], 1)
    tp = T.alias_prompts(vocab, prompts, rng.integers(200, size=n))
    kw = dict(noise_std=T.alias_noise_std(model, vocab), n_samples=args.samples, window=args.window)
    T.trace(model, tp[:1], **kw)  # warm-up
    batched, tb = timed(lambda: T.trace(model, tp, **kw))
    loop, tl = timed(lambda: T.trace_loop(model, tp, **kw))
    passes = n * (1 + len(T.KINDS) * args.layers * 2)
    print(f"tiny GPT-2 ({args.layers} layers, d={args.n_embd}), {n} prompts x 3 kinds x {args.layers} layers "
          f"x 2 tokens x {args.samples} noise samples")
    print(f"  batched: {tb:8.3f} s   ({len(set(len(p.token_ids) for p in tp))} forward pass(es) + 1 clean)")
    print(f"  loop:    {tl:8.3f} s   ({passes} forward passes)")
    print(f"  loop / batched = {tl / tb:.1f}x   max |score difference| = {max_diff(batched, loop):.2e}")


def bench_smollm2(args) -> None:
    from kedit_utils.core.pretrained import load_smollm2

    model, tok = load_smollm2()
    p = T.text_prompt(model, tok, "The Eiffel Tower is located in the city of", "The Eiffel Tower")
    kw = dict(kinds=("mlp",), n_samples=args.samples, window=args.window)
    batched, tb = timed(lambda: T.trace(model, [p], max_rows=args.max_rows, **kw))
    loop, tl = timed(lambda: T.trace_loop(model, [p], **kw))
    print(f"SmolLM2-135M, 1 prompt of {len(p.token_ids)} tokens x 30 layers, MLP kind, {args.samples} noise samples")
    print(f"  batched: {tb:8.3f} s   (rows in passes of at most {args.max_rows})")
    print(f"  loop:    {tl:8.3f} s   ({1 + 30 * len(p.token_ids)} forward passes)")
    print(f"  loop / batched = {tl / tb:.1f}x   max |score difference| = {max_diff(batched, loop):.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 avoids oversubscription)")
    ap.add_argument("--smollm2", action="store_true", help="also trace one SmolLM2-135M prompt")
    ap.add_argument("--max-rows", type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU")
    bench_tiny(args)
    if args.smollm2:
        bench_smollm2(args)


if __name__ == "__main__":
    main()
