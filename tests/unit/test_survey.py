"""Chapter 7's survey machinery (kedit_utils.survey) on a tiny alias GPT-2: the grid scores
real edits and leaves the model bit for bit as it was; sequential editing and edit-and-back
restore exactly; the weight maps attribute changes to the right layer and module; the
findings' rules read intervals correctly; the editing panel applies and restores."""
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from kedit_utils.core.validation import ParameterError
from kedit_utils.editing import EditRequest
from kedit_utils.kg.gpt2 import ModelSpec
from kedit_utils.kg.vocabulary import hf_tokenizer
from kedit_utils.survey import findings as FD
from kedit_utils.survey import grid as G
from kedit_utils.survey import reversibility as R
from kedit_utils.survey import sequential as S
from kedit_utils.survey import weight_maps as WM
from kedit_utils.survey.kg_requests import kg_requests


@pytest.fixture(scope="module")
def tiny(train_tiny_ba):
    model, corpus, cov = train_tiny_ba(ModelSpec(n_layers=2, n_embd=32, n_head=2), "tiny-survey")
    from kedit_utils.kg.deletion.sweep import tiny_hparams

    hps = {m: tiny_hparams(m, 0, "last", 2) for m in ("rome", "memit", "ft_l", "ice")}
    return model, corpus, hf_tokenizer(corpus.vocab), hps, cov


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(model, snap):
    return all(torch.equal(v, snap[k]) for k, v in model.state_dict().items())


