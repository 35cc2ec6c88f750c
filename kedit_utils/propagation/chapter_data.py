"""Chapter 6's inputs (Paper B §4, "データセット"): its data sets, generated offline or read
from the files a reader points to (the parameters are checked before, by
:class:`kedit_utils.propagation.chapter.MetaChapterConfig`).

    data = chapter_data(model, tok, config)  # CRE splits, MQuAKE, MQuAKE-subset
    data.sizes()                             # one row per split: its number of cases

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
from typing import TYPE_CHECKING

from kedit_utils.datasets import world as W
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.propagation import mquake as MQ
from kedit_utils.propagation.cre.generator import generate_cre
from kedit_utils.propagation.cre.model_checks import check_second_hops, keep_known
from kedit_utils.propagation.cre.propmend import load_cre
from kedit_utils.propagation.cre.templates import second_hop_pairs, with_chat_template

if TYPE_CHECKING:
    from kedit_utils.propagation.chapter import MetaChapterConfig

CRE_FILES = ("train_data_id.jsonl", "test_data_id.jsonl", "test_data_ood.jsonl")
BASELINES = ("rome", "memit", "alphaedit")


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


def _generated_cre(model, tok, config: MetaChapterConfig, style: str):
    countries = sorted(W.COUNTRIES)
    if config.n_check_countries is not None:
        countries = sorted(random.Random(f"ch6-{config.seed}").sample(countries, min(config.n_check_countries,
                                                                              len(countries))))
    pairs = [p for p in second_hop_pairs() if p[0] in countries]
    check = check_second_hops(model, tok, pairs, style="cloze")
    splits = generate_cre(config.n_train, config.n_id, config.n_ood, seed=config.seed, known=check,
                          question_style=style)
    return (splits.train, splits.in_distribution, splits.out_of_distribution), check.share, check.rows()


def _loaded_cre(model, tok, config: MetaChapterConfig):
    folder = Path(config.cre_path).expanduser()
    loaded, kept = [], []
    for name, n in zip(CRE_FILES, (config.n_train, config.n_id, config.n_ood)):
        k = keep_known(load_cre(folder / name), model, tok, style="cloze")
        kept.append(k)
        loaded.append(k.cases[:n])
    return tuple(loaded), sum(len(k.cases) for k in kept) / max(sum(k.n_before for k in kept), 1)


def _mquake(config: MetaChapterConfig, style: str) -> list[PropagationCase]:
    if config.mquake_path is not None:
        return MQ.load_mquake(Path(config.mquake_path).expanduser())
    with tempfile.TemporaryDirectory() as tmp:  # written and read back: the real loader
        records = MQ.generate_mquake(max(config.n_mquake, 6 * config.n_mquake_subset), seed=config.seed,
                                     question_style=style)
        return MQ.load_mquake(MQ.write_mquake(records, Path(tmp) / "mquake.json"))


def chapter_data(model, tok, config: MetaChapterConfig) -> ChapterData:
    """The five case sets of chapter 6 (module docstring), in ``config.question_style``:
    ``cloze`` (sentences to complete) or ``chat`` (questions in the tokenizer's chat
    template)."""
    style = "cloze" if config.question_style == "cloze" else "question"
    if config.cre_path is None:
        (train, id_cases, ood_cases), known_share, rows = _generated_cre(model, tok, config, style)
    else:
        (train, id_cases, ood_cases), known_share = _loaded_cre(model, tok, config)
        rows = []
    everything = _mquake(config, style)
    mquake, subset = everything[:config.n_mquake], MQ.mquake_subset(everything)[:config.n_mquake_subset]
    sets = [train, id_cases, ood_cases, mquake, subset]
    if config.question_style == "chat":
        sets = [with_chat_template(x, tok) for x in sets]
    return ChapterData(*(list(x) for x in sets), known_share=known_share, check_rows=rows)


__all__ = ["BASELINES", "CRE_FILES", "ChapterData", "chapter_data"]
