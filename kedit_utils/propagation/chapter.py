"""Chapter 6 (Paper B: first-order MAML so that a plain fine-tuning edit propagates to the
2-hop questions that depend on it) as one typed config and one builder.

    config = MetaChapterConfig.from_parameters(resolved, model="smollm2", cre_path=None, ...)
    chapter = MetaChapter(config)       # nothing loaded yet
    section = chapter.table1()          # Paper B Table 1: tables, glued texts, figure data
    chapter.results()                   # results/06_meta_learning_propagation.json's content

:class:`MetaChapterConfig` validates every parameter when it is built, before any model
loads: each :class:`~kedit_utils.core.validation.ParameterError` names the parameter as the
reader typed it, its value and what is allowed. The layer parameters (``layer``,
``table1_layers``, ``sweep_layers``) are checked against the model's depth, read from its
config without its weights (:func:`~kedit_utils.propagation.runs.source_shape`: SmolLM2's
GGUF header or a folder's ``config.json``), so a layer the model lacks stops the chapter
before the α sweep, not after it.

:class:`MetaChapter` runs the chapter's steps (model and data, question form, α sweep,
Table 1, Fig. 2, Fig. 3, Table 2, the same experiment on chapter 1's graph), each once
(later steps reuse earlier ones), and returns each section as a :class:`Section`: the tables
the page displays, the lines it prints, the values it glues into its prose and the figure's
data. The verdicts in that prose come from :mod:`kedit_utils.propagation.claims`, the rules
the scorecard uses.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from kedit_utils.core.devices import DEVICES, resolve_device
from kedit_utils.core.stats import estimate_text as interval_text  # the tables' accuracy cells, "0.50 [0.24, 0.76]"
from kedit_utils.core.validation import (
    ParameterError,
    check_choice,
    check_float,
    check_int,
)
from kedit_utils.propagation import claims as C
from kedit_utils.propagation.chapter_data import (
    BASELINES,
    CRE_FILES,
    ChapterData,
    chapter_data,
)
from kedit_utils.propagation.fomaml import SCOPES, FOMAMLConfig
from kedit_utils.propagation.kg_model import (
    KG_PARAMETERS,
    KGTwoHopSettings,
    TwoHopRun,
    run_kg_two_hop,
)
from kedit_utils.propagation.paper_numbers import (
    PAPER_B_LAYER_COUNTS,
    PAPER_B_LAYERS,
    PAPER_B_TABLE1,
    PAPER_B_TABLE2,
)
from kedit_utils.propagation.runs import (
    LoadedModel,
    ModelShape,
    ScopeRun,
    ScopeRuns,
    accuracy_text,
    alpha_sweep,
    best_layer,
    gain_text,
    layer_sweep_rows,
    load_model,
    model_shape,
    paper_gain_text,
    paper_layer_of,
    question_style_table,
    source_shape,
    table2,
)

NOTEBOOK = "06_meta_learning_propagation"
QUESTION_STYLES = ("cloze", "chat")
# the chapter's parameters, in the order of its profile table (kedit_utils.book.profiles), then
# those the notebook's parameters cell sets directly
COUNTS = ("n_train", "n_id", "n_ood", "n_mquake", "n_mquake_subset", "n_style_cases", "n_alpha_cases", "inner_steps",
          "epochs", "checkpoint_every", "workers")
OPTIONAL_COUNTS = ("n_check_countries", "n_baseline_cases", "threads")
PROFILE_PARAMETERS = ("n_train", "n_id", "n_ood", "n_mquake", "n_mquake_subset", "n_check_countries", "n_style_cases",
                      "alphas", "n_alpha_cases", "scopes", "table1_layers", "sweep_layers", "alpha", "beta",
                      "inner_steps", "epochs", "checkpoint_every", "baselines", "n_baseline_cases", "threads",
                      "workers", *KG_PARAMETERS)
DIRECT_PARAMETERS = ("model", "cre_path", "mquake_path", "question_style", "layer", "executor", "scheduler")
PARAMETERS = ("profile", "seed", "device", *PROFILE_PARAMETERS, *DIRECT_PARAMETERS)
LIST_PARAMETERS = ("alphas", "scopes", "baselines")


def _check_model(model) -> None:
    if not isinstance(model, str) or not (model == "smollm2" or (Path(model).expanduser() / "config.json").is_file()):
        raise ParameterError("model", model, 'must be "smollm2" or a local Hugging Face folder with a config.json')


def _layer_list(name: str, value, allowed: tuple[str, ...]) -> str | tuple[int, ...]:
    """A layer parameter's form: one of ``allowed`` or a non-empty list of layers >= 0."""
    if isinstance(value, str):
        return check_choice(name, value, allowed)
    if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in value):
        raise ParameterError(name, value, f"must be one of {list(allowed)} or a non-empty list of layers")
    return tuple(value)


