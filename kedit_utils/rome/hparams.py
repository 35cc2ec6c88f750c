"""Deprecated: moved to kedit_utils.editors.rome.hparams. Kept only for notebooks/04_causal_tracing.py and
kedit_utils/widgets/rome_panel.py (the panel has switched already) until they import from the new place."""
from kedit_utils.editors.rome.hparams import *  # noqa: F401,F403
