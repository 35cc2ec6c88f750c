"""GPT-2 models trained from scratch on the alias vocabulary (Paper A §3.2).

The paper trains "models with the same architecture as GPT-2, initialised" with 6, 12 and 24
layers on its 3-word alias corpus; width, heads and context length are not given. Here a
:class:`ModelSpec` fixes them, and :func:`gpt2_from_scratch` builds a Hugging Face
``GPT2LMHeadModel`` with random weights whose vocabulary is the alias vocabulary (one token
per alias, see :mod:`kedit_utils.kg.vocabulary`).

Choices the paper leaves open:

* ``n_positions`` is small (default 4): a sentence has 3 words, a prompt 2.
* Dropout defaults to 0: the task is memorising facts and the held-out early stop of
  :mod:`kedit_utils.kg.training` guards against over-fitting instead.
* Input and output embeddings are tied (GPT-2's default); the PCA of Fig. 3 reads the input
  embedding matrix ``transformer.wte``.
* The corpus has no special tokens, so ``pad``, ``bos`` and ``eos`` all point to ``<pad>``
  (id 0), which never occurs in a sentence; ``generate`` then needs no extra arguments.
* GPT-2's activation, the tanh approximation of GELU, computed by PyTorch's fused kernel
  (``gelu_pytorch_tanh``, the same function as GPT-2's ``gelu_new`` up to float rounding):
  the Python ``gelu_new`` took a sixth of an evaluation's time at width 128.
* GPT-2's own initialisation: N(0, 0.02) weights, residual projections scaled by
  1/sqrt(2 n_layers), which keeps the 24-layer model trainable from scratch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from kedit_utils.core.validation import ParameterError, check_float, check_int
from kedit_utils.kg.vocabulary import PAD, Vocabulary


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of a from-scratch GPT-2.

    n_layers: transformer blocks (paper: 6, 12, 24).
    n_embd: hidden width d; must be a multiple of ``n_head``.
    n_head: attention heads.
    n_positions: context length (a sentence has 3 tokens).
    n_inner: MLP width; ``None`` means GPT-2's 4 d.
    dropout: residual, embedding and attention dropout.
    initializer_range: std of GPT-2's normal initialisation.
    """

    n_layers: int = 6
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 4
    n_inner: int | None = None
    dropout: float = 0.0
    initializer_range: float = 0.02

    def __post_init__(self):
        check_int("n_layers", self.n_layers, minimum=1)
        check_int("n_embd", self.n_embd, minimum=1)
        check_int("n_head", self.n_head, minimum=1)
        check_int("n_positions", self.n_positions, minimum=3)
        if self.n_embd % self.n_head:
            raise ParameterError("n_head", self.n_head, f"must divide n_embd = {self.n_embd}")
        if self.n_inner is not None:
            check_int("n_inner", self.n_inner, minimum=1)
        check_float("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        check_float("initializer_range", self.initializer_range, low=0.0, low_open=True)

    def to_dict(self) -> dict:
        return asdict(self)


def gpt2_config(vocab: Vocabulary, spec: ModelSpec):
    """The ``GPT2Config`` of ``spec`` over ``vocab`` (see the module docstring for the choices)."""
    from transformers import GPT2Config

    pad_id = vocab.tokens.index(PAD)
    return GPT2Config(
        vocab_size=vocab.size,
        n_positions=spec.n_positions,
        n_embd=spec.n_embd,
        n_layer=spec.n_layers,
        n_head=spec.n_head,
        n_inner=spec.n_inner,
        resid_pdrop=spec.dropout,
        embd_pdrop=spec.dropout,
        attn_pdrop=spec.dropout,
        initializer_range=spec.initializer_range,
        activation_function="gelu_pytorch_tanh",
        bos_token_id=pad_id,
        eos_token_id=pad_id,
        pad_token_id=pad_id,
        tie_word_embeddings=True,
        use_cache=False,
    )


def gpt2_from_scratch(vocab: Vocabulary, spec: ModelSpec, seed: int = 0):
    """A randomly initialised ``GPT2LMHeadModel`` over ``vocab``, on the CPU, in float32.

    The initial weights depend only on ``(vocab sizes, spec, seed)``: the global torch RNG is
    seeded from ``seed`` inside a forked RNG state, so the caller's RNG is left untouched.
    """
    from transformers import GPT2LMHeadModel

    check_int("seed", seed, minimum=0)
    config = gpt2_config(vocab, spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    return model.float()


def count_parameters(model) -> int:
    """Distinct trainable parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
