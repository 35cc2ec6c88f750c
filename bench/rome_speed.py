"""Benchmark (issue 10 §6): ROME on SmolLM2-135M step by step, and a MEMIT / AlphaEdit batch.

ROME: seconds per edit (k*, v* and the update: ``EditResult.seconds``; the covariance comes
from the artifact cache and the before/after predictions are not counted) for each step of
the speed-up, switched on one after another, on 1 and 2 threads:

0. baseline: a full forward (and full logits) per v* step, the reference's stopping rule;
1. ``reuse_lower``: the blocks below the edited layer run once, replayed afterwards;
2. ``logits_at_targets``: the unembedding only at the positions the loss reads;
3. ``prefix_once``: the positions before the subject's last token (δ's) run once, their keys
   and values kept; each step runs the rest of the prompt and the target;
3b. ``mlp_where_used`` and ``eager_attention``: the MLPs above the layer skip the pads (and the
   last one the positions the loss does not read); the attention by plain matrix products;
4. ``early_stop_prob=0.9`` (a change of the method): stop v* once the target's mean
   probability reaches 0.9;
5. two context prefixes (``"{}"``, ``"Fun fact: {}"``) instead of five (a change of the
   method: k* and the NLL are averaged over fewer contexts): the SmolLM2 preset now.

Steps 0-3b use the preset as it was before (five prefixes, no early_stop_prob).

Steps 1-3b do not change the method (tests/unit/test_edit_speed.py); for step 4 the success
rate (greedy next token = the target's first token) and the target's probability after the
edit are printed with and without it on ``--success-edits`` counterfactual edits. ``--profile``
first times the parts of one edit. ``--batch N`` times MEMIT and AlphaEdit on a batch of N
edits (covariances cached), baseline (z one request at a time, full forwards) vs fast.

    python bench/rome_speed.py [--edits 3] [--threads 1 2] [--success-edits 8] [--batch 100] [--profile]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from kedit_utils.editing import EditRequest, get_editor
from kedit_utils.editing.memit import MEMITHyperParams
from kedit_utils.editing.rome import ROMEHyperParams, edit, key_covariance, restore
from kedit_utils.editing.rome import functional as E
from kedit_utils.editing.rome.compute_v import Speed
from kedit_utils.editing.rome.hparams import CONTEXT_TEMPLATES_5

CASES = [
    ("The Eiffel Tower is located in the city of", "The Eiffel Tower", "Rome"),
    ("The Colosseum is located in the city of", "The Colosseum", "Paris"),
    ("The mother tongue of Pablo Picasso is", "Pablo Picasso", "German"),
    ("Albert Einstein was born in the country of", "Albert Einstein", "Italy"),
    ("The Statue of Liberty is located in the city of", "The Statue of Liberty", "London"),
    ("The capital of Japan is", "Japan", "Berlin"),
    ("Big Ben is located in the city of", "Big Ben", "Tokyo"),
    ("Mozart was famous for his", "Mozart", "painting"),
    ("The Great Pyramid is located in the country of", "The Great Pyramid", "Mexico"),
    ("Isaac Newton was born in the country of", "Isaac Newton", "France"),
]
LATER = dict(mlp_where_used=False, eager_attention=False)  # step 3b's options, off before it
SLOW = Speed(reuse_lower=False, logits_at_targets=False, batch_requests=1, prefix_once=False, **LATER)
ONE = Speed(batch_requests=1)
REF = dict(early_stop_prob=None, context_templates=CONTEXT_TEMPLATES_5)  # the SmolLM2 preset before §6
STEPS = [
    ("0 baseline (full forward per step, reference stop)", SLOW, REF),
    ("1 + blocks below the layer replayed", SLOW.with_(reuse_lower=True), REF),
    ("2 + logits only where the loss reads", ONE.with_(prefix_once=False, **LATER), REF),
    ("3 + positions before the subject's last token once", ONE.with_(**LATER), REF),
    ("3b + MLPs only where used, eager attention", ONE, REF),
    ("4 + early_stop_prob 0.9", ONE, dict(REF, early_stop_prob=0.9)),
    ("5 + 2 context prefixes instead of 5 (= preset)", ONE, {}),
]


def requests(n):
    return [EditRequest(p, s, t) for p, s, t in (CASES * (n // len(CASES) + 1))[:n]]


def profile_one(model, tok, hp, cov) -> None:
    """Seconds of each part of one edit (the preset, all speed-ups on)."""
    parts = {}

    def timed(mod, name):
        f = getattr(mod, name)

        def g(*a, **k):
            t0 = time.perf_counter()
            r = f(*a, **k)
            parts[name] = parts.get(name, 0.0) + time.perf_counter() - t0
            return r
        setattr(mod, name, g)
        return f

    originals = {n: timed(E, n) for n in ("predict", "compute_k", "compute_v", "rank_one_update", "apply_update")}
    try:
        for label, h in (("reference hparams, slow path", hp.with_(**REF)), ("preset, fast path", hp)):
            opts = SLOW if label.startswith("reference") else Speed()
            parts.clear()
            t0 = time.perf_counter()
            res = edit(model, tok, requests(1)[0], h, cov, speed=opts)
            total = time.perf_counter() - t0
            restore(model, res)
            print(f"  profile ({label}): total {total:.2f} s = " +
                  ", ".join(f"{k} {v:.2f}" for k, v in parts.items()) +
                  f"; v* steps {res.value.steps}, {res.value.steps and parts['compute_v'] / res.value.steps:.2f} s/step")
    finally:
        for n, f in originals.items():
            setattr(E, n, f)


def bench_rome(model, tok, cov, args) -> None:
    hp = ROMEHyperParams.smollm2()
    if args.profile:
        torch.set_num_threads(1)
        profile_one(model, tok, hp, cov)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        base = None
        for label, opts, changes in STEPS:
            secs, steps = [], []
            for req in requests(args.edits):
                res = edit(model, tok, req, hp.with_(**changes), cov, speed=opts)
                secs.append(res.seconds)
                steps.append(res.value.steps)
                restore(model, res)
            s = float(np.mean(secs))
            base = base or s
            rows.append((threads, label, s, base / s, float(np.mean(steps))))
            print(f"  {threads} thread(s) {label:55} {s:6.2f} s/edit  x{base / s:4.1f}  v* steps {np.mean(steps):.1f}",
                  flush=True)
    print("\n| threads | step | s/edit | speed-up vs baseline | v* steps |\n|---|---|---|---|---|")
    for t, label, s, x, st in rows:
        print(f"| {t} | {label} | {s:.2f} | ×{x:.1f} | {st:.1f} |")
    if args.success_edits:
        torch.set_num_threads(args.threads[-1])
        cfgs = [(label, changes) for label, _o, changes in STEPS[4:]]
        print(f"\nsuccess on {args.success_edits} edits (fast path; top-1 = the target's first token, p = its "
              "probability after the edit, steps = v* forward passes):")
        print("| edit | before | " + " | ".join(f"step {label[0]}: top-1, p, steps" for label, _c in cfgs) + " |\n|---|---|"
              + "---|" * len(cfgs))
        ok = {label: [] for label, _c in cfgs}
        for req in requests(min(args.success_edits, len(CASES))):
            cells = []
            for label, changes in cfgs:
                res = edit(model, tok, req, hp.with_(**changes), cov)
                restore(model, res)
                ok[label].append(res.success)
                cells.append(f"{res.after.top_token!r} {res.after.target_prob:.2f} {res.value.steps}")
            print(f"| {req.prompt} → {req.target_new} | {res.before.top_token!r} | " + " | ".join(cells) + " |", flush=True)
        print("success rate: " + ", ".join(f"{label}: {np.mean(v):.0%}" for label, v in ok.items()))


def bench_batch(model, tok, texts, args) -> None:
    from kedit_utils.core.pretrained import SMOLLM2_NAME
    from kedit_utils.editing import metrics as M

    hp = MEMITHyperParams.smollm2()
    t0 = time.perf_counter()
    covs = {layer: key_covariance(model, layer, texts, tok, n_samples=hp.mom2_n_samples, model_id=SMOLLM2_NAME)
            for layer in hp.layers}
    print(f"\nC at layers {list(hp.layers)} (artifact cache): {time.perf_counter() - t0:.1f} s")
    reqs = batch_requests(args.batch)
    torch.set_num_threads(args.threads[-1])
    print("| method | path | early_stop_prob | edits | threads | s/batch | z steps (mean) | rewrite_acc |\n"
          "|---|---|---|---|---|---|---|---|")
    for method in ("memit", "alphaedit"):
        editor = get_editor(method)
        for stop in args.batch_stop_prob:
            hpm = editor.hparams_class.smollm2(early_stop_prob=None if stop <= 0 else stop)
            for label, opts in (("fast", Speed()),) + ((("baseline", SLOW),) if args.batch_baseline else ()):
                h = editor.apply(model, tok, reqs, hpm, cov=covs, speed=opts)
                acc = M.rewrite_acc(model, tok, list(reqs), h)
                h.restore()
                print(f"| {method} | {label} | {hpm.early_stop_prob} | {len(reqs)} | {args.threads[-1]} | {h.seconds:.1f} | "
                      f"{np.mean(h.info['z_steps']):.1f} | {acc:.2f} |", flush=True)


def batch_requests(n):
    """n distinct counterfactual requests: subjects from the built-in corpus lists, each
    with a wrong city or country."""
    from kedit_utils.core.pretrained import _CITIES, _PEOPLE, _THINGS

    out = []
    cities = [c for c, _ in _CITIES]
    for i, (thing, city) in enumerate(_THINGS):
        for j in range(len(cities)):
            new = cities[(i + j + 1) % len(cities)]
            if new != city:
                out.append(EditRequest(f"{thing[0].upper() + thing[1:]} is located in the city of",
                                       thing[0].upper() + thing[1:], new))
    for i, person in enumerate(_PEOPLE):
        for j, (_c, country) in enumerate(_CITIES):
            out.append(EditRequest(f"{person} was born in the country of", person, _CITIES[(i + j) % len(_CITIES)][1]))
    rng = np.random.default_rng(0)
    # one request per subject first (MEMIT edits distinct facts), then the rest
    seen, first, rest = set(), [], []
    for k in rng.permutation(len(out)):
        (rest if out[k].subject in seen else first).append(out[k])
        seen.add(out[k].subject)
    return (first + rest)[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--success-edits", type=int, default=8)
    ap.add_argument("--batch", type=int, default=0, help="MEMIT/AlphaEdit batch size (0: skip)")
    ap.add_argument("--batch-baseline", action="store_true", help="also time the batch without the speed-ups")
    ap.add_argument("--batch-stop-prob", type=float, nargs="+", default=[0.0],
                    help="early_stop_prob values for the batch (0: None, the reference)")
    ap.add_argument("--no-rome", action="store_true")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    from kedit_utils.core.pretrained import SMOLLM2_NAME, default_covariance_texts, load_smollm2

    model, tok = load_smollm2()
    texts = default_covariance_texts()
    hp = ROMEHyperParams.smollm2()
    t0 = time.perf_counter()
    cov = key_covariance(model, hp.layer, texts, tok, n_samples=hp.mom2_n_samples, model_id=SMOLLM2_NAME)
    print(f"torch {torch.__version__}, CPU; C at layer {hp.layer} (artifact cache): {time.perf_counter() - t0:.1f} s")
    if not args.no_rome:
        bench_rome(model, tok, cov, args)
    if args.batch:
        bench_batch(model, tok, texts, args)


if __name__ == "__main__":
    main()
