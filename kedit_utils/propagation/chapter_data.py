"""Chapter 6's inputs (Paper B §4, "データセット"): its parameters checked before any work,
and its data sets, generated offline or read from the files a reader points to.

    check_parameters(cfg)                       # ParameterError naming the field, before loading
    data = chapter_data(model, tok, cfg, seed)  # CRE splits, MQuAKE, MQuAKE-subset
    data.sizes()                                # one row per split: its number of cases

CRE: without ``cre_path``, cases generated from the world table
(:func:`kedit_utils.propagation.cre.generator.generate_cre`) keeping only the second hops the unedited
model answers (:func:`~kedit_utils.propagation.cre.model_checks.check_second_hops`, Paper B's and PropMEND's
filter); with it, PropMEND's three jsonl files, filtered the same way
(:func:`~kedit_utils.propagation.cre.model_checks.keep_known`). MQuAKE: without ``mquake_path``, a file in
MQuAKE's format written from the same world table and read back through the real loader;
with it, the published file. The MQuAKE-subset is :func:`~kedit_utils.propagation.mquake.mquake_subset`.
"""
from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kedit_utils.core.validation import ParameterError, check_choice, check_float, check_int
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.datasets import world as W
from kedit_utils.propagation.cre.generator import generate_cre
from kedit_utils.propagation.cre.model_checks import check_second_hops, keep_known
from kedit_utils.propagation.cre.propmend import load_cre
from kedit_utils.propagation.cre.templates import second_hop_pairs, with_chat_template
from kedit_utils.propagation import mquake as MQ
from kedit_utils.propagation.fomaml import SCOPES

CRE_FILES = ("train_data_id.jsonl", "test_data_id.jsonl", "test_data_ood.jsonl")
BASELINES = ("rome", "memit", "alphaedit")
COUNTS = ("n_train", "n_id", "n_ood", "n_mquake", "n_mquake_subset", "n_style_cases", "n_alpha_cases", "inner_steps",
          "epochs", "checkpoint_every")
OPTIONAL_COUNTS = ("n_check_countries", "n_baseline_cases", "threads")


def check_model(model) -> None:
    if not isinstance(model, str) or not (model == "smollm2" or (Path(model).expanduser() / "config.json").is_file()):
        raise ParameterError("model", model, 'must be "smollm2" or a local Hugging Face folder with a config.json')


def _check_layer_choice(name: str, value, allowed: tuple[str, ...]) -> None:
    if isinstance(value, str):
        check_choice(name, value, allowed)
    elif not value or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in value):
        raise ParameterError(name, value, f"must be one of {list(allowed)} or a non-empty list of layers")


def check_parameters(cfg: dict) -> None:
    """Every parameter of chapter 6 (the resolved ``cfg``), before the model loads: the
    error names the parameter, its value and what is allowed."""
    check_model(cfg["model"])
    if cfg["cre_path"] is not None:
        for name in CRE_FILES:
            if not (Path(cfg["cre_path"]).expanduser() / name).is_file():
                raise ParameterError("cre_path", cfg["cre_path"], f"must be a folder holding PropMEND's {name}")
    if cfg["mquake_path"] is not None and not Path(cfg["mquake_path"]).expanduser().is_file():
        raise ParameterError("mquake_path", cfg["mquake_path"], "must be an existing MQuAKE JSON file")
    check_choice("question_style", cfg["question_style"], ("cloze", "chat"))
    for name in COUNTS:
        check_int(name, cfg[name], minimum=1)
    for name in OPTIONAL_COUNTS:
        if cfg[name] is not None:
            check_int(name, cfg[name], minimum=1)
    if cfg["layer"] is not None:
        check_int("layer", cfg["layer"], minimum=0)
    for name in ("alpha", "beta"):
        check_float(name, cfg[name], low=0.0, low_open=True)
    if not cfg["alphas"]:
        raise ParameterError("alphas", cfg["alphas"], "must be a non-empty list of rates")
    for a in cfg["alphas"]:
        check_float("alphas", a, low=0.0, low_open=True)
    if not cfg["scopes"]:
        raise ParameterError("scopes", cfg["scopes"], f"must be a non-empty list of {list(SCOPES)}")
    for s in cfg["scopes"]:
        check_choice("scopes", s, list(SCOPES))
    for b in cfg["baselines"]:
        check_choice("baselines", b, list(BASELINES))
    _check_layer_choice("table1_layers", cfg["table1_layers"], ("all", "layer"))
    _check_layer_choice("sweep_layers", cfg["sweep_layers"], ("all",))
    from kedit_utils.core.jobs import check_executor

    check_executor(cfg["executor"], cfg["workers"], cfg["scheduler"])


