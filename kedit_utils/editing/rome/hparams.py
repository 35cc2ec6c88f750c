"""ROME hyper-parameters (Paper A §3.3 step 2; Meng et al. 2022 §3 and Appendix E.5).

Field names follow the ROME reference (``ROMEHyperParams``). Defaults are the reference's
GPT-2 XL values where they carry over; two presets adapt them:

* :meth:`ROMEHyperParams.tiny_gpt2`: the from-scratch alias models. Paper A edits the
  *first* layer's FF (its causal trace peaks there). Prompts are two words with no
  natural-language context, so there are no context templates, and the KL "essence" prompt
  is the subject alone: the KL is read at the subject's last token in both ROME and here, so
  ``"{}"`` is the exact analogue of ROME's ``"{} is a"`` for a two-word language.
* :meth:`ROMEHyperParams.smollm2`: SmolLM2-135M (30 layers). Layer 4, where the causal
  trace puts the MLP effect at the subject; fixed context prefixes replace ROME's sampled
  ones; a ridge on C because C comes from a small generated corpus (see the preset).

``fact_token`` also offers ROME's ``"last"``: the tiny models' causal trace shows that they
read a fact at the *relation* token (layer-0 attention copies the subject there), so an edit
at the subject token rarely reaches ``<deleted>``, while an edit at the last token does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kedit_utils.core.tokens import FACT_TOKENS
from kedit_utils.core.validation import ParameterError, check_choice, check_float, check_int
from kedit_utils.editing.hparams import HyperParams

MOM2_DTYPES = ("float32", "float64")
# the five fixed context prefixes that stand in for ROME's sampled ones (gpt2_family; SmolLM2 before issue 10 §6)
CONTEXT_TEMPLATES_5 = ("{}", "Here is a fact. {}", "I read it in a book. {}", "Fun fact: {}", "Everyone knows this. {}")


@dataclass(frozen=True)
class ROMEHyperParams(HyperParams):
    """Everything one ROME edit depends on.

    layer: block whose MLP output projection W2 is edited.
    v_num_grad_steps, v_lr: Adam steps and learning rate of the v* optimisation.
    v_loss_layer: layer whose output is read (logit lens) for the NLL; ``None`` = last.
    v_weight_decay: weight of ‖δ‖ / ‖v_init‖² in the loss.
    clamp_norm_factor: ‖δ‖ is clamped to this × ‖v_init‖ after every step.
    kl_factor: weight of the KL term on the essence prompts.
    mom2_adjustment: use C⁻¹k* (ROME); ``False`` uses k* itself (no covariance).
    mom2_n_samples: sequences of the corpus used for the key covariance C.
    mom2_dtype: dtype in which C is accumulated and solved.
    mom2_ridge: λ added as λ·mean(diag C)·I before solving (0 = ROME; >0 for a singular C).
    context_templates: prefixes ``"... {}"`` the prompt is written into; k* is averaged and
        the NLL taken over them (ROME samples these from the model; ``("{}",)`` = none).
        The first must be ``"{}"``: v_init and W k are read on the bare prompt.
    kl_prompt_templates: essence prompts, ``{}`` = the subject; KL read at its last token.
    early_stop_loss: stop the v* optimisation once the loss falls below this (ROME: 5e-2).
    early_stop_prob: also stop once the target's mean probability over the rewriting prompts
        (exp of the mean token log-probability, per prompt) reaches this; ``None`` (the
        default) = the reference, which has no such rule. Not in ROME: a speed option.
    fact_token: where k* is read and δ added: ``"subject_last"`` (ROME's and the paper's
        choice) or ``"last"``, the prompt's last token (an option of the ROME reference).
    """

    layer: int = 0
    v_num_grad_steps: int = 20
    v_lr: float = 0.5
    v_loss_layer: int | None = None
    v_weight_decay: float = 0.5
    clamp_norm_factor: float = 4.0
    kl_factor: float = 0.0625
    mom2_adjustment: bool = True
    mom2_n_samples: int = 100_000
    mom2_dtype: str = "float32"
    mom2_ridge: float = 0.0
    context_templates: tuple[str, ...] = ("{}",)
    kl_prompt_templates: tuple[str, ...] = ("{} is a",)
    early_stop_loss: float = 5e-2
    fact_token: str = "subject_last"
    early_stop_prob: float | None = None

    METHOD: ClassVar[str] = "ROME"

    def __post_init__(self):
        check_int("layer", self.layer, minimum=0)
        check_int("v_num_grad_steps", self.v_num_grad_steps, minimum=1)
        check_float("v_lr", self.v_lr, low=0.0, low_open=True)
        if self.v_loss_layer is not None:
            check_int("v_loss_layer", self.v_loss_layer, minimum=0)
        check_float("v_weight_decay", self.v_weight_decay, low=0.0)
        check_float("clamp_norm_factor", self.clamp_norm_factor, low=0.0, low_open=True)
        check_float("kl_factor", self.kl_factor, low=0.0)
        check_int("mom2_n_samples", self.mom2_n_samples, minimum=1)
        check_choice("mom2_dtype", self.mom2_dtype, MOM2_DTYPES)
        check_float("mom2_ridge", self.mom2_ridge, low=0.0)
        check_float("early_stop_loss", self.early_stop_loss, low=0.0)
        check_choice("fact_token", self.fact_token, FACT_TOKENS)
        if self.early_stop_prob is not None:
            check_float("early_stop_prob", self.early_stop_prob, low=0.0, high=1.0, low_open=True)
        for name in ("context_templates", "kl_prompt_templates"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ParameterError(name, value, "must be a tuple of strings, not one string")
            object.__setattr__(self, name, tuple(value))
            for t in getattr(self, name):
                if not isinstance(t, str) or t.count("{}") != 1:
                    raise ParameterError(name, t, "every template must contain '{}' exactly once")
        if not self.context_templates or self.context_templates[0] != "{}":
            raise ParameterError(
                "context_templates", self.context_templates,
                "must start with '{}' (the bare prompt, where v_init and W k are read, as in ROME)",
            )

    @classmethod
    def from_dict(cls, data: dict) -> "ROMEHyperParams":
        """Also reads the ROME reference's and EasyEdit's files, whose ``layers`` is a
        one-element list (our ``layer``)."""
        data = dict(data)
        if "layers" in data:
            layers = data.pop("layers")
            if not isinstance(layers, (list, tuple)) or len(layers) != 1:
                raise ParameterError("layers", layers, "ROME edits one layer: give a one-element list")
            data["layer"] = layers[0]
        return super().from_dict(data)

    @classmethod
    def tiny_gpt2(cls, layer: int = 0, fact_token: str = "subject_last", **changes) -> "ROMEHyperParams":
        """Preset for the from-scratch alias GPT-2 models (Paper A: first-layer FF).

        C is solved in float64: the alias corpus has few distinct keys per position, so C is
        badly conditioned (condition numbers around 1e10 were measured).
        """
        base = dict(
            layer=layer, v_num_grad_steps=25, v_lr=0.5, v_weight_decay=0.5,
            clamp_norm_factor=4.0, kl_factor=0.0625, context_templates=("{}",),
            kl_prompt_templates=("{}",), mom2_dtype="float64", fact_token=fact_token,
        )
        return cls(**{**base, **changes})

    @classmethod
    def smollm2(cls, layer: int = 4, **changes) -> "ROMEHyperParams":
        """Preset for SmolLM2-135M(-Instruct): 30 layers, d = 576, MLP width 1536.

        Layer 4: the causal trace of "The Eiffel Tower is located in the city of" puts the
        MLP effect at the subject in layers 0-5. ``mom2_ridge = 0.1``: C comes from a few
        thousand generated sentences instead of ROME's 100,000 Wikipedia texts, and without
        a ridge its smallest eigenvalues blow C⁻¹k* up (measured on the Eiffel Tower edit:
        ‖ΔW‖/‖W‖ = 3.6 without, 0.13 with it, the same success and neighbouring facts kept).
        Two speed choices that change the method (issue 10 §6; bench/rome_speed.py):
        ``early_stop_prob = 0.9`` is *not* the reference's (ROME stops only on a loss below
        5e-2, which the KL and weight-decay terms keep SmolLM2 above, so all 20 steps ran):
        v* stops once the target's mean probability over the context prompts reaches 0.9;
        and two context prefixes (``"{}"``, ``"Fun fact: {}"``) instead of five. Measured on
        ten counterfactual edits (Eiffel Tower → Rome, Colosseum → Paris, Picasso's mother
        tongue → German, ...): 10/10 successes with and without them, target probability
        after the edit 0.88-0.96 (0.63-1.00 with the reference's 20 steps and five
        prefixes), 3-16 v* steps instead of 14-20; about 10× faster.
        ``early_stop_prob=None`` and ``context_templates=CONTEXT_TEMPLATES_5`` give the
        reference-like behaviour.
        """
        base = dict(
            layer=layer, v_num_grad_steps=20, v_lr=0.5, v_weight_decay=0.5, early_stop_prob=0.9,
            clamp_norm_factor=4.0, kl_factor=0.0625, mom2_n_samples=1000, mom2_ridge=0.1,
            context_templates=("{}", "Fun fact: {}"),
            kl_prompt_templates=("{} is a",),
        )
        return cls(**{**base, **changes})

    @classmethod
    def gpt2_family(cls, n_layers: int = 48, **changes) -> "ROMEHyperParams":
        """Preset for a GPT-2 checkpoint from a local folder: the ROME reference's published
        values (``hparams/ROME/gpt2-{medium,large,xl}.json``: layer 8 of 24, 12 of 36,
        17 of 48; 20 Adam steps at lr 0.5, weight decay 0.5, clamp 4, KL 0.0625, the NLL at
        the last layer, C from 100,000 Wikipedia samples). Other depths (GPT-2 small, 12
        layers) take the layer at GPT-2 XL's relative depth. ROME samples context prefixes
        from the model; five fixed ones stand in for them here.
        """
        from kedit_utils.editing.hparams import scaled_layer

        check_int("n_layers", n_layers, minimum=1)
        layer = {24: 8, 36: 12, 48: 17}.get(n_layers, scaled_layer(17, 48, n_layers))
        base = dict(
            layer=layer, v_num_grad_steps=20, v_lr=0.5, v_weight_decay=0.5, clamp_norm_factor=4.0,
            kl_factor=0.0625, mom2_n_samples=100_000,
            context_templates=("{}", "Here is a fact. {}", "I read it in a book. {}",
                               "Fun fact: {}", "Everyone knows this. {}"),
            kl_prompt_templates=("{} is a",),
        )
        return cls(**{**base, **changes})
