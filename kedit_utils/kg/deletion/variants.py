"""Chapter 5's setup variants (issue 12 §2): which choice moves Paper A's Table 2?

Paper A §3.4 / §4 reports a degree–impact correlation of .93 / .99 / .75 on the BA graphs
(6 / 12 / 24 layers) and .21–.30 on ER; the book's baseline sweep does not reproduce it.
Many of the choices behind a deletion are not stated in the paper. Each :class:`Variant`
changes *one* of them (or, for ``rule``, every choice the rule below makes) and reruns the
deletion sweep of :mod:`kedit_utils.kg.deletion.impact` on the models of one depth, both graphs:

* the graph's **orientation**: one triple per edge (the book) or both directions of every
  edge (the public implementation's data: an entity is the subject of ``degree`` facts);
* the **training length**: stop at the target accuracy (the book) or train on for a fixed
  number of epochs, keeping the last weights (the public implementation: 100 epochs);
* **ROME's settings** that decide how hard an edit pushes: the v* clamp (a curve, not one
  point), the KL factor, the weight decay, the steps and early stop, the layer whose
  output the v* loss reads (ROME: the last; the public implementation: the edited layer),
  the key covariance's sample and ridge, and the edited layer (traced, 0 or 1);
* the **edit token** (subject, as the paper; or the relation token, where the small models
  read a fact: chapter 4) and the **key** (one alias prompt, as the paper; or averaged over
  the subject's aliases);
* **which fact** is deleted (lowest relation id, the book; or one relation fixed for every
  entity that has it, the paper's "r fixed to one relation", the lowest id otherwise);
* the **target**: the untrained ``<deleted>`` token (the book, and the public
  implementation's ``[E_DELETED]``) or a trained entity token standing in for it (the
  lowest-degree entity that is neither the subject nor the old object);
* the **accuracy's prompt set**: every subject × relation alias prompt, any alias of the
  object counted correct (the book) or the canonical prompt (alias 0, alias 0) only.

**The rule, stated before any variant ran** (issue 12: "Don't pick the variant by its
correlation"). For each choice: the paper's text where it states one; where it does not, the
public implementation of exactly this setup (``ishigaki0302/kekg``: the same 200 entities,
50 relations, m = 3, 5 aliases and 20 % sample), the closest evidence of what was run; where
that is silent too, ROME's published GPT-2 hyper-parameters. :data:`RULE` lists the outcome
choice by choice with its source, and the ``rule`` variant applies all of them at once.
Every variant is reported, whatever its correlation.

Each sweep is one job of :func:`kedit_utils.core.jobs.run_jobs` (in this process, local workers
or Dask), cached in the artifact cache under every input (model, site, ROME settings,
entities, variant); variants that share a sweep (``prompts``) share its cache entry.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kedit_utils.core import cache
from kedit_utils.core.jobs import run_jobs
from kedit_utils.core.stats import degree_impact_table, reported_interval
from kedit_utils.core.validation import ParameterError, check_choice, check_int
from kedit_utils.editing.rome import compute_k, compute_v, editor, row_groups, update
from kedit_utils.editing.rome.covariance import key_covariance
from kedit_utils.editing.rome.hparams import ROMEHyperParams
from kedit_utils.kg.deletion import impact as deletion
from kedit_utils.kg.deletion.requests import graph_request
from kedit_utils.kg.deletion.sweep import edit_sites, pick_entities
from kedit_utils.kg.graphs import DELETED_ENTITY, KnowledgeGraph
from kedit_utils.kg.trained_models import trained_model

ARTIFACT_KIND = "deletion-variant"
FAMILIES = ("baseline", "orientation", "training", "rome", "layer", "token", "key", "fact", "target",
            "prompts", "rule")


@dataclass(frozen=True)
class Variant:
    """One setup of the deletion sweep (module docstring); the defaults are the book's baseline.

    name / family / description: how the chapter shows it. orientation: "one" | "both";
    training: "target" (stop at the target accuracy) | "epochs" (a fixed number, last
    weights kept); rome: ROMEHyperParams fields changed from the ``tiny_gpt2`` preset
    (``v_loss_layer="edit"`` = the edited layer); layer: None = traced, else that layer;
    token: ROME's fact token; all_aliases: the key averaged over the subject's aliases;
    fact: "lowest" | "fixed"; target: "untrained" (``<deleted>``) | "trained" (a stand-in
    entity); prompts: "aliases" | "canonical" (the accuracy's prompt set).
    """

    name: str
    family: str
    description: str
    orientation: str = "one"
    training: str = "target"
    rome: dict = field(default_factory=dict)
    layer: int | None = None
    token: str = "subject_last"
    all_aliases: bool = False
    fact: str = "lowest"
    target: str = "untrained"
    prompts: str = "aliases"

    def __post_init__(self):
        check_choice("family", self.family, FAMILIES)
        check_choice("orientation", self.orientation, ("one", "both"))
        check_choice("training", self.training, ("target", "epochs"))
        check_choice("token", self.token, ("subject_last", "last"))
        check_choice("fact", self.fact, ("lowest", "fixed"))
        check_choice("target", self.target, ("untrained", "trained"))
        check_choice("prompts", self.prompts, ("aliases", "canonical"))
        bad = set(self.rome) - set(ROMEHyperParams.__dataclass_fields__)
        if bad:
            raise ParameterError("rome", sorted(bad), "must name fields of ROMEHyperParams")

    def sweep_key(self) -> dict:
        """What the sweep depends on (``prompts`` only changes how its rows are read)."""
        d = asdict(self)
        for k in ("name", "family", "description", "prompts"):
            d.pop(k)
        return d


# The rule's outcome, choice by choice: (choice, value chosen, source). Written before any
# variant ran; the chapter prints it above the results.
RULE = (
    ("orientation", "both directions of every edge", "public implementation (its data/kg/ba: 1,182 triples for 591 edges)"),
    ("training", "a fixed number of epochs, last weights", "public implementation (100 epochs)"),
    ("edited layer", "located by causal tracing", "paper §3.3"),
    ("edit token", "the subject's last token", "paper §3.3 and ROME"),
    ("key", "one prompt", "paper §3.4 (one fact, one prompt)"),
    ("fact deleted", "one relation fixed for every entity that has it", "paper §4 step 2 ('r fixed to one relation')"),
    ("target", "an untrained special token", "public implementation ([E_DELETED], in no sentence)"),
    ("v* loss layer", "the edited layer", "public implementation (v_loss_layer = layer)"),
    ("covariance sample", "10,000 sentences", "public implementation (mom2_n_samples)"),
    ("clamp, KL, weight decay, steps", "4, 0.0625, 0.5, 20 with early stop at 0.05 (the book's preset: 25 steps)",
     "public implementation = ROME's published GPT-2 values"),
    ("accuracy's prompt set", "every alias prompt, any alias of the object", "paper §3.1 (inference)"),
)

BASELINE = Variant("baseline", "baseline", "the chapter's sweep: one direction, stopped at the target, traced layer, "
                   "subject token, one alias prompt, lowest relation id, untrained <deleted>, ROME's published values")


def variant_grid(clamps=(0.5, 1.0, 2.0, 8.0)) -> list[Variant]:
    """Every variant of the module docstring, the baseline first and ``rule`` last.

    clamps: the v* clamp factors besides the baseline's 4 (the clamp curve)."""
    v = [BASELINE,
         Variant("both directions", "orientation", "both directions of every edge (the public implementation's data)",
                 orientation="both"),
         Variant("trained on", "training", "trained a fixed number of epochs, last weights kept", training="epochs")]
    v += [Variant(f"clamp {c:g}", "rome", f"v* clamped to {c:g} × ‖v‖ (ROME: 4)", rome={"clamp_norm_factor": c})
          for c in clamps]
    v += [Variant("KL 1", "rome", "KL factor 1 (ROME: 0.0625)", rome={"kl_factor": 1.0}),
          Variant("weight decay 0", "rome", "no weight decay on v* (ROME: 0.5)", rome={"v_weight_decay": 0.0}),
          Variant("5 steps", "rome", "5 v* steps (the book: 25, ROME: 20)", rome={"v_num_grad_steps": 5}),
          Variant("no early stop", "rome", "all 25 v* steps (ROME stops at loss 0.05)", rome={"early_stop_loss": 0.0}),
          Variant("loss at edited layer", "rome", "v* loss read at the edited layer's output (the public "
                  "implementation) instead of the last", rome={"v_loss_layer": "edit"}),
          Variant("ridge 0.1", "rome", "C + 0.1·mean(diag C)·I (ROME: no ridge)", rome={"mom2_ridge": 0.1}),
          Variant("C from 1,000", "rome", "C from 1,000 training sentences (ROME: up to 100,000)",
                  rome={"mom2_n_samples": 1000}),
          Variant("layer 0", "layer", "the first MLP, whatever the trace says", layer=0),
          Variant("layer 1", "layer", "the second MLP", layer=1),
          Variant("relation token", "token", "ROME's key at the relation token (chapter 4's peak)", token="last"),
          Variant("all aliases", "key", "k* averaged and v* fitted over the subject's aliases", all_aliases=True),
          Variant("fixed relation", "fact", "one relation for every entity that has it (the paper's r)", fact="fixed"),
          Variant("trained target", "target", "a trained entity token stands in for <deleted>", target="trained"),
          Variant("canonical prompt", "prompts", "accuracy over the canonical prompt of each fact only",
                  prompts="canonical"),
          Variant("rule", "rule", "every choice of the rule at once (RULE)", orientation="both", training="epochs",
                  fact="fixed", rome={"v_loss_layer": "edit", "mom2_n_samples": 10_000, "v_num_grad_steps": 20})]
    return v


def variants_by_name(names) -> list[Variant]:
    """The variants of :func:`variant_grid` named in ``names`` (``None``: all), in grid order."""
    grid = variant_grid()
    if names is None:
        return grid
    known = [v.name for v in grid]
    for n in names:
        check_choice("variants", n, known)
    return [v for v in grid if v.name in set(names)]


def model_params(params: dict, variant: Variant, trained_epochs: int) -> dict:
    """The training parameters of ``variant``'s model: the chapter's, with its orientation and,
    for ``training="epochs"``, ``trained_epochs`` epochs with the last weights kept."""
    out = {**params, "orientation": variant.orientation}
    if variant.training == "epochs":
        out.update(stop="epochs", max_epochs=trained_epochs)
    return out


def fixed_relation(kg: KnowledgeGraph) -> int:
    """The relation the most entities have a fact with (as subject; ties: lowest id): the
    paper's "r fixed to one relation", as far as the random relation assignment allows."""
    subjects = np.zeros(kg.n_relations, dtype=np.int64)
    for r in range(kg.n_relations):
        subjects[r] = np.unique(kg.triples[kg.triples[:, 1] == r, 0]).size
    return int(np.argmax(subjects))


def stand_in_target(kg: KnowledgeGraph, triple: int) -> int:
    """The trained entity that replaces ``<deleted>`` for ``triple``: the lowest-degree entity
    (ties: lowest id) that is neither its subject nor its object."""
    s, _, o = (int(x) for x in kg.triples[triple])
    for e in np.argsort(kg.degree, kind="stable"):
        if int(e) not in (s, o):
            return int(e)
    raise ParameterError("target", "trained", "needs a graph with at least three entities")


def _hparams(variant: Variant, layer: int) -> ROMEHyperParams:
    rome = dict(variant.rome)
    if rome.get("v_loss_layer") == "edit":
        rome["v_loss_layer"] = layer
    return ROMEHyperParams.tiny_gpt2(layer=layer, fact_token=variant.token, **rome)


def variant_edit_fn(tm, variant: Variant, hparams: ROMEHyperParams):
    """``edit_fn(model, triple, aliases) -> restore`` for :func:`kedit_utils.kg.deletion.impact.deletion_sweep`:
    ROME's edit of ``triple`` to the variant's target, with its key (one alias or all)."""
    from kedit_utils.kg.vocabulary import hf_tokenizer

    kg, vocab = tm.corpus.kg, tm.vocab
    tok = hf_tokenizer(vocab)
    cov = key_covariance(tm.model, hparams.layer, tm.corpus.train_sentences.tolist(), tok,
                         n_samples=hparams.mom2_n_samples, model_id=str(tm.path))

    def edit_fn(model, triple: int, aliases=(0, 0)):
        s, r, _o = (int(x) for x in kg.triples[triple])
        target = DELETED_ENTITY if variant.target == "untrained" else stand_in_target(kg, triple)
        req = graph_request(kg, vocab, s, r, target, subject_alias=aliases[0], relation_alias=aliases[1],
                            all_subject_aliases=variant.all_aliases)
        result = editor.edit(model, tok, req, hparams, cov)
        return lambda: editor.restore(model, result)

    return edit_fn


def variant_job(job: dict) -> dict[str, pd.DataFrame]:
    """One variant's sweep on one graph (the unit of :func:`run_variants`), cached.

    job: params (the chapter's training parameters), variant (a :class:`Variant`), kind,
    n_layers, max_entities, trained_epochs, n_trace_facts, progress. Returns the sweep's
    entities / by_hop / by_relation tables, each row labelled with graph, layers, seed and
    the variant's sweep key (``sweep``)."""
    variant, kind, n_layers = job["variant"], job["kind"], job["n_layers"]
    params = model_params(job["params"], variant, job["trained_epochs"])
    tm = trained_model(params, kind, n_layers, progress=False)
    kg = tm.corpus.kg
    layer = variant.layer if variant.layer is not None else \
        edit_sites(tm, [variant.token], job["n_trace_facts"], params["seed"])[0][0]
    check_int("layer", layer, maximum=n_layers - 1)
    hparams = _hparams(variant, layer)
    entities = pick_entities(kg.degree, job["max_entities"])
    relation = fixed_relation(kg) if variant.fact == "fixed" else None
    label = {"graph": kind.upper(), "layers": n_layers, "seed": params["seed"], "edit_token": variant.token,
             "edit_layer": layer}
    key = {**variant.sweep_key(), "layer": layer}  # a fixed layer equal to the traced one: the same sweep
    inputs = {"model": str(tm.path), "hparams": hparams.to_dict(), "entities": entities.tolist(),
              "variant": key, "relation": relation, "label": label}
    version = cache.code_version(deletion, editor, compute_k, compute_v, row_groups, update, variant_edit_fn, stand_in_target)

    def build(tmp: Path) -> None:
        target_of = None if variant.target == "untrained" else (lambda t: stand_in_target(kg, t))
        res = deletion.deletion_sweep(tm.model, tm.corpus, variant_edit_fn(tm, variant, hparams), entities,
                                      job["progress"], label, relation=relation, target_of=target_of)
        for name in deletion.SWEEP_TABLES:
            getattr(res, name).to_csv(tmp / f"{name}.csv", index=False)

    path = cache.cached(ARTIFACT_KIND, inputs, version, build)
    return {name: pd.read_csv(path / f"{name}.csv") for name in deletion.SWEEP_TABLES}


def run_variants(params: dict, variants, kinds=("er", "ba"), n_layers: int | list[int] = 6,
                 max_entities: int | None = 40, trained_epochs: int = 100, n_trace_facts: int = 40,
                 executor: str = "local", workers: int = 1, scheduler: str | None = None, progress: bool = True,
                 seeds: list[int] | None = None, layers_name: str = "variant_layers") -> dict[str, pd.DataFrame]:
    """Every variant's sweep on the ``n_layers``-layer model of each graph in ``kinds``.

    params: the chapter's training parameters (seed included). variants: :class:`Variant` s.
    n_layers: one depth, or a list (each variant at every depth). seeds: the pipeline's
    seeds to sweep (``None``: ``params["seed"]`` alone); with several seeds and depths this
    is issue 12 §4's Table 2 of a variant (the rule) with intervals across seeds.
    max_entities: entities per sweep, spread over the degree order (``None``: all).
    trained_epochs: the epochs of ``training="epochs"``. executor / workers / scheduler:
    :func:`kedit_utils.core.jobs.run_jobs`. layers_name: the parameter ``n_layers`` came from (for
    its error message). Returns the entities / by_hop / by_relation tables of all sweeps
    with a ``variant`` column (rows carry graph, layers and seed); variants sharing a sweep
    share its rows."""
    variants = list(variants)
    depths = list(n_layers) if isinstance(n_layers, (list, tuple)) else [n_layers]
    if not depths:
        raise ParameterError(layers_name, n_layers, "must name at least one depth")
    depths = [check_int(layers_name, n, minimum=1) for n in depths]
    seeds = [params["seed"]] if seeds is None else [check_int("seeds", int(s), minimum=0) for s in seeds]
    if not seeds:
        raise ParameterError("seeds", seeds, "must name at least one seed")
    check_int("trained_epochs", trained_epochs, minimum=1)
    if max_entities is not None:
        check_int("variant_entities", max_entities, minimum=3)
    for v in variants:
        if v.layer is not None:
            check_int(f"variant {v.name!r} layer", v.layer, maximum=min(depths) - 1)
    for s in seeds:
        check_graphs({**params, "seed": s}, variants, kinds)
    sweeps: dict[str, Variant] = {}
    for v in variants:  # one sweep per distinct sweep key
        sweeps.setdefault(repr(sorted(v.sweep_key().items())), v)
    keys = list(sweeps)
    jobs = [dict(params={**params, "seed": s}, variant=sweeps[k], kind=kind, n_layers=n, max_entities=max_entities,
                 trained_epochs=trained_epochs, n_trace_facts=n_trace_facts, progress=False)
            for k in keys for s in seeds for n in depths for kind in kinds]
    outs = run_jobs(variant_job, jobs, executor=executor, workers=workers, scheduler=scheduler,
                    desc="variant sweeps", progress=progress,
                    cost=lambda j: j["n_layers"] * (1 + (j["variant"].orientation == "both")
                                                    + (j["variant"].training == "epochs")))
    by_key = {}
    for job, out in zip(jobs, outs):
        by_key.setdefault(repr(sorted(job["variant"].sweep_key().items())), []).append(out)
    tables = {}
    for name in deletion.SWEEP_TABLES:
        parts = []
        for v in variants:
            for out in by_key[repr(sorted(v.sweep_key().items()))]:
                parts.append(out[name].assign(variant=v.name))
        tables[name] = pd.concat(parts, ignore_index=True)
    return tables


def check_graphs(params: dict, variants, kinds) -> None:
    """Build every variant's graph before any work: a both-directions graph whose hub has
    more facts than there are relations fails here (``ParameterError`` naming n_relations)."""
    from kedit_utils.kg.graphs import build_graph
    from kedit_utils.kg.trained_models import graph_spec

    for orientation in sorted({v.orientation for v in variants}):
        for kind in kinds:
            build_graph(graph_spec({**params, "orientation": orientation}, kind))


def model_margins(params: dict, variant: Variant, kind: str, n_layers: int, trained_epochs: int) -> np.ndarray:
    """Shape (P,): the margin of every prompt of all knowledge on ``variant``'s model
    (:func:`kedit_utils.kg.alias_accuracy.entity_margins`; the model is loaded or trained)."""
    from kedit_utils.kg.alias_accuracy import entity_margins

    tm = trained_model(model_params(params, variant, trained_epochs), kind, n_layers, progress=False)
    c = tm.corpus
    return entity_margins(tm.model, c.prompts, c.prompt_object, c.vocab)


def site_check(params: dict, kinds=("er", "ba"), n_layers: int = 6, orientations=("one", "both"),
               windows=(1, 10), n_facts: int = 40, n_samples: int = 5) -> pd.DataFrame:
    """Issue 12 §3: where the MLP effect peaks under the paper's corruption (noise of 3σ on
    the subject's embedding h₁⁽⁰⁾ only) on the models of each graph orientation, restoring
    one layer's MLP (``window`` 1, the paper's "one hidden state") or ROME's window of 10.

    Returns one row per orientation × graph × window: the peak's layer and token
    (``subject`` / ``relation``), and the first layer's average indirect effect at each token
    (the paper finds the first-layer MLP at the subject token). Cached per model."""
    from kedit_utils.kg import tracing
    from kedit_utils.kg.alias_accuracy import score_prompts
    from kedit_utils.kg.tracing import alias_prompts, summarise, trace

    rows = []
    for orientation in orientations:
        for kind in kinds:
            tm = trained_model({**params, "orientation": orientation}, kind, n_layers, progress=False)
            inputs = {"model": str(tm.path), "windows": list(windows), "n_facts": n_facts, "n_samples": n_samples,
                      "seed": params["seed"]}

            def build(tmp: Path, tm=tm) -> None:
                c = tm.corpus
                correct = np.flatnonzero(score_prompts(tm.model, c.prompts, c.prompt_object, c.vocab).correct)
                pick = np.random.default_rng(params["seed"]).choice(correct, min(n_facts, correct.size), replace=False)
                prompts = alias_prompts(c.vocab, c.prompts[pick], c.prompt_object[pick])
                out = []
                for w in windows:
                    mlp = summarise(trace(tm.model, prompts, kinds=("mlp",), n_samples=n_samples, window=w,
                                          seed=params["seed"]))["mlp"]
                    mean = np.where(np.isnan(mlp.mean), -np.inf, mlp.mean)
                    r, col = np.unravel_index(int(np.argmax(mean)), mean.shape)
                    first = int(np.flatnonzero(mlp.layers == 0)[0])
                    out.append({"window": w, "peak_layer": int(mlp.layers[r]),
                                "peak_token": "subject" if col == 0 else "relation",
                                "first_layer_subject": float(mlp.mean[first, 0]),
                                "first_layer_relation": float(mlp.mean[first, -1])})
                cache.write_json_atomic(tmp / "sites.json", out)

            path = cache.cached("deletion-site-check", inputs, cache.code_version(tracing, site_check), build)
            for row in json.loads((path / "sites.json").read_text()):
                rows.append({"orientation": orientation, "graph": kind.upper(), "layers": n_layers, **row})
    return pd.DataFrame(rows)


def variant_rows(entities: pd.DataFrame, variants, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Issue 12's ``variants`` rows: per variant × graph × depth, the degree–impact correlation
    (Pearson with its bootstrap 95 % interval over entities and, with several seeds, its
    t-interval across seeds; Spearman), the mean and max impact (×10⁻²),
    the share of the impact on the deleted fact's own prompts (``own_share``) and one or more
    hops away (``far_share``), ``deleted_ok`` and the number of seeds. A ``canonical``
    variant reads the impact over the canonical prompts (``impact_canonical``)."""
    variants = {v.name: v for v in variants}
    done = entities[~entities.skipped.astype(bool)].copy()
    rows = []
    for name, v in variants.items():
        part = done[done.variant == name].copy()
        if part.empty:
            continue
        if v.prompts == "canonical":
            part["impact"] = part["impact_canonical"]
            part["side_effect"] = part["side_effect_canonical"]
        table = degree_impact_table(part, ["graph", "layers"], n_boot=n_boot, seed=seed)
        for row in table.itertuples():
            g = part[(part.graph == row.graph) & (part.layers == row.layers)]
            total = g.impact.sum()
            own = g["impact_own"].sum() if v.prompts == "aliases" else float("nan")
            far = (g["impact_hop1"] + g["impact_far"]).sum() if v.prompts == "aliases" else float("nan")
            rows.append({"variant": name, "family": v.family, "orientation": v.orientation, "graph": row.graph,
                         "layers": int(row.layers), "pearson": row.pearson, "spearman": row.spearman,
                         "ci_low": row.ci_low, "ci_high": row.ci_high, "seeds_low": row.seeds_low,
                         "seeds_high": row.seeds_high, "mean_impact": 100 * g.impact.mean(),
                         "max_impact": 100 * g.impact.max(), "own_share": own / total if total else float("nan"),
                         "far_share": far / total if total else float("nan"), "deleted_ok": g.deleted_ok.mean(),
                         "n_seeds": int(row.n_seeds), "n": int(row.n)})
    return pd.DataFrame(rows)


def edit_effect(entities: pd.DataFrame, variant: str | None = None) -> dict[str, float]:
    """Did the deletions of one setup (``variant``'s rows of ``entities``; ``None``: all rows)
    delete anything? ``deleted_ok``: mean share of the deleted facts' alias prompts that answer
    the target; ``mean_impact``: mean impact (×10⁻²); ``kept``: share of the deletions after
    which the deleted fact's own prompts are answered exactly as before (``impact_own`` = 0),
    i.e. the edit did not remove the fact; ``n``: deletions."""
    done = entities[~entities.skipped.astype(bool)]
    if variant is not None:
        done = done[done.variant == variant]
    if done.empty:
        return {"deleted_ok": float("nan"), "mean_impact": float("nan"), "kept": float("nan"), "n": 0}
    return {"deleted_ok": float(done.deleted_ok.mean()), "mean_impact": float(100 * done.impact.mean()),
            "kept": float((done.impact_own.abs() < 1e-12).mean()), "n": int(len(done))}


def edit_effect_text(effect: dict[str, float]) -> str:
    """:func:`edit_effect` in words, for the chapter's glue."""
    if not effect["n"]:
        return "not run"
    return (f"<deleted> on {effect['deleted_ok']:.1%} of the deleted facts' prompts, the fact's own prompts "
            f"unchanged after {effect['kept']:.0%} of the {effect['n']} deletions, mean impact "
            f"{effect['mean_impact']:.2f} ×10⁻²")


def variants_by_graph(rows: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """:func:`variant_rows`' ``columns`` ({column: short label}) with one row per variant (in
    table order) and one column per label × graph (graphs in alphabetical order), so a
    table of a few columns fits a page."""
    out = rows.pivot_table(index="variant", columns="graph", values=list(columns), sort=False)
    out = out[[(c, g) for c in columns for g in sorted(rows.graph.unique())]]
    out.columns = [f"{columns[c]} {g}" for c, g in out.columns]
    return out


def _depth_check(rows: pd.DataFrame, n: int, threshold: float) -> tuple[bool, str] | None:
    """Issue 12's criterion at depth ``n`` of one setup's rows: (passed, the evidence in words),
    or None when BA or ER did not run there. Passed: the BA Pearson ≥ ``threshold`` with its
    95 % interval above ER's (:func:`kedit_utils.core.stats.reported_interval`: across seeds when
    there are several, else over entities)."""
    ba, er = rows[(rows.graph == "BA") & (rows.layers == n)], rows[(rows.graph == "ER") & (rows.layers == n)]
    if ba.empty or er.empty:
        return None
    b, e = ba.iloc[0], er.iloc[0]
    bl, bh, kind = reported_interval(b)
    el, eh, _ = reported_interval(e)
    n_seeds = int(b.n_seeds)
    return (bool(b.pearson >= threshold and bl > eh),
            f"{n} layers: BA r {b.pearson:.2f} [{bl:.2f}, {bh:.2f}] vs ER {e.pearson:.2f} [{el:.2f}, {eh:.2f}] "
            f"({kind}, {n_seeds} seed{'s' if n_seeds > 1 else ''})")


def reproduced(rows: pd.DataFrame, layers=(6, 12), threshold: float = 0.8) -> dict[str, bool]:
    """Issue 12's criterion per variant (:func:`_depth_check`) at every depth of ``layers``
    that ran; False when none ran."""
    out = {}
    for name, g in rows.groupby("variant", sort=False):
        checks = [c for c in (_depth_check(g, n, threshold) for n in layers) if c is not None]
        out[name] = bool(checks) and all(passed for passed, _ in checks)
    return out


def table2_verdict(rows: pd.DataFrame, layers=(6, 12), threshold: float = 0.8) -> tuple[str, str]:
    """Issue 12's verdict on one setup's Table 2 (``rows``: graph, layers, pearson, the
    intervals, n_seeds): ("reproduced" | "not reproduced" | "undecided", the evidence in
    words). Reproduced: :func:`_depth_check` passes at every depth of ``layers``; undecided
    when a depth did not run and none failed."""
    checks = {n: _depth_check(rows, n, threshold) for n in layers}
    evidence = [c[1] for c in checks.values() if c is not None]
    failed = any(not c[0] for c in checks.values() if c is not None)
    missing = [n for n, c in checks.items() if c is None]
    if missing:
        evidence.append("not run at " + ", ".join(f"{n}" for n in missing) + " layers")
    outcome = "not reproduced" if failed else "undecided" if missing else "reproduced"
    return outcome, "; ".join(evidence)


__all__ = ["Variant", "RULE", "BASELINE", "variant_grid", "variants_by_name", "run_variants", "variant_rows",
           "reproduced", "table2_verdict", "fixed_relation", "stand_in_target", "model_params", "variant_job",
           "model_margins", "check_graphs", "site_check", "variants_by_graph", "edit_effect",
           "edit_effect_text"]
