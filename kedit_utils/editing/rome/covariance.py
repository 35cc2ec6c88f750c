"""The key second moment C = K Kᵀ / n of ROME (Paper A §3.3 step 2; Meng et al. 2022 Eq. 2).

The keys are the inputs of the edited MLP output projection W2 (GPT-2 ``c_proj``, Llama
``down_proj``), i.e. the MLP's hidden activations σ(x W1 + b1), at every token position of
a corpus. C is *uncentred* (no mean subtracted), as in ROME's ``layer_stats`` (its
``mom2``). The corpus is the model's own: for the tiny models their training sentences
(token-id sequences), for a pretrained LM a list of texts (ROME: Wikipedia; here a small
generated corpus, :func:`kedit_utils.core.pretrained.default_covariance_texts`).

C is cached in the artifact cache (:func:`kedit_utils.core.cache.cached`) as safetensors, keyed
by the model fingerprint (a hash of the weights, or a name the caller passes), the layer,
a hash of the corpus, the number of sequences, the dtype and the code version of this
module's import closure (:func:`kedit_utils.core.cache.code_version`).
The forward pass stops right after the edited layer, so later layers cost nothing.
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from kedit_utils.core import architectures as A
from kedit_utils.core.cache import cached, code_version
from kedit_utils.core.fingerprints import weights_fingerprint
from kedit_utils.core.validation import ParameterError, check_choice, check_float, check_int
from kedit_utils.editing.rome.hparams import MOM2_DTYPES

CACHE_KIND = "rome_mom2"
SAMPLE_SEED = 0


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the keys are recorded."""


@dataclass
class KeyCovariance:
    """C = K Kᵀ / n at one layer. mom2: (d_in, d_in); count: number of keys (token positions)."""

    mom2: torch.Tensor
    count: int = 0
    layer: int = -1
    path: Path | None = None
    _factors: dict = field(default_factory=dict, repr=False)

    def solve(self, k: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
        """C⁻¹ k for k of shape (d_in,) or (d_in, m); ``ridge`` adds ridge · mean(diag C) · I.

        The LU factors are kept, so repeated edits at one layer solve in O(d²).
        """
        check_float("mom2_ridge", ridge, low=0.0)
        if ridge not in self._factors:
            c = self.mom2
            if ridge:
                c = c + ridge * c.diagonal().mean() * torch.eye(c.shape[0], dtype=c.dtype, device=c.device)
            lu, piv, info = torch.linalg.lu_factor_ex(c)
            if int(info) != 0:
                raise ParameterError(
                    "cov", f"singular {tuple(c.shape)} covariance",
                    "use more corpus samples or a positive hparams.mom2_ridge",
                )
            self._factors[ridge] = (lu, piv)
        lu, piv = self._factors[ridge]
        rhs = k.to(lu.dtype).to(lu.device)
        vec = rhs.ndim == 1
        x = torch.linalg.lu_solve(lu, piv, rhs[:, None] if vec else rhs)
        return x[:, 0] if vec else x


def corpus_sequences(corpus, tok=None, max_length: int = 128) -> list[list[int]]:
    """Token-id sequences of ``corpus``: a 2-D int array, a list of id lists, or a list of
    texts (tokenised with ``tok``, truncated to ``max_length``)."""
    if isinstance(corpus, np.ndarray):
        if corpus.ndim != 2 or not np.issubdtype(corpus.dtype, np.integer):
            raise ParameterError("corpus", corpus.shape, "an array corpus must be 2-D token ids")
        return corpus.tolist()
    if isinstance(corpus, (str, bytes)) or not isinstance(corpus, Sequence) or len(corpus) == 0:
        raise ParameterError("corpus", type(corpus).__name__, "must be a non-empty list of texts or token-id sequences")
    if all(isinstance(x, str) for x in corpus):
        if tok is None:
            raise ParameterError("tok", None, "a text corpus needs the tokenizer")
        enc = tok(list(corpus), truncation=True, max_length=max_length)["input_ids"]
        return [list(e) for e in enc if len(e) > 0]
    out = []
    for x in corpus:
        ids = np.asarray(x).ravel()
        if ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
            raise ParameterError("corpus", x, "every sequence must be a non-empty list of token ids")
        out.append(ids.tolist())
    return out


def corpus_hash(sequences: list[list[int]]) -> str:
    return hashlib.sha256(json.dumps(sequences).encode()).hexdigest()[:16]


def sample_sequences(sequences: list[list[int]], n_samples: int) -> list[list[int]]:
    """The first ``n_samples`` of a seeded permutation (all of them when fewer), in order."""
    if n_samples >= len(sequences):
        return sequences
    idx = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(sequences), n_samples, replace=False))
    return [sequences[i] for i in idx]


