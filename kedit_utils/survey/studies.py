"""Chapter 7's runs, each cached under a key of every input (the artifact cache of
:mod:`kedit_utils.core.cache`): the comparison grid on a pretrained model and on a chapter-2
knowledge-graph model, sequential editing and reversibility on the KG model.

* :func:`pretrained_study`: SmolLM2-135M (or a local Hugging Face folder): the facts it
  knows (:func:`~kedit_utils.datasets.facts.known_facts`, cached), ``n_edits`` requests per
  action, every method one edit at a time (:func:`.grid.run_grid`) and the unedited baseline;
* :func:`kg_study`: the same on a tiny alias GPT-2 of chapter 2 (requests from
  :func:`~kedit_utils.survey.kg_requests.kg_requests`; the edit site is the one chapter 5
  located by causal tracing), plus :func:`.sequential.sequential_curve` and
  :func:`.reversibility.reversibility` per weight-changing method.

A study returns plain tables (DataFrames) and what the chapter shows about its data;
:func:`run_studies` runs the two side by side.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from kedit_utils.core import cache
from kedit_utils.core.validation import ParameterError
from kedit_utils.datasets import facts as F
from kedit_utils.editing import get_editor, prerequisites
from kedit_utils.survey import grid
from kedit_utils.survey import reversibility as R
from kedit_utils.survey import sequential as S

WEIGHT_METHODS = ("rome", "memit", "alphaedit", "ft", "ft_l", "lora", "mend")
TRAIN_EDITS = 200  # MEND's and SERAC's training split: at most this many edits about subjects never evaluated
MIN_EDITS = 2  # per method and action: IKE's and SERAC's pools are the *other* requests of the action


# --------------------------------------------------------------------------- pretrained model
def load_pretrained(model: str, device: str = "cpu"):
    """(model, tok, name, model_id): ``"smollm2"`` or a local Hugging Face folder."""
    from kedit_utils.core import pretrained

    if model == "smollm2":
        m, tok = pretrained.load_smollm2(device)
        return m, tok, pretrained.SMOLLM2_NAME, f"{pretrained.SMOLLM2_NAME}:{pretrained.smollm2_gguf().name}"
    path = Path(model).expanduser()
    m, tok = pretrained.load_hf_model(path, device)
    return m, tok, path.name, f"hf:{path.resolve()}"


def _known_to_json(k: F.KnownFacts) -> dict:
    return {"kept": [{"relation": f.relation, "name": f.name, "answer": f.answer,
                      "probes": [[p.kind, p.prompt, p.answer] for p in f.portability]} for f in k.kept],
            "total": k.total, "known": k.known, "dropped": k.dropped, "probes_total": k.probes_total,
            "mode": k.mode}


def _known_from_json(d: dict) -> F.KnownFacts:
    table = {f.key: f for f in F.fact_table()}
    kept, forms = [], {}
    for row in d["kept"]:
        f = table[(row["relation"], row["name"])]
        kept.append(replace(f, answer=row["answer"],
                            portability=tuple(F.Probe(kind, p, a) for kind, p, a in row["probes"])))
        forms[f.key] = row["answer"]
    return F.KnownFacts(tuple(kept), d["total"], d["known"], d["dropped"], d["probes_total"], d["mode"],
                        frozenset(f.key for f in kept), forms)


def cached_known_facts(model, tok, model_id: str) -> F.KnownFacts:
    """:func:`~kedit_utils.datasets.facts.known_facts` of the whole table, cached by the
    model's id and the code of this module's import closure (the facts code among it)."""
    def build(tmp: Path) -> None:
        cache.write_json_atomic(tmp / "known.json", _known_to_json(F.known_facts(model, tok)))

    folder = cache.cached("known-facts", {"model": model_id}, _version(), build)
    return _known_from_json(json.loads((folder / "known.json").read_text()))


def _frame_cached(kind: str, inputs: dict, version: str, compute) -> pd.DataFrame:
    """A DataFrame computed once per inputs and stored as JSON records (``changes`` lists
    survive as lists of pairs)."""
    def build(tmp: Path) -> None:
        frame = compute()
        cache.write_json_atomic(tmp / "rows.json", json.loads(frame.to_json(orient="records")))

    folder = cache.cached(kind, inputs, version, build)
    return pd.DataFrame(json.loads((folder / "rows.json").read_text()))


def _version() -> str:
    """The code version of every study artifact: this module's import closure (the grid, the
    editors it reaches through the registry, the metrics, the facts, the KG models' code)."""
    return cache.code_version(sys.modules[__name__])


