"""propagation.runs: one run gives Table 1's pair and Fig. 3's curve; the layer rule; the
paper layer per family."""
from types import SimpleNamespace

import pytest
import torch

from kedit_utils.core.validation import ParameterError
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.editing.requests import EditRequest
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.vocabulary import Vocabulary, hf_tokenizer
from kedit_utils.propagation import FOMAMLConfig
from kedit_utils.propagation.runs import best_layer, default_layer, model_family, run_scope

VOCAB = Vocabulary(12, 2, 1)
TOK = hf_tokenizer(VOCAB)


def _case(i):
    return PropagationCase(f"c{i}", (EditRequest(f"e{4 + i}_0 r0_0", f"e{4 + i}_0", f"e{i % 2}_0"),),
                           (f"e{4 + i}_0 r0_0 r1_0",), (f"e{2 + i % 2}_0",), single_hops=((f"e{4 + i}_0 r0_0", f"e{i % 2}_0"),))


def test_run_scope_pairs_and_curve(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    model = gpt2_from_scratch(VOCAB, ModelSpec(n_layers=2, n_embd=32, n_head=2, n_positions=8), seed=0).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    conf = FOMAMLConfig(scope="mlp", inner_lr=1e-2, outer_lr=1e-3, inner_steps=2)
    run = run_scope(model, TOK, [_case(i) for i in range(4)], {"id": [_case(4)], "ood": [_case(5), _case(6)]}, conf,
                    model_id="tiny", checkpoint_every=2, curve_splits=("ood",), progress=False)
    assert [s for s, _ in run.checkpoints] == [0, 2, 4]
    assert set(run.checkpoints[1][1]) == {"ood"} and set(run.base) == set(run.meta) == {"id", "ood"}
    rows = run.table1_rows()
    assert [(r["split"], r["n"]) for r in rows] == [("id", 1), ("ood", 2)]
    assert all(r["gain"] == r["acc_meta"] - r["acc_base"] for r in rows)
    assert [(r["tasks_seen"], r["split"]) for r in run.curve_rows()] == [(0, "id"), (0, "ood"), (2, "ood"), (4, "id"),
                                                                         (4, "ood")]
    run.result.restore()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with pytest.raises(ParameterError, match="curve_splits"):
        run_scope(model, TOK, [_case(0)], {"id": [_case(1)]}, conf, model_id="tiny", curve_splits=("ood",))


def test_best_layer_rule():
    rows = [{"layer": 2, "split": "ood", "acc": 0.5}, {"layer": 8, "split": "ood", "acc": 0.5},
            {"layer": 16, "split": "ood", "acc": 0.25}, {"layer": 16, "split": "id", "acc": 0.9}]
    assert best_layer(rows, default=8) == 8 and best_layer(rows, default=16) == 2
    with pytest.raises(ParameterError, match="split"):
        best_layer(rows, "test")


def test_paper_layers():
    def fake(kind, n, vocab):
        return SimpleNamespace(config=SimpleNamespace(model_type=kind, vocab_size=vocab, num_hidden_layers=n))

    import kedit_utils.propagation.runs as E

    E_n = E.A.n_layers
    try:
        E.A.n_layers = lambda m: m.config.num_hidden_layers
        assert model_family(fake("llama", 32, 128256)) == "Llama3-8B" and default_layer(fake("llama", 32, 128256)) == 9
        assert default_layer(fake("llama", 16, 128256)) == 5 and default_layer(fake("qwen2", 28, 152064)) == 7
        assert default_layer(fake("llama", 30, 49152)) == 8  # SmolLM2
        assert model_family(fake("mistral", 32, 32000)) is None and default_layer(fake("mistral", 32, 32000)) == 9
    finally:
        E.A.n_layers = E_n


def test_chapter_sentences_from_tables():
    import pandas as pd

    from kedit_utils.propagation.paper_numbers import PAPER_B_TABLE1
    from kedit_utils.propagation.runs import accuracy_text, gain_text, paper_gain_text

    t1 = pd.DataFrame({"scope": ["attn", "mlp"], "split": ["ood", "ood"], "gain": [0.0, 0.25], "n": [4, 4]})
    assert gain_text(t1, "ood") == "attn +0 pts (n = 4), mlp +25 pts (n = 4)"
    assert paper_gain_text("id").startswith(f"attn {PAPER_B_TABLE1[('attn', 'id')][1]:+.1f}")
    t2 = pd.DataFrame({"cre_ood": [0.5, 0.0]}, index=["meta", "ft"])
    assert accuracy_text(t2, "cre_ood") == "meta 50 %, ft 0 %"


def _chapter6_parameters(profile="quick", **given):
    from kedit_utils.book import profiles

    resolved = profiles.resolve_parameters("06_meta_learning_propagation", profile, {"seed": 0, "device": "cpu"})
    return resolved, {**dict(model="smollm2", cre_path=None, mquake_path=None, question_style="cloze", layer=None,
                             executor="local", scheduler=None), **given}


def _config_folder(tmp_path, n_layer=4, model_type="gpt2"):
    import json

    folder = tmp_path / "tiny-model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, "n_layer": n_layer, "vocab_size": 100}))
    return str(folder)


def test_chapter6_parameters_are_checked_before_any_work(tmp_path):
    """MetaChapterConfig: each bad value stops with its name, before any model loads (the
    depth read from the model's config.json); the quick and paper profiles pass."""
    from kedit_utils.propagation.chapter import MetaChapterConfig

    folder = _config_folder(tmp_path, n_layer=12)
    for profile in ("quick", "paper"):
        resolved, given = _chapter6_parameters(profile, model=folder)
        config = MetaChapterConfig.from_parameters(resolved, **given)
        assert config.n_layers == 12 and config.paper_layer == round(9 * 12 / 32)
    assert config.swept_layers == list(range(12)) and config.table1_layer_list is None  # the paper profile: all
    resolved, given = _chapter6_parameters(model=folder)
    quick = MetaChapterConfig.from_parameters(resolved, **given)
    assert quick.table1_layer_list == [quick.paper_layer] and quick.swept_layers == [2, 8]
    assert quick.parameters() == {**resolved, **given}  # the reader's parameters, lists as lists
    bad = {"model": "no/such/folder", "cre_path": str(tmp_path), "mquake_path": str(tmp_path / "x.json"),
           "question_style": "poem", "n_train": 0, "layer": -1, "alpha": 0.0, "alphas": [],
           "scopes": ["embed"], "baselines": ["mend"], "table1_layers": "some", "sweep_layers": [],
           "n_baseline_cases": 0, "executor": "slurm", "workers": 0, "scheduler": "localhost", "seed": -1,
           "device": "tpu", "kg_embd": 30, "kg_graph": "ws", "threads": 0}
    for name, value in bad.items():
        with pytest.raises(ParameterError, match=name):
            MetaChapterConfig.from_parameters({**resolved, **given}, **{name: value})
    # the layer parameters against the model's depth (12 layers), before anything runs
    for name, value in (("layer", 12), ("table1_layers", [3, 12]), ("sweep_layers", [2, 40])):
        with pytest.raises(ParameterError, match=f"'{name}'.*12") as err:
            MetaChapterConfig.from_parameters({**resolved, **given}, **{name: value})
        assert "[0, 12)" in str(err.value)
    with pytest.raises(ParameterError, match="'baselines'.*must be a list"):
        MetaChapterConfig.from_parameters(resolved, **{**given, "baselines": "rome"})
    with pytest.raises(ParameterError, match="'n_layers'.*not a parameter"):
        MetaChapterConfig.from_parameters(resolved, **given, n_layers=3)
    with pytest.raises(ParameterError, match="'kg_locality'.*missing"):
        MetaChapterConfig.from_parameters({k: v for k, v in resolved.items() if k != "kg_locality"}, **given)


def test_model_depth_without_weights(tmp_path):
    """source_shape reads the depth from a config.json, or from SmolLM2's GGUF header."""
    from kedit_utils.core import pretrained
    from kedit_utils.propagation.runs import ModelShape, paper_layer_of, source_shape

    assert source_shape(_config_folder(tmp_path, 6)) == ModelShape("gpt2", 6, 100)
    with pytest.raises(ParameterError, match="model"):
        source_shape(str(tmp_path / "absent"))
    if pretrained.smollm2_available():
        shape = source_shape("smollm2")
        assert shape == ModelShape("llama", 30, 49152) and paper_layer_of(shape) == 8


def test_chapter6_sections_text_from_claims():
    """The chapter's "ahead of" sentence and the graph section's verdict use the claims'
    interval rule, not point estimates."""
    from kedit_utils.propagation import claims as C
    from kedit_utils.propagation.chapter import KG_VERDICTS, interval_text

    rows = [{"method": m, "cre_ood": a, "n": 100, "mquake": a, "n_mquake": 100} for m, a in
            (("ft", 0.35), ("rome", 0.1), ("meta", 0.4))]
    assert [m for m, _ in C.ahead_of(rows)] == ["rome"]  # ft: +5 pts, its interval holds 0
    assert C.interval_side(0.01, 0.2) == C.ABOVE and C.interval_side(-0.2, 0.0) == C.HOLDS_ZERO
    assert C.interval_side(float("nan"), float("nan")) == C.HOLDS_ZERO and set(KG_VERDICTS) == {C.ABOVE, C.BELOW,
                                                                                                  C.HOLDS_ZERO}
    assert interval_text(0.5, 0.25, 0.75) == "0.50 [0.25, 0.75]"


def test_runs_prefetched_in_a_pool_equal_the_runs_made_here(tmp_path, monkeypatch):
    """ScopeRuns.prefetch (chapter 6's runs as jobs of kedit_utils.core.jobs, two spawned workers
    each loading the model from its folder) gives the same evaluations as running them in
    this process, and get() reads the meta-trained weights back from the cache."""
    from kedit_utils.propagation.runs import ScopeRuns

    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    model = gpt2_from_scratch(VOCAB, ModelSpec(n_layers=2, n_embd=32, n_head=2, n_positions=8), seed=0).eval()
    folder = tmp_path / "tiny"
    model.save_pretrained(folder)
    TOK.save_pretrained(folder)
    from kedit_utils.core.pretrained import load_hf_model

    model, tok = load_hf_model(folder)
    train, sets = [_case(i) for i in range(3)], {"ood": [_case(5), _case(6)]}
    settings = dict(inner_lr=1e-2, outer_lr=1e-3, inner_steps=2, epochs=1, seed=0)
    wanted = [("mlp", [1], ("ood",)), ("attn", [0], ("ood",))]

    def tables(runs):
        return [runs.get(s, layers, splits).table1_rows() for s, layers, splits in wanted]

    pooled = ScopeRuns(model, tok, train, sets, settings, source=str(folder), model_id="tiny", progress=False)
    pooled.prefetch(wanted, workers=2, progress=False)
    assert all(run.result is None for run in pooled.runs.values())  # computed by the workers
    got = tables(pooled)
    meta = {n: t.clone() for n, t in pooled.runs[("mlp", (1,))].result.meta.items()}
    here = ScopeRuns(model, tok, train, sets, settings, model_id="other", progress=False)  # not the cache's key
    assert got == tables(here)
    for n, t in here.runs[("mlp", (1,))].result.meta.items():
        assert torch.equal(t, meta[n]), n


def _chapter_with(tmp_path, **cached):
    """A MetaChapter over a config-only model folder, its steps' outputs given (no model runs)."""
    from kedit_utils.propagation.chapter import MetaChapter, MetaChapterConfig

    resolved, given = _chapter6_parameters(model=_config_folder(tmp_path, 30))
    chapter = MetaChapter(MetaChapterConfig.from_parameters(resolved, **given))
    chapter.__dict__.update(cached)  # cached_property values
    return chapter


def test_chapter6_table_sections(tmp_path):
    """Table 1's section: intervals as one text, Paper B's column, the gains glued; Table 2's:
    "ahead of" by the interval rule (2 of 2 against 0 of 2 is; 1 of 1 against 0 of 1 is not)."""
    import pandas as pd

    from kedit_utils.propagation.paper_numbers import PAPER_B_TABLE1

    t1 = pd.DataFrame([{"scope": "mlp", "layers": "8", "split": sp, "acc_base": 0.0, "base_low": 0.0,
                        "base_high": 0.2, "acc_meta": 0.5, "meta_low": 0.3, "meta_high": 0.7, "gain": 0.5, "n": 20,
                        "single_hop_base": 1.0, "single_hop_meta": 1.0, "locality_base": 0.9, "locality_meta": 0.8}
                       for sp in ("id", "ood")])
    t2 = pd.DataFrame([{"method": m, "cre_ood": a, "mquake": a, "mquake_subset": a, "seconds_per_edit": 1.0,
                        "n": 2, "n_mquake": 2, "n_mquake_subset": 2} for m, a in (("rome", 0.0), ("ft", 0.0),
                                                                                  ("meta", 1.0))])
    chapter = _chapter_with(tmp_path, table1_frame=t1, table2_frame=t2)
    s1 = chapter.table1()
    shown = s1.tables[0].data
    assert list(shown.base) == ["0.00 [0.00, 0.20]"] * 2 and list(shown.meta) == ["0.50 [0.30, 0.70]"] * 2
    assert shown.paper.iloc[0] == "{:.1f} ({:+.1f})".format(*PAPER_B_TABLE1[("mlp", "id")])
    assert s1.glue["t1_gain_id"] == "mlp +50 pts (n = 20)" and s1.glue["t1_layers"] == "layer 8"
    s2 = chapter.table2()
    assert s2.glue["t2_beats"] == "rome (+100 pts [+7, +100], 95 %), ft (+100 pts [+7, +100], 95 %)"
    few = _chapter_with(tmp_path, table2_frame=t2.assign(n=1))
    assert few.table2().glue["t2_beats"].startswith("none of the others")


def test_every_glue_name_of_chapter6_is_glued():
    """Each {glue:text} / {glue:figure} name of the page is produced by the builder's sections
    or the notebook's glue_figure calls."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    page = (root / "notebooks" / "06_meta_learning_propagation.py").read_text()
    source = (root / "kedit_utils" / "propagation" / "chapter.py").read_text() + page
    used = set(re.findall(r"\{glue:(?:text|figure)\}`?\s*([a-z0-9_]+)", page))
    assert len(used) > 40
    missing = sorted(n for n in used if f'"{n}"' not in source)
    assert not missing, missing