def _within_depth(name: str, value, n_layers: int) -> None:
    if not isinstance(value, str) and max(value) >= n_layers:
        raise ParameterError(name, list(value), f"must hold layers in [0, {n_layers}): the model has {n_layers}")


@dataclass(frozen=True)
class MetaChapterConfig:
    """Chapter 6's parameters, typed and checked (module docstring); the parameters cell's
    names and meanings. ``shape``: the model's kind, depth and vocabulary, read without its
    weights; ``kg``: the ``kg_*`` parameters (:class:`~.kg_model.KGTwoHopSettings`)."""

    profile: str
    seed: int
    device: str
    model: str
    cre_path: str | None
    mquake_path: str | None
    question_style: str
    layer: int | None
    n_train: int
    n_id: int
    n_ood: int
    n_mquake: int
    n_mquake_subset: int
    n_check_countries: int | None
    n_style_cases: int
    alphas: tuple[float, ...]
    n_alpha_cases: int
    scopes: tuple[str, ...]
    table1_layers: str | tuple[int, ...]
    sweep_layers: str | tuple[int, ...]
    alpha: float
    beta: float
    inner_steps: int
    epochs: int
    checkpoint_every: int
    baselines: tuple[str, ...]
    n_baseline_cases: int | None
    kg: KGTwoHopSettings
    threads: int | None
    workers: int
    executor: str
    scheduler: str | None
    shape: ModelShape

    def __post_init__(self):
        check_int("seed", self.seed, minimum=0)
        check_choice("device", self.device, DEVICES)
        _check_model(self.model)
        if self.cre_path is not None:
            for name in CRE_FILES:
                if not (Path(self.cre_path).expanduser() / name).is_file():
                    raise ParameterError("cre_path", self.cre_path, f"must be a folder holding PropMEND's {name}")
        if self.mquake_path is not None and not Path(self.mquake_path).expanduser().is_file():
            raise ParameterError("mquake_path", self.mquake_path, "must be an existing MQuAKE JSON file")
        check_choice("question_style", self.question_style, QUESTION_STYLES)
        for name in COUNTS:
            check_int(name, getattr(self, name), minimum=1)
        for name in OPTIONAL_COUNTS:
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), minimum=1)
        if self.layer is not None:
            check_int("layer", self.layer, minimum=0)
        check_float("alpha", self.alpha, low=0.0, low_open=True)
        check_float("beta", self.beta, low=0.0, low_open=True)
        if not self.alphas:
            raise ParameterError("alphas", list(self.alphas), "must be a non-empty list of rates")
        for a in self.alphas:
            check_float("alphas", a, low=0.0, low_open=True)
        if not self.scopes:
            raise ParameterError("scopes", list(self.scopes), f"must be a non-empty list of {list(SCOPES)}")
        for s in self.scopes:
            check_choice("scopes", s, list(SCOPES))
        for b in self.baselines:
            check_choice("baselines", b, list(BASELINES))
        _layer_list("table1_layers", self.table1_layers, ("all", "layer"))
        _layer_list("sweep_layers", self.sweep_layers, ("all",))
        if not isinstance(self.kg, KGTwoHopSettings):
            raise ParameterError("kg", self.kg, "must be a KGTwoHopSettings")
        from kedit_utils.core.jobs import check_executor

        check_executor(self.executor, self.workers, self.scheduler)
        resolve_device(self.device)  # "cuda" without a GPU stops here
        # the model's depth (its config, no weights)
        if not isinstance(self.shape, ModelShape):
            raise ParameterError("shape", self.shape, "must be the model's ModelShape (source_shape(model))")
        n = self.shape.n_layers
        if self.layer is not None and self.layer >= n:
            raise ParameterError("layer", self.layer, f"must be in [0, {n}) for this {n}-layer model")
        _within_depth("table1_layers", self.table1_layers, n)
        _within_depth("sweep_layers", self.sweep_layers, n)

    @classmethod
    def from_parameters(cls, resolved: Mapping[str, Any], **given) -> MetaChapterConfig:
        """The config of the chapter's parameters: ``resolved`` (the profile's values with the
        reader's, :func:`kedit_utils.book.profiles.resolve_parameters`) and ``given`` (those
        the parameters cell sets directly: ``model``, ``cre_path``, ``mquake_path``,
        ``question_style``, ``layer``, ``executor``, ``scheduler``). Lists become tuples; the
        model's shape is read from its config."""
        params = {**resolved, **given}
        unknown = sorted(set(params) - set(PARAMETERS))
        if unknown:
            raise ParameterError(unknown[0], params[unknown[0]], f"is not a parameter of chapter 6 ({NOTEBOOK})")
        missing = [k for k in PARAMETERS if k not in params]
        if missing:
            raise ParameterError(missing[0], None, f"is missing from chapter 6's parameters ({NOTEBOOK})")
        for name in LIST_PARAMETERS:
            if not isinstance(params[name], (list, tuple)):
                raise ParameterError(name, params[name], "must be a list")
        _check_model(params["model"])
        kg = KGTwoHopSettings.from_parameters(params)
        values = {k: v for k, v in params.items() if k not in KG_PARAMETERS}
        values.update({k: tuple(values[k]) for k in LIST_PARAMETERS})
        values.update({k: tuple(values[k]) for k in ("table1_layers", "sweep_layers") if isinstance(values[k], list)})
        return cls(**values, kg=kg, shape=source_shape(params["model"]))

    # ------------------------------------------------------------------ derived
    @property
    def n_layers(self) -> int:
        return self.shape.n_layers

    @property
    def paper_layer(self) -> int:
        """``layer``, or Paper B's rule for the model (its family's layer; SmolLM2: 8 of 30)."""
        return paper_layer_of(self.shape) if self.layer is None else self.layer

    @property
    def table1_layer_list(self) -> list[int] | None:
        """Table 1's trained layers: None for all, the paper layer for ``"layer"``, else the list."""
        if self.table1_layers == "all":
            return None
        return [self.paper_layer] if self.table1_layers == "layer" else list(self.table1_layers)

    @property
    def swept_layers(self) -> list[int]:
        """Fig. 2's layers."""
        return list(range(self.n_layers)) if self.sweep_layers == "all" else list(self.sweep_layers)

    @property
    def run_device(self) -> str:
        return resolve_device(self.device).type

    def fomaml_settings(self) -> dict:
        """FOMAMLConfig's rates, steps, passes and seed (the scope and layers vary by run)."""
        return dict(inner_lr=self.alpha, outer_lr=self.beta, inner_steps=self.inner_steps, epochs=self.epochs,
                    seed=self.seed)

    def edit_config(self) -> FOMAMLConfig:
        """The FT edit of the inner loop at the paper layer (attention + MLP): the question-form
        check and the α sweep."""
        return FOMAMLConfig(scope="attn+mlp", layers=(self.paper_layer,), **self.fomaml_settings())

    def parameters(self) -> dict[str, Any]:
        """The parameters as the reader gave them (lists as lists), in the parameters table's
        order: the page's parameter table and the results file's ``meta.parameters``."""
        values = {k: getattr(self, k) for k in PARAMETERS if k not in KG_PARAMETERS}
        values.update({k: getattr(self.kg, k.removeprefix("kg_")) for k in KG_PARAMETERS})
        return {k: list(v) if isinstance(v, tuple) else v for k, v in ((k, values[k]) for k in PARAMETERS)}