@torch.no_grad()
def second_moment(model, layer: int, sequences: list[list[int]], dtype: str = "float32",
                  batch_size: int = 64, progress: bool = False) -> tuple[torch.Tensor, int]:
    """Accumulate Σ k kᵀ over every non-padding position; returns (C = Σ k kᵀ / n, n)."""
    A.check_layer(model, layer)
    check_choice("mom2_dtype", dtype, MOM2_DTYPES)
    check_int("batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device
    tdtype = getattr(torch, dtype)
    d_in, _ = A.mlp_dims(model, layer)
    total = torch.zeros(d_in, d_in, dtype=tdtype, device=device)
    count = 0
    captured = {}

    def grab(_m, inputs, _out):
        captured["k"] = inputs[0]
        raise _Stop

    handle = A.mlp_out_module(model, layer).register_forward_hook(grab)
    was_training = model.training
    model.eval()
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))  # less padding
    try:
        for a in tqdm(range(0, len(order), batch_size), desc="key covariance", disable=not progress):
            batch = [sequences[i] for i in order[a : a + batch_size]]
            width = max(len(s) for s in batch)
            ids = torch.zeros(len(batch), width, dtype=torch.long)
            mask = torch.zeros(len(batch), width, dtype=torch.long)
            for j, s in enumerate(batch):
                ids[j, : len(s)] = torch.tensor(s)
                mask[j, : len(s)] = 1
            try:
                model(input_ids=ids.to(device), attention_mask=mask.to(device))
            except _Stop:
                pass
            k = captured.pop("k")[mask.to(device).bool()].to(tdtype)  # (n_keys, d_in)
            total += k.T @ k
            count += k.shape[0]
    finally:
        handle.remove()
        model.train(was_training)
    return total / max(count, 1), count


def key_covariance(model, layer: int, corpus, tok=None, *, n_samples: int = 100_000,
                   dtype: str = "float32", model_id: str | None = None, batch_size: int = 64,
                   max_length: int = 128, cache: bool = True, progress: bool = False) -> KeyCovariance:
    """C at ``layer`` from ``corpus`` (see :func:`corpus_sequences`), cached unless ``cache=False``.

    model_id: a name identifying the weights (e.g. a checkpoint path); ``None`` hashes them.
    """
    A.check_layer(model, layer)
    check_int("n_samples", n_samples, minimum=1)
    check_choice("mom2_dtype", dtype, MOM2_DTYPES)
    check_int("max_length", max_length, minimum=1)
    seqs = sample_sequences(corpus_sequences(corpus, tok, max_length), n_samples)
    if not cache:
        mom2, count = second_moment(model, layer, seqs, dtype, batch_size, progress)
        return KeyCovariance(mom2, count, layer)
    inputs = {
        "model": model_id or weights_fingerprint(model),
        "arch": A.arch_of(model).name,
        "layer": layer,
        "corpus": corpus_hash(seqs),
        "n_samples": len(seqs),
        "dtype": dtype,
    }

    def build(folder: Path) -> None:
        from safetensors.torch import save_file

        mom2, count = second_moment(model, layer, seqs, dtype, batch_size, progress)
        save_file({"mom2": mom2.cpu().contiguous(), "count": torch.tensor([count])}, folder / "mom2.safetensors")

    path = cached(CACHE_KIND, inputs, code_version(sys.modules[__name__]), build)
    from safetensors.torch import load_file

    data = load_file(path / "mom2.safetensors")
    device = next(model.parameters()).device
    return KeyCovariance(data["mom2"].to(device), int(data["count"][0]), layer, path)
