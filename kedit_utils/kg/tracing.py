"""Causal tracing (Paper A Appendix B, Fig. 6; Meng et al. 2022, ROME §2.1).

For a prompt x whose correct next token (the object o) is known, three kinds of runs:

1. **clean**: x as is; every hidden state is recorded; score p*(o) ("high score");
2. **corrupted**: Gaussian noise ε ~ N(0, ν²) is added to the token embeddings of the
   subject tokens; score p_*(o) ("low score"). ν defaults to 3 × the standard deviation of
   the subject-token embeddings, as in ROME;
3. **corrupted with restoration**: as 2, but one state at (layer l, token t) is set back to
   its clean value; score p_{*, clean h_t^(l)}(o).

The *indirect effect* of a state is ``restored − corrupted``; its average over prompts is
the AIE of ROME's Fig. 2. Three kinds of state are traced: ``"hidden"`` (the residual
stream after block l), ``"mlp"`` (block l's MLP output) and ``"attn"`` (block l's attention
output); MLP and attention states are restored over a *window* of ``window`` layers centred on
l (ROME: 10, clipped at the ends: layers ``max(0, l − w//2) .. min(L, l + ⌈w/2⌉) − 1``).
Row ``i`` of a hidden trace is the output of block ``i``, as in ROME's heatmaps; with
``include_embedding=True`` one more row, ``layers == -1``, restores the token embedding
(which removes the noise at that token).

Each corrupted score is the mean probability over ``n_samples`` noise draws; the draws are
seeded per prompt and shared by every restoration of that prompt (paired, as in ROME).

**Batched.** :func:`trace` runs every restoration of every prompt (tokens × layers × kinds
× noise samples) as one batched forward pass: forward hooks patch each batch row at its own
(token, module) from the recorded clean states. :func:`trace_loop` is the reference: one
forward pass per (token, layer) patch, ROME's way; it exists for tests and the benchmark.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from kedit_utils.core import architectures as A
from kedit_utils.core.validation import ParameterError, check_choice, check_float, check_int

KINDS = ("hidden", "mlp", "attn")
ROLE_NAMES = (
    "first subject token",
    "middle subject tokens",
    "last subject token",
    "first subsequent token",
    "further tokens",
    "last token",
)


# --------------------------------------------------------------------------- data types
@dataclass(frozen=True)
class TracePrompt:
    """One prompt to trace.

    token_ids: (T,) the prompt. subject_range: half-open token range (b, e) of the subject,
    the tokens that are corrupted. answer: the correct next token, or several token ids
    whose probabilities are summed (e.g. every alias of the object). tokens: display strings.
    """

    token_ids: tuple[int, ...]
    subject_range: tuple[int, int]
    answer: tuple[int, ...]
    tokens: tuple[str, ...] | None = None

    def __post_init__(self):
        ids = tuple(int(i) for i in np.asarray(self.token_ids).ravel())
        ans = tuple(int(i) for i in np.atleast_1d(np.asarray(self.answer)).ravel())
        object.__setattr__(self, "token_ids", ids)
        object.__setattr__(self, "answer", ans)
        b, e = (int(x) for x in self.subject_range)
        object.__setattr__(self, "subject_range", (b, e))
        if self.tokens is not None:
            object.__setattr__(self, "tokens", tuple(str(t) for t in self.tokens))
        if not ids:
            raise ParameterError("token_ids", ids, "a prompt needs at least one token")
        if not 0 <= b < e <= len(ids):
            raise ParameterError("subject_range", (b, e), f"must satisfy 0 <= b < e <= {len(ids)}")
        if not ans:
            raise ParameterError("answer", ans, "needs at least one token id")


@dataclass(frozen=True)
class TraceResult:
    """One prompt's trace of one kind.

    scores: (n_rows, T) p(answer) with the state at (row, token) restored, mean over noise.
    low_score: corrupted p(answer); high_score: clean p(answer).
    layers: (n_rows,) block of each row; -1 is the token embedding (hidden kind only).
    """

    kind: str
    scores: np.ndarray
    low_score: float
    high_score: float
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    subject_range: tuple[int, int]
    answer: tuple[int, ...]
    layers: np.ndarray
    window: int
    noise_std: float

    @property
    def effect(self) -> np.ndarray:
        """(n_rows, T) indirect effect: restored − corrupted."""
        return self.scores - self.low_score

    @property
    def row_labels(self) -> list[str]:
        return ["embed" if l < 0 else str(l) for l in self.layers]


@dataclass(frozen=True)
class TraceSummary:
    """Average indirect effect of one kind over many prompts, with 95 % intervals.

    mean, sem, ci_low, ci_high: (n_rows, n_positions); n: (n_positions,) prompts per column
    (a role may be absent from a prompt). low_mean / high_mean: mean corrupted / clean score.
    """

    kind: str
    mean: np.ndarray
    sem: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n: np.ndarray
    low_mean: float
    high_mean: float
    layers: np.ndarray
    positions: tuple[str, ...]
    window: int = 1

    @property
    def row_labels(self) -> list[str]:
        return ["embed" if l < 0 else str(l) for l in self.layers]

    def peak(self) -> tuple[int, str, float]:
        """(layer, position, effect) of the largest average indirect effect (layer -1 = embed)."""
        m = np.where(np.isnan(self.mean), -np.inf, self.mean)
        r, c = np.unravel_index(int(np.argmax(m)), m.shape)
        return int(self.layers[r]), self.positions[c], float(self.mean[r, c])


# --------------------------------------------------------------------------- helpers
def _untuple(x):
    return x[0] if isinstance(x, tuple) else x


def _retuple(original, h):
    return (h, *original[1:]) if isinstance(original, tuple) else h


@contextmanager
def _hooks(pairs):
    """Register forward hooks ``[(module, fn(module, inputs, output))]``; remove on exit."""
    handles = [m.register_forward_hook(fn) for m, fn in pairs]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _module(model, key: tuple[str, int]) -> torch.nn.Module:
    kind, layer = key
    if kind == "embed":
        return A.embedding_module(model)
    return {"hidden": A.layer_module, "mlp": A.mlp_module, "attn": A.attn_module}[kind](model, layer)


def _window(layer: int, window: int, n_layers: int) -> range:
    return range(max(0, layer - window // 2), min(n_layers, layer - (-window // 2)))


def _row_layers(kind: str, n_layers: int, include_embedding: bool) -> list[int]:
    if kind == "hidden" and include_embedding:
        return [-1, *range(n_layers)]
    return list(range(n_layers))


def _patch_keys(kind: str, layer: int, window: int, n_layers: int) -> list[tuple[str, int]]:
    if kind == "hidden":
        return [("embed", -1)] if layer < 0 else [("hidden", layer)]
    return [(kind, l) for l in _window(layer, window, n_layers)]


@torch.no_grad()
def last_token_probs(model, ids: torch.Tensor) -> torch.Tensor:
    """(B, V) next-token probabilities at the last position of ``ids`` (B, T), no padding.

    Runs the base model and the unembedding on the last position only, so a big batch never
    materialises (B, T, V) logits.
    """
    hidden = model.base_model(input_ids=ids).last_hidden_state[:, -1]
    return model.get_output_embeddings()(hidden).float().softmax(-1)


def _answer_prob(probs: torch.Tensor, answers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """probs (B, V), answers/mask (B, k) -> (B,) summed probability of each row's answers."""
    return (probs.gather(1, answers.clamp(min=0)) * mask).sum(1)


