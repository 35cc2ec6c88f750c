"""Logit lens (nostalgebraist 2020): read each layer's residual stream through the final
norm and the unembedding, as if the model stopped there.

Used by chapter 5 (Paper A's future work: "do traces of deleted knowledge remain?"): after
a deletion, does the old object still surface in the intermediate layers at the last prompt
position, even though the output says ``<deleted>``?
"""
from __future__ import annotations

import numpy as np
import torch

from kedit_utils.kg.vocabulary import Vocabulary


def _final_norm(model) -> torch.nn.Module:
    base = getattr(model, "transformer", None) or getattr(model, "model", None)
    for name in ("ln_f", "norm"):
        if base is not None and hasattr(base, name):
            return getattr(base, name)
    raise TypeError(f"no final norm found on {type(model).__name__}")


@torch.no_grad()
def entity_probs_by_layer(model, prompts: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """Probability of each entity (aliases summed) read at every layer, last position.

    prompts: (P, T) token ids. Returns (P, n_layers + 1, n_entities + 1): index 0 is the
    embedding output, index L the final layer (equal to the model's own output), the last
    entity column is ``<deleted>``.
    """
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(prompts), dtype=torch.long, device=device)
    was_training = model.training
    model.eval()
    try:
        out = model(x, output_hidden_states=True)
    finally:
        model.train(was_training)
    norm, unembed = _final_norm(model), model.get_output_embeddings()
    t2e = torch.as_tensor(vocab.token_to_entity, device=device)
    keep = t2e >= 0
    layers = []
    n_hidden = len(out.hidden_states)
    for i, h in enumerate(out.hidden_states):
        # HF GPT-2 applies ln_f to the last hidden state already
        last = h[:, -1] if i == n_hidden - 1 else norm(h[:, -1])
        probs = unembed(last).float().softmax(-1)
        ent = torch.zeros(probs.shape[0], vocab.n_entities + 1, device=device)
        ent.index_add_(1, t2e[keep], probs[:, keep])
        layers.append(ent)
    return torch.stack(layers, dim=1).cpu().numpy()
