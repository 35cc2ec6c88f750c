"""Benchmark: FOMAML (Paper B §3) on SmolLM2-135M-Instruct on this machine, by scope.

For each scope (attention, MLP, both; one layer, or all layers with ``--all-layers``):

* seconds per meta-training task (:func:`kedit_utils.propagation.fomaml.meta_step`: 10 inner FT
  steps, the related question's gradient at θ_τ, θ restored, one outer AdamW step);
* seconds per edit + answer (:func:`kedit_utils.propagation.evaluate_case` with the FT edit of the
  inner loop's settings, one question, greedy ≤ 10 new tokens, restore);
* achieved FLOP/s as a share of this machine's float32 matmul rate measured in the same run
  at the same thread count (``matmul_gflops`` of bench/train.py).

The issue's target: ≤ 2 s per task and ≤ 2 s per edit + answer with a single-layer scope
(Paper B: 1.68 s per edit, Llama3-8B on a GPU).

FLOPs are counted for this model and these token counts, not estimated from the parameter
count. One training step on a sequence of T tokens with A answer tokens:

    forward   = T x 2 x (matmul weights of the blocks computed) + A x 2 x d x V   # logits at the answers
              + attention scores and values, 2 x 2 x T^2 x d per block computed
    backward  = activation gradients from the logits down to the lowest trained block
                (the same matmuls as the forward of those blocks and of the head)
              + weight gradients of the trained matrices (T x 2 x their size)

In FT's loop (editors/ft.py) the blocks below the lowest trained one are computed on the
first step only (``frozen_blocks_reused``), and the unembedding (d x V = 576 x 49,152 on
SmolLM2, a quarter of the model) is applied at the answer positions only (``answer_loss``).
``--without answer-logits`` / ``--without lower-reuse`` switch each off, to show its gain
(the counted FLOPs follow). Generation with a KV cache: the prompt's forward (last-position
logits only) and one token's forward per new token (its attention over the cache is counted).

Usage: python bench/fomaml.py [--tasks 3] [--cases 3] [--layer 8] [--scopes attn mlp attn+mlp]
       [--all-layers] [--threads 1] [--without answer-logits lower-reuse] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train import matmul_gflops  # noqa: E402  (bench/train.py)

from kedit_utils.core import architectures as A  # noqa: E402
from kedit_utils.core.pretrained import load_smollm2  # noqa: E402
from kedit_utils.core.tokens import encode, target_token_ids  # noqa: E402
from kedit_utils.datasets.cases import PropagationCase  # noqa: E402
from kedit_utils.editing.requests import EditRequest  # noqa: E402
from kedit_utils.propagation import FOMAMLConfig, evaluate_case, meta_step, scope_parameter_names  # noqa: E402
from kedit_utils.propagation.fomaml import make_outer_optimizer, tasks_from_cases  # noqa: E402

# CRE-style tasks (Paper B Appendix A's form): a new fact about an invented company, and a
# 2-hop question whose second hop is common knowledge
FACTS = [
    ("Smith Innovation PLC", "Smith Innovation PLC's global headquarters was located in", "Greece",
     "the currency of the country that hosted", "Euro"),
    ("Allen Manufacturing LLC", "Allen Manufacturing LLC was founded in", "Japan",
     "the capital of the country where they founded", "Tokyo"),
    ("Brooks Logistics Ltd", "Brooks Logistics Ltd's main factory is in", "Brazil",
     "the official language of the country that has the main factory of", "Portuguese"),
    ("Carter Foods Inc", "Carter Foods Inc was registered in", "Egypt",
     "the continent of the country where they registered", "Africa"),
    ("Dunn Textiles Group", "Dunn Textiles Group's research centre is in", "Canada",
     "the capital of the country with the research centre of", "Ottawa"),
]


def bench_cases(n: int) -> list[PropagationCase]:
    out = []
    for i in range(n):
        subj, prompt, obj, rel, ans = FACTS[i % len(FACTS)]
        out.append(PropagationCase(f"bench{i}", (EditRequest(prompt, subj, obj),),
                                   (f"Question: What is {rel} {subj}? Answer:",), (ans,)))
    return out


def block_matmul_params(model, layer: int, modules=("attn", "mlp")) -> int:
    """Elements of the matmul weights (``.weight`` of dim 2) of ``modules`` in block ``layer``."""
    names = []
    arch = A.arch_of(model)
    for m in modules:
        prefix = (arch.attn if m == "attn" else arch.mlp).format(layer) + "."
        names += [n for n, p in model.named_parameters() if n.startswith(prefix) and p.ndim == 2]
    return sum(model.get_parameter(n).numel() for n in names)


HEAD_AT_EVERY_POSITION = False  # True with --without answer-logits
LOWER_REUSED = True  # False with --without lower-reuse


def step_flops(model, T: int, names: list[str], layers: tuple[int, ...], n_answer: int = 1,
               reused: bool = False) -> float:
    """FLOPs of one training step (forward + backward) on T tokens (module docstring); the
    head at every position, or at the ``n_answer`` answer positions only; ``reused``: the
    blocks below ``min(layers)`` are not computed."""
    cfg = model.config
    d, V, L = cfg.hidden_size, cfg.vocab_size, A.n_layers(model)
    block = [2 * T * block_matmul_params(model, l) + 4 * T * T * d for l in range(L)]
    head = 2 * (T if HEAD_AT_EVERY_POSITION else n_answer) * d * V
    forward = sum(block[min(layers) if reused else 0:]) + head
    backward_act = head + sum(block[min(layers):])
    backward_w = 2 * T * sum(model.get_parameter(n).numel() for n in names if model.get_parameter(n).ndim == 2)
    return float(forward + backward_act + backward_w)


def generate_flops(model, T: int, new: int) -> float:
    cfg = model.config
    d, V, L = cfg.hidden_size, cfg.vocab_size, A.n_layers(model)
    per_token = sum(2 * block_matmul_params(model, l) for l in range(L))
    prompt = T * per_token + sum(4 * T * T * d for _ in range(L)) + 2 * d * V
    steps = sum(per_token + L * 4 * (T + k) * d + 2 * d * V for k in range(1, new))
    return float(prompt + steps)


def edit_flops(model, tok, task, cfg, names, layers) -> float:
    """The inner loop's steps: the first computes every block, the others (with the reuse)
    only those from the lowest trained one up."""
    a = len(target_token_ids(tok, task.target.target_new))
    T = len(encode(tok, task.target.prompt)) + a - 1
    return step_flops(model, T, names, layers, a) + \
        (cfg.inner_steps - 1) * step_flops(model, T, names, layers, a, reused=LOWER_REUSED)


def task_flops(model, tok, task, cfg, names, layers) -> float:
    """The inner steps, plus the related loss's forward and backward (weight grads included)."""
    a = len(target_token_ids(tok, task.answer))
    return edit_flops(model, tok, task, cfg, names, layers) + \
        step_flops(model, len(encode(tok, task.question)) + a - 1, names, layers, a)


