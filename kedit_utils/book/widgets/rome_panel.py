"""Chapter 4 panel: choose subject / relation / new object, apply a ROME edit, see the
prediction before and after for the edited fact, its aliases and its graph neighbours'
facts, then restore (bit for bit). Buttons run under :mod:`.actions` (busy state, errors
shown in the panel)."""
from __future__ import annotations

import html

import ipywidgets as w
import numpy as np

from kedit_utils.book.widgets.actions import Actions
from kedit_utils.core.validation import ParameterError
from kedit_utils.editing.rome.functional import restore
from kedit_utils.editing.rome.hparams import ROMEHyperParams
from kedit_utils.kg.alias_accuracy import score_prompts
from kedit_utils.kg.corpus import AliasCorpus
from kedit_utils.kg.deletion.edit_report import edit_graph_fact
from kedit_utils.kg.deletion.requests import graph_request
from kedit_utils.kg.graphs import DELETED_ENTITY
from kedit_utils.kg.vocabulary import hf_tokenizer


def _output_embedding_cosine(model, a: int, b: int) -> float | None:
    """Cosine similarity of two tokens' output-embedding rows (None when not available)."""
    try:
        import torch

        rows = model.get_output_embeddings().weight.detach().float()
        return float(torch.nn.functional.cosine_similarity(rows[a], rows[b], dim=0))
    except Exception:  # noqa: BLE001 - an explanation only; the report stands without it
        return None


def answer_html(rep, corpus: AliasCorpus, model=None) -> str:
    """What the edited prompt answers, in plain words; says so when the answer is a token that
    never occurs in the training corpus (e.g. ``<unk>``), with why such a token can win."""
    res = rep.result
    before, after = res.before, res.after
    target = res.request.target_new
    e = html.escape
    text = (f"<p>The prompt <code>{e(res.request.prompt)}</code> answered <b>{e(before.top_token)}</b> "
            f"(p = {before.top_prob:.2f}) before the edit and answers <b>{e(after.top_token)}</b> "
            f"(p = {after.top_prob:.2f}) after it; the target was <b>{e(target)}</b> "
            f"(p = {after.target_prob:.2f} after).")
    trained = np.zeros(corpus.vocab.size, dtype=bool)
    trained[np.unique(np.asarray(corpus.train_sentences))] = True
    if not trained[after.top_id]:
        text += (f" <b>{e(after.top_token)}</b> never occurs in the training corpus: it is not an entity, "
                 "and its output embedding was never trained as an answer.")
        target_id = res.target_ids[0]
        if after.top_id != target_id and not trained[target_id]:
            cos = _output_embedding_cosine(model, after.top_id, target_id) if model is not None else None
            similar = f" (cosine similarity {cos:.2f})" if cos is not None else ""
            text += (f" Neither does the target {e(target)}: the two untrained rows are nearly the same "
                     f"vector{similar}, so an edit towards {e(target)} raises {e(after.top_token)} as well, "
                     "and here it came out on top.")
    return text + "</p>"


def report_html(rep, corpus: AliasCorpus, model=None) -> str:
    """The edit's answer (see :func:`answer_html`), its numbers and the facts it broke."""
    s = rep.summary()
    v = corpus.vocab
    rows = "".join(f"<tr><td>{k}</td><td>{html.escape(str(round(x, 4) if isinstance(x, float) else x))}</td></tr>"
                   for k, x in s.items())
    broken = ", ".join(
        f"{v.entity_token(int(a))} {v.relation_token(int(b))} → {v.entity_token(int(c))}"
        for a, b, c in corpus.kg.triples[rep.broken[:10]]
    )
    return (answer_html(rep, corpus, model) + f"<table>{rows}</table>"
            f"<p>facts broken (first 10): {html.escape(broken) or 'none'}</p>")


def rome_panel(model, corpus: AliasCorpus, hparams: ROMEHyperParams, cov) -> w.VBox:
    """Drop-downs for the fact and the new object, Apply and Restore buttons, a report."""
    kg, vocab = corpus.kg, corpus.vocab
    tok = hf_tokenizer(vocab)
    base = score_prompts(model, corpus.prompts, corpus.prompt_object, vocab)
    order = [int(e) for e in np.argsort(-kg.degree, kind="stable") if kg.out_degree[e] > 0]
    state = {"result": None}
    actions = Actions()
    subject = actions.control(w.Dropdown(options=[(f"e{e} (degree {kg.degree[e]})", e) for e in order],
                                         value=order[0], description="subject"))
    relation = actions.control(w.Dropdown(description="relation"))
    objects = [(DELETED_ENTITY, DELETED_ENTITY)] + [(f"e{e}", e) for e in range(kg.n_entities)]
    new_object = actions.control(w.Dropdown(options=objects, value=DELETED_ENTITY, description="new object"))
    out = w.HTML("<p>Choose a fact and a new object, then apply.</p>")

    def set_relations(entity):
        facts = kg.facts_of(entity)
        options = [(f"r{r} (→ e{o})", int(r)) for _, r, o in facts]
        relation.options = options
        # ipywidgets 8 leaves the value None when the options change: choose the first fact
        relation.value = options[0][1] if options else None

    def apply_edit():
        s, r, o = subject.value, relation.value, new_object.value
        graph_request(kg, vocab, s, r, o)  # a bad choice fails here, before anything changes
        if o == kg.object_of[(s, r)]:
            raise ParameterError("new_object", f"e{o}", f"is already the object of (e{s}, r{r}): "
                                 f"choose another entity or {DELETED_ENTITY}")
        if state["result"] is not None:  # one edit at a time: undo the previous one first
            restore(model, state["result"])
            state["result"] = None
            out.value = "<p>The previous edit was restored.</p>"
        rep = edit_graph_fact(model, tok, corpus, s, r, o, hparams, cov, base=base)
        state["result"] = rep.result
        out.value = report_html(rep, corpus, model)

    def restore_edit():
        if state["result"] is not None:
            restore(model, state["result"])
            state["result"] = None
        out.value = "<p>Restored: the weights are the original ones, bit for bit.</p>"

    actions.on_change(subject, set_relations, failed="Could not list the subject's facts")
    apply_b = actions.button("Apply edit", apply_edit, busy="Applying the ROME edit and scoring every prompt ...",
                             failed="The edit was not applied")
    restore_b = actions.button("Restore", restore_edit, busy="Restoring the original weights ...",
                               failed="Could not restore", enabled=lambda: state["result"] is not None)
    set_relations(subject.value)
    return actions.panel([w.HBox([subject, relation, new_object]), w.HBox([apply_b, restore_b]), out], status_at=2)