@dataclass
class Section:
    """One section of the page: ``tables`` to display in order (styled frames), ``notes`` to
    print after them, ``glue``: name -> the value the prose shows, ``figure``: the keyword
    arguments of the section's figure function (:mod:`kedit_utils.book.figures.propagation`)."""

    tables: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    glue: dict[str, Any] = field(default_factory=dict)
    figure: dict[str, Any] = field(default_factory=dict)


def _styled(frame, index, precision: int = 2, **fmt):
    return frame.set_index(index).style.format(precision=precision, **fmt)


KG_VERDICTS = {
    C.ABOVE: "meta-training makes the edit reach the 2-hop question more often (the interval is above 0)",
    C.BELOW: "meta-training makes the edit reach it less often (the interval is below 0)",
    C.HOLDS_ZERO: "the {n} cases cannot tell the two models apart (the interval holds 0)",
}
KG_BASE_NOTES = {
    True: ("On the base model the edit raises the 2-hop accuracy by {effect} over the control: as the new entity "
           "occurs in no training sentence, that part goes through the edited first hop, so even without "
           "meta-training the tiny model reads part of its second hop from the first hop's answer."),
    False: ("On the base model the edit changes the 2-hop accuracy by {effect} over the control, no more than "
            "guessing from the relations explains: without meta-training its second hop does not read the edited "
            "first hop."),
}


