"""ipywidgets panels, one module per chapter, to try things inline in Jupyter.

In the static book the panels render in their initial state (their state is saved in the
executed notebook); interacting with them needs a live kernel (open the notebook in Jupyter:
``make lab``).

**The rule for every panel** (chapters 1, 4 and 5 now; any panel a later chapter adds):
build its controls and buttons through :class:`kedit_utils.book.widgets.actions.Actions`, i.e.

* every control starts with a valid value (``Actions.panel`` refuses a panel whose drop-down
  or slider starts empty; with ipywidgets 8 set ``value`` explicitly whenever you change a
  drop-down's ``options``, since that resets the value to None);
* every button (``Actions.button``) and live control (``Actions.on_change``) runs its action
  with the panel's controls disabled and a busy message, so a long action shows that it is
  running and cannot be started twice;
* every exception the action raises is shown in the panel's status area in plain words
  (``ParameterError: parameter 'relation' = ... is not allowed: ...``), never only in
  JupyterLab's log console, and the panel stays usable afterwards.

tests/unit/test_widgets.py checks each panel for these three properties; add a new panel there.
"""
