"""Panels, headless, on tiny models: every control starts with a valid value; a failing action
shows its error in the panel in plain words and the panel stays usable; a running action
disables the controls and says it is busy (kedit_utils.book.widgets.actions, the rule of every panel)."""
from types import SimpleNamespace

import ipywidgets as w
import numpy as np
import pytest
import torch

from kedit_utils.book.widgets import actions as A
from kedit_utils.book.widgets.deletion_panel import deletion_panel
from kedit_utils.book.widgets.graph_explorer import entity_explorer
from kedit_utils.book.widgets.rome_panel import answer_html, rome_panel
from kedit_utils.core.validation import ParameterError
from kedit_utils.editing.rome import ROMEHyperParams
from kedit_utils.kg.deletion.requests import deletion_edit_fn
from kedit_utils.kg.gpt2 import ModelSpec
from kedit_utils.kg.graphs import DELETED_ENTITY
from kedit_utils.kg.vocabulary import UNK


@pytest.fixture(scope="module")
def tiny(train_tiny_ba):
    """A 2-layer GPT-2 trained for a few seconds on a 16-entity BA graph, and its covariance."""
    model, corpus, cov = train_tiny_ba(ModelSpec(n_layers=2, n_embd=32, n_head=2), "tiny-widgets")
    return model, corpus, ROMEHyperParams.tiny_gpt2(layer=0, fact_token="last"), cov


def widgets_of(panel):
    out, stack = [], [panel]
    while stack:
        wid = stack.pop(0)
        out.append(wid)
        stack.extend(getattr(wid, "children", ()) or ())
    return out


def find(panel, description):
    hits = [x for x in widgets_of(panel) if getattr(x, "description", None) == description]
    assert len(hits) == 1, f"{description!r}: {len(hits)} widgets"
    return hits[0]


def shown_text(panel) -> str:
    """Everything the panel's HTML widgets show."""
    return "\n".join(x.value for x in widgets_of(panel) if isinstance(x, w.HTML))


def record(widget, trait):
    seen = []
    widget.observe(lambda ch: seen.append(ch["new"]), names=trait)
    return seen


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(model, snap):
    return all(torch.equal(v, snap[k]) for k, v in model.state_dict().items())


# --- the helper ---------------------------------------------------------------------------

def test_action_is_busy_while_running_and_enabled_after():
    actions = A.Actions()
    pick = actions.control(w.Dropdown(options=[1, 2], value=1, description="x"))
    seen = {}

    def work():
        seen.update(button=go.disabled, pick=pick.disabled, status=actions.status.value, icon=go.icon)

    go = actions.button("Go", work, busy="Working hard")
    panel = actions.panel([w.HBox([pick, go])])
    go.click()
    assert seen == {"button": True, "pick": True, "status": A.busy_html("Working hard"), "icon": A.SPINNER}
    assert not go.disabled and not pick.disabled and go.icon == "" and actions.status.value == ""
    assert actions.status in panel.children


def test_action_error_is_shown_in_plain_words_and_panel_stays_usable():
    actions = A.Actions()
    calls = []

    def work():
        calls.append(1)
        if len(calls) == 1:
            raise ParameterError("relation", None, "choose one of the subject's relations")

    go = actions.button("Go", work, busy="Working", failed="Could not go")
    actions.panel([go])
    go.click()
    assert "Could not go." in actions.status.value
    assert "ParameterError: parameter &#x27;relation&#x27; = None is not allowed: choose one" in actions.status.value
    assert "Traceback" in actions.status.value  # folded under <details>
    assert isinstance(actions.last_error, ParameterError)
    assert not go.disabled and not actions.running
    go.click()  # still usable; success clears the error
    assert len(calls) == 2 and actions.status.value == "" and actions.last_error is None


def test_a_second_click_while_running_is_ignored():
    actions = A.Actions()
    calls = []

    def work():
        calls.append(1)
        go.click()  # as if the click arrived while the first one runs

    go = actions.button("Go", work)
    go.click()
    assert calls == [1]


def test_enabled_rule_and_invalid_initial_value():
    actions = A.Actions()
    state = {"on": False}
    b = actions.button("Undo", lambda: None, enabled=lambda: state["on"])
    assert b.disabled
    state["on"] = True
    actions.refresh()
    assert not b.disabled
    with pytest.raises(ValueError, match="relation"):
        A.Actions().panel([w.Dropdown(description="relation")])  # starts blank
    assert A.invalid_controls(w.VBox([w.IntSlider(value=3, min=0, max=5), w.Dropdown(options=["a"])])) == []


# --- the panels ---------------------------------------------------------------------------

def test_entity_explorer_updates_and_shows_errors(tiny, monkeypatch):
    _, corpus, _, _ = tiny
    panel = entity_explorer(corpus)
    assert A.invalid_controls(panel) == []
    pick = find(panel, "entity")
    first = shown_text(panel)
    other = pick.options[3][1]
    pick.value = other
    assert shown_text(panel) != first and f"<b>entity {other}</b>" in shown_text(panel)

    from kedit_utils.book.widgets import graph_explorer

    monkeypatch.setattr(graph_explorer, "entity_facts_html", lambda c, e: 1 / 0)
    pick.value = pick.options[4][1]
    assert "ZeroDivisionError: division by zero" in shown_text(panel)
    assert not pick.disabled
    monkeypatch.undo()
    pick.value = pick.options[5][1]
    assert A.ERROR_CLASS not in shown_text(panel)


