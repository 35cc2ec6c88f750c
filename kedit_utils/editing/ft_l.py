"""FT-L: fine-tuning constrained to an L∞ ball (Meng et al. 2022, ROME §4.2 baselines, after
Zhu et al. 2020; Paper C's finding "FT-L: lower reliability, better locality").

One layer's MLP (by default its output projection W2, as the ROME reference's
``hparams/FT/*_constr.json``; ``module="mlp"`` trains the whole MLP) is trained with Adam on
ROME's objective (the target's tokens read at the prompt's last position; EasyEdit's
``objective_optimization="prompt_last"``), and after every step each weight is clamped to
its original value ± ``norm_constraint``. The loop is :func:`.ft.fine_tune`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from kedit_utils.core.validation import ParameterError, check_choice, check_float, check_int
from kedit_utils.editing.base import EditContext, EditHandle, weights_guard
from kedit_utils.editing.ft import FT, OBJECTIVES, fine_tune, trained_parameter_names
from kedit_utils.editing.hparams import HyperParams


@dataclass(frozen=True)
class FTLHyperParams(HyperParams):
    """layer: the block whose MLP is trained; module: ``"mlp_out"`` (W2) or ``"mlp"``;
    norm_constraint: ε > 0, the L∞ radius; num_steps, lr (Adam, no weight decay, as ROME's);
    objective_optimization: as :class:`~.ft.FTHyperParams`; early_stop_loss: ROME's 1e-2."""

    layer: int = 0
    module: str = "mlp_out"
    norm_constraint: float = 5e-4
    num_steps: int = 25
    lr: float = 5e-4
    objective_optimization: str = "prompt_last"
    early_stop_loss: float = 1e-2

    METHOD: ClassVar[str] = "FT-L"

    def __post_init__(self):
        check_int("layer", self.layer, minimum=0)
        check_choice("module", self.module, ("mlp_out", "mlp"))
        check_float("norm_constraint", self.norm_constraint, low=0.0, low_open=True)
        check_int("num_steps", self.num_steps, minimum=1)
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_choice("objective_optimization", self.objective_optimization, OBJECTIVES)
        check_float("early_stop_loss", self.early_stop_loss, low=0.0)

    @classmethod
    def from_dict(cls, data: dict):
        """Also reads ROME's / EasyEdit's FT files (``layers`` = [one layer]; EasyEdit names
        FT-L ``alg_name: FT`` with a norm constraint)."""
        data = dict(data)
        if str(data.get("alg_name", "")).upper() == "FT":
            data.pop("alg_name")
        if "layers" in data:
            layers = data.pop("layers")
            if not isinstance(layers, (list, tuple)) or len(layers) != 1:
                raise ParameterError("layers", layers, "FT-L trains one layer: give a one-element list")
            data["layer"] = layers[0]
        for k in ("weight_decay", "kl_factor"):
            if data.get(k, 0) not in (0, 0.0):
                raise ParameterError(k, data[k], "FT-L (ROME's) uses none: must be 0")
            data.pop(k, None)
        return super().from_dict(data)

    @classmethod
    def tiny_gpt2(cls, layer: int = 0, **changes):
        """The alias GPT-2: Paper A's layer (the first), W2; ε = 0.05, lr 5e-3, 25 steps
        (the tiny models' weights are ~100× GPT-2 XL's scale of change; measured so that an
        edit can reach the target while the ball stays small)."""
        base = dict(layer=layer, module="mlp_out", norm_constraint=0.05, num_steps=25, lr=5e-3)
        return cls(**{**base, **changes})

    @classmethod
    def smollm2(cls, layer: int = 20, **changes):
        """SmolLM2-135M: EasyEdit's Llama FT-L (``hparams/FT/llama3-8b.yaml``: layer 21 of
        32, 25 steps, lr 5e-4, prompt_last), the layer at that relative depth (20 of 30);
        EasyEdit leaves the L∞ bound off for Llama, FT-L needs one: ROME's GPT-2 XL ε = 5e-4."""
        base = dict(layer=layer, module="mlp_out", norm_constraint=5e-4, num_steps=25, lr=5e-4)
        return cls(**{**base, **changes})

    @classmethod
    def gpt2_family(cls, n_layers: int = 48, **changes):
        """GPT-2 from a local folder: the ROME reference's ``hparams/FT/gpt2-*_constr.json``
        (layer 0, c_proj, 25 steps, lr 5e-4, ε = 2e-3 / 1e-3 / 5e-4 for medium / large / XL;
        GPT-2 small, unpublished, takes medium's)."""
        check_int("n_layers", n_layers, minimum=1)
        eps = {24: 2e-3, 36: 1e-3, 48: 5e-4}.get(n_layers, 2e-3)
        base = dict(layer=0, module="mlp_out", norm_constraint=eps, num_steps=25, lr=5e-4)
        return cls(**{**base, **changes})


class FTL(FT):
    """FT-L (module docstring)."""

    name = "ft_l"
    hparams_class = FTLHyperParams

    def parameter_names(self, model, hparams) -> list[str]:
        return trained_parameter_names(model, (hparams.layer,), (hparams.module,))

    def check(self, model, tok, requests, hparams) -> None:
        from kedit_utils.core import architectures as A

        A.check_layer(model, hparams.layer, "layer")
        super().check(model, tok, requests, hparams)

    def _apply(self, model, tok, requests, hparams, context: EditContext) -> EditHandle:
        names = self.parameter_names(model, hparams)
        with weights_guard(model, names) as backup:
            t0 = time.perf_counter()
            losses = fine_tune(model, tok, requests, names, num_steps=hparams.num_steps, lr=hparams.lr,
                               weight_decay=0.0, objective=hparams.objective_optimization,
                               norm_constraint=hparams.norm_constraint, early_stop_loss=hparams.early_stop_loss,
                               backup=backup)
            seconds = time.perf_counter() - t0
        return EditHandle(method=self.name, requests=requests, hparams=hparams, seconds=seconds,
                          backup=backup, info={"losses": losses, "parameters": names})