def _answers(prompts: Sequence[TracePrompt], device) -> tuple[torch.Tensor, torch.Tensor]:
    k = max(len(p.answer) for p in prompts)
    ans = torch.full((len(prompts), k), -1, dtype=torch.long)
    for i, p in enumerate(prompts):
        ans[i, : len(p.answer)] = torch.tensor(p.answer)
    return ans.to(device), (ans >= 0).float().to(device)


def embedding_std(model, token_ids) -> float:
    """Standard deviation of the token embeddings of ``token_ids`` (all entries pooled)."""
    ids = torch.as_tensor(np.unique(np.asarray(token_ids).ravel()), dtype=torch.long)
    w = A.embedding_module(model).weight
    return float(w[ids.to(w.device)].detach().float().std())


def _noise(prompt: TracePrompt, n_samples: int, d: int, std: float, seed: int, index: int) -> torch.Tensor:
    """(S, T, d) seeded noise, non-zero on the subject tokens only."""
    b, e = prompt.subject_range
    rng = np.random.default_rng([seed, index])
    out = np.zeros((n_samples, len(prompt.token_ids), d), dtype=np.float32)
    out[:, b:e] = std * rng.standard_normal((n_samples, e - b, d))
    return torch.from_numpy(out)


def _validate(model, prompts, kinds, noise_std, noise_factor, n_samples, window, seed, max_rows):
    A.arch_of(model)
    if isinstance(kinds, str):
        kinds = (kinds,)
    if not kinds:
        raise ParameterError("kinds", kinds, f"must name at least one of {KINDS}")
    for k in kinds:
        check_choice("kinds", k, KINDS)
    if not prompts:
        raise ParameterError("prompts", prompts, "must hold at least one TracePrompt")
    vocab = model.get_input_embeddings().weight.shape[0]
    for p in prompts:
        if not isinstance(p, TracePrompt):
            raise ParameterError("prompts", type(p).__name__, "every item must be a TracePrompt")
        if max(p.token_ids + p.answer) >= vocab or min(p.token_ids + p.answer) < 0:
            raise ParameterError("prompts", p.token_ids, f"token ids must lie in [0, {vocab})")
    check_int("n_samples", n_samples, minimum=1)
    check_int("window", window, minimum=1)
    check_int("seed", seed, minimum=0)
    check_float("noise_factor", noise_factor, low=0.0)
    if noise_std is not None:
        check_float("noise_std", noise_std, low=0.0)
    if max_rows is not None:
        check_int("max_rows", max_rows, minimum=1)
    return tuple(kinds)