def test_rome_panel_starts_valid_reports_bad_choice_applies_and_restores(tiny):
    model, corpus, hp, cov = tiny
    kg = corpus.kg
    snap = snapshot(model)
    panel = rome_panel(model, corpus, hp, cov)
    subject, relation, new_object = (find(panel, d) for d in ("subject", "relation", "new object"))
    apply_b, restore_b = find(panel, "Apply edit"), find(panel, "Restore")
    assert A.invalid_controls(panel) == []
    assert relation.value is not None and relation.value == relation.options[0][1]
    assert restore_b.disabled

    # another subject: the relation follows, still valid
    subject.value = subject.options[2][1]
    assert relation.value in [r for _, r in relation.options]
    assert kg.object_of[(subject.value, relation.value)] is not None

    # invalid on purpose: the fact's current object as the "new" one
    new_object.value = kg.object_of[(subject.value, relation.value)]
    disabled = record(apply_b, "disabled")
    apply_b.click()
    text = shown_text(panel)
    assert "The edit was not applied." in text and "ParameterError" in text and "is already the object" in text
    assert disabled == [True, False] and not apply_b.disabled and restore_b.disabled
    assert same_weights(model, snap)

    # still usable: a valid edit applies, reports in plain words, restores bit for bit
    new_object.value = DELETED_ENTITY
    apply_b.click()
    text = shown_text(panel)
    assert A.ERROR_CLASS not in text and "answers <b>" in text and "reliability" in text
    assert not same_weights(model, snap) and not restore_b.disabled
    restore_b.click()
    assert same_weights(model, snap) and restore_b.disabled
    assert "bit for bit" in shown_text(panel)


def test_rome_panel_says_when_the_answer_never_occurs_in_training(tiny):
    model, corpus, _, _ = tiny
    v = corpus.vocab

    def fake(top_id, target=DELETED_ENTITY, target_id=None):
        pred = SimpleNamespace(top_token=v.tokens[top_id], top_id=top_id, top_prob=0.4, target_prob=0.3)
        req = SimpleNamespace(prompt="e0_0 r0_0", target_new=target)
        return SimpleNamespace(result=SimpleNamespace(request=req, before=pred, after=pred,
                                                      target_ids=[v.deleted_id if target_id is None else target_id]))

    text = answer_html(fake(1), corpus, model)  # <unk>, the chapter-4 case
    assert f"answers <b>{UNK}".replace("<unk>", "&lt;unk&gt;") in text
    assert "never occurs in the training corpus" in text and "cosine similarity" in text
    entity = int(v.entity_ids[0, 0])
    text = answer_html(fake(entity, target="e0_0", target_id=entity), corpus, model)
    assert "never occurs" not in text


def test_deletion_panel_deletes_restores_and_shows_errors(tiny):
    model, corpus, hp, cov = tiny
    snap = snapshot(model)
    real = deletion_edit_fn(corpus.kg, corpus.vocab, hp, cov)
    fail = {"on": True}

    def edit_fn(m, triple, aliases):
        if fail["on"]:
            raise RuntimeError("the edit failed on purpose")
        return real(m, triple, aliases)

    panel = deletion_panel(model, corpus, edit_fn)
    assert A.invalid_controls(panel) == []
    pick, go = find(panel, "entity"), find(panel, "Delete its fact")
    disabled = record(go, "disabled")
    go.click()
    assert "The deletion failed." in shown_text(panel) and "RuntimeError: the edit failed on purpose" in shown_text(panel)
    assert disabled == [True, False] and not go.disabled and not pick.disabled
    fail["on"] = False
    pick.value = pick.options[1][1]
    go.click()
    text = shown_text(panel)
    assert A.ERROR_CLASS not in text and f"deleted fact e{pick.value} r" in text
    assert same_weights(model, snap)


@pytest.mark.parametrize("make", ["explorer", "rome", "deletion"])
def test_every_panel_starts_valid_and_has_a_status_area(tiny, make):
    model, corpus, hp, cov = tiny
    panel = {
        "explorer": lambda: entity_explorer(corpus),
        "rome": lambda: rome_panel(model, corpus, hp, cov),
        "deletion": lambda: deletion_panel(model, corpus, lambda m, t, a: (lambda: None)),
    }[make]()
    assert A.invalid_controls(panel) == []
    assert all(not x.disabled for x in widgets_of(panel) if isinstance(x, w.Dropdown))
    assert np.isscalar(find(panel, "entity" if make != "rome" else "subject").value)


def test_every_panel_module_follows_the_rule():
    """Each panel module (a later chapter's too) wires its buttons and live controls through
    Actions, never with a bare on_click / observe whose errors would go to the log console."""
    from pathlib import Path

    import kedit_utils.book.widgets as pkg

    modules = [p for p in Path(pkg.__file__).parent.glob("*.py") if p.name not in ("__init__.py", "actions.py")]
    assert len(modules) >= 3
    for path in modules:
        text = path.read_text()
        assert "Actions()" in text, f"{path.name}: build the panel with widgets.actions.Actions"
        assert ".on_click(" not in text and ".observe(" not in text, \
            f"{path.name}: wire callbacks with Actions.button / Actions.on_change"