def run(args) -> list[dict]:
    torch.set_num_threads(args.threads)
    import contextlib

    import kedit_utils.editing.ft as ft

    global HEAD_AT_EVERY_POSITION, LOWER_REUSED
    if "answer-logits" in args.without:
        ft.position_logits = lambda model, ids, mask, rows, pos: \
            model(input_ids=ids, attention_mask=mask).logits[rows, pos]
        HEAD_AT_EVERY_POSITION = True
    if "lower-reuse" in args.without:
        ft.frozen_blocks_reused = lambda model, below: contextlib.nullcontext()
        LOWER_REUSED = False
    print("FT's loop without:", ", ".join(args.without) or "nothing (both speed-ups on)")
    t0 = time.perf_counter()
    model, tok = load_smollm2()
    print(f"SmolLM2 loaded in {time.perf_counter() - t0:.1f} s; {torch.get_num_threads()} thread(s)", flush=True)
    peak = matmul_gflops(torch.device("cpu"))
    print(f"float32 matmul (1024^2) at {torch.get_num_threads()} thread(s): {peak:.1f} GFLOP/s\n", flush=True)
    cases = bench_cases(max(args.tasks, args.cases))
    tasks = tasks_from_cases(cases)
    scopes = [(s, (args.layer,)) for s in args.scopes]
    if args.all_layers:
        scopes += [(s, None) for s in args.scopes]
    rows = []
    for scope, layers in scopes:
        cfg = FOMAMLConfig(scope=scope, layers=layers, inner_lr=1e-4)
        names = scope_parameter_names(model, cfg)
        lay = cfg.resolved_layers(model)
        base = {n: model.get_parameter(n).detach().clone() for n in names}
        outer = make_outer_optimizer(model, names, cfg)
        buffers = [torch.empty_like(model.get_parameter(n)) for n in names]
        n_tasks = args.tasks if layers is not None else max(1, args.tasks // 3)
        meta_step(model, tok, tasks[0], names, outer, cfg, buffers)  # warm-up
        secs, flops = [], []
        for t in tasks[:n_tasks]:
            log = meta_step(model, tok, t, names, outer, cfg, buffers)
            secs.append(log.seconds)
            flops.append(task_flops(model, tok, t, cfg, names, lay))
        with torch.no_grad():
            for n, v in base.items():
                model.get_parameter(n).copy_(v)
        hp = cfg.ft_hparams(model)
        evaluate_case(model, tok, cases[0], "ft", hp)  # warm-up
        esecs, eedit, eflops, answers = [], [], [], []
        for c in cases[:args.cases]:
            r = evaluate_case(model, tok, c, "ft", hp)
            esecs.append(r.seconds)
            eedit.append(r.edit_seconds)
            t = tasks_from_cases([c])[0]
            eflops.append(edit_flops(model, tok, t, cfg, names, lay)
                          + generate_flops(model, len(encode(tok, t.question)), 10))
            answers.append(r.correct)
        s_task = sum(secs) / len(secs)
        s_case = sum(esecs) / len(esecs)
        row = {"scope": scope, "layers": "all" if layers is None else ",".join(map(str, layers)),
               "trained_params": sum(model.get_parameter(n).numel() for n in names),
               "s_per_task": s_task, "s_per_edit": sum(eedit) / len(eedit), "s_per_edit_answer": s_case,
               "task_gflops": sum(flops) / len(flops) / 1e9, "task_gflop_s": sum(flops) / sum(secs) / 1e9,
               "task_matmul_share": sum(flops) / sum(secs) / 1e9 / peak,
               "edit_answer_gflop_s": sum(eflops) / sum(esecs) / 1e9,
               "edit_answer_matmul_share": sum(eflops) / sum(esecs) / 1e9 / peak,
               "n_tasks": len(secs), "n_cases": len(esecs), "answered_after_edit": sum(answers)}
        rows.append(row)
        print(f"{scope:8s} layers {row['layers']:>4s} ({row['trained_params'] / 1e6:5.1f} M trained): "
              f"{s_task:6.2f} s/task ({row['task_gflop_s']:5.1f} GFLOP/s = {row['task_matmul_share']:.0%} of matmul)"
              f" | {row['s_per_edit']:5.2f} s/edit, {s_case:5.2f} s/edit+answer "
              f"({row['edit_answer_gflop_s']:5.1f} GFLOP/s = {row['edit_answer_matmul_share']:.0%})", flush=True)
    print("\n| scope | layers | trained (M) | s/task | s/edit | s/edit+answer | task GFLOP/s (share) | "
          "edit+answer GFLOP/s (share) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scope']} | {r['layers']} | {r['trained_params'] / 1e6:.1f} | {r['s_per_task']:.2f} | "
              f"{r['s_per_edit']:.2f} | {r['s_per_edit_answer']:.2f} | {r['task_gflop_s']:.1f} "
              f"({r['task_matmul_share']:.0%}) | {r['edit_answer_gflop_s']:.1f} ({r['edit_answer_matmul_share']:.0%}) |")
    print(f"\nmatmul reference: {peak:.1f} GFLOP/s at {torch.get_num_threads()} thread(s); "
          f"target (issue 11): <= 2 s per task and per edit+answer, single layer")
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=3, help="timed meta-training tasks per scope (after a warm-up)")
    p.add_argument("--cases", type=int, default=3, help="timed edit+answer cases per scope (after a warm-up)")
    p.add_argument("--layer", type=int, default=8, help="the single layer (FT's SmolLM2 preset: 8 of 30)")
    p.add_argument("--scopes", nargs="+", default=["attn", "mlp", "attn+mlp"], choices=["attn", "mlp", "attn+mlp"])
    p.add_argument("--all-layers", action="store_true", help="also every layer (Table 1's setting; slow)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--without", nargs="*", default=[], choices=["answer-logits", "lower-reuse"],
                   help="switch off a speed-up of FT's loop (module docstring) to measure its gain")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    rows = run(args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