def _resolve_noise(model, prompts, noise_std, noise_factor) -> float:
    if noise_std is not None:
        return float(noise_std)
    subj = [t for p in prompts for t in p.token_ids[p.subject_range[0] : p.subject_range[1]]]
    return noise_factor * embedding_std(model, subj)


def _display_tokens(p: TracePrompt) -> tuple[str, ...]:
    return p.tokens if p.tokens is not None else tuple(str(i) for i in p.token_ids)


# --------------------------------------------------------------------------- batched tracer
@torch.no_grad()
def _clean_states(model, ids: torch.Tensor, keys) -> tuple[dict, torch.Tensor]:
    """Run the clean prompts once, recording the output of every module in ``keys``."""
    store = {}

    def recorder(key):
        def fn(_m, _i, out):
            store[key] = _untuple(out).detach().clone()

        return fn

    with _hooks([(_module(model, k), recorder(k)) for k in keys]):
        probs = last_token_probs(model, ids)
    return store, probs


def _units(kinds, n_layers: int, T: int, window: int, include_embedding: bool) -> list:
    """Every restoration of one prompt: (kind, row, token, module keys restored together)."""
    return [
        (kind, r, t, _patch_keys(kind, layer, window, n_layers))
        for kind in kinds
        for r, layer in enumerate(_row_layers(kind, n_layers, include_embedding))
        for t in range(T)
    ]


