"""Plot functions, one module per chapter theme; the style lives in :mod:`kedit_utils.book.style`."""