def check_methods(methods) -> list[str]:
    """Validated method names (unknown ones name the registry's list)."""
    methods = list(methods)
    if not methods:
        raise ParameterError("methods", methods, "must name at least one editing method")
    for m in methods:
        get_editor(m)
    return methods


@dataclass
class Study:
    """What one model's runs gave: the grid's per-edit rows, the unedited baseline, the
    requests (action → FactRequests) and, for the pretrained model, the known facts."""

    model_name: str
    rows: pd.DataFrame
    baseline: pd.DataFrame
    requests: dict
    known: F.KnownFacts | None = None
    sequential: pd.DataFrame = field(default_factory=pd.DataFrame)
    reversibility: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_layers: int = 0
    skipped: list = field(default_factory=list)
    site: dict = field(default_factory=dict)


def pretrained_context(model, tok, model_id: str, methods, requests: dict, known, seed: int = 0,
                       covariance_texts: int = 1000, progress: bool = True) -> dict:
    """method → what it needs besides the model on a pretrained model: the key covariances
    of ROME/MEMIT/AlphaEdit from the generated corpus, and MEND's network and SERAC's scope
    classifier trained on other known facts' edits (never about a subject of ``requests``);
    all from the artifact cache when there."""
    from kedit_utils.core.pretrained import default_covariance_texts

    ctx = prerequisites.covariance_context(model, tok, methods, {}, default_covariance_texts(covariance_texts), model_id,
                                  progress=progress)
    if any(get_editor(m).trained_argument for m in methods):
        evaluated = [r for rs in requests.values() for r in rs]
        train = grid.training_split(F.make_requests("modify", None, known, seed=seed + 1), evaluated, TRAIN_EDITS)
        ctx.update(prerequisites.trained_context(model, tok, methods, {}, train, model_id, progress=progress))
    return ctx


# the pretrained grid's methods, slowest first (measured on SmolLM2, one thread: ROME and
# MEMIT ~6.5 s an edit with its scoring, FT-L and LoRA ~3 s, the in-context ones ~2 s)
_SLOW_FIRST = ("memit", "alphaedit", "rome", "ft", "ft_l", "lora", "mend", "serac", "ike", "ice")


def _method_requests(model, tok, model_id: str, n_edits: int, seed: int):
    known = cached_known_facts(model, tok, model_id)
    return known, {a: F.make_requests(a, n_edits, known, seed=seed) for a in F.ACTIONS}


def check_known_facts(known: F.KnownFacts, n_edits: int, methods: Sequence[str] = (), model: str = "model",
                      seed: int = 0) -> None:
    """Raise :class:`ParameterError` unless the model knows enough of the facts table.

    Modify and erase each edit ``n_edits`` facts that the model answers (``known.kept``), so it
    must know at least ``n_edits`` (and at least :data:`MIN_EDITS`); methods trained on other
    edits (MEND, SERAC) need one more known fact about a subject no evaluated edit has. The
    message says how many facts the model answered and how many the chapter needs, naming
    ``model`` and ``n_edits``."""
    answered = len(known.kept)
    total = sum(known.total.values())
    needed = max(n_edits, MIN_EDITS)
    if answered < MIN_EDITS:
        raise ParameterError("model", model, f"answers {answered} of the {total} facts of the table "
                             f"({known.mode.replace('_', '-')} check); chapter 7 edits facts the model knows and "
                             f"needs at least {needed} (n_edits = {n_edits} modify and erase edits): use a model "
                             "that knows the table's facts (e.g. 'smollm2') or run_pretrained=False")
    if answered < needed:
        raise ParameterError("n_edits", n_edits, f"is more than the {answered} of the {total} facts of the table "
                             f"that model {model!r} answers; chapter 7 needs n_edits known facts for its modify "
                             f"and erase edits: use n_edits <= {answered}")
    trained = [m for m in methods if get_editor(m).trained_argument]
    if trained:
        requests = {a: F.make_requests(a, n_edits, known, seed=seed) for a in F.ACTIONS}
        used = {r.request.subject for rs in requests.values() for r in rs}
        spare = [f for f in known.kept if f.subject not in used]
        if not spare:
            raise ParameterError("n_edits", n_edits, f"leaves none of the {answered} facts model {model!r} answers "
                                 f"to train {', '.join(trained)} on (their training edits are about subjects no "
                                 "evaluated edit has): use a smaller n_edits, or drop them from methods")


