"""The logit lens's last layer equals the model's own output distribution."""
import numpy as np
import torch

from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.logit_lens import entity_probs_by_layer
from kedit_utils.kg.vocabulary import Vocabulary


def test_last_layer_matches_model_output():
    vocab = Vocabulary(6, 3, 2)
    model = gpt2_from_scratch(vocab, ModelSpec(n_layers=3, n_embd=16, n_head=2), seed=0)
    prompts = np.stack([vocab.entity_ids[:, 0], vocab.relation_ids[[0, 1, 2, 0, 1, 2], 1]], axis=1)
    lens = entity_probs_by_layer(model, prompts, vocab)
    assert lens.shape == (6, 4, 7)
    with torch.no_grad():
        probs = model(torch.as_tensor(prompts)).logits[:, -1].softmax(-1).numpy()
    expected = np.zeros((6, 7))
    for tok, ent in enumerate(vocab.token_to_entity):
        if ent >= 0:
            expected[:, ent] += probs[:, tok]
    np.testing.assert_allclose(lens[:, -1], expected, rtol=1e-5, atol=1e-6)
