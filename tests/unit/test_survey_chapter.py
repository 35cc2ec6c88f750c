"""Chapter 7's config, its check of the pretrained model's facts, and its page (kedit_utils.survey.chapter,
kedit_utils.book.pages.editing_methods): every parameter is checked before any model loads, with the
parameter named as the chapter spells it; a model that knows none of the facts table (a freshly
initialised GPT-2 saved with save_pretrained) is stopped with the counts, not an IndexError; and the
page glues every name the chapter's prose uses and writes every key of the results file."""
import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kedit_utils.book import profiles
from kedit_utils.core.validation import ParameterError
from kedit_utils.datasets import facts as F
from kedit_utils.survey import findings as FD
from kedit_utils.survey.chapter import EditingMethodsChapter, EditingMethodsConfig, build_chapter
from kedit_utils.survey.studies import Study, check_known_facts

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "07_editing_methods"
CHAPTER = dict(model="smollm2", kg_graph="ba", kg_layers=6, run_pretrained=False, n_boot=50)


def config(**changes) -> EditingMethodsConfig:
    resolved = profiles.resolve_parameters(NOTEBOOK, "quick", {"seed": 0, "device": "cpu"})
    chapter = {k: changes.pop(k) for k in list(changes) if k in CHAPTER}
    return EditingMethodsConfig.from_parameters({**resolved, **changes}, **{**CHAPTER, **chapter})


# --------------------------------------------------------------------------- the config
def test_config_takes_the_profile_and_is_frozen():
    c = config()
    assert c.methods == ("rome", "memit", "ft_l", "ice", "serac") and c.n_edits == 3 and c.device == "cpu"
    assert c.kg_kwargs()["params"]["n_relations"] == 25 and c.kg_kwargs()["n_layers"] == 6
    assert c.pretrained_kwargs() is None  # run_pretrained=False
    # the shown parameters: the profile's and the chapter's four, not n_boot (as before the config)
    assert {"profile", "seed", "device", "methods", "model", "kg_graph", "kg_layers", "run_pretrained"} <= set(
        c.parameters) and "n_boot" not in c.parameters
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.n_edits = 5
    with pytest.raises(TypeError):
        c.training["lr"] = 1.0


@pytest.mark.parametrize("profile", profiles.PROFILE_NAMES)
def test_both_profiles_are_valid_configs(profile):
    resolved = profiles.resolve_parameters(NOTEBOOK, profile, {"seed": 0, "device": "cpu"})
    c = EditingMethodsConfig.from_parameters(resolved, **{**CHAPTER, "run_pretrained": True})
    assert c.profile == profile and c.n_edits >= 2 and c.sequential_edits >= c.reversibility_edits


@pytest.mark.parametrize("changes, name, allowed", [
    (dict(n_edits=1), "n_edits", ">= 2"),
    (dict(n_edits=10_000), "n_edits", "<= "),
    (dict(covariance_texts=5), "covariance_texts", ">= 10"),
    (dict(kg_methods=["rome", "nope"]), "kg_methods", "'nope' is not an editing method"),
    (dict(methods=["rome", "ROME"]), "methods", "each method once"),
    (dict(methods=[]), "methods", "non-empty list"),
    (dict(kg_graph="ws"), "kg_graph", "one of ['er', 'ba']"),
    (dict(kg_layers=0), "kg_layers", ">= 1"),
    (dict(workers=3), "workers", "<= 2"),
    (dict(n_boot=0), "n_boot", ">= 1"),
    (dict(fluency_tokens=-1), "fluency_tokens", ">= 0"),
    (dict(kg_n_edits=100_000), "kg_n_edits", "<= "),
    (dict(sequential_edits=100_000), "sequential_edits", "<= "),
    (dict(n_relations=1), "n_relations", "n_relations >= "),  # the BA graph's hubs need more relations
    (dict(ba_m=100), "ba_m", "smaller than n_entities"),
    (dict(n_head=3), "n_head", "divide n_embd"),
    (dict(layers=[]), "layers", "non-empty list"),
    (dict(run_pretrained="yes"), "run_pretrained", "True or False"),
    (dict(device="tpu"), "device", "one of"),
])
def test_config_names_the_parameter_as_typed(changes, name, allowed):
    with pytest.raises(ParameterError) as e:
        config(**changes)
    assert e.value.name == name and allowed in str(e.value), str(e.value)


