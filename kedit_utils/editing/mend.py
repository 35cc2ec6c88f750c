"""MEND, model editor networks with gradient decomposition (Mitchell et al. 2022, "Fast Model
Editing at Scale"; Paper C's mastery phase, the hypernetwork family; EasyEdit's ``MEND``).

The fine-tuning gradient of a linear layer W on one example is a sum of rank-one terms, one
per token: ∇W = Σ_t x_t δ_tᵀ (x_t the layer's input, δ_t the loss's gradient at its output;
in the (d_in, d_out) orientation of :func:`kedit_utils.core.architectures.weight_in_out`). MEND
learns, per edited layer, a small network g that maps each (x_t, δ_t) to (x̃_t, δ̃_t); the
edit is W ← W − α_ℓ Σ_t x̃_t δ̃_tᵀ, with a learned step α_ℓ per layer. g is the reference's
``GradientTransform``: x and δ standardised with running statistics gathered during
training (Welford), concatenated, and passed through two rank-r residual layers
``z ← clamp(U V z + b, min=0) + z`` with U initialised to zero (so an untrained MEND is one
step along the normalised gradient: the reference's ``init: id``).

Training (:func:`train_mend`, the reference's ``edit_step``): for each training edit, the
factors of its edit-prompt loss (the answer tokens' NLL) on the unedited model, g, the
pseudo-update; then, with the update applied (as a correction of the edited layers'
outputs, so gradients reach g and α), L = c_edit · NLL(target | edit prompt and its
paraphrases) + c_loc · KL(unedited ‖ edited) on its locality prompts' answer positions;
Adam on g (``lr``) and on α (``lr_lr``). The reference's values: c_edit 0.1, c_loc 1.0,
α₀ = 1e-4, lr 1e-6, lr_lr 1e-4, rank 1920, the MLP's two matrices of the last three layers,
thousands of zsRE training edits on a GPU. Here: the output projection W2 of the last three
layers only, rank 64 and the training set and rates of each preset (stated there), so that
it trains in a minute on CPU. A trained network is cached under every input
(:func:`trained_network`).

Applying: ``apply(model, tok, requests, hp, network=...)``; the batch's pseudo-updates are
summed (as the reference's batched edits); the handle restores W bit for bit.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from kedit_utils.core import architectures as A
from kedit_utils.core.validation import ParameterError, check_float, check_int
from kedit_utils.editing.base import EditContext, EditHandle, Editor, trained_component_inputs, weights_guard
from kedit_utils.editing.ft import QA, answer_batch, answer_loss
from kedit_utils.editing.ft import position_logits as answer_logits
from kedit_utils.editing.hparams import HyperParams, check_layers
from kedit_utils.editing.requests import EditRequest, as_requests
from kedit_utils.editing.rome.compute_v import frozen


@dataclass(frozen=True)
class MENDHyperParams(HyperParams):
    """layers: blocks whose W2 (MLP output projection) is edited; rank: of g's two residual
    layers; edit_lr: α₀, the initial step of every layer; lr / lr_lr: Adam's rates for g and
    for α; c_edit / c_loc: the training loss's weights; train_steps: training edits seen
    (the training set cycled, shuffled each pass); seed: g's initialisation and the order."""

    layers: tuple[int, ...] = (0,)
    rank: int = 64
    edit_lr: float = 1e-4
    lr: float = 1e-4
    lr_lr: float = 1e-4
    c_edit: float = 0.1
    c_loc: float = 1.0
    train_steps: int = 200
    seed: int = 0

    METHOD: ClassVar[str] = "MEND"

    def __post_init__(self):
        object.__setattr__(self, "layers", check_layers("layers", self.layers))
        check_int("rank", self.rank, minimum=1)
        for name in ("edit_lr", "lr", "lr_lr"):
            check_float(name, getattr(self, name), low=0.0, low_open=True)
        for name in ("c_edit", "c_loc"):
            check_float(name, getattr(self, name), low=0.0)
        check_int("train_steps", self.train_steps, minimum=1)
        check_int("seed", self.seed, minimum=0)

    @classmethod
    def tiny_gpt2(cls, layers=(0, 1), **changes):
        """The alias GPT-2 (2 to 24 layers): the last two layers of a 2-layer model by default
        (pass the model's last layers), rank 32, 600 training edits at lr 1e-3 (a tiny model
        trains in seconds; the reference's 1e-6 is for GPT-2 XL over days), α₀ = 1e-2."""
        base = dict(layers=tuple(layers), rank=32, edit_lr=1e-2, lr=1e-3, lr_lr=1e-3, train_steps=600)
        return cls(**{**base, **changes})

    @classmethod
    def smollm2(cls, layers=(27, 28, 29), **changes):
        """SmolLM2-135M (30 layers): the last three layers (the reference's choice for GPT
        models), W2 only, rank 64, 120 training edits at lr 1e-4 and lr_lr 1e-4 (α₀ = 1e-4,
        c_edit 0.1, c_loc 1.0: the reference's)."""
        base = dict(layers=tuple(layers), rank=64, edit_lr=1e-4, lr=1e-4, lr_lr=1e-4, train_steps=120)
        return cls(**{**base, **changes})

    @classmethod
    def gpt2_family(cls, n_layers: int = 48, **changes):
        """GPT-2 from a local folder: the reference's last three layers and values (rank 1920,
        lr 1e-6), 2,000 training edits (a GPU run)."""
        check_int("n_layers", n_layers, minimum=3)
        base = dict(layers=tuple(range(n_layers - 3, n_layers)), rank=1920, edit_lr=1e-4, lr=1e-6, lr_lr=1e-4,
                    train_steps=2000)
        return cls(**{**base, **changes})


