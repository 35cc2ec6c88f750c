"""ipywidgets panels, one module per chapter, to try things inline in Jupyter.

In the static book the panels render in their initial state (their state is saved in the
executed notebook); interacting with them needs a live kernel (open the notebook in Jupyter).
"""