def _row_plan(units, P: int, S: int) -> tuple[dict, tuple | None]:
    """Which batch rows patch which module at which token.

    Row layout: prompt p owns rows ``p·R .. (p+1)·R − 1`` with R = S·(1 + U); its first S rows
    are the corrupted baselines and unit u's S noise samples follow at ``p·R + (1+u)·S + s``.
    Returns ``{module key: (rows, tokens)}`` sorted by row, and the same for the embedding
    restorations (rows whose noise is removed at one token), or None.
    """
    R = S * (1 + len(units))
    p_idx, s_idx = np.meshgrid(np.arange(P), np.arange(S), indexing="ij")
    acc: dict = {}
    for u, (_kind, _r, t, patch) in enumerate(units):
        rows = (p_idx * R + (1 + u) * S + s_idx).ravel()
        for k in patch:
            acc.setdefault(k, []).append((rows, np.full(rows.size, t)))
    plan = {}
    for k, parts in acc.items():
        rows = np.concatenate([p[0] for p in parts])
        toks = np.concatenate([p[1] for p in parts])
        order = np.argsort(rows, kind="stable")
        plan[k] = (rows[order], toks[order])
    return {k: v for k, v in plan.items() if k[0] != "embed"}, plan.get(("embed", -1))


def _batched_group(model, prompts, kinds, std, n_samples, window, seed, include_embedding,
                   max_rows, offsets, progress):
    """Trace one group of equal-length prompts; returns a list (per prompt) of {kind: result}."""
    device = next(model.parameters()).device
    n_layers = A.n_layers(model)
    d = A.embedding_module(model).weight.shape[1]
    P, T, S = len(prompts), len(prompts[0].token_ids), n_samples
    ids = torch.tensor([p.token_ids for p in prompts], device=device)  # (P, T)
    units = _units(kinds, n_layers, T, window, include_embedding)
    U = len(units)
    R = S * (1 + U)
    plan, embed_restore = _row_plan(units, P, S)

    clean, clean_probs = _clean_states(model, ids, sorted(plan))  # {key: (P, T, d)}
    ans, mask = _answers(prompts, device)
    high = _answer_prob(clean_probs, ans, mask)  # (P,)
    noise = torch.stack(
        [_noise(p, S, d, std, seed, offsets[i]) for i, p in enumerate(prompts)]
    ).to(device)  # (P, S, T, d)

    total = P * R
    chunk = total if max_rows is None else max_rows
    probs_out = torch.empty(total, device=device)
    starts = range(0, total, chunk)
    for a in tqdm(starts, desc="tracing", disable=not progress or len(starts) == 1):
        b = min(total, a + chunk)
        rows = torch.arange(a, b, device=device)
        prow, srow = rows // R, rows % S  # prompt and noise sample of each batch row
        batch_noise = noise[prow, srow].clone()  # (B, T, d)
        if embed_restore is not None:
            er, et = _slice_plan(embed_restore, a, b)
            batch_noise[er, et] = 0.0
        hooks = [(A.embedding_module(model), _adder(batch_noise))]
        for k, entry in plan.items():
            r_, t_ = _slice_plan(entry, a, b)
            if r_.numel():
                hooks.append((_module(model, k), _setter(r_, t_, clean[k][prow[r_], t_])))
        with _hooks(hooks):
            probs = last_token_probs(model, ids[prow])
        probs_out[a:b] = _answer_prob(probs, ans[prow], mask[prow])

    scores = probs_out.view(P, 1 + U, S).mean(-1).cpu().numpy()  # (P, 1 + U)
    out = []
    for i, p in enumerate(prompts):
        grids = {k: np.zeros((len(_row_layers(k, n_layers, include_embedding)), T)) for k in kinds}
        for u, (k, r, t, _) in enumerate(units):
            grids[k][r, t] = scores[i, 1 + u]
        out.append({
            k: TraceResult(
                kind=k, scores=grids[k], low_score=float(scores[i, 0]), high_score=float(high[i]),
                tokens=_display_tokens(p), token_ids=p.token_ids, subject_range=p.subject_range,
                answer=p.answer, layers=np.array(_row_layers(k, n_layers, include_embedding)),
                window=1 if k == "hidden" else window, noise_std=std,
            )
            for k in kinds
        })
    return out


def _slice_plan(entry, a: int, b: int):
    rows, toks = entry
    lo, hi = np.searchsorted(rows, a), np.searchsorted(rows, b)
    return torch.as_tensor(rows[lo:hi] - a), torch.as_tensor(toks[lo:hi])


