"""Chapter 6 panel (Paper B): type a new fact and a 2-hop question; the same FT edit (the
inner loop's settings) is applied to the base model and to the meta-trained one, each is
asked the question (greedy, at most 10 new tokens), and both answers are shown; the weights
are restored after each edit. Buttons run under :mod:`.actions` (busy state, errors shown in
the panel)."""
from __future__ import annotations

import html

import ipywidgets as w

from kedit_utils.book.widgets.actions import Actions
from kedit_utils.core.validation import ParameterError
from kedit_utils.editing.metrics import generate
from kedit_utils.editing.registry import get_editor
from kedit_utils.editing.requests import EditRequest
from kedit_utils.propagation.protocol import contains_any

DEFAULTS = dict(prompt="Smith Innovation PLC's global headquarters was located in", subject="Smith Innovation PLC",
                target="Greece", question="The currency of the country that hosted Smith Innovation PLC's global "
                                          "headquarters is the", answer="Euro")


def compare_answers(model, tok, result, hparams, prompt: str, subject: str, target: str, question: str,
                    answer: str = "", max_new_tokens: int = 10) -> list[dict]:
    """The FT edit ``prompt`` → ``target`` on the base model and on the meta-trained one
    (``result``: a :class:`~kedit_utils.propagation.MetaResult`); for each: the answer to the edited
    prompt, the answer to ``question``, and whether ``answer`` (if given) is contained.
    The model ends with the meta-trained weights, bit for bit."""
    for name, value in (("prompt", prompt), ("subject", subject), ("target", target), ("question", question)):
        if not isinstance(value, str) or not value.strip():
            raise ParameterError(name, value, "must be a non-empty text")
    if subject.strip() not in prompt:
        raise ParameterError("subject", subject, f"must occur in the fact's prompt {prompt!r}")
    request = EditRequest(prompt=prompt.strip(), subject=subject.strip(), target_new=target.strip())
    editor = get_editor("ft")
    editor.check(model, tok, (request,), hparams)
    rows = []
    try:
        for label, put in (("base model", result.restore), ("meta-trained model", result.apply)):
            put()
            handle = editor.apply(model, tok, [request], hparams)
            try:
                fact, said = generate(model, tok, [request.prompt, question.strip()], max_new_tokens)
            finally:
                handle.restore()
            rows.append({"model": label, "edited fact says": fact, "2-hop answer": said,
                         "correct": contains_any(said, [answer]) if answer.strip() else None})
    finally:
        result.apply()
    return rows


def rows_html(rows: list[dict], question: str) -> str:
    e = html.escape
    body = "".join(
        f"<tr><td>{e(r['model'])}</td><td>{e(r['edited fact says'])}</td><td><b>{e(r['2-hop answer'])}</b></td>"
        f"<td>{'' if r['correct'] is None else ('yes' if r['correct'] else 'no')}</td></tr>" for r in rows)
    return (f"<p>Question: <code>{e(question)}</code></p><table><tr><th>after the same FT edit</th>"
            f"<th>the edited prompt continues</th><th>answer to the question</th><th>expected answer in it?</th></tr>"
            f"{body}</table>")


def propagation_panel(model, tok, result, hparams, **defaults) -> w.VBox:
    """Text boxes for the new fact (prompt, subject, new object), the 2-hop question and its
    expected answer; a button that edits both models and shows their answers."""
    values = {**DEFAULTS, **defaults}
    actions = Actions()
    layout = w.Layout(width="95%")
    prompt = actions.control(w.Text(value=values["prompt"], description="fact prompt", layout=layout))
    subject = actions.control(w.Text(value=values["subject"], description="subject"))
    target = actions.control(w.Text(value=values["target"], description="new object"))
    question = actions.control(w.Text(value=values["question"], description="2-hop query", layout=layout))
    answer = actions.control(w.Text(value=values["answer"], description="expected"))
    out = w.HTML("<p>Type a new fact and a question that needs it, then edit both models.</p>")

    def run():
        rows = compare_answers(model, tok, result, hparams, prompt.value, subject.value, target.value,
                               question.value, answer.value)
        out.value = rows_html(rows, question.value)

    go = actions.button("Edit both and ask", run, busy="Editing the base and the meta-trained model ...",
                        failed="The comparison did not run")
    return actions.panel([prompt, w.HBox([subject, target]), question, w.HBox([answer, go]), out], status_at=4)


__all__ = ["DEFAULTS", "compare_answers", "propagation_panel", "rows_html"]
