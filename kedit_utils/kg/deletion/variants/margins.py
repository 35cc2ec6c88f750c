"""Chapter 5's setup variants, the margins their models leave (issue 12 §2, beyond Paper A): how
far each prompt's answer is from the next entity (log p(object) − log p(best other entity)) on
a variant's model, e.g. the models stopped at the target accuracy against those trained on.
"""
from __future__ import annotations

import numpy as np

from kedit_utils.kg.alias_accuracy import entity_margins
from kedit_utils.kg.deletion.variants.definitions import Variant, model_params
from kedit_utils.kg.trained_models import trained_model


def model_margins(params: dict, variant: Variant, kind: str, n_layers: int, trained_epochs: int) -> np.ndarray:
    """Shape (P,): the margin of every prompt of all knowledge on ``variant``'s model
    (:func:`kedit_utils.kg.alias_accuracy.entity_margins`; the model is loaded or trained)."""
    tm = trained_model(model_params(params, variant, trained_epochs), kind, n_layers, progress=False)
    c = tm.corpus
    return entity_margins(tm.model, c.prompts, c.prompt_object, c.vocab)