def _adder(noise: torch.Tensor):
    def fn(_m, _i, out):
        return out + noise.to(out.dtype)

    return fn


def _setter(rows: torch.Tensor, toks: torch.Tensor, src: torch.Tensor):
    def fn(_m, _i, out):
        h = _untuple(out).clone()
        h[rows.to(h.device), toks.to(h.device)] = src.to(h.dtype)
        return _retuple(out, h)

    return fn


def trace(model, prompts: Sequence[TracePrompt], kinds: Sequence[str] | str = KINDS, *,
          noise_std: float | None = None, noise_factor: float = 3.0, n_samples: int = 10,
          window: int = 10, seed: int = 1, include_embedding: bool = False,
          max_rows: int | None = None, progress: bool = False) -> list[dict[str, TraceResult]]:
    """Causal traces of ``prompts``, batched: one forward pass per group of equal-length prompts.

    noise_std: ν; ``None`` means ``noise_factor`` × std of the subject-token embeddings of
    the prompts. max_rows: split the batch into passes of at most this many rows (memory);
    ``None`` runs each group in one pass. Returns, per prompt, ``{kind: TraceResult}``.
    """
    kinds = _validate(model, prompts, kinds, noise_std, noise_factor, n_samples, window, seed, max_rows)
    std = _resolve_noise(model, prompts, noise_std, noise_factor)
    was_training = model.training
    model.eval()
    try:
        results: list = [None] * len(prompts)
        by_len: dict[int, list[int]] = {}
        for i, p in enumerate(prompts):
            by_len.setdefault(len(p.token_ids), []).append(i)
        for idx in by_len.values():
            group = _batched_group(model, [prompts[i] for i in idx], kinds, std, n_samples, window,
                                   seed, include_embedding, max_rows, idx, progress)
            for i, r in zip(idx, group):
                results[i] = r
    finally:
        model.train(was_training)
    return results


# --------------------------------------------------------------------------- loop tracer
@torch.no_grad()
def _loop_run(model, prompt, noise, patch, device, ans, mask) -> tuple[float, float]:
    """ROME's ``trace_with_patch``: row 0 clean, rows 1..S corrupted; every corrupted row
    gets the clean (row 0) value of each module in ``patch`` at its token. Returns
    (clean score, mean corrupted score)."""
    S = noise.shape[0]
    ids = torch.tensor([prompt.token_ids] * (S + 1), device=device)
    full = torch.cat([torch.zeros_like(noise[:1]), noise]).to(device)
    embed_tokens = [t for k, t in patch if k[0] == "embed"]

    def embed_fn(_m, _i, out):
        h = out + full.to(out.dtype)
        for t in embed_tokens:
            h[1:, t] = h[0, t]
        return h

    def restore(tokens):
        def fn(_m, _i, out):
            h = _untuple(out).clone()
            for t in tokens:
                h[1:, t] = h[0, t]
            return _retuple(out, h)

        return fn

    per_module: dict = {}
    for k, t in patch:
        if k[0] != "embed":
            per_module.setdefault(k, []).append(t)
    hooks = [(A.embedding_module(model), embed_fn)]
    hooks += [(_module(model, k), restore(ts)) for k, ts in per_module.items()]
    with _hooks(hooks):
        probs = last_token_probs(model, ids)
    p = _answer_prob(probs, ans.expand(S + 1, -1), mask.expand(S + 1, -1))
    return float(p[0]), float(p[1:].mean())


