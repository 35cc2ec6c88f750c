"""How a panel runs what its buttons do: the rule every panel of the book follows.

An ipywidgets callback that raises an exception shows nothing in the notebook: the traceback
goes to JupyterLab's log console, and the user sees a button that "does nothing". A callback
that takes seconds shows nothing either, and a second click queues a second run. So every
panel builds its buttons and live controls through :class:`Actions`:

* **busy**: while an action runs, every control of the panel is disabled (it cannot be
  clicked twice), the clicked button spins and the panel says what it is doing;
* **errors in the panel**: any exception the action raises is shown in the panel itself, in
  plain words (``ParameterError: parameter 'relation' = None is not allowed: ...``), with
  the traceback folded underneath; nothing goes only to the log console;
* **still usable**: afterwards every control is enabled again (a button with an ``enabled``
  rule, e.g. "Restore" only after an edit, follows its rule), so the user can fix the
  choice and try again;
* **valid from the start**: :meth:`Actions.panel` refuses to build a panel in which a
  control (a drop-down, a slider, ...) starts without a valid value.

Typical use::

    actions = Actions()
    pick = actions.control(w.Dropdown(options=..., value=..., description="entity"))
    go = actions.button("Delete its fact", on_delete, busy="Deleting and measuring ...")
    return actions.panel([w.HBox([pick, go]), result_area])

:meth:`Actions.run` runs a callable under the same rule (tests and notebooks may call it).
"""
from __future__ import annotations

import html
import traceback
from collections.abc import Callable, Sequence

import ipywidgets as w

SPINNER = "spinner spin"  # Font Awesome classes fa-spinner fa-spin (ipywidgets 8 button icons)
ERROR_CLASS = "kedit-error"
BUSY_CLASS = "kedit-busy"


def busy_html(message: str) -> str:
    """The panel's status line while an action runs."""
    return f'<div class="{BUSY_CLASS}" style="color:#555">&#8987; {html.escape(message)}</div>'


def error_html(exc: BaseException, failed: str = "That did not work") -> str:
    """The panel's status line after an action raised ``exc``: what failed, the exception's
    type and message in plain words, and the traceback folded underneath."""
    message = f"{type(exc).__name__}: {exc}"
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return (
        f'<div class="{ERROR_CLASS}" style="color:#b00020; border-left:3px solid #b00020; '
        'padding-left:0.6em; margin:0.3em 0">'
        f"<b>{html.escape(failed)}.</b> {html.escape(message)}<br>"
        '<span style="color:#555">The panel is ready for another try.</span>'
        f'<details><summary style="color:#555">traceback</summary>'
        f'<pre style="font-size:85%">{html.escape(trace)}</pre></details></div>'
    )


def _options_values(control) -> list:
    values = []
    for opt in control.options:
        values.append(opt[1] if isinstance(opt, tuple) and len(opt) == 2 else opt)
    return values


def invalid_controls(widget: w.Widget) -> list[str]:
    """Descriptions of the value controls inside ``widget`` that hold no valid value: a
    selection (drop-down, radio buttons, ...) whose value is None or not among its options,
    a numeric control whose value is None or outside [min, max]. Empty when all are valid."""
    bad = []
    stack = [widget]
    while stack:
        wid = stack.pop()
        stack.extend(getattr(wid, "children", ()) or ())
        name = getattr(wid, "description", "") or type(wid).__name__
        if isinstance(wid, w.widgets.widget_selection._MultipleSelection):
            values = _options_values(wid)
            if any(v not in values for v in wid.value):
                bad.append(name)
        elif isinstance(wid, w.widgets.widget_selection._Selection):
            if wid.index is None or wid.value is None or wid.value not in _options_values(wid):
                bad.append(name)
        elif hasattr(wid, "min") and hasattr(wid, "max") and hasattr(wid, "value"):
            vals = wid.value if isinstance(wid.value, tuple) else (wid.value,)
            if any(v is None or not (wid.min <= v <= wid.max) for v in vals):
                bad.append(name)
    return bad


class Actions:
    """A panel's controls and the actions its buttons (or value changes) run; see the module
    docstring for the rule. ``status`` is the panel's status area (busy message or error):
    put it in the panel, :meth:`panel` does."""

    def __init__(self):
        self.status = w.HTML(value="")
        self.running = False
        self.last_error: BaseException | None = None
        self._controls: list[w.Widget] = []
        self._rules: dict[int, Callable[[], bool]] = {}

    def control(self, widget: w.Widget) -> w.Widget:
        """Register ``widget`` (a drop-down, a slider, ...): disabled while an action runs."""
        if all(c is not widget for c in self._controls):
            self._controls.append(widget)
        return widget

    def button(self, description: str, action: Callable[[], object], *, busy: str | None = None,
               failed: str = "That did not work", enabled: Callable[[], bool] | None = None,
               **kwargs) -> w.Button:
        """A button that runs ``action()`` under the rule. ``busy``: what the panel says while
        it runs; ``failed``: the first words of an error; ``enabled``: when the button may be
        clicked (checked after every action; default: always)."""
        b = self.control(w.Button(description=description, **kwargs))
        if enabled is not None:
            self._rules[id(b)] = enabled
        b.on_click(lambda _button: self.run(action, busy=busy, failed=failed, button=b))
        self.refresh()
        return b

    def on_change(self, widget: w.Widget, action: Callable[[object], object], *, busy: str | None = None,
                  failed: str = "That did not work", names: str = "value") -> None:
        """Run ``action(new_value)`` under the rule each time ``widget``'s ``names`` trait
        changes (a live control). A quick action passes no ``busy`` message."""
        self.control(widget)
        widget.observe(lambda change: self.run(action, change["new"], busy=busy, failed=failed), names=names)

    def run(self, action: Callable, *args, busy: str | None = None, failed: str = "That did not work",
            button: w.Button | None = None) -> bool:
        """Run ``action(*args)``: controls disabled and the busy message shown meanwhile, any
        exception shown in ``status``, controls enabled again. Returns whether it succeeded
        (False also when another action is already running: that click is ignored)."""
        if self.running:
            return False
        self.running = True
        icon = button.icon if button is not None else None
        for c in self._controls:
            c.disabled = True
        if button is not None:
            button.icon = SPINNER
        self.status.value = busy_html(busy) if busy else ""
        try:
            action(*args)
        except Exception as exc:  # noqa: BLE001 - shown in the panel, which is the point
            self.last_error = exc
            self.status.value = error_html(exc, failed)
            return False
        else:
            self.last_error = None
            self.status.value = ""
            return True
        finally:
            if button is not None:
                button.icon = icon
            self.running = False
            self.refresh()

    def refresh(self) -> None:
        """Enable every control, each button with an ``enabled`` rule as its rule says."""
        for c in self._controls:
            rule = self._rules.get(id(c))
            c.disabled = False if rule is None else not rule()

    def panel(self, children: Sequence[w.Widget], status_at: int | None = None) -> w.VBox:
        """The panel: ``children`` with the status area inserted at ``status_at`` (default:
        after the first row). Raises ValueError when a control starts without a valid value."""
        rows = list(children)
        rows.insert(1 if status_at is None else status_at, self.status)
        box = w.VBox(rows)
        bad = invalid_controls(box)
        if bad:
            raise ValueError(f"panel controls without a valid initial value: {bad}")
        self.refresh()
        return box