@dataclass
class ChapterData:
    """Chapter 6's cases (lists of :class:`PropagationCase`) and the share of checked
    second hops the unedited model knew; ``check_rows``: that check by relation (generated
    data only)."""

    train: list[PropagationCase]
    in_distribution: list[PropagationCase]
    out_of_distribution: list[PropagationCase]
    mquake: list[PropagationCase]
    mquake_subset: list[PropagationCase]
    known_share: float
    check_rows: list[dict] = field(default_factory=list)

    def sizes(self) -> list[dict]:
        """{split, cases} for each of the five sets."""
        return [{"split": s, "cases": len(c)} for s, c in (
            ("CRE train", self.train), ("CRE in-distribution", self.in_distribution),
            ("CRE OOD", self.out_of_distribution), ("MQuAKE", self.mquake), ("MQuAKE-subset", self.mquake_subset))]


def _generated_cre(model, tok, cfg: dict, seed: int, style: str):
    countries = sorted(W.COUNTRIES)
    if cfg["n_check_countries"] is not None:
        countries = sorted(random.Random(f"ch6-{seed}").sample(countries, min(cfg["n_check_countries"],
                                                                              len(countries))))
    pairs = [p for p in second_hop_pairs() if p[0] in countries]
    check = check_second_hops(model, tok, pairs, style="cloze")
    splits = generate_cre(cfg["n_train"], cfg["n_id"], cfg["n_ood"], seed=seed, known=check, question_style=style)
    return (splits.train, splits.in_distribution, splits.out_of_distribution), check.share, check.rows()


def _loaded_cre(model, tok, cfg: dict):
    folder = Path(cfg["cre_path"]).expanduser()
    loaded, kept = [], []
    for name, n in zip(CRE_FILES, (cfg["n_train"], cfg["n_id"], cfg["n_ood"])):
        k = keep_known(load_cre(folder / name), model, tok, style="cloze")
        kept.append(k)
        loaded.append(k.cases[:n])
    return tuple(loaded), sum(len(k.cases) for k in kept) / max(sum(k.n_before for k in kept), 1)


def _mquake(cfg: dict, seed: int, style: str) -> list[PropagationCase]:
    if cfg["mquake_path"] is not None:
        return MQ.load_mquake(Path(cfg["mquake_path"]).expanduser())
    with tempfile.TemporaryDirectory() as tmp:  # written and read back: the real loader
        records = MQ.generate_mquake(max(cfg["n_mquake"], 6 * cfg["n_mquake_subset"]), seed=seed,
                                     question_style=style)
        return MQ.load_mquake(MQ.write_mquake(records, Path(tmp) / "mquake.json"))


def chapter_data(model, tok, cfg: dict, seed: int) -> ChapterData:
    """The five case sets of chapter 6 (module docstring), in ``cfg["question_style"]``:
    ``cloze`` (sentences to complete) or ``chat`` (questions in the tokenizer's chat
    template)."""
    style = "cloze" if cfg["question_style"] == "cloze" else "question"
    if cfg["cre_path"] is None:
        (train, id_cases, ood_cases), known_share, rows = _generated_cre(model, tok, cfg, seed, style)
    else:
        (train, id_cases, ood_cases), known_share = _loaded_cre(model, tok, cfg)
        rows = []
    everything = _mquake(cfg, seed, style)
    mquake, subset = everything[:cfg["n_mquake"]], MQ.mquake_subset(everything)[:cfg["n_mquake_subset"]]
    sets = [train, id_cases, ood_cases, mquake, subset]
    if cfg["question_style"] == "chat":
        sets = [with_chat_template(x, tok) for x in sets]
    return ChapterData(*(list(x) for x in sets), known_share=known_share, check_rows=rows)


__all__ = ["BASELINES", "CRE_FILES", "ChapterData", "chapter_data", "check_model", "check_parameters"]
