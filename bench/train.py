"""Benchmark: training the from-scratch GPT-2s of Paper A §3.2 on this machine.

For each depth: wall time to the target accuracy (Table 1: >= .99 on training and all data),
training throughput in sequences per second (evaluation time excluded), and the achieved
fraction of float32 matmul throughput, measured in the same run both at the training's thread
count (``--threads``) and at torch's default (the whole machine).

FLOPs per training sequence are counted for this model, not estimated from the parameter
count: a sentence feeds 2 tokens (prompt) and the loss reads 1 position, so

    forward = 2 tokens x 2 x (non-embedding matmul weights)     # the transformer blocks
            + 1 token  x 2 x d x V                              # the tied LM head, last position
            + attention scores/values (2 x 2 x T^2 x d per layer, tiny at T = 2)
    training = 3 x forward                                      # backward ~ 2 x forward

The rough ``6 x params x tokens`` rule (params with embeddings, tokens = 2) is printed too.

Usage: python bench/train.py [--profile paper|quick] [--depths 6 12 24] [--kind er]
       [--threads N] [--device auto] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kedit_utils.book.profiles import TRAINING  # noqa: E402
from kedit_utils.core.devices import resolve_device  # noqa: E402
from kedit_utils.kg import trained_models  # noqa: E402
from kedit_utils.kg.corpus import alias_corpus  # noqa: E402
from kedit_utils.kg.gpt2 import count_parameters  # noqa: E402
from kedit_utils.kg.graphs import build_graph  # noqa: E402
from kedit_utils.kg.training import torch_threads, train_model  # noqa: E402


def matmul_gflops(device: torch.device, n: int = 1024, seconds: float = 2.0) -> float:
    """Sustained float32 GFLOP/s of an n x n matmul on ``device`` (best of repeated runs)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(5):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 5 * 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def training_flops_per_sequence(model) -> tuple[float, float]:
    """(counted, rough 6 x params x tokens) training FLOPs for one 3-word sentence."""
    cfg = model.config
    d, v, layers = cfg.n_embd, cfg.vocab_size, cfg.n_layer
    inner = cfg.n_inner or 4 * d
    block_weights = layers * (3 * d * d + d * d + 2 * d * inner)  # c_attn, c_proj, c_fc, mlp c_proj
    tokens = 2
    attention = layers * 2 * 2 * tokens * tokens * d
    forward = tokens * 2 * block_weights + 2 * d * v + attention
    return 3.0 * forward, 6.0 * count_parameters(model) * tokens


def run(args) -> list[dict]:
    params = {**TRAINING[args.profile], "seed": args.seed, "device": args.device}
    threads = args.threads if args.threads is not None else params["threads"]
    dev = resolve_device(args.device)
    rows = []
    machine = matmul_gflops(dev)  # torch's default threads: the whole machine
    print(f"device {dev}, {torch.get_num_threads()} threads: float32 matmul {machine:.1f} GFLOP/s", flush=True)
    with torch_threads(threads):
        peak = matmul_gflops(dev) if threads else machine
        if threads:
            print(f"device {dev}, {torch.get_num_threads()} threads (training): float32 matmul {peak:.1f} GFLOP/s", flush=True)
        for kind in args.kind:
            graph = trained_models.graph_spec(params, kind)
            corpus = alias_corpus(build_graph(graph), params["n_aliases"], params["sample_fraction"], args.seed)
            print(f"\n{kind.upper()} graph: {corpus.sizes()}", flush=True)
            for depth in args.depths:
                spec = trained_models.model_spec(params, depth)
                cfg = trained_models.train_config(params, depth)
                cpu0 = time.process_time()
                tr = train_model(corpus, spec, cfg, seed=args.seed, device=str(dev), progress=False)
                cpu = time.process_time() - cpu0
                rep = tr.report
                train_s = rep["seconds"] - rep["eval_seconds"]
                seq_s = rep["sequences"] / train_s
                counted, rough = training_flops_per_sequence(tr.model)
                row = {
                    "graph": kind.upper(), "layers": depth, "width": spec.n_embd,
                    "params": count_parameters(tr.model),
                    "acc_train": rep["acc_train"], "acc_all": rep["acc_all"],
                    "acc_unseen": rep["acc_unseen"], "acc_test": rep["acc_test"],
                    "stop": rep["stop_reason"], "steps": rep["steps"], "epochs": rep["epochs"],
                    "seconds_to_target": rep["seconds"], "eval_seconds": rep["eval_seconds"],
                    "cpu_seconds": cpu, "sequences_per_s": seq_s,
                    "gflops_per_s": seq_s * counted / 1e9,
                    "matmul_fraction": seq_s * counted / 1e9 / peak,
                    "matmul_fraction_6N": seq_s * rough / 1e9 / peak,
                    "machine_fraction": seq_s * counted / 1e9 / machine,
                }
                rows.append(row)
                print(
                    f"{row['graph']} {depth:2d}L d={spec.n_embd}: acc train {row['acc_train']:.4f} "
                    f"all {row['acc_all']:.4f} unseen {row['acc_unseen']:.4f} | {row['stop']} after "
                    f"{row['epochs']:.1f} epochs ({row['steps']} steps) in {row['seconds_to_target']:.1f} s "
                    f"(eval {row['eval_seconds']:.1f} s, cpu {cpu:.0f} s) | {seq_s:.0f} seq/s, "
                    f"{row['gflops_per_s']:.2f} GFLOP/s = {row['matmul_fraction']:.1%} of matmul at the "
                    f"same threads (6N rule: {row['matmul_fraction_6N']:.1%}), {row['machine_fraction']:.1%} "
                    f"of the whole machine",
                    flush=True,
                )
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=sorted(TRAINING), default="paper")
    p.add_argument("--depths", type=int, nargs="+", default=None, help="default: the profile's depths")
    p.add_argument("--kind", nargs="+", choices=["er", "ba"], default=["er"])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the profile's)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = p.parse_args(argv)
    args.depths = args.depths or list(TRAINING[args.profile]["layers"])
    rows = run(args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