def trace_loop(model, prompts: Sequence[TracePrompt], kinds: Sequence[str] | str = KINDS, *,
               noise_std: float | None = None, noise_factor: float = 3.0, n_samples: int = 10,
               window: int = 10, seed: int = 1, include_embedding: bool = False,
               progress: bool = False) -> list[dict[str, TraceResult]]:
    """Reference tracer, one forward pass per (prompt, kind, layer, token); same result as
    :func:`trace` up to float rounding. Slow: for tests and the benchmark."""
    kinds = _validate(model, prompts, kinds, noise_std, noise_factor, n_samples, window, seed, None)
    std = _resolve_noise(model, prompts, noise_std, noise_factor)
    device = next(model.parameters()).device
    n_layers = A.n_layers(model)
    d = A.embedding_module(model).weight.shape[1]
    was_training = model.training
    model.eval()
    out = []
    try:
        for i, p in enumerate(tqdm(prompts, desc="tracing (loop)", disable=not progress)):
            noise = _noise(p, n_samples, d, std, seed, i)
            ans, mask = _answers([p], device)
            high, low = _loop_run(model, p, noise, [], device, ans, mask)
            res = {}
            for kind in kinds:
                layers = _row_layers(kind, n_layers, include_embedding)
                grid = np.zeros((len(layers), len(p.token_ids)))
                for r, layer in enumerate(layers):
                    for t in range(len(p.token_ids)):
                        patch = [(k, t) for k in _patch_keys(kind, layer, window, n_layers)]
                        grid[r, t] = _loop_run(model, p, noise, patch, device, ans, mask)[1]
                res[kind] = TraceResult(
                    kind=kind, scores=grid, low_score=low, high_score=high,
                    tokens=_display_tokens(p), token_ids=p.token_ids, subject_range=p.subject_range,
                    answer=p.answer, layers=np.array(layers), window=1 if kind == "hidden" else window,
                    noise_std=std,
                )
            out.append(res)
    finally:
        model.train(was_training)
    return out


# --------------------------------------------------------------------------- prompt builders
def alias_prompts(vocab, prompts: np.ndarray, objects: np.ndarray, alias_sum: bool = True) -> list[TracePrompt]:
    """TracePrompts for the tiny models: prompts (P, 2) token ids "subject relation",
    objects (P,) entity index of the correct object. The subject is token 0. With
    ``alias_sum`` the answer is every alias of the object (probabilities summed, the event
    the accuracy counts); otherwise alias 0 only."""
    prompts = np.asarray(prompts)
    objects = np.asarray(objects).ravel()
    if prompts.ndim != 2 or prompts.shape[0] != objects.shape[0]:
        raise ParameterError("prompts", prompts.shape, f"must be (P, T) with P = len(objects) = {objects.shape[0]}")
    if objects.min(initial=0) < 0 or objects.max(initial=0) > vocab.n_entities:
        raise ParameterError("objects", objects.max(), f"entity indices must lie in [0, {vocab.n_entities}]")
    out = []
    for row, obj in zip(prompts, objects):
        if obj == vocab.n_entities:
            ans = (vocab.deleted_id,)
        else:
            ans = tuple(vocab.entity_ids[obj]) if alias_sum else (int(vocab.entity_ids[obj, 0]),)
        out.append(TracePrompt(tuple(row), (0, 1), ans, tuple(vocab.tokens[i] for i in row)))
    return out


def alias_noise_std(model, vocab, factor: float = 3.0) -> float:
    """ν for the tiny models: ``factor`` × std of the embeddings of every entity alias
    (every token that can be a subject)."""
    return factor * embedding_std(model, vocab.entity_ids)


def text_prompt(model, tok, prompt: str, subject: str, answer: str | None = None) -> TracePrompt:
    """A TracePrompt from text. ``answer`` None: the model's own greedy next token (ROME's
    choice); otherwise the first token of ``answer``."""
    from kedit_utils.core.tokens import subject_token_range, target_token_ids

    ids, rng = subject_token_range(tok, prompt, subject)
    if answer is None:
        device = next(model.parameters()).device
        probs = last_token_probs(model, torch.tensor([ids], device=device))
        ans = (int(probs[0].argmax()),)
    else:
        ans = (target_token_ids(tok, answer)[0],)
    return TracePrompt(tuple(ids), rng, ans, tuple(tok.decode([i]) for i in ids))


