"""Benchmark: FOMAML (Paper B §3) on SmolLM2-135M-Instruct on this machine, by scope.

For each scope (attention, MLP, both; one layer, or all layers with ``--all-layers``):

* seconds per meta-training task (:func:`kedit_utils.meta.fomaml.meta_step`: 10 inner FT
  steps, the related question's gradient at θ_τ, θ restored, one outer AdamW step);
* seconds per edit + answer (:func:`kedit_utils.meta.evaluate_case` with the FT edit of the
  inner loop's settings, one question, greedy ≤ 10 new tokens, restore);
* achieved FLOP/s as a share of this machine's float32 matmul rate measured in the same run
  at the same thread count (``matmul_gflops`` of bench/train.py).

The issue's target: ≤ 2 s per task and ≤ 2 s per edit + answer with a single-layer scope
(Paper B: 1.68 s per edit, Llama3-8B on a GPU).

FLOPs are counted for this model and these token counts, not estimated from the parameter
count. One training step on a sequence of T tokens:

    forward   = T x 2 x (matmul weights of every block) + T x 2 x d x V   # logits at every position
              + attention scores and values, 2 x 2 x T^2 x d per layer
    backward  = activation gradients from the logits down to the lowest trained block
                (the same matmuls as the forward of those blocks and of the head)
              + weight gradients of the trained matrices (T x 2 x their size)

Generation with a KV cache: the prompt's forward (last-position logits only) and one token's
forward per new token (its attention over the cache is counted).

``--answer-logits-only`` measures a proposed change to editors/ft.py's ``answer_loss``: the
unembedding (d x V = 576 x 49,152 on SmolLM2, a quarter of the model) applied only at the
answer positions instead of at every position (the counted FLOPs then drop accordingly).

Usage: python bench/fomaml.py [--tasks 3] [--cases 3] [--layer 8] [--scopes attn mlp attn+mlp]
       [--all-layers] [--threads 1] [--answer-logits-only] [--json out.json]
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

from kedit_utils import architectures as A  # noqa: E402
from kedit_utils.datasets.cases import PropagationCase  # noqa: E402
from kedit_utils.editors.requests import EditRequest  # noqa: E402
from kedit_utils.editors.rome.tokens import encode, target_token_ids  # noqa: E402
from kedit_utils.meta import FOMAMLConfig, evaluate_case, meta_step, scope_parameter_names  # noqa: E402
from kedit_utils.meta.fomaml import make_outer_optimizer, tasks_from_cases  # noqa: E402
from kedit_utils.pretrained import load_smollm2  # noqa: E402
from kedit_utils.editors.ft import answer_loss as _ORIGINAL_LOSS  # noqa: E402

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


HEAD_AT_EVERY_POSITION = True  # False with --answer-logits-only


def step_flops(model, T: int, names: list[str], layers: tuple[int, ...], n_answer: int = 1) -> float:
    """FLOPs of one training step (forward + backward) on T tokens (module docstring); the
    head at every position, or at the ``n_answer`` answer positions only."""
    cfg = model.config
    d, V, L = cfg.hidden_size, cfg.vocab_size, A.n_layers(model)
    block = [2 * T * block_matmul_params(model, l) + 4 * T * T * d for l in range(L)]
    head = 2 * (T if HEAD_AT_EVERY_POSITION else n_answer) * d * V
    forward = sum(block) + head
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
    a = len(target_token_ids(tok, task.target.target_new))
    return cfg.inner_steps * step_flops(model, len(encode(tok, task.target.prompt)) + a - 1, names, layers, a)


def task_flops(model, tok, task, cfg, names, layers) -> float:
    """The inner steps, plus the related loss's forward and backward (weight grads included)."""
    a = len(target_token_ids(tok, task.answer))
    return edit_flops(model, tok, task, cfg, names, layers) + \
        step_flops(model, len(encode(tok, task.question)) + a - 1, names, layers, a)


def answer_logits_only_loss(model, ids, mask, targets, last) -> torch.Tensor:
    """FT's ``answer_loss`` (target_new objective) with the unembedding applied only at the
    answer positions: the change to editors/ft.py this bench measures with
    ``--answer-logits-only`` (the same loss up to float rounding)."""
    if last:
        return _ORIGINAL_LOSS(model, ids, mask, targets, last)
    hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = targets != -100
    logits = model.get_output_embeddings()(hidden[m]).float().log_softmax(-1)
    nll = -logits.gather(1, targets[m][:, None])[:, 0]
    rows = m.nonzero()[:, 0]
    per = torch.zeros(ids.shape[0], device=ids.device, dtype=nll.dtype).index_add(0, rows, nll)
    return (per / m.sum(1)).mean()


def run(args) -> list[dict]:
    torch.set_num_threads(args.threads)
    if args.answer_logits_only:
        import kedit_utils.editors.ft as ft

        ft.answer_loss = answer_logits_only_loss
        global HEAD_AT_EVERY_POSITION
        HEAD_AT_EVERY_POSITION = False
        print("answer_loss: logits at the answer positions only (proposed change to editors/ft.py)")
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
    p.add_argument("--answer-logits-only", action="store_true",
                   help="measure FT's loss with the unembedding at the answer positions only (a proposed change)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    rows = run(args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