def test_config_checks_the_model_folder_only_with_the_pretrained_model(tmp_path):
    with pytest.raises(ParameterError, match="'model' .* existing local Hugging Face folder"):
        config(model=str(tmp_path / "missing"), run_pretrained=True)
    with pytest.raises(ParameterError, match="no config.json"):
        config(model=str(tmp_path), run_pretrained=True)
    assert config(model=str(tmp_path / "missing")).model.endswith("missing")  # run_pretrained=False


# --------------------------------------------------------------------------- a model that knows nothing
@pytest.fixture(scope="module")
def unknowing_gpt2(tmp_path_factory) -> Path:
    """A freshly initialised 2-layer GPT-2 and a byte-level BPE tokenizer trained here on the
    facts table's own prompts (nothing downloaded), saved with save_pretrained."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    texts = [t for f in F.fact_table() for t in (f"{f.prompt} {f.answer}", *f.paraphrases)]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                  unk_token="<|endoftext|>")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                       bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id))
    folder = tmp_path_factory.mktemp("unknowing-gpt2")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_a_model_that_knows_no_fact_is_stopped_with_the_counts(unknowing_gpt2, tmp_path, monkeypatch):
    from kedit_utils.survey.studies import load_pretrained

    m, tok, _name, _id = load_pretrained(str(unknowing_gpt2))
    known = F.known_facts(m, tok)
    total = len(F.fact_table())
    assert sum(known.total.values()) == total and len(known.kept) < 2  # it knows (almost) nothing
    with pytest.raises(ParameterError) as e:
        check_known_facts(known, 3, ["rome"], str(unknowing_gpt2))
    assert e.value.name == "model"
    assert f"answers {len(known.kept)} of the {total} facts" in str(e.value) and "needs at least 3" in str(e.value)
    assert "n_edits = 3" in str(e.value)
    # the chapter's builder stops there, before the knowledge-graph study trains anything
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    c = config(model=str(unknowing_gpt2), run_pretrained=True, methods=["rome", "ft_l"])
    with pytest.raises(ParameterError, match=f"answers {len(known.kept)} of the {total} facts"):
        build_chapter(c)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["known-facts"]


def _known(facts) -> F.KnownFacts:
    facts = tuple(facts)
    total = {r: sum(1 for f in F.fact_table() if f.relation == r) for r in F.RELATIONS}
    return F.KnownFacts(facts, total, {f.relation: 1 for f in facts}, {}, {}, "teacher_forced",
                        frozenset(f.key for f in facts), {f.key: f.answer for f in facts})


def test_known_facts_check_counts_what_the_edits_and_trained_methods_need():
    table = F.fact_table()
    check_known_facts(_known(table), 3, ["rome", "serac", "mend"])  # the whole table: enough
    with pytest.raises(ParameterError) as e:
        check_known_facts(_known(table[:2]), 3)
    assert e.value.name == "n_edits" and "use n_edits <= 2" in str(e.value)
    # two known facts, both edited: none left to train SERAC on
    with pytest.raises(ParameterError, match="to train serac on") as e:
        check_known_facts(_known(table[:2]), 2, ["rome", "serac"])
    assert e.value.name == "n_edits"
    check_known_facts(_known(table[:2]), 2, ["rome", "ice"])  # no trained method: two are enough


# --------------------------------------------------------------------------- rules used by the page
def test_reversibility_verdict_rule():
    means = pd.DataFrame({"locality_reverted": [0.99, 0.5], "weight_residual": [0.3, 0.05]}, index=["rome", "ft"])
    assert FD.undone_by_editing_back(means)  # both bounds reached exactly (by different methods)
    assert not FD.undone_by_editing_back(means.assign(locality_reverted=[0.98, 0.5]))
    assert not FD.undone_by_editing_back(means.assign(weight_residual=[0.3, 0.051]))
    with pytest.raises(ParameterError, match="weight_residual"):
        FD.undone_by_editing_back(means[["locality_reverted"]])


def test_verdicts_by_model_join_each_findings_models_in_order():
    f = pd.DataFrame({"key": ["a", "b", "a", "b"], "holds": [True, None, False, True], "model": ["M", "M", "G", "G"]})
    assert FD.verdicts_by_model(f) == {"a": "holds on M; does not hold on G", "b": "not checked on M; holds on G"}


# --------------------------------------------------------------------------- the page
def _grid_rows(model: str, methods, actions=F.ACTIONS, n=3, fluency=True) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for method in methods:
        for action in actions:
            for i in range(n):
                row = {"model": model, "method": method, "action": action, "subject": f"s{i}",
                       "reliability": rng.random(), "generalization": rng.random(), "locality": rng.random(),
                       "portability": rng.random(), "fluency": rng.random() if fluency else np.nan,
                       "seconds": 0.1, "delta_norm": 0.0 if method == "ice" else 1.0,
                       "changes": [] if method == "ice" else [("model.layers.1.mlp.down_proj.weight", 1.0)]}
                if action == "erase":
                    row.update(old_gone=1.0, old_gone_rephrase=0.5, erase_target=1.0, erase_target_rephrase=0.2)
                rows.append(row)
    return pd.DataFrame(rows)


def _chapter(run_pretrained=True) -> EditingMethodsChapter:
    c = config(n_edits=3)
    known = _known(F.fact_table())
    requests = {a: F.make_requests(a, 3, known) for a in F.ACTIONS}
    pre = Study("tiny LM", _grid_rows("tiny LM", ["rome", "memit", "ft_l", "ice", "serac"]),
                _grid_rows("tiny LM", ["none"]), requests, known, n_layers=2) if run_pretrained else None
    seq = pd.DataFrame([{"model": "KG", "method": m, "n_edits": k, "reliability_first": 1 - k / 10,
                         "locality": 1 - k / 20} for m in ("rome", "ft") for k in (1, 5)])
    rev = pd.DataFrame([{"model": "KG", "method": m, "reliability_edited": 1.0, "locality_edited": 0.9,
                         "reliability_reverted": 0.8, "locality_reverted": 0.95, "weight_residual": 0.5}
                        for m in ("rome", "ft")])
    kg = Study("KG", _grid_rows("KG", ["rome", "ft"], fluency=False), _grid_rows("KG", ["none"], fluency=False),
               {}, None, seq, rev, n_layers=6, skipped=["ice"], site={"layer": 2, "token": "last"})
    return EditingMethodsChapter(c, pre, kg, None)


def _glue_names() -> set[str]:
    text = (ROOT / "notebooks" / f"{NOTEBOOK}.py").read_text()
    return set(re.findall(r"\{glue:text\}`([a-z0-9_]+)`", text))


@pytest.mark.parametrize("run_pretrained", [True, False])
def test_page_glues_every_name_of_the_prose_and_writes_every_results_key(run_pretrained):
    from kedit_utils.book.pages.editing_methods import NOT_RUN, EditingMethodsPage

    page = EditingMethodsPage(_chapter(run_pretrained))
    glued = {**page.glued_data(), **page.glued_kg(), **page.glued_findings(), **page.glued_reversibility()}
    assert _glue_names() <= set(glued), _glue_names() - set(glued)
    assert glued["kg_skipped"] == "ICE" and glued["kg_layer"] == 2 and glued["rev_best_locality"] == "0.95"
    assert glued["rev_verdict"].startswith("an edit is not undone")
    assert (glued["model_name"] == "tiny LM") is run_pretrained and (glued["n_known"] == NOT_RUN) is not run_pretrained
    res = page.results()
    assert set(res) == {"methods", "findings", "sequential", "reversibility", "erase", "data"}
    assert set(res["data"]) == {"model", "facts", "known", "n_edits", "kg_n_edits"}
    assert {"model", "method", "action", "n_edits", "reliability", "reliability_lo", "seconds_per_edit_hi"} <= set(
        res["methods"][0])
    assert {r["model"] for r in res["methods"]} == ({"tiny LM", "KG"} if run_pretrained else {"KG"})
    assert "none" not in {r["method"] for r in res["methods"]}
    assert {r["model"] for r in res["findings"]} == ({"tiny LM", "KG"} if run_pretrained else {"KG"})
    assert set(res["reversibility"][0]) >= {"model", "method", "locality_reverted", "weight_residual"}
    assert (len(res["erase"]) == 5) is run_pretrained
    # a section whose study did not run shows nothing; the others one table each
    assert len(page.data_tables()) == (2 if run_pretrained else 0)
    assert len(page.comparison_tables()) == len(page.erase_tables()) == len(page.weight_tables()) == int(run_pretrained)
    assert len(page.kg_tables()) == len(page.findings_tables()) == len(page.sequential_tables()) == 1
    assert "evidence" in page.findings_tables()[0]._repr_html_()