_LOADED: dict = {}  # a grid worker's pretrained model, loaded once per process


def _pretrained_grid_job(job: dict) -> pd.DataFrame:
    """One method's rows of :func:`pretrained_study`'s grid, in a worker process on
    ``job["threads"]`` torch threads: the model is loaded once per process, and the known facts, the covariances and the
    trained components come from the cache the calling process filled first."""
    import torch

    torch.set_num_threads(job["threads"])
    key = (job["model"], job["device"])
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_pretrained(job["model"], job["device"])
    m, tok, name, model_id = _LOADED[key]
    known, requests = _method_requests(m, tok, model_id, job["n_edits"], job["seed"])
    ctx = pretrained_context(m, tok, model_id, [job["method"]], requests, known, job["seed"],
                             job["covariance_texts"], progress=False)
    setup = grid.EditSetup(m, tok, name, context=ctx, fluency_tokens=job["fluency_tokens"])
    return grid.run_grid(setup, [job["method"]], requests, progress=False)


def _grid_in_order(frames: dict, methods, requests: dict) -> pd.DataFrame:
    """The per-method frames in :func:`.grid.run_grid`'s row order (action, method, request)."""
    parts = [frames[m][frames[m].action == a] for a in requests for m in methods if requests[a]]
    return pd.concat(parts, ignore_index=True)


def pretrained_study(model: str, methods, n_edits: int, seed: int = 0, fluency_tokens: int = 40,
                     covariance_texts: int = 1000, device: str = "cpu", loaded=None, pool=None) -> Study:
    """The grid on a pretrained model (module docstring). ``loaded``: an already loaded
    ``load_pretrained(...)`` tuple. ``pool``: a ``concurrent.futures`` executor of spawned
    processes; the grid then runs one job per method there (:func:`_pretrained_grid_job`,
    slowest first) on this process's torch threads, while this process computes the unedited
    baseline: the same rows as in this process (:func:`run_studies` runs both ways on one
    thread; other thread counts may change the last float digits)."""
    from kedit_utils.core import architectures as A

    methods = check_methods(methods)
    m, tok, name, model_id = loaded or load_pretrained(model, device)
    known, requests = _method_requests(m, tok, model_id, n_edits, seed)
    check_known_facts(known, n_edits, methods, model, seed)
    inputs = {"model": model_id, "methods": methods, "n_edits": n_edits, "seed": seed,
              "fluency_tokens": fluency_tokens, "covariance_texts": covariance_texts,
              "requests": {a: [r.to_easyedit() for r in rs] for a, rs in requests.items()}}

    def setup() -> grid.EditSetup:
        ctx = pretrained_context(m, tok, model_id, methods, requests, known, seed, covariance_texts)
        return grid.EditSetup(m, tok, name, context=ctx, fluency_tokens=fluency_tokens)

    def baseline() -> pd.DataFrame:
        return _frame_cached("survey-baseline", inputs, _version(),
                             lambda: grid.unedited_rows(grid.EditSetup(m, tok, name, fluency_tokens=fluency_tokens),
                                                        requests))

    def rows_in_workers() -> pd.DataFrame:
        setup()  # the covariances and trained components into the cache, here, once
        import torch

        job = {"model": model, "device": str(device), "n_edits": n_edits, "seed": seed,
               "fluency_tokens": fluency_tokens, "covariance_texts": covariance_texts,
               "threads": torch.get_num_threads()}
        order = sorted(methods, key=lambda x: _SLOW_FIRST.index(x) if x in _SLOW_FIRST else len(_SLOW_FIRST))
        futures = {x: pool.submit(_pretrained_grid_job, {**job, "method": x}) for x in order}
        try:
            baseline()  # meanwhile
            return _grid_in_order({x: f.result() for x, f in futures.items()}, methods, requests)
        except BaseException:
            for f in futures.values():  # a failed job stops the grid: the pending ones are not started
                f.cancel()
            raise

    compute = (lambda: grid.run_grid(setup(), methods, requests)) if pool is None else rows_in_workers
    rows = _frame_cached("survey-grid", inputs, _version(), compute)
    return Study(name, rows, baseline(), requests, known, n_layers=A.n_layers(m))


