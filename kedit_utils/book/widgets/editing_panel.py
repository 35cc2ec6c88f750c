"""Chapter 7 panel: pick a method and an action, type a prompt, its subject and a target, and
see the model's greedy continuation before and after the edit with the survey's five
metrics for it (Paper C's metrics, :mod:`kedit_utils.editing.metrics`); restore with one click (bit
for bit). Buttons run under :mod:`.actions` (busy state, errors shown in the panel).

Erase uses the typed target as the erase target (e.g. "I don't know") and the typed old
answer as the answer to remove; insert and modify use the target as the new object.
"""
from __future__ import annotations

import html

import ipywidgets as w

from kedit_utils.book.widgets.actions import Actions
from kedit_utils.core.validation import ParameterError
from kedit_utils.editing import EditRequest, get_editor
from kedit_utils.editing import metrics as M

ACTIONS = ("insert", "modify", "erase")


def _request(prompt: str, subject: str, target: str, old: str, rephrase: str, locality: list[tuple[str, str]],
             portability: list[tuple[str, str]], action: str) -> EditRequest:
    if action in ("modify", "erase") and not old.strip():
        raise ParameterError("old answer", old, f"{action} needs the answer the model gives now")
    return EditRequest(prompt.strip(), subject.strip(), target.strip(),
                       ground_truth=old.strip() or None,
                       rephrase_prompts=tuple(p.strip() for p in rephrase.split("|") if p.strip()),
                       locality=tuple(locality), portability=tuple(portability))


def metrics_html(scores: dict) -> str:
    cells = "".join(f"<td style='padding:0 .8em'>{html.escape(k)}<br><b>{v:.2f}</b></td>"
                    for k, v in scores.items() if v == v)  # NaN: not measured
    return f"<table><tr>{cells}</tr></table>"


def editing_panel(model, tok, methods, hparams: dict | None = None, context: dict | None = None,
                  locality: list[tuple[str, str]] = (), example: dict | None = None,
                  pool=(), max_new_tokens: int = 20) -> w.VBox:
    """The panel (module docstring). ``hparams``/``context``: per method, as the chapter's
    grid uses them; ``locality``: unrelated (prompt, answer) pairs scored for every edit;
    ``example``: the starting prompt/subject/target/old answer/rephrase; ``pool``: other
    edits, for the methods that draw on them (IKE's demonstrations)."""
    hparams, context = dict(hparams or {}), dict(context or {})
    ex = {"prompt": "The Eiffel Tower is located in the city of", "subject": "Eiffel Tower", "target": "Rome", "old": "Paris", "rephrase": "The Eiffel Tower is in the city of"}
    ex.update(example or {})
    state = {"handle": None}
    actions = Actions()
    method = actions.control(w.Dropdown(options=list(methods), value=list(methods)[0], description="method"))
    action = actions.control(w.Dropdown(options=list(ACTIONS), value="modify", description="action"))
    prompt = actions.control(w.Text(value=ex["prompt"], description="prompt", layout=w.Layout(width="32em")))
    subject = actions.control(w.Text(value=ex["subject"], description="subject"))
    target = actions.control(w.Text(value=ex["target"], description="target"))
    old = actions.control(w.Text(value=ex["old"], description="old answer"))
    rephrase = actions.control(w.Text(value=ex["rephrase"], description="rephrase",
                                      placeholder="paraphrases, separated by |", layout=w.Layout(width="32em")))
    out = w.HTML("<p>Type a fact, choose a method and an action, then apply.</p>")

    def restore():
        if state["handle"] is not None:
            state["handle"].restore()
            state["handle"] = None

    def apply_edit():
        req = _request(prompt.value, subject.value, target.value, old.value, rephrase.value, list(locality), [],
                       action.value)
        restore()  # one edit at a time
        before = M.generate(model, tok, [req.prompt], max_new_tokens)[0]
        ref = M.locality_reference(model, tok, [req]) if req.locality else None
        editor = get_editor(method.value)
        extra = {editor.pool_argument: list(pool)} if editor.pool_argument else {}
        handle = editor.apply(model, tok, [req], hparams.get(method.value),
                                                **{**context.get(method.value, {}), **extra})
        state["handle"] = handle
        cond = handle.condition
        after = M.generate(model, tok, [req.prompt], max_new_tokens, cond)[0]
        scores = {"reliability": M.rewrite_acc(model, tok, [req], cond),
                  "generalization": M.rephrase_acc(model, tok, [req], cond) if req.rephrase_prompts else float("nan"),
                  "locality": M.locality(model, tok, [req], ref, cond) if ref is not None else float("nan"),
                  "fluency": M.fluency(model, tok, [req.prompt], 40, cond)}
        if action.value == "erase":
            e = M.erase_metrics(model, tok, [req], cond)
            scores["old answer gone"] = e["old_answer_gone"]
        e = html.escape
        out.value = (f"<p><b>{e(handle.method)}</b> edit in {handle.seconds:.2f} s, ‖ΔW‖ = {handle.delta_norm:.3g} "
                     f"over {len(handle.changes)} tensor(s).</p>"
                     f"<p>before: <code>{e(req.prompt)}</code><i>{e(before)}</i><br>"
                     f"after: <code>{e(req.prompt)}</code><i>{e(after)}</i></p>" + metrics_html(scores))

    def restore_edit():
        restore()
        out.value = "<p>Restored: the weights are the original ones, bit for bit.</p>"

    apply_b = actions.button("Apply edit", apply_edit, busy="Editing and scoring ...", failed="The edit was not applied")
    restore_b = actions.button("Restore", restore_edit, busy="Restoring the original weights ...",
                               failed="Could not restore", enabled=lambda: state["handle"] is not None)
    panel = actions.panel([w.HBox([method, action]), prompt, w.HBox([subject, target, old]), rephrase,
                           w.HBox([apply_b, restore_b]), out], status_at=5)
    panel._kedit_state = state  # for tests: the live handle
    return panel


__all__ = ["editing_panel", "metrics_html"]