def test_bootstrap_mean_and_summary():
    assert G.bootstrap_mean([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)
    assert G.bootstrap_mean([0.5]) == (0.5, 0.5, 0.5)
    assert all(math.isnan(x) for x in G.bootstrap_mean([float("nan")]))
    m, lo, hi = G.bootstrap_mean(np.r_[np.zeros(10), np.ones(10)], n_boot=500)
    assert m == 0.5 and 0.2 < lo < 0.5 < hi < 0.8
    rows = pd.DataFrame({"model": "x", "method": ["a"] * 4 + ["b"] * 2, "action": "modify",
                         "reliability": [1, 1, 0, 0, 1, 1], "seconds": [1, 1, 1, 1, 2, 2]})
    t = G.summary(rows, metrics=("reliability", "seconds"))
    assert list(t.method) == ["a", "b"] and list(t.n_edits) == [4, 2]
    assert t.set_index("method").loc["b", "seconds_per_edit"] == 2
    assert G.interval_text(0.5, 0.25, 0.75) == "0.50 [0.25, 0.75]" and G.interval_text(float("nan"), 0, 0) == "–"


def test_grid_scores_real_edits_and_restores_the_model(tiny):
    model, corpus, tok, hps, cov = tiny
    snap = snapshot(model)
    reqs = {"modify": kg_requests(corpus.kg, corpus.vocab, "modify", 3, seed=0)}
    from kedit_utils.kg.alias_accuracy import EntityLevelLM

    setup = G.EditSetup(model, tok, "tiny", hparams=hps, context={"rome": {"cov": cov}}, fluency_tokens=0,
                        scorer=EntityLevelLM(model, corpus.vocab))
    base = G.unedited_rows(setup, reqs)
    rows = G.run_grid(setup, ["rome", "ft_l"], reqs, progress=False)
    assert same(model, snap)  # every edit was undone, bit for bit
    assert len(rows) == 6 and set(rows.method) == {"rome", "ft_l"}
    rome = rows[rows.method == "rome"]
    assert (rome.reliability == 1.0).all()  # ROME makes the target the prediction
    assert (base.reliability < 1.0).all()  # ... which it was not before
    assert (rome.delta_norm > 0).all() and (rows[rows.method == "ft_l"].delta_norm > 0).all()
    assert rome.locality.between(0, 1).all() and rome.portability.between(0, 1).all()
    assert all(name.startswith("transformer.h.0.mlp") for changes in rome.changes for name, _ in changes)
    with pytest.raises(ParameterError, match="method"):
        G.run_grid(setup, ["not-a-method"], reqs, progress=False)
    misspelt = dataclasses.replace(setup, context={"rome": {"covv": cov}})
    with pytest.raises(ParameterError, match="rome takes no argument 'covv'") as e:  # before any edit
        G.run_grid(misspelt, ["ft_l", "rome"], reqs, progress=False)
    assert e.value.name == "covv" and same(model, snap)


def test_weight_maps_attribute_layer_and_module():
    assert WM.module_group("transformer.h.3.mlp.c_proj.weight") == "mlp_out"
    assert WM.module_group("transformer.h.3.mlp.c_fc.weight") == "mlp_in"
    assert WM.module_group("model.layers.7.mlp.down_proj.weight") == "mlp_out"
    assert WM.module_group("model.layers.7.mlp.gate_proj.weight") == "mlp_in"
    assert WM.module_group("model.layers.7.self_attn.q_proj.weight") == "attn"
    assert WM.module_group("model.embed_tokens.weight") == "other" and WM.layer_of("model.norm.weight") is None
    cells = WM.change_cells([("model.layers.2.self_attn.q_proj.weight", 3.0),
                             ("model.layers.2.self_attn.k_proj.weight", 4.0)])
    assert cells == {(2, "attn"): 5.0}  # norms of one group add in squares
    rows = pd.DataFrame({"method": ["rome", "rome", "ice"],
                         "changes": [[("transformer.h.1.mlp.c_proj.weight", 2.0)], [], []]})
    maps = WM.weight_change_map(rows, n_layers=3)
    assert set(maps) == {"rome"} and maps["rome"][1, 2] == 1.0 and maps["rome"].sum() == 1.0
    t = WM.change_table(maps)
    assert t.loc[0, "layers"] == "1" and t.loc[0, "share_mlp_out"] == 1.0


def test_sequential_curve_restores_exactly(tiny):
    model, corpus, tok, hps, cov = tiny
    assert S.checkpoints(100) == [1, 2, 5, 10, 20, 50, 100] and S.checkpoints(7) == [1, 2, 5, 7]
    snap = snapshot(model)
    reqs = kg_requests(corpus.kg, corpus.vocab, "modify", 6, seed=3)
    probes = list(reqs[0].request.locality)
    frame = S.sequential_curve(model, tok, "rome", reqs, probes, hps["rome"], {"cov": cov}, n_first=2,
                               progress=False)
    assert same(model, snap)
    assert list(frame.n_edits) == [1, 2, 5, 6]
    assert frame.reliability_first.iloc[0] == 1.0
    assert frame.locality.between(0, 1).all()
    with pytest.raises(ParameterError, match="method"):
        S.sequential_curve(model, tok, "ice", reqs, probes)
    drop = S.final_drop(frame)
    assert drop.loc[0, "n_edits"] == 6


def test_edit_and_back(tiny):
    model, corpus, tok, hps, cov = tiny
    snap = snapshot(model)
    reqs = kg_requests(corpus.kg, corpus.vocab, "modify", 2, seed=5)
    back = R.revert_request(reqs[0].request)
    assert back.target_new == reqs[0].request.ground_truth and back.ground_truth == reqs[0].request.target_new
    with pytest.raises(ParameterError, match="ground_truth"):
        R.revert_request(EditRequest("e1 r1", "e1", "e2"))
    frame = R.reversibility(model, tok, "rome", reqs, hps["rome"], {"cov": cov}, progress=False)
    assert same(model, snap)
    assert (frame.reliability_edited == 1.0).all()
    # editing back moves the weights again: they do not return to where they were
    assert (frame.weight_residual > 0.05).all()


def _summary_row(method, action, **metrics):
    row = {"model": "m", "method": method, "action": action}
    for k, (mean, lo, hi) in metrics.items():
        row.update({k: mean, f"{k}_lo": lo, f"{k}_hi": hi})
    return row


def test_findings_read_intervals():
    good = dict(reliability=(1.0, 0.95, 1.0), portability=(0.2, 0.1, 0.3), locality=(0.7, 0.6, 0.8))
    t = pd.DataFrame([_summary_row("rome", "modify", **good), _summary_row("memit", "modify", **good),
                      _summary_row("ft_l", "modify", reliability=(0.5, 0.3, 0.7), portability=(0.1, 0, 0.2),
                                   locality=(0.95, 0.9, 1.0)),
                      {**_summary_row("rome", "erase", reliability=(1, 1, 1)), "old_gone_rephrase": 0.4,
                       "erase_target_rephrase": 0.3}])
    f = FD.check_findings(t).set_index("key")
    assert f.holds.to_dict() == {"locate_then_edit_reliable": True, "locate_then_edit_weak_portability": True,
                                 "locate_then_edit_weak_locality": True, "ft_l_lower_reliability": True,
                                 "erasure_poor": True}
    assert "ROME reliability 1.00 [0.95, 1.00]" in f.evidence["locate_then_edit_reliable"]
    # overlapping intervals: no difference is claimed
    t.loc[2, ["locality", "locality_lo", "locality_hi"]] = [0.75, 0.65, 0.85]
    assert not FD.check_findings(t).set_index("key").holds["locate_then_edit_weak_locality"]
    # a method missing: not checked, and said so
    f2 = FD.check_findings(t[t.method != "ft_l"]).set_index("key")
    assert f2.holds["ft_l_lower_reliability"] is None and "not checked" in f2.evidence["ft_l_lower_reliability"]
    assert FD.verdict_word(None) == "not checked"


def test_editing_panel_applies_restores_and_reports_errors(tiny):
    import ipywidgets as w

    from kedit_utils.book.widgets import actions as A
    from kedit_utils.book.widgets.editing_panel import editing_panel

    model, corpus, tok, hps, cov = tiny
    kg, vocab = corpus.kg, corpus.vocab
    s, r, o = (int(x) for x in kg.triples[0])
    prompt = f"{vocab.entity_token(s, 0)} {vocab.relation_token(r, 0)}"
    new = vocab.entity_token((o + 1) % kg.n_entities if (o + 1) % kg.n_entities != s else (o + 2) % kg.n_entities, 0)
    snap = snapshot(model)
    panel = editing_panel(model, tok, ["rome", "ft_l"], hparams=hps, context={"rome": {"cov": cov}},
                          example={"prompt": prompt, "subject": vocab.entity_token(s, 0), "target": new,
                                   "old": vocab.entity_token(o, 0), "rephrase": ""}, max_new_tokens=1)
    assert A.invalid_controls(panel) == []
    kids, stack = [], [panel]
    while stack:
        x = stack.pop(0)
        kids.append(x)
        stack.extend(getattr(x, "children", ()) or ())
    buttons = {b.description: b for b in kids if isinstance(b, w.Button)}
    texts = {t.description: t for t in kids if isinstance(t, w.Text)}
    html = lambda: "\n".join(x.value for x in kids if isinstance(x, w.HTML))  # noqa: E731
    buttons["Apply edit"].click()
    assert "reliability" in html() and "<b>rome</b>" in html()
    assert not same(model, snap)
    buttons["Restore"].click()
    assert same(model, snap) and "bit for bit" in html()
    texts["subject"].value = "not-in-prompt"
    buttons["Apply edit"].click()
    assert "subject" in html() and same(model, snap)  # the error is shown in the panel; nothing changed


def test_training_split_avoids_evaluated_subjects_and_later_edits():
    """MEND's and SERAC's training edits: never about a subject scored in the grid, never an
    edit the sequential study applies; none left is an error naming the field."""
    from kedit_utils.core.validation import ParameterError
    from kedit_utils.editing import EditRequest
    from kedit_utils.survey.grid import training_split

    cands = [EditRequest(f"e{i}_0 r{j}_0", f"e{i}_0", "e9_0") for i in range(4) for j in range(2)]
    evaluated = [EditRequest("e0_0 r1_0", "e0_0", "e8_0")]
    later = [EditRequest("e1_0 r0_0", "e1_0", "e7_0")]
    got = training_split(cands, evaluated, 10, avoid=later)
    assert [r.prompt for r in got] == ["e1_0 r1_0", "e2_0 r0_0", "e2_0 r1_0", "e3_0 r0_0", "e3_0 r1_0"]
    assert len(training_split(cands, evaluated, 2, avoid=later)) == 2
    with pytest.raises(ParameterError, match="train_edits"):
        training_split(cands[:2], evaluated, 10)


def test_pretrained_grid_rows_from_workers_keep_run_grids_order():
    """The grid's per-method jobs (survey.experiment, one per worker) come back in run_grid's
    order: action, then method in the given order, then request."""
    import pandas as pd

    from kedit_utils.survey.studies import _grid_in_order

    requests = {"insert": [1, 2], "modify": [1, 2], "erase": []}
    frames = {m: pd.DataFrame([{"method": m, "action": a, "i": i} for a in ("insert", "modify") for i in (0, 1)])
              for m in ("rome", "ice")}
    out = _grid_in_order(frames, ["rome", "ice"], requests)
    assert list(zip(out.action, out.method, out.i)) == [
        ("insert", "rome", 0), ("insert", "rome", 1), ("insert", "ice", 0), ("insert", "ice", 1),
        ("modify", "rome", 0), ("modify", "rome", 1), ("modify", "ice", 0), ("modify", "ice", 1)]
