"""Chapter 4 panel: choose subject / relation / new object, apply a ROME edit, see the
prediction before and after for the edited fact, its aliases and its graph neighbours'
facts, then restore (bit for bit)."""
from __future__ import annotations

import html

import ipywidgets as w
import numpy as np

from ..corpus import AliasCorpus
from ..edit_report import edit_graph_fact
from ..evaluation import score_prompts
from ..graphs import DELETED_ENTITY
from ..rome.editor import restore
from ..rome.hparams import ROMEHyperParams
from ..vocabulary import hf_tokenizer


def report_html(rep, corpus: AliasCorpus) -> str:
    s = rep.summary()
    v = corpus.vocab
    rows = "".join(f"<tr><td>{k}</td><td>{html.escape(str(round(x, 4) if isinstance(x, float) else x))}</td></tr>"
                   for k, x in s.items())
    broken = ", ".join(
        f"{v.entity_token(int(a))} {v.relation_token(int(b))} → {v.entity_token(int(c))}"
        for a, b, c in corpus.kg.triples[rep.broken[:10]]
    )
    return f"<table>{rows}</table><p>facts broken (first 10): {html.escape(broken) or 'none'}</p>"


def rome_panel(model, corpus: AliasCorpus, hparams: ROMEHyperParams, cov) -> w.VBox:
    """Drop-downs for the fact and the new object, Apply and Restore buttons, a report."""
    kg, vocab = corpus.kg, corpus.vocab
    tok = hf_tokenizer(vocab)
    base = score_prompts(model, corpus.prompts, corpus.prompt_object, vocab)
    order = [int(e) for e in np.argsort(-kg.degree, kind="stable") if kg.out_degree[e] > 0]
    subject = w.Dropdown(options=[(f"e{e} (degree {kg.degree[e]})", e) for e in order], description="subject")
    relation = w.Dropdown(description="relation")
    objects = [(DELETED_ENTITY, DELETED_ENTITY)] + [(f"e{e}", e) for e in range(kg.n_entities)]
    new_object = w.Dropdown(options=objects, value=DELETED_ENTITY, description="new object")
    apply_b, restore_b = w.Button(description="Apply edit"), w.Button(description="Restore", disabled=True)
    out = w.HTML("<p>Choose a fact and a new object, then apply.</p>")
    state = {"result": None}

    def on_subject(change=None):
        facts = kg.facts_of(subject.value)
        relation.options = [(f"r{r} (→ e{o})", int(r)) for _, r, o in facts]

    def on_apply(_):
        if state["result"] is not None:
            restore(model, state["result"])
        rep = edit_graph_fact(model, tok, corpus, subject.value, relation.value, new_object.value,
                              hparams, cov, base=base)
        state["result"] = rep.result
        out.value = report_html(rep, corpus)
        restore_b.disabled = False

    def on_restore(_):
        if state["result"] is not None:
            restore(model, state["result"])
            state["result"] = None
        out.value = "<p>Restored: the weights are the original ones, bit for bit.</p>"
        restore_b.disabled = True

    subject.observe(on_subject, names="value")
    apply_b.on_click(on_apply)
    restore_b.on_click(on_restore)
    on_subject()
    return w.VBox([w.HBox([subject, relation, new_object]), w.HBox([apply_b, restore_b]), out])
