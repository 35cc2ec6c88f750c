"""Short content hashes of a model's weights and of a tokenizer, for the artifact cache's keys
(:mod:`kedit_utils.core.cache`): a covariance, a trained MEND or SERAC component, a FOMAML run are
keyed by the exact model they were computed on, not by its name alone."""
from __future__ import annotations

import hashlib
import json

import torch


def weights_fingerprint(model) -> str:
    """sha256 of every parameter and buffer of ``model`` (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def tokenizer_fingerprint(tok) -> str:
    """sha256 of the tokenizer's vocabulary and its special tokens."""
    vocab = sorted(tok.get_vocab().items())
    special = {k: str(v) for k, v in sorted(getattr(tok, "special_tokens_map", {}).items())}
    payload = json.dumps({"vocab": vocab, "special": special, "class": type(tok).__name__})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


__all__ = ["tokenizer_fingerprint", "weights_fingerprint"]