# --------------------------------------------------------------------------- g
class ResidualLowRank(nn.Module):
    """z ← clamp(U V z + b, min=0) + z; U = 0 at init (identity)."""

    def __init__(self, dim: int, rank: int, generator: torch.Generator):
        super().__init__()
        r = min(rank, dim)
        self.u = nn.Parameter(torch.zeros(dim, r))
        self.v = nn.Parameter(torch.randn(r, dim, generator=generator) / dim ** 0.5)
        self.b = nn.Parameter(torch.zeros(dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.v.T @ self.u.T + self.b).clamp(min=0) + z


class GradientTransform(nn.Module):
    """g for one edited matrix: (x (T, d_in), δ (T, d_out)) → (x̃, δ̃), standardised with
    running statistics (updated while ``training``)."""

    def __init__(self, d_in: int, d_out: int, rank: int, generator: torch.Generator):
        super().__init__()
        self.d_in = d_in
        dim = d_in + d_out
        self.layers = nn.ModuleList([ResidualLowRank(dim, rank, generator) for _ in range(2)])
        self.register_buffer("count", torch.zeros(()))
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("m2", torch.zeros(dim))

    def _update_stats(self, z: torch.Tensor) -> None:
        for row in z:  # Welford, one factor at a time (the reference's update_counter)
            self.count += 1
            d = row - self.mean
            self.mean += d / self.count
            self.m2 += d * (row - self.mean)

    def forward(self, x: torch.Tensor, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.cat([x, delta], -1).float()
        if self.training:
            self._update_stats(z.detach())
        if self.count < 2:
            raise ParameterError("network", int(self.count), "has seen fewer than 2 factors: train it first")
        std = (self.m2 / (self.count - 1)).sqrt() + 1e-7
        z = (z - self.mean) / std
        for layer in self.layers:
            z = layer(z)
        return z[:, :self.d_in], z[:, self.d_in:]


class MENDNetwork(nn.Module):
    """One :class:`GradientTransform` and one learned step α per edited layer."""

    def __init__(self, model, hparams: MENDHyperParams):
        super().__init__()
        gen = torch.Generator().manual_seed(hparams.seed)
        self.layer_ids = list(hparams.layers)
        self.nets = nn.ModuleDict({str(l): GradientTransform(*A.mlp_dims(model, l), hparams.rank, gen)
                                   for l in self.layer_ids})
        self.alpha = nn.Parameter(torch.full((len(self.layer_ids),), float(hparams.edit_lr)))

    def updates(self, factors: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> dict[int, torch.Tensor]:
        """layer → ΔW (d_in, d_out) to add: −α_ℓ Σ_t x̃_t δ̃_tᵀ."""
        out = {}
        for i, layer in enumerate(self.layer_ids):
            x, delta = factors[layer]
            xt, dt = self.nets[str(layer)](x, delta)
            out[layer] = -self.alpha[i] * (xt.T @ dt)
        return out


# --------------------------------------------------------------------------- factors
def edit_factors(model, tok, requests: Sequence[EditRequest], layers: Sequence[int]) -> dict[int, tuple]:
    """layer → (x (T, d_in), δ (T, d_out)): the edited layers' inputs and output gradients of
    the requests' answer loss (FT's, :func:`~.ft.answer_loss`), at every non-padding token."""
    device = next(model.parameters()).device
    ids, mask, targets, last = answer_batch(tok, requests, "target_new")
    ids, mask, targets = ids.to(device), mask.to(device), targets.to(device)
    store: dict = {}
    keep = mask.bool()

    def hook(layer):
        def fn(_m, inputs, out):
            store[(layer, "x")] = inputs[0].detach()[keep].float()
            if not out.requires_grad:
                out.requires_grad_(True)
            out.register_hook(lambda g: store.__setitem__((layer, "d"), g.detach()[keep].float()))
        return fn

    handles = [A.mlp_out_module(model, l).register_forward_hook(hook(l)) for l in layers]
    try:
        with frozen(model), torch.enable_grad():
            answer_loss(model, ids, mask, targets, last).backward()
    finally:
        for h in handles:
            h.remove()
    return {l: (store[(l, "x")], store[(l, "d")]) for l in layers}


@contextmanager
def corrected_outputs(model, updates: dict[int, torch.Tensor]):
    """Inside the block each edited layer computes x (W + ΔW) as x W + x ΔW (gradients reach
    ΔW): training's way of applying an edit without writing the weights."""
    def hook(delta):
        return lambda _m, inputs, out: out + inputs[0] @ delta.to(out.dtype)

    handles = [A.mlp_out_module(model, l).register_forward_hook(hook(d)) for l, d in updates.items()]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


# --------------------------------------------------------------------------- training
def _answer_nll(model, tok, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
    """FT's answer loss of (prompt, answer) pairs."""
    device = next(model.parameters()).device
    ids, mask, targets, last = answer_batch(tok, [QA(p, a) for p, a in pairs], "target_new")
    return answer_loss(model, ids.to(device), mask.to(device), targets.to(device), last)


def _answer_logits(model, tok, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
    """(N, V) logits at every answer position of the pairs (FT's, read there only)."""
    device = next(model.parameters()).device
    ids, mask, targets, _ = answer_batch(tok, [QA(p, a) for p, a in pairs], "target_new")
    rows, pos = (targets != -100).nonzero(as_tuple=True)
    return answer_logits(model, ids.to(device), mask.to(device), rows.to(device), pos.to(device))


def train_mend(model, tok, requests: Sequence[EditRequest], hparams: MENDHyperParams, *,
               progress: bool = True) -> tuple[MENDNetwork, list[dict]]:
    """Train a :class:`MENDNetwork` on ``requests`` (module docstring); the model is not
    changed. Returns (network, log: one {step, edit, loc, total} per step)."""
    from tqdm.auto import tqdm

    reqs = list(as_requests(requests))
    if len(reqs) < 2:
        raise ParameterError("train_edits", len(reqs), "MEND needs a training set of at least 2 edits")
    net = MENDNetwork(model, hparams).train()
    opt = torch.optim.Adam([{"params": net.nets.parameters(), "lr": hparams.lr},
                            {"params": [net.alpha], "lr": hparams.lr_lr}])
    gen = torch.Generator().manual_seed(hparams.seed)
    order: list[int] = []
    log = []
    for step in tqdm(range(hparams.train_steps), desc="MEND training", disable=not progress, unit="edit"):
        if not order:
            order = torch.randperm(len(reqs), generator=gen).tolist()
        r = reqs[order.pop()]
        factors = edit_factors(model, tok, [r], net.layer_ids)
        with frozen(model), torch.enable_grad():
            updates = net.updates(factors)
            with corrected_outputs(model, updates):  # the edited model
                l_edit = _answer_nll(model, tok, [(p, r.target_new) for p in (r.prompt, *r.rephrase_prompts)])
                post = _answer_logits(model, tok, r.locality).float().log_softmax(-1) if r.locality else None
            l_loc = torch.zeros(())
            if post is not None:  # KL(unedited ‖ edited) at the locality answers' positions
                with torch.no_grad():
                    pre = _answer_logits(model, tok, r.locality).float().log_softmax(-1)
                l_loc = (pre.exp() * (pre - post)).sum(-1).mean()
            loss = hparams.c_edit * l_edit + hparams.c_loc * l_loc
            opt.zero_grad()
            loss.backward()
            opt.step()
        log.append({"step": step, "edit": float(l_edit.detach()), "loc": float(l_loc.detach()), "total": float(loss.detach())})
    return net.eval(), log


def trained_network(model, tok, train_edits, hparams: MENDHyperParams, *, model_id: str,
                    progress: bool = True) -> MENDNetwork:
    """:func:`train_mend`, cached (safetensors) under every input
    (:func:`~.base.trained_component_inputs`) and the code of this module's import closure."""
    import sys

    from safetensors.torch import load_file, save_file

    from kedit_utils.core.cache import cached, code_version

    reqs = list(as_requests(train_edits))

    def build(tmp) -> None:
        trained, log = train_mend(model, tok, reqs, hparams, progress=progress)
        save_file({k: v.detach().contiguous() for k, v in trained.state_dict().items()},
                  str(tmp / "network.safetensors"))
        (tmp / "log.json").write_text(json.dumps(log))

    folder = cached("mend", trained_component_inputs(model, tok, reqs, hparams, model_id),
                    code_version(sys.modules[__name__]), build)
    net = MENDNetwork(model, hparams)
    net.load_state_dict(load_file(str(folder / "network.safetensors")))
    net.training_log = json.loads((folder / "log.json").read_text())
    return net.eval()


# --------------------------------------------------------------------------- the editor
@dataclass(frozen=True, eq=False)
class MENDContext(EditContext):
    """network: the trained :class:`MENDNetwork` for this model and these hyper-parameters'
    layers (e.g. from :func:`trained_network`); required."""

    network: MENDNetwork | None = None


class MEND(Editor):
    """MEND (module docstring). Context: :class:`MENDContext` (``network``)."""

    name = "mend"
    hparams_class = MENDHyperParams
    context_class = MENDContext
    changes_weights = True
    trained_argument = "network"

    def parameter_names(self, model, hparams) -> list[str]:
        return [A.edited_weight_name(model, A.check_layer(model, l, "layers")) for l in hparams.layers]

    def check(self, model, tok, requests, hparams) -> None:
        super().check(model, tok, requests, hparams)
        self.parameter_names(model, hparams)

    def _apply(self, model, tok, requests, hparams, context: MENDContext) -> EditHandle:
        network = context.network
        if not isinstance(network, MENDNetwork):
            raise ParameterError("network", type(network).__name__,
                                 "MEND needs its trained network: kedit_utils.editing.mend.trained_network(model, tok, "
                                 "train_edits, hparams, model_id=...)")
        if network.layer_ids != list(hparams.layers):
            raise ParameterError("network", network.layer_ids, f"was trained for other layers than {list(hparams.layers)}")
        names = self.parameter_names(model, hparams)
        network.eval()  # editing never moves the normalisation statistics
        with weights_guard(model, names) as backup:
            t0 = time.perf_counter()
            factors = edit_factors(model, tok, list(requests), network.layer_ids)  # the batch's tokens together
            with torch.no_grad():
                for layer, delta in network.updates(factors).items():
                    A.add_in_out(model, layer, delta)
            seconds = time.perf_counter() - t0
        return EditHandle(method=self.name, requests=requests, hparams=hparams, seconds=seconds, backup=backup,
                          info={"alpha": network.alpha.detach().tolist()})


__all__ = ["GradientTransform", "MEND", "MENDHyperParams", "MENDNetwork", "corrected_outputs", "edit_factors",
           "train_mend", "trained_network"]
