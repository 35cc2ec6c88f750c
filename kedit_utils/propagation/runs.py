"""Chapter 6's experiment steps (Paper B Table 1, Figs. 2-3, Table 2), each a call the chapter
makes: the model and its paper layer, how to ask it (question form), the α sweep, and one
meta-training run evaluated before and after (:func:`run_scope`).

    run = run_scope(model, tok, train, {"id": id_cases, "ood": ood_cases}, FOMAMLConfig(...),
                    model_id=model_id, checkpoint_every=8, curve_splits=("ood",))
    run.table1_rows()   # Table 1: base vs meta-trained, same FT edit, per split
    run.curve_rows()    # Fig. 3: accuracy against meta-training tasks seen
    run.result.restore()

A run evaluates inside :func:`~.fomaml.meta_train`'s checkpoint callback: at 0 tasks seen
(the base model, FT edit of the inner loop's settings), at the end (the meta-trained model,
the same edit) and every ``checkpoint_every`` tasks in between (only ``curve_splits``), so
Table 1's pair and Fig. 3's curve come from one run. The weights are cached by
:func:`~.fomaml.meta_train`; the evaluations are recomputed (they are the measurement).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kedit_utils.core import architectures as A
from kedit_utils.core.validation import ParameterError
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.propagation.fomaml import QA, FOMAMLConfig, MetaResult, meta_train, related_loss
from kedit_utils.propagation.protocol import PropagationReport, evaluate_cases

# Paper B §4 / Fig. 2: the layer chosen per model family (Attn+MLP, one layer).
PAPER_LAYERS = {"Llama3-8B": 9, "Llama3-3B": 7, "Llama3-1B": 5, "Llama2-7B": 7, "Qwen2.5-7B": 7, "GPT2-XL": 14}
SMOLLM2_LAYER = 8  # Llama3-8B's layer 9 of 32 at the same relative depth of SmolLM2's 30 (FT's SmolLM2 preset)


# --------------------------------------------------------------------------- model
@dataclass(frozen=True)
class LoadedModel:
    model: object = field(repr=False)
    tok: object = field(repr=False)
    name: str  # shown in the chapter
    model_id: str  # keys the caches (no path of the machine is shown)
    family: str | None  # a key of PAPER_LAYERS, or None
    default_layer: int


@dataclass(frozen=True)
class ModelShape:
    """What Paper B's layer rule needs of a model: its kind (``config.model_type``), its
    number of transformer blocks and its vocabulary size."""

    model_type: str
    n_layers: int
    vocab_size: int


def model_shape(model) -> ModelShape:
    """The :class:`ModelShape` of a loaded model."""
    cfg = model.config
    return ModelShape(getattr(cfg, "model_type", ""), A.n_layers(model), getattr(cfg, "vocab_size", 0))


_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def gguf_shape(path) -> ModelShape:
    """The :class:`ModelShape` of a GGUF file from its header alone (``general.architecture``,
    ``<arch>.block_count``, ``<arch>.vocab_size`` or the length of ``tokenizer.ggml.tokens``),
    without reading a tensor: milliseconds, where transformers' GGUF config reader parses the
    whole file. GGUF v2/v3 layout: magic, version, tensor count, key-value count, then the
    key-value pairs (github.com/ggml-org/ggml, docs/gguf.md)."""
    import struct

    found: dict = {}
    with Path(path).open("rb") as fh:
        def read(fmt: str):
            return struct.unpack("<" + fmt, fh.read(struct.calcsize(fmt)))[0]

        def string() -> str:
            return fh.read(read("Q")).decode("utf-8", "replace")

        def value(kind: int):
            if kind == _GGUF_STRING:
                return string()
            if kind == _GGUF_ARRAY:
                item, count = read("I"), read("Q")
                if item in _GGUF_SCALARS:
                    fh.seek(count * struct.calcsize(_GGUF_SCALARS[item]), 1)
                else:
                    for _ in range(count):
                        value(item)
                return count
            return read(_GGUF_SCALARS[kind])

        if fh.read(4) != b"GGUF":
            raise ParameterError("model", str(path), "is not a GGUF file")
        read("I"), read("Q")  # version, tensor count
        for _ in range(read("Q")):
            key = string()
            kind = read("I")
            found[key] = value(kind)
            arch = found.get("general.architecture")
            if arch and f"{arch}.block_count" in found and (f"{arch}.vocab_size" in found
                                                            or "tokenizer.ggml.tokens" in found):
                break
    arch = found.get("general.architecture", "")
    if f"{arch}.block_count" not in found:
        raise ParameterError("model", str(path), "has no block count in its GGUF header")
    vocab = found.get(f"{arch}.vocab_size", found.get("tokenizer.ggml.tokens", 0))
    return ModelShape(arch, int(found[f"{arch}.block_count"]), int(vocab))


def source_shape(model: str) -> ModelShape:
    """The :class:`ModelShape` of :func:`load_model`'s ``model`` without loading its weights:
    SmolLM2's GGUF header, or a local folder's ``config.json`` (``num_hidden_layers`` or
    GPT-2's ``n_layer``). So the chapter checks its layer parameters before any work."""
    import json

    from kedit_utils.core import pretrained

    if model == "smollm2":
        path = pretrained.smollm2_gguf()
        if path is None:
            raise ParameterError("model", model, f"the package {pretrained.SMOLLM2_DIST} is not installed: "
                                                 f"{pretrained.INSTALL_HINT}")
        return gguf_shape(path)
    folder = Path(model).expanduser()
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ParameterError("model", model, 'must be "smollm2" or a local Hugging Face folder with a config.json')
    cfg = json.loads(config_file.read_text())
    cfg = {**cfg.get("text_config", {}), **cfg}
    n = next((cfg[k] for k in ("num_hidden_layers", "n_layer", "num_layers") if isinstance(cfg.get(k), int)), None)
    if n is None:
        raise ParameterError("model", model, "has a config.json without num_hidden_layers (or n_layer)")
    return ModelShape(str(cfg.get("model_type", "")), n, int(cfg.get("vocab_size") or 0))


def family_of(shape: ModelShape) -> str | None:
    """Paper B's model family of a model of this shape (None when it is none of them)."""
    kind, n, vocab = shape.model_type, shape.n_layers, shape.vocab_size
    if kind == "gpt2" and n == 48:
        return "GPT2-XL"
    if kind == "qwen2" and n == 28:
        return "Qwen2.5-7B"
    if kind == "llama":
        if vocab >= 128000:
            return {32: "Llama3-8B", 28: "Llama3-3B", 16: "Llama3-1B"}.get(n)
        if vocab == 32000 and n == 32:
            return "Llama2-7B"
    return None


def paper_layer_of(shape: ModelShape) -> int:
    """Paper B's chosen layer for its families; SmolLM2: layer 8; another model: Llama3-8B's
    9 of 32 at the same relative depth."""
    family = family_of(shape)
    if family is not None:
        return PAPER_LAYERS[family]
    if shape.n_layers == 30 and shape.vocab_size == 49152:
        return SMOLLM2_LAYER
    return min(shape.n_layers - 1, round(9 * shape.n_layers / 32))


def model_family(model) -> str | None:
    """Paper B's model family of ``model`` from its config (None when it is none of them)."""
    return family_of(model_shape(model))


def default_layer(model) -> int:
    """:func:`paper_layer_of` a loaded model."""
    return paper_layer_of(model_shape(model))


def load_model(model: str = "smollm2", device: str = "cpu") -> LoadedModel:
    """``"smollm2"`` (SmolLM2-135M-Instruct) or a local Hugging Face folder."""
    from kedit_utils.core import pretrained

    if not isinstance(model, str) or not model:
        raise ParameterError("model", model, 'must be "smollm2" or a local Hugging Face folder')
    if model == "smollm2":
        m, tok = pretrained.load_smollm2(device)
        name, model_id = pretrained.SMOLLM2_NAME, f"{pretrained.SMOLLM2_NAME}:{pretrained.smollm2_gguf().name}"
    else:
        path = Path(model).expanduser()
        if not (path / "config.json").is_file():
            raise ParameterError("model", model, 'must be "smollm2" or a local Hugging Face folder with a config.json')
        m, tok = pretrained.load_hf_model(path, device)
        name, model_id = path.name, f"hf:{path.resolve()}"
    return LoadedModel(m, tok, name, model_id, model_family(m), default_layer(m))


# --------------------------------------------------------------------------- question form
def _bare(c: PropagationCase, questions) -> PropagationCase:
    return dataclasses.replace(c, questions=tuple(questions), single_hops=(), locality=())


def question_style_table(model, tok, cases: Sequence[PropagationCase], hparams, *, max_new_tokens: int = 10):
    """How to ask the model (the chapter's choice of question form), measured on generated
    CRE cases (they carry their relations): for each form — ``question`` (Paper B's bare
    question), ``chat`` (the question in the tokenizer's chat template), ``cloze`` (the
    same query as a sentence to complete) — the share of second hops the unedited model
    answers, and the share of 2-hop queries answered after the FT edit ``hparams`` of the
    first hop. Returns (table, examples): one row per form; one row per case and form with
    the generation after the edit."""
    import pandas as pd

    from kedit_utils.propagation.cre.templates import chat_form, second_hop_prompt, two_hop_question

    styles = ("question", "chat", "cloze")
    hops, twos = [], []
    for c in cases:
        subject, bridge = c.edits[0].subject, c.edits[0].target_new
        q2 = two_hop_question(c.relation, subject, c.second_relation, "question")
        q1 = second_hop_prompt(bridge, c.second_relation, "question")
        twos.append(_bare(c, (q2, chat_form(tok, q2), two_hop_question(c.relation, subject, c.second_relation,
                                                                             "cloze"))))
        hops.append(_bare(c, (q1, chat_form(tok, q1), second_hop_prompt(bridge, c.second_relation, "cloze"))))
    known = evaluate_cases(model, tok, hops, None, max_new_tokens=max_new_tokens, progress=False)
    edited = evaluate_cases(model, tok, twos, "ft", hparams, max_new_tokens=max_new_tokens, progress=False)
    rows, examples = [], []
    for i, style in enumerate(styles):
        rows.append({"form": style,
                     "second hop known": sum(r.question_correct[i] for r in known.results) / max(known.n, 1),
                     "2-hop after edit": sum(r.question_correct[i] for r in edited.results) / max(edited.n, 1),
                     "n": known.n})
    for c, r in zip(cases, edited.results):
        for i, style in enumerate(styles):
            examples.append({"case": c.case_id, "form": style, "answer": c.answer, "generation": r.generations[i],
                             "correct": r.question_correct[i]})
    return pd.DataFrame(rows), pd.DataFrame(examples)


# --------------------------------------------------------------------------- α sweep
def alpha_sweep(model, tok, cases: Sequence[PropagationCase], config: FOMAMLConfig, alphas: Sequence[float], *,
                max_new_tokens: int = 10):
    """The plain FT edit (the inner loop: ``config``'s scope, layers and steps) at each α on
    the unedited model: the edit's own success (single hop), the 2-hop accuracy, and the
    new object's loss (mean NLL of its tokens) before and after the edit. Shows whether α moves the model in ``inner_steps`` steps."""
    import numpy as np
    import pandas as pd

    from kedit_utils.editing.registry import get_editor

    rows = []
    for a in alphas:
        hp = dataclasses.replace(config, inner_lr=float(a)).ft_hparams(model)
        rep = evaluate_cases(model, tok, cases, "ft", hp, max_new_tokens=max_new_tokens, progress=False)
        losses = []
        ed = get_editor("ft")
        for c in cases[:min(len(cases), 3)]:  # the loss before and after a few edits (no generation)
            h = ed.apply(model, tok, list(c.edits), hp)
            try:
                after = related_loss(model, tok, QA(c.edits[0].prompt, c.edits[0].target_new))
                losses.append((h.info["losses"][0], after))
            finally:
                h.restore()
        rows.append({"alpha": float(a), "single hop": rep.single_hop, "2-hop acc": rep.accuracy,
                     "loss before": float(np.mean([x[0] for x in losses])),
                     "loss after": float(np.mean([x[1] for x in losses])), "n": rep.n})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- one run
@dataclass
class ScopeRun:
    """One meta-training run with its evaluations (module docstring)."""

    config: FOMAMLConfig
    result: MetaResult | None  # None while a worker's run is not read back (ScopeRuns.get)
    checkpoints: list[tuple[int, dict]]  # (tasks seen, split -> PropagationReport)

    @property
    def base(self) -> dict[str, PropagationReport]:
        return self.checkpoints[0][1]

    @property
    def meta(self) -> dict[str, PropagationReport]:
        return self.checkpoints[-1][1]

    @property
    def layers_label(self) -> str:
        return "all" if self.config.layers is None else ",".join(map(str, self.config.layers))

    def table1_rows(self) -> list[dict]:
        """{scope, layers, split, acc_base, acc_meta, gain, n, CI of both, single hop, locality}."""
        rows = []
        for split, meta in self.meta.items():
            base = self.base[split]
            (bl, bh), (ml, mh) = base.interval, meta.interval
            rows.append({"scope": self.config.scope, "layers": self.layers_label, "split": split,
                         "acc_base": base.accuracy, "base_low": bl, "base_high": bh,
                         "acc_meta": meta.accuracy, "meta_low": ml, "meta_high": mh,
                         "gain": meta.accuracy - base.accuracy, "n": meta.n,
                         "single_hop_base": base.single_hop, "single_hop_meta": meta.single_hop,
                         "locality_base": base.locality, "locality_meta": meta.locality})
        return rows

    def curve_rows(self) -> list[dict]:
        """{scope, layers, tasks_seen, split, acc, ci_low, ci_high, n} at every checkpoint."""
        rows = []
        for seen, reports in self.checkpoints:
            for split, rep in reports.items():
                lo, hi = rep.interval
                rows.append({"scope": self.config.scope, "layers": self.layers_label, "tasks_seen": seen,
                             "split": split, "acc": rep.accuracy, "ci_low": lo, "ci_high": hi, "n": rep.n})
        return rows


def run_scope(model, tok, train: Sequence[PropagationCase], eval_sets: Mapping[str, Sequence[PropagationCase]],
              config: FOMAMLConfig, *, model_id: str, checkpoint_every: int | None = None,
              curve_splits: Sequence[str] = (), max_new_tokens: int = 10, progress: bool = True) -> ScopeRun:
    """Meta-train ``config`` on ``train`` (cached) and evaluate the same FT edit before and
    after on every split of ``eval_sets`` (and on ``curve_splits`` at the checkpoints in
    between). The model ends holding the meta-trained weights: ``run.result.restore()``."""
    if not eval_sets:
        raise ParameterError("eval_sets", eval_sets, "must name at least one split of cases")
    for s in curve_splits:
        if s not in eval_sets:
            raise ParameterError("curve_splits", s, f"must be one of {list(eval_sets)}")
    n_tasks = len(train) * config.epochs
    hp = config.ft_hparams(model)

    def callback(seen, m):
        splits = list(eval_sets) if seen in (0, n_tasks) else list(curve_splits)
        return {s: evaluate_cases(m, tok, eval_sets[s], "ft", hp, max_new_tokens=max_new_tokens, progress=False)
                for s in splits}

    result = meta_train(model, tok, train, config, model_id=model_id, progress=progress, on_checkpoint=callback,
                        checkpoint_every=checkpoint_every)
    return ScopeRun(config, result, [(seen, reps) for seen, reps in result.curve])


def best_layer(rows, split: str = "ood", default: int | None = None) -> int:
    """The layer with the best ``split`` accuracy of the meta-trained model (rows of
    ``{layer, split, acc}``); ties go to ``default`` when it is among them, else to the
    shallowest (Paper B: shallow layers generalise best)."""
    cand = [r for r in rows if r["split"] == split and not math.isnan(r["acc"])]
    if not cand:
        raise ParameterError("split", split, "has no accuracy in the layer sweep")
    top = max(r["acc"] for r in cand)
    best = sorted(r["layer"] for r in cand if r["acc"] == top)
    return default if default in best else best[0]


@dataclass(frozen=True)
class ScopeJob:
    """One meta-training run of a chapter as a job of :func:`kedit_utils.core.jobs.run_jobs`:
    what a worker needs to load the model itself (``source``: :func:`load_model`'s
    ``model``, and the device) and call :func:`run_scope`."""

    source: str
    device: str
    train: tuple[PropagationCase, ...]
    eval_sets: tuple[tuple[str, tuple[PropagationCase, ...]], ...]
    config: FOMAMLConfig
    run_kwargs: tuple[tuple[str, object], ...]

    @property
    def cost(self) -> float:
        """Relative cost (all layers before one layer), to start the longest first."""
        return 1e6 if self.config.layers is None else float(len(self.config.layers))


_WORKER_MODELS: dict = {}  # (source, device) -> LoadedModel, loaded once per worker process


def run_scope_job(job: ScopeJob) -> ScopeRun:
    """:func:`run_scope` for ``job`` on the worker's own copy of the model (loaded once per
    process); returned without the model and its tensors (``result`` is ``None``: the
    meta-trained weights are in the artifact cache, :meth:`ScopeRuns.get` reads them)."""
    key = (job.source, job.device)
    if key not in _WORKER_MODELS:
        _WORKER_MODELS[key] = load_model(job.source, job.device)
    lm = _WORKER_MODELS[key]
    run = run_scope(lm.model, lm.tok, list(job.train), dict(job.eval_sets), job.config,
                    **{**dict(job.run_kwargs), "progress": False})
    run.result.restore()
    return ScopeRun(run.config, None, run.checkpoints)


class ScopeRuns:
    """Meta-training runs of one chapter, memoised by (scope, layers): Table 1, Fig. 2 and
    Table 2 share runs. Each run leaves the model as the base model (``result.restore()``);
    ``settings``: FOMAMLConfig's ``inner_lr``, ``outer_lr``, ``inner_steps``, ``epochs``,
    ``seed``; ``run_kwargs``: :func:`run_scope`'s ``model_id``, ``checkpoint_every``, ...

    :meth:`prefetch` runs several at once as jobs (:mod:`kedit_utils.core.jobs`: a local pool of
    processes or Dask, each worker loading the model from ``source``); :meth:`get` then
    returns them, their meta-trained weights read from the artifact cache into this model.
    """

    def __init__(self, model, tok, train: Sequence[PropagationCase],
                 eval_sets: Mapping[str, Sequence[PropagationCase]], settings: dict, *,
                 source: str | None = None, device: str = "cpu", **run_kwargs):
        self.model, self.tok, self.train, self.eval_sets = model, tok, list(train), dict(eval_sets)
        self.settings, self.run_kwargs = dict(settings), run_kwargs
        self.source, self.device = source, device
        self.runs: dict = {}

    def _key(self, scope: str, layers):
        return (scope, None if layers is None else tuple(layers))

    def _has(self, key, splits: Sequence[str]) -> bool:
        return key in self.runs and set(splits) <= set(self.runs[key].meta)

    def _config(self, key) -> FOMAMLConfig:
        return FOMAMLConfig(scope=key[0], layers=key[1], **self.settings)

    def get(self, scope: str, layers, splits: Sequence[str]) -> ScopeRun:
        key = self._key(scope, layers)
        if not self._has(key, splits):
            run = run_scope(self.model, self.tok, self.train, {s: self.eval_sets[s] for s in splits},
                            self._config(key), **self.run_kwargs)
            run.result.restore()  # the model stays the base model between runs
            self.runs[key] = run
        run = self.runs[key]
        if run.result is None:  # run by a worker: its weights from the cache (no training, no evaluation)
            run.result = meta_train(self.model, self.tok, self.train, run.config,
                                    model_id=self.run_kwargs.get("model_id", ""), progress=False,
                                    on_checkpoint=lambda seen, m: None,
                                    checkpoint_every=self.run_kwargs.get("checkpoint_every"))
            run.result.restore()
        return run

    def prefetch(self, wanted: Sequence[tuple], *, executor: str = "local", workers: int = 1,
                 scheduler: str | None = None, progress: bool = True) -> None:
        """Run every ``(scope, layers, splits)`` of ``wanted`` not run yet, as jobs of
        :func:`kedit_utils.core.jobs.run_jobs` (``executor``, ``workers``, ``scheduler``: its
        parameters). In this process, one after the other, when ``executor="local"`` and
        ``workers=1`` or one run is missing (or there is no ``source`` to load the model from)."""
        from kedit_utils.core.jobs import check_executor, run_jobs

        check_executor(executor, workers, scheduler)
        todo: dict = {}
        for scope, layers, splits in wanted:
            key = self._key(scope, layers)
            if not self._has(key, splits):
                todo.setdefault(key, set()).update(splits)
        if not todo:
            return
        if (executor == "local" and (workers == 1 or len(todo) == 1)) or self.source is None:
            for key, splits in todo.items():
                self.get(key[0], key[1], sorted(splits))
            return
        jobs = [ScopeJob(self.source, self.device, tuple(self.train),
                         tuple((s, tuple(self.eval_sets[s])) for s in sorted(splits)), self._config(key),
                         tuple(sorted(self.run_kwargs.items())))
                for key, splits in todo.items()]
        runs = run_jobs(run_scope_job, jobs, executor=executor, workers=workers, scheduler=scheduler,
                        desc="meta-training runs", progress=progress, cost=lambda j: j.cost)
        self.runs.update(zip(todo, runs))


def layer_sweep_rows(runs: ScopeRuns, layers: Sequence[int], split: str = "ood") -> tuple[list[dict], list[dict]]:
    """Paper B Fig. 2: Attn+MLP of one layer meta-trained per layer of ``layers``, the FT edit
    evaluated on ``split``. Returns (table rows ``{layer, scope, split, acc, acc_base, n}``,
    plot rows ``{layer, split, model, acc, ci_low, ci_high}`` for base and meta)."""
    table, plot = [], []
    for layer in layers:
        run = runs.get("attn+mlp", [layer], (split,))
        for s in (x for x in ("id", "ood") if x in run.meta):
            for which, rep in (("meta", run.meta[s]), ("base", run.base[s])):
                lo, hi = rep.interval
                plot.append({"layer": layer, "split": s, "model": which, "acc": rep.accuracy, "ci_low": lo,
                             "ci_high": hi})
            table.append({"layer": layer, "scope": "attn+mlp", "split": s, "acc": run.meta[s].accuracy,
                          "acc_base": run.base[s].accuracy, "n": run.meta[s].n})
    return table, plot


TABLE2_COLUMNS = (("cre_ood", "CRE OOD"), ("mquake", "MQuAKE"), ("mquake_subset", "MQuAKE-subset"))
TABLE2_ORDER = ("rome", "memit", "alphaedit", "ft", "meta")


def table2(model, tok, run: ScopeRun, datasets: Mapping[str, Sequence[PropagationCase]], baselines: Sequence[str],
           *, n_baseline_cases: int | None, model_id: str, max_new_tokens: int = 10):
    """Paper B Table 2: ``ft`` (the FT edit on the base model) and ``meta`` (on ``run``'s
    meta-trained model) on every data set of ``datasets`` (keys of :data:`TABLE2_COLUMNS`;
    CRE OOD is taken from the run's own evaluation), and each baseline with its preset and
    key covariances from the built-in corpus on the first ``n_baseline_cases`` cases.
    Returns a DataFrame: ``{method, cre_ood, mquake, mquake_subset, seconds_per_edit, n,
    n_mquake, n_mquake_subset}`` (seconds of the CRE OOD edits). The model is left as the
    base model."""
    import pandas as pd

    hp = run.config.ft_hparams(model)
    reports = {"ft": {"cre_ood": run.base["ood"]}, "meta": {"cre_ood": run.meta["ood"]}}
    others = [c for c, _ in TABLE2_COLUMNS if c != "cre_ood"]
    try:
        for name, put in (("ft", run.result.restore), ("meta", run.result.apply)):
            put()
            for col in others:
                reports[name][col] = evaluate_cases(model, tok, datasets[col], "ft", hp, desc=f"{name} {col}",
                                                    max_new_tokens=max_new_tokens)
    finally:
        run.result.restore()
    if baselines:
        from kedit_utils.core.pretrained import default_covariance_texts
        from kedit_utils.editing.prerequisites import covariance_context

        context = covariance_context(model, tok, baselines, {}, default_covariance_texts(), model_id)
        for method in baselines:
            reports[method] = {
                col: evaluate_cases(model, tok, datasets[col][:n_baseline_cases] if n_baseline_cases
                                    else datasets[col], method, None, desc=f"{method} {col}",
                                    max_new_tokens=max_new_tokens, **context.get(method, {}))
                for col, _ in TABLE2_COLUMNS}
    rows = [{"method": m, **{c: r[c].accuracy for c, _ in TABLE2_COLUMNS},
             "seconds_per_edit": r["cre_ood"].seconds_per_edit, "n": r["cre_ood"].n,
             "n_mquake": r["mquake"].n, "n_mquake_subset": r["mquake_subset"].n}
            for m, r in reports.items()]
    order = {m: i for i, m in enumerate(TABLE2_ORDER)}
    return pd.DataFrame(sorted(rows, key=lambda r: order.get(r["method"], len(order)))).reset_index(drop=True)


def gain_text(table1, split: str) -> str:
    """"attn +0 pts (n = 2), ..." for one split of Table 1's rows (a DataFrame)."""
    part = table1[table1.split == split]
    return ", ".join(f"{s} {100 * g:+.0f} pts (n = {n})" for s, g, n in zip(part.scope, part.gain, part.n))


def paper_gain_text(split: str) -> str:
    """Paper B's Table 1 gains for one split, in points."""
    from kedit_utils.propagation.paper_numbers import PAPER_B_TABLE1

    return ", ".join(f"{s} {PAPER_B_TABLE1[(s, split)][1]:+.1f}" for s in ("attn", "mlp", "attn+mlp"))


def accuracy_text(table, column: str) -> str:
    """"ft 0 %, meta 0 %, ..." for one column of Table 2 (indexed by method)."""
    return ", ".join(f"{m} {100 * table.loc[m, column]:.0f} %" for m in table.index)


__all__ = ["LoadedModel", "ModelShape", "PAPER_LAYERS", "SMOLLM2_LAYER", "ScopeJob", "ScopeRun", "ScopeRuns",
           "TABLE2_COLUMNS", "accuracy_text", "alpha_sweep", "best_layer", "default_layer", "family_of", "gain_text",
           "gguf_shape", "layer_sweep_rows", "load_model", "model_family", "model_shape", "paper_gain_text",
           "paper_layer_of", "question_style_table", "run_scope", "run_scope_job", "source_shape", "table2"]