# --------------------------------------------------------------------------- knowledge-graph model
def kg_hparams(methods, layer: int, token: str, n_layers: int) -> dict:
    """method → its ``tiny_gpt2`` preset aimed at the located site (chapter 5's rule:
    :func:`kedit_utils.kg.deletion.sweep.tiny_hparams`)."""
    from kedit_utils.kg.deletion.sweep import tiny_hparams

    return {m: tiny_hparams(m, layer, token, n_layers) for m in methods}


def kg_study(params: dict, graph: str, n_layers: int, methods, n_edits: int, sequential_edits: int,
             reversibility_edits: int, seed: int = 0, n_trace_facts: int = 40, fluency_tokens: int = 0,
             sequential_methods=None) -> Study:
    """The grid, sequential editing and reversibility on chapter 2's model for ``graph`` ×
    ``n_layers`` (trained here if the cache lacks it). ``params``: the training parameters
    (:data:`kedit_utils.kg.trained_models.TRAINING_KEYS`, seed, device)."""
    from kedit_utils.kg.alias_accuracy import EntityLevelLM
    from kedit_utils.kg.deletion.sweep import edit_sites
    from kedit_utils.kg.trained_models import trained_model
    from kedit_utils.kg.vocabulary import hf_tokenizer
    from kedit_utils.survey.kg_requests import kg_requests

    methods = check_methods(methods)
    tm = trained_model(params, graph, n_layers)
    model, vocab, kg = tm.model.eval(), tm.vocab, tm.corpus.kg
    # The alias models have a context of a few positions (a fact is 3 tokens): the in-context
    # methods, which put the new fact before the prompt, cannot run on them.
    skipped = [m for m in methods if not get_editor(m).changes_weights and model.config.n_positions < 16]
    methods = [m for m in methods if m not in skipped]
    seq_methods = [m for m in (sequential_methods or methods) if get_editor(m).changes_weights]
    tok = hf_tokenizer(vocab)
    sites = dict((t, layer) for layer, t in edit_sites(tm, ["subject_last", "last"], n_trace_facts, seed))
    layer, token = sites["last"], "last"
    hps = kg_hparams(methods, layer, token, n_layers)
    requests = {a: kg_requests(kg, vocab, a, n_edits, seed=seed) for a in F.ACTIONS}
    seq_requests = kg_requests(kg, vocab, "modify", max(sequential_edits, reversibility_edits), seed=seed + 1)
    context = prerequisites.covariance_context(model, tok, methods, hps, tm.corpus.train_sentences.tolist(), str(tm.path),
                                      progress=False)
    if any(get_editor(m).trained_argument for m in methods):  # trained on other edits of the same graph
        candidates = kg_requests(kg, vocab, "modify", min(len(kg.triples), 4 * TRAIN_EDITS), seed=seed + 2)
        train = grid.training_split(candidates, [r for rs in requests.values() for r in rs], TRAIN_EDITS,
                                    avoid=seq_requests)
        context.update(prerequisites.trained_context(model, tok, methods, hps, train, str(tm.path), progress=False))
    name = f"{graph.upper()} {n_layers}-layer alias GPT-2"
    inputs = {"model": str(tm.path), "methods": methods, "n_edits": n_edits, "seed": seed, "layer": layer,
              "token": token, "fluency_tokens": fluency_tokens, "sequential_edits": sequential_edits,
              "reversibility_edits": reversibility_edits, "sequential_methods": seq_methods}
    scorer = EntityLevelLM(model, vocab)  # answers read as entities, as every chapter reads them
    setup = grid.EditSetup(model, tok, name, hparams=hps, context=context, fluency_tokens=fluency_tokens,
                           scorer=scorer)
    rows = _frame_cached("survey-kg-grid", inputs, _version(), lambda: grid.run_grid(setup, methods, requests))
    base = _frame_cached("survey-kg-baseline", inputs, _version(), lambda: grid.unedited_rows(setup, requests))
    # locality probes of sequential editing: the grid's unrelated facts whose subject none of
    # the sequential edits touches (else the first sequential requests' own)
    edited = {r.request.subject for r in seq_requests[:sequential_edits]}
    pool = dict.fromkeys(pair for r in requests["modify"] for pair in r.request.locality)
    probes = [p for p in pool if p[0].split(" ")[0] not in edited] or \
        [p for r in seq_requests[:5] for p in r.request.locality]

    def seq() -> pd.DataFrame:
        return pd.concat([S.sequential_curve(model, tok, m, seq_requests[:sequential_edits], probes, hps[m],
                                             context.get(m), model_name=name, scorer=scorer) for m in seq_methods],
                         ignore_index=True)

    def rev() -> pd.DataFrame:
        return pd.concat([R.reversibility(model, tok, m, seq_requests[:reversibility_edits], hps[m], context.get(m),
                                          model_name=name, scorer=scorer) for m in seq_methods], ignore_index=True)

    seq_rows = _frame_cached("survey-kg-sequential", inputs, _version(), seq) if sequential_edits else pd.DataFrame()
    rev_rows = _frame_cached("survey-kg-reversibility", inputs, _version(), rev) if reversibility_edits \
        else pd.DataFrame()
    return Study(name, rows, base, requests, None, seq_rows, rev_rows, n_layers=n_layers, skipped=skipped,
                 site={"layer": layer, "token": token})


