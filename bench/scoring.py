"""Benchmark: one evaluation of all knowledge at paper scale (the step after every deletion of
Paper A §4, :func:`kedit_utils.kg.alias_accuracy.score_prompts`), and the activation inside it.

A chapter-5 sweep evaluates the 14,775 (subject alias, relation alias) prompts of the paper's
BA corpus after each of its 200 deletions; that evaluation was 78-80 % of a sweep's time
(py-spy, Session 10). Printed, on freshly initialised models of the paper profile's
architecture (width 128; the cost does not depend on the weights) at each depth:

* seconds per evaluation with each whole prompt run through the model's forward, and with
  the shared prefixes and the lean GPT-2 step (:mod:`kedit_utils.core.prefix_scoring`, the path the
  sweeps use);
* GPT-2's activation on one (512, 512) batch: PyTorch's fused ``gelu(approximate="tanh")``
  against :func:`kedit_utils.core.prefix_scoring.gelu_tanh` (the same function through a sigmoid).

Usage: ``python bench/scoring.py [--depths 6 12 24] [--threads 1] [--repeats 3]`` (one thread
is what each of chapter 5's two sweep workers has).
"""
from __future__ import annotations

import argparse
import time

import torch

from kedit_utils.kg.alias_accuracy import score_prompts
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.graphs import GraphSpec, build_graph

try:  # absent before the sigmoid form: the script also times an older commit's evaluation
    from kedit_utils.core.prefix_scoring import gelu_tanh
except ImportError:
    gelu_tanh = None


def best_of(fn, repeats: int) -> float:
    """The fastest of ``repeats`` timed calls of ``fn`` (after one untimed call), in seconds."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", type=int, nargs="+", default=[6, 12, 24])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    kg = build_graph(GraphSpec(kind="ba", n_entities=200, n_relations=50, ba_m=3, seed=0))
    corpus = alias_corpus(kg, n_aliases=5, sample_fraction=0.2, seed=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {corpus.prompts.shape[0]} prompts")
    x = torch.randn(512, 512) * 3
    fused = best_of(lambda: torch.nn.functional.gelu(x, approximate="tanh"), 50 * args.repeats) * 1e3
    if gelu_tanh is not None:
        ours = best_of(lambda: gelu_tanh(x), 50 * args.repeats) * 1e3
        print(f"GELU (tanh approximation) on (512, 512): fused {fused:.2f} ms, through a sigmoid {ours:.2f} ms")
    print(f"{'layers':>6} {'whole prompts s':>16} {'shared prefix + lean step s':>28}")
    for depth in args.depths:
        model = gpt2_from_scratch(corpus.vocab, ModelSpec(n_layers=depth, n_embd=128, n_head=4), seed=0)
        score = lambda shared: score_prompts(model, corpus.prompts, corpus.prompt_object,  # noqa: E731
                                             corpus.vocab, shared_prefix=shared)
        whole, lean = best_of(lambda: score(False), args.repeats), best_of(lambda: score(True), args.repeats)
        print(f"{depth:>6} {whole:>16.2f} {lean:>28.2f}", flush=True)


if __name__ == "__main__":
    main()