# --------------------------------------------------------------------------- aggregation
def _roles(result: TraceResult) -> np.ndarray:
    """(n_rows, 6) ROME's token roles (Fig. 2), each the mean over its tokens; NaN if absent."""
    b, e = result.subject_range
    T = len(result.tokens)
    groups = [[b], list(range(b + 1, e - 1)), [e - 1], [e] if e < T else [],
              list(range(e + 1, T - 1)), [T - 1]]
    eff = result.effect
    cols = [eff[:, g].mean(1) if g else np.full(eff.shape[0], np.nan) for g in groups]
    return np.stack(cols, axis=1)


def average_indirect_effect(results: Sequence[TraceResult], positions: str = "auto") -> TraceSummary:
    """Mean indirect effect (restored − corrupted) over prompts, ± 1.96 · sem.

    positions: ``"index"`` averages token by token (all prompts must have the same length,
    e.g. the tiny models' (subject, relation) prompts); ``"roles"`` averages ROME's six token
    roles (first / middle / last subject token, first subsequent, further, last token);
    ``"auto"`` picks "index" when all lengths agree.
    """
    check_choice("positions", positions, ("auto", "index", "roles"))
    if not results:
        raise ParameterError("results", results, "needs at least one TraceResult")
    kinds = {r.kind for r in results}
    if len(kinds) != 1:
        raise ParameterError("results", sorted(kinds), "must all be of one kind")
    lengths = {len(r.tokens) for r in results}
    if positions == "auto":
        positions = "index" if len(lengths) == 1 else "roles"
    if positions == "index":
        if len(lengths) != 1:
            raise ParameterError("positions", positions, "needs prompts of one length; use 'roles'")
        stack = np.stack([r.effect for r in results])
        names = _position_names(results)
    else:
        stack = np.stack([_roles(r) for r in results])
        names = ROLE_NAMES
    n = (~np.isnan(stack[:, 0, :])).sum(0)
    mean = np.nanmean(stack, axis=0) if stack.size else stack
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a role seen in one prompt: sem 0
        sd = np.nanstd(stack, axis=0, ddof=1) if len(results) > 1 else np.zeros_like(mean)
        sem = sd / np.sqrt(np.maximum(n, 1))[None, :]
    sem = np.nan_to_num(sem)
    first = results[0]
    return TraceSummary(
        kind=first.kind, mean=mean, sem=sem, ci_low=mean - 1.96 * sem, ci_high=mean + 1.96 * sem,
        n=n, low_mean=float(np.mean([r.low_score for r in results])),
        high_mean=float(np.mean([r.high_score for r in results])), layers=first.layers,
        positions=tuple(names), window=first.window,
    )


def _position_names(results: Sequence[TraceResult]) -> tuple[str, ...]:
    first = results[0]
    if all(r.tokens == first.tokens for r in results):
        return first.tokens
    b, e = first.subject_range
    T = len(first.tokens)

    def name(t: int) -> str:
        if b <= t < e:
            return "subject" if e - b == 1 else f"subject[{t - b}]"
        return "last token" if t == T - 1 else f"token {t}"

    return tuple(name(t) for t in range(T))


def summarise(traces: Sequence[dict[str, TraceResult]], positions: str = "auto") -> dict[str, TraceSummary]:
    """:func:`average_indirect_effect` per kind of the output of :func:`trace`."""
    kinds = list(traces[0]) if traces else []
    return {k: average_indirect_effect([t[k] for t in traces], positions) for k in kinds}


def peaks(summaries: dict[str, TraceSummary]) -> pd.DataFrame:
    """One row per kind: the (layer, position) of the largest AIE, its value and 95 % CI."""
    rows = []
    for kind, s in summaries.items():
        layer, pos, eff = s.peak()
        r = int(np.flatnonzero(s.layers == layer)[0])
        c = s.positions.index(pos)
        rows.append({"kind": kind, "layer": layer, "position": pos, "effect": eff,
                     "ci_low": float(s.ci_low[r, c]), "ci_high": float(s.ci_high[r, c]),
                     "prompts": int(s.n[c])})
    return pd.DataFrame(rows)
