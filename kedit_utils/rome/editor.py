"""Deprecated: moved to kedit_utils.editors.rome.editor. Kept only for notebooks/04_causal_tracing.py and
kedit_utils/widgets/rome_panel.py until they import from the new place; then this shim goes."""
from kedit_utils.editors.rome.editor import *  # noqa: F401,F403
