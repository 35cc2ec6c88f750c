"""Deprecated: ROME moved to kedit_utils.editors.rome. This package (covariance, editor, hparams) is kept
only for notebooks/04_causal_tracing.py and kedit_utils/widgets/rome_panel.py (the panel has switched
already) until they import from the new place; then it goes."""
from kedit_utils.editors.rome import *  # noqa: F401,F403
