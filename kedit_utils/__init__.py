"""kedit_utils: the logic behind the kedit companion book.

Notebooks narrate and call; everything they compute lives here, one themed module per
concern (see the module docstrings for the paper section each one reproduces).
"""
__version__ = "0.1.0"