__all__ = ["MIN_EDITS", "Study", "WEIGHT_METHODS", "cached_known_facts", "check_known_facts", "check_methods",
           "kg_hparams", "kg_study",
           "load_pretrained", "pretrained_context", "pretrained_study"]


# --------------------------------------------------------------------------- both, side by side
def _kg_job(job: dict) -> Study:
    import torch

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    return kg_study(**job["kwargs"])


def run_studies(pretrained_kwargs: dict | None, kg_kwargs: dict, workers: int = 2) -> tuple[Study | None, Study]:
    """:func:`pretrained_study` and :func:`kg_study` — with ``workers`` = 2, on two spawned
    processes of half the torch threads each (one each on a 2-core CPU, where two one-thread
    processes do more than one process with two threads, whose matrices are too small to
    split well): the KG study
    in one while this process prepares the pretrained grid (known facts, covariances, trained
    components), then the grid's methods on both as they come free, while this process
    computes the unedited baseline. Cached studies return at once either way."""
    import torch

    from kedit_utils.core.validation import check_int

    check_int("workers", workers, minimum=1, maximum=2)
    if pretrained_kwargs is None or workers == 1:
        pre = pretrained_study(**pretrained_kwargs) if pretrained_kwargs is not None else None
        return pre, kg_study(**kg_kwargs)
    from kedit_utils.core.jobs import spawned_pool

    threads = max(1, torch.get_num_threads() // 2)
    before = torch.get_num_threads()
    with spawned_pool(2) as pool:  # the workers' progress bars drawn here, in the notebook
        fut = pool.submit(_kg_job, {"kwargs": kg_kwargs, "threads": threads})
        torch.set_num_threads(threads)
        try:
            pre = pretrained_study(**pretrained_kwargs, pool=pool)
        finally:
            torch.set_num_threads(before)
        kg = fut.result()
    return pre, kg


__all__ += ["run_studies"]
