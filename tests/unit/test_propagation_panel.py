"""Chapter 6 panel, headless on a tiny GPT-2: both models are edited and asked, the weights
end as the meta-trained ones bit for bit, a bad input is shown in the panel in plain words."""
import copy

import ipywidgets as w
import torch

from kedit_utils.book.widgets import actions as A
from kedit_utils.book.widgets.propagation_panel import compare_answers, propagation_panel
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.editing.requests import EditRequest
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.vocabulary import Vocabulary, hf_tokenizer
from kedit_utils.propagation import FOMAMLConfig, meta_train

VOCAB = Vocabulary(12, 2, 1)
TOK = hf_tokenizer(VOCAB)


def _setup(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
    model = gpt2_from_scratch(VOCAB, ModelSpec(n_layers=2, n_embd=32, n_head=2, n_positions=8), seed=0).eval()
    cases = [PropagationCase(f"c{i}", (EditRequest(f"e{4 + i}_0 r0_0", f"e{4 + i}_0", f"e{i % 2}_0"),),
                             (f"e{4 + i}_0 r0_0 r1_0",), (f"e{2 + i % 2}_0",)) for i in range(4)]
    config = FOMAMLConfig(scope="mlp", inner_lr=1e-2, outer_lr=1e-3, inner_steps=2)
    result = meta_train(model, TOK, cases, config, progress=False)
    return model, result, config.ft_hparams(model)


def _texts(panel):
    out, stack = [], [panel]
    while stack:
        x = stack.pop()
        stack.extend(getattr(x, "children", ()) or ())
        out.append(x)
    return out


def test_compare_answers_edits_both_and_ends_meta(tmp_path, monkeypatch):
    model, result, hp = _setup(tmp_path, monkeypatch)
    meta = copy.deepcopy(model.state_dict())
    rows = compare_answers(model, TOK, result, hp, "e9_0 r0_0", "e9_0", "e1_0", "e9_0 r0_0 r1_0", "e3_0")
    assert [r["model"] for r in rows] == ["base model", "meta-trained model"]
    assert all(isinstance(r["2-hop answer"], str) and r["correct"] in (True, False) for r in rows)
    assert all(torch.equal(v, meta[k]) for k, v in model.state_dict().items())


def test_panel_runs_and_shows_errors(tmp_path, monkeypatch):
    model, result, hp = _setup(tmp_path, monkeypatch)
    panel = propagation_panel(model, TOK, result, hp, prompt="e9_0 r0_0", subject="e9_0", target="e1_0",
                              question="e9_0 r0_0 r1_0", answer="e3_0")
    assert A.invalid_controls(panel) == []
    widgets = _texts(panel)
    go = next(x for x in widgets if isinstance(x, w.Button))
    go.click()
    shown = "\n".join(x.value for x in widgets if isinstance(x, w.HTML))
    assert "meta-trained model" in shown and A.ERROR_CLASS not in shown
    subject = next(x for x in widgets if getattr(x, "description", "") == "subject")
    subject.value = "nobody"
    go.click()
    shown = "\n".join(x.value for x in widgets if isinstance(x, w.HTML))
    assert "The comparison did not run" in shown and "subject" in shown and not go.disabled