class MetaChapter:
    """Chapter 6's builder (module docstring). Each section method runs what it needs once;
    the model is left as the base model between sections."""

    def __init__(self, config: MetaChapterConfig, progress: bool = True):
        if not isinstance(config, MetaChapterConfig):
            raise ParameterError("config", type(config).__name__, "must be a MetaChapterConfig")
        self.config, self.progress = config, progress
        if config.threads is not None:
            import torch

            torch.set_num_threads(config.threads)

    # ------------------------------------------------------------------ what the steps share
    @cached_property
    def lm(self) -> LoadedModel:
        lm = load_model(self.config.model, self.config.run_device)
        loaded = model_shape(lm.model).n_layers
        if loaded != self.config.n_layers:
            raise ParameterError("model", self.config.model, f"has {loaded} layers once loaded but its config says "
                                                             f"{self.config.n_layers}")
        return lm

    @cached_property
    def data(self) -> ChapterData:
        return chapter_data(self.lm.model, self.lm.tok, self.config)

    @cached_property
    def runs(self) -> ScopeRuns:
        """The meta-training runs of Table 1 and Fig. 2, `workers` at a time."""
        cfg, d = self.config, self.data
        runs = ScopeRuns(self.lm.model, self.lm.tok, d.train, {"id": d.in_distribution, "ood": d.out_of_distribution},
                         cfg.fomaml_settings(), source=cfg.model, device=cfg.run_device, model_id=self.lm.model_id,
                         checkpoint_every=cfg.checkpoint_every, curve_splits=("ood",))
        runs.prefetch([(s, cfg.table1_layer_list, ("id", "ood")) for s in cfg.scopes]
                      + [("attn+mlp", [layer], ("ood",)) for layer in cfg.swept_layers],
                      executor=cfg.executor, workers=cfg.workers, scheduler=cfg.scheduler)
        return runs

    @cached_property
    def style_tables(self):
        """(question-form table, examples), or None for a loaded CRE file (no relations)."""
        if self.config.cre_path is not None:
            return None
        cases = self.data.in_distribution[:self.config.n_style_cases]
        return question_style_table(self.lm.model, self.lm.tok, cases, self.config.edit_config().ft_hparams(
            self.lm.model))

    @cached_property
    def alpha_table(self):
        return alpha_sweep(self.lm.model, self.lm.tok, self.data.in_distribution[:self.config.n_alpha_cases],
                           self.config.edit_config(), self.config.alphas)

    @cached_property
    def table1_frame(self):
        import pandas as pd

        rows = [row for s in self.config.scopes
                for row in self.runs.get(s, self.config.table1_layer_list, ("id", "ood")).table1_rows()]
        return pd.DataFrame(rows)

    @cached_property
    def sweep(self) -> tuple[list[dict], list[dict], int]:
        """Fig. 2: (table rows, plot rows, chosen layer)."""
        rows, plot = layer_sweep_rows(self.runs, self.config.swept_layers)
        return rows, plot, best_layer(rows, "ood", default=self.config.paper_layer)

    @property
    def chosen_layer(self) -> int:
        return self.sweep[2]

    @cached_property
    def chosen_run(self) -> ScopeRun:
        return self.runs.get("attn+mlp", [self.chosen_layer], ("ood",))

    @cached_property
    def table2_frame(self):
        d = self.data
        return table2(self.lm.model, self.lm.tok, self.chosen_run,
                      {"cre_ood": d.out_of_distribution, "mquake": d.mquake, "mquake_subset": d.mquake_subset},
                      self.config.baselines, n_baseline_cases=self.config.n_baseline_cases, model_id=self.lm.model_id)

    @cached_property
    def kg_run(self) -> TwoHopRun:
        return run_kg_two_hop(self.config.kg, self.config.seed, device=self.config.run_device, progress=self.progress)

    @property
    def edit_hparams(self):
        """The FT edit of the chosen layer's run (the panel's edit)."""
        return self.chosen_run.config.ft_hparams(self.lm.model)

    # ------------------------------------------------------------------ sections
    def model_section(self) -> Section:
        import pandas as pd

        lm = self.lm
        frame = pd.DataFrame([{"model": lm.name, "layers": self.config.n_layers, "Paper B family": lm.family or "none",
                               "paper layer": self.config.paper_layer}])
        return Section(tables=[frame.set_index("model")])

    def data_section(self) -> Section:
        import pandas as pd

        d = self.data
        tables = [_styled(pd.DataFrame(d.check_rows), "relation")] if d.check_rows else []
        tables.append(pd.DataFrame(d.sizes()).set_index("split"))
        task = d.train[0]
        note = f"A training task: {task.edits[0].fact} → {task.questions[0]} … {task.answer}"
        return Section(tables=tables, notes=[note])

    def question_forms(self) -> Section:
        """How to ask the model: the three forms, or a note for a loaded file."""
        glue = {"known_share": format(self.data.known_share, ".0%"), "question_style": self.config.question_style}
        if self.style_tables is None:
            missing = "(not measured: a loaded file)"
            note = "The question-form check needs generated cases (their relations); skipped for a loaded file."
            return Section(notes=[note], glue={**glue, "style_known": missing, "style_after": missing})
        forms, examples = self.style_tables
        st = forms.set_index("form")
        glue["style_known"] = ", ".join(f"{f} {st.loc[f, 'second hop known']:.0%}" for f in st.index)
        glue["style_after"] = ", ".join(f"{f} {st.loc[f, '2-hop after edit']:.0%}" for f in st.index)
        return Section(tables=[_styled(forms, "form"), examples.head(6)], glue=glue)

    def alpha_section(self) -> Section:
        table, cfg = self.alpha_table, self.config
        at_paper = table.iloc[(table.alpha - 2e-5).abs().argmin()]
        used = table.iloc[(table.alpha - cfg.alpha).abs().argmin()]
        return Section(tables=[_styled(table, "alpha", precision=3)], glue={
            "alpha_paper_hop": format(at_paper["single hop"], ".0%"),
            "alpha_paper_loss": f"{at_paper['loss before']:.2f} → {at_paper['loss after']:.2f}",
            "alpha_used": format(cfg.alpha, ".0e"), "beta_used": format(cfg.beta, ".0e"),
            "alpha_used_hop": format(used["single hop"], ".0%"),
            "alpha_used_loss": f"{used['loss before']:.2f} → {used['loss after']:.2f}"})

    def table1(self) -> Section:
        """Table 1 with its intervals and Paper B's column, the edit's own success and locality,
        and the glued gains."""
        t1 = self.table1_frame
        paper = [PAPER_B_TABLE1.get((s, sp)) for s, sp in zip(t1.scope, t1.split)]
        shown = t1.assign(
            base=[interval_text(a, lo, hi) for a, lo, hi in zip(t1.acc_base, t1.base_low, t1.base_high)],
            meta=[interval_text(a, lo, hi) for a, lo, hi in zip(t1.acc_meta, t1.meta_low, t1.meta_high)],
            paper=["" if p is None else f"{p[0]:.1f} ({p[1]:+.1f})" for p in paper])
        edits = (t1[["scope", "split", "single_hop_base", "single_hop_meta", "locality_base", "locality_meta"]]
                 .rename(columns={"single_hop_base": "hop base", "single_hop_meta": "hop meta",
                                  "locality_base": "loc. base", "locality_meta": "loc. meta"}))
        layers = self.config.table1_layer_list
        best = t1.sort_values("gain", ascending=False).iloc[0]
        return Section(tables=[_styled(shown[["scope", "layers", "split", "base", "meta", "gain", "n", "paper"]],
                                       ["scope", "split"]), _styled(edits, ["scope", "split"])], glue={
            "t1_gain_id": gain_text(t1, "id"), "t1_gain_ood": gain_text(t1, "ood"),
            "paper_gain_id": paper_gain_text("id"), "paper_gain_ood": paper_gain_text("ood"),
            "t1_layers": "all layers" if layers is None else f"layer {', '.join(map(str, layers))}",
            "t1_best": f"{best.scope} ({best.split}, {100 * best.gain:+.0f} pts)"})

    def layer_sweep(self) -> Section:
        """Fig. 2: the sweep's table, the chosen layer and the figure's rows."""
        import pandas as pd

        rows, plot, chosen = self.sweep
        n = self.config.n_layers
        return Section(
            tables=[_styled(pd.DataFrame(rows), ["layer", "split"])], notes=[f"Chosen layer: {chosen}"],
            glue={"chosen_layer": chosen, "n_layers": n, "chosen_depth": format((chosen + 1) / n, ".0%"),
                  "swept_layers": ", ".join(map(str, self.config.swept_layers)),
                  "paper_layer_text": ", ".join(f"{m} {layer} of {PAPER_B_LAYER_COUNTS[m]}"
                                                for m, layer in PAPER_B_LAYERS.items())},
            figure={"rows": plot, "chosen": chosen, "title": f"{self.lm.name}: accuracy by trained layer"})

    @cached_property
    def curve_frame(self):
        import pandas as pd

        return pd.DataFrame(self.chosen_run.curve_rows())

    def steps_curve(self) -> Section:
        """Fig. 3: the chosen layer's curve (table), and every run's curve for the figure (the
        chosen one first)."""
        import pandas as pd

        curve = self.curve_frame
        every = pd.DataFrame([r for run in self.runs.runs.values() for r in run.curve_rows()])
        others = every[every.layers != str(self.chosen_layer)]  # typed columns even when empty
        ood = curve[curve.split == "ood"].sort_values("tasks_seen")
        return Section(
            tables=[curve.pivot_table(index="tasks_seen", columns="split", values="acc").style.format(precision=2)],
            glue={"curve_start": format(ood.acc.iloc[0], ".0%"), "curve_end": format(ood.acc.iloc[-1], ".0%"),
                  "curve_tasks": int(curve.tasks_seen.max())},
            figure={"rows": pd.concat([curve, others]),
                    "title": f"{self.lm.name}: accuracy during meta-training"})

    def table2(self) -> Section:
        """Table 2 here and Paper B's, and the glued comparisons; "ahead of" by Table 2's rule
        (:func:`kedit_utils.propagation.claims.ahead_of`: the interval above 0)."""
        import pandas as pd

        t2 = self.table2_frame
        shown = t2.rename(columns={"cre_ood": "CRE OOD", "mquake": "MQuAKE", "mquake_subset": "subset",
                                   "seconds_per_edit": "s/edit"})
        paper = pd.DataFrame([{"method": m, "CRE OOD": v[0], "MQuAKE": v[1], "subset": v[2], "s/edit": v[3]}
                              for m, v in PAPER_B_TABLE2.items()])
        by_method = t2.set_index("method")
        ahead = C.ahead_of(t2.to_dict("records"), "cre_ood")
        return Section(tables=[_styled(shown, "method"), _styled(paper, "method", precision=1, na_rep="–")], glue={
            "t2_cre": accuracy_text(by_method, "cre_ood"), "t2_mquake": accuracy_text(by_method, "mquake"),
            "t2_subset": accuracy_text(by_method, "mquake_subset"),
            "t2_seconds": ", ".join(f"{m} {by_method.loc[m, 'seconds_per_edit']:.1f} s" for m in by_method.index),
            "paper_t2_cre": ", ".join(f"{m} {v[0]:.1f}" for m, v in PAPER_B_TABLE2.items() if v[0] is not None),
            "paper_t2_mquake": ", ".join(f"{m} {v[1]:.1f}" for m, v in PAPER_B_TABLE2.items()),
            "paper_t2_seconds": f"{PAPER_B_TABLE2['ft'][3]:.2f} s (FT) and {PAPER_B_TABLE2['meta'][3]:.2f} s (meta)",
            "t2_beats": ", ".join(f"{m} ({C.points_text(d.ours, d.low, d.high, 0)}, 95 %)" for m, d in ahead)
            or "none of the others (each 95 % interval of the difference reaches 0 or below)"})

    @cached_property
    def kg_frame(self):
        import pandas as pd

        return pd.DataFrame(self.kg_run.rows())

    def kg_two_hop(self) -> Section:
        """Beyond the paper: the same experiment on chapter 1's graph."""
        run, table = self.kg_run, self.kg_frame
        log, rows = run.lm.log, table.set_index("model")
        last = log["log"][-1]
        shown = (table.assign(two_hop=[interval_text(a, lo, hi) for a, lo, hi in zip(table.two_hop_acc, table.low,
                                                                                         table.high)])
                 [["model", "two_hop", "two_hop_unedited", "single_hop", "locality", "facts_known", "n"]]
                 .rename(columns={"two_hop": "2-hop after edit", "two_hop_unedited": "2-hop before edit",
                                  "single_hop": "edit landed", "facts_known": "graph facts known"}))
        gain, effect_base, effect_meta = run.gain(), run.edit_effect("base"), run.edit_effect("meta")
        below_target = "" if log.get("reached_target", True) else " (below its training target)"
        summary = (f"Language model ({run.lm.spec.graph.kind.upper()} graph): {log['n_one_hop']} facts and "
                   f"{log['n_two_hop']} 2-hop questions, trained to {last['acc_one_hop']:.3f} / "
                   f"{last['acc_two_hop']:.3f} in {log['epochs']} epochs; {run.n_train} meta-training tasks "
                   f"({run.seconds_per_task * 1000:.0f} ms each), {run.n_eval} evaluation cases")
        base_side = C.interval_side(effect_base[1], effect_base[2])
        return Section(tables=[_styled(shown, "model")], notes=[summary], glue={
            "kg_base": format(rows.loc["base", "two_hop_acc"], ".0%"),
            "kg_meta": format(rows.loc["meta", "two_hop_acc"], ".0%"),
            "kg_n": run.n_eval, "kg_train": run.n_train,
            "kg_gain": C.points_text(*gain, digits=0, unit="points"),
            "kg_hop": f"{rows.loc['base', 'single_hop']:.0%} (base) and {rows.loc['meta', 'single_hop']:.0%} "
                      "(meta-trained)",
            "kg_locality": f"{rows.loc['base', 'locality']:.0%} (base) and {rows.loc['meta', 'locality']:.0%} "
                           "(meta-trained)",
            "kg_graph_text": f"{run.lm.spec.graph.kind.upper()} graph, {log['n_one_hop']} facts and "
                             f"{log['n_two_hop']} 2-hop questions, trained to {last['acc_one_hop']:.1%} / "
                             f"{last['acc_two_hop']:.1%}{below_target}",
            "kg_steps": run.config.inner_steps,
            "kg_control": f"{rows.loc['base', 'two_hop_unedited']:.0%}",
            "kg_known": f"{rows.loc['base', 'facts_known']:.1%} (base) and {rows.loc['meta', 'facts_known']:.1%} "
                        "(meta-trained)",
            "kg_meta_effect": C.points_text(*effect_meta, digits=0, unit="points"),
            "kg_meta_control": f"{rows.loc['meta', 'two_hop_unedited']:.0%}",
            "kg_base_note": KG_BASE_NOTES[base_side == C.ABOVE].format(
                effect=C.points_text(*effect_base, digits=0, unit="points")),
            "kg_verdict": KG_VERDICTS[C.interval_side(gain[1], gain[2])].format(n=run.n_eval)})

    # ------------------------------------------------------------------ the results file
    def results(self) -> dict:
        """``results/06_meta_learning_propagation.json``'s content (without ``meta``): every
        table's rows, the data's sizes, and ``claims``: the scorecard's rows for this chapter
        (:func:`kedit_utils.propagation.claims.claim_records`)."""
        import pandas as pd

        t1, d, run, kg = self.table1_frame, self.data, self.chosen_run, self.kg_run
        rows, _plot, chosen = self.sweep
        kg_log = kg.lm.log
        gain = kg.gain()
        out = {
            "table1": t1[["scope", "split", "acc_base", "acc_meta", "gain", "n", "layers", "base_low", "base_high",
                          "meta_low", "meta_high", "single_hop_base", "single_hop_meta"]].to_dict("records"),
            "layer_sweep": pd.DataFrame(rows)[["layer", "scope", "split", "acc", "acc_base", "n"]].to_dict("records"),
            "steps_curve": self.curve_frame[["tasks_seen", "split", "acc", "ci_low", "ci_high", "n"]]
            .to_dict("records"),
            "table2": self.table2_frame.to_dict("records"),
            "alpha_sweep": self.alpha_table.to_dict("records"),
            "kg_two_hop": {"rows": self.kg_frame.to_dict("records"), "gain": gain[0], "gain_low": gain[1],
                           "gain_high": gain[2], "edit_effect_base": list(kg.edit_effect("base")),
                           "edit_effect_meta": list(kg.edit_effect("meta")), "n_train": kg.n_train,
                           "n_eval": kg.n_eval, "epochs": kg_log["epochs"], "n_one_hop": kg_log["n_one_hop"],
                           "n_two_hop": kg_log["n_two_hop"], "seconds_per_task": kg.seconds_per_task},
            "question_forms": [] if self.style_tables is None else self.style_tables[0].to_dict("records"),
            "data": {"model": self.lm.name, "second_hop_known_share": d.known_share, "n_train": len(d.train),
                     "n_id": len(d.in_distribution), "n_ood": len(d.out_of_distribution), "n_mquake": len(d.mquake),
                     "n_mquake_subset": len(d.mquake_subset), "n_layers": self.config.n_layers,
                     "paper_layer": self.config.paper_layer, "chosen_layer": chosen,
                     "swept_layers": self.config.swept_layers, "question_style": self.config.question_style,
                     "meta_seconds_per_task": run.result.seconds_per_task},
        }
        out["claims"] = C.claim_records(out)
        return out


__all__ = ["KG_BASE_NOTES", "KG_VERDICTS", "NOTEBOOK", "PARAMETERS", "MetaChapter", "MetaChapterConfig", "Section",
           "interval_text"]
