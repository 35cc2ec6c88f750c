"""Chapter 1 panel: pick an entity (sorted by degree) and see its aliases and facts (a live
control under :mod:`.actions`: an error shows in the panel)."""
from __future__ import annotations

import html

import ipywidgets as w
import numpy as np

from kedit_utils.book.widgets.actions import Actions
from kedit_utils.kg.corpus import AliasCorpus


def entity_facts_html(corpus: AliasCorpus, entity: int) -> str:
    """An HTML table of the entity's aliases and its facts (as subject and as object)."""
    kg, v = corpus.kg, corpus.vocab
    aliases = ", ".join(v.entity_token(entity, j) for j in range(v.n_aliases))
    rows = []
    for s, r, o in kg.triples[(kg.triples[:, 0] == entity) | (kg.triples[:, 2] == entity)].tolist():
        rows.append(
            f"<tr><td>{v.entity_token(s)}</td><td>{v.relation_token(r)}</td><td>{v.entity_token(o)}</td></tr>"
        )
    return (
        f"<p><b>entity {entity}</b>, degree {int(kg.degree[entity])}; aliases: "
        f"<code>{html.escape(aliases)}</code></p>"
        "<table><tr><th>subject</th><th>relation</th><th>object</th></tr>" + "".join(rows) + "</table>"
    )


def entity_explorer(corpus: AliasCorpus) -> w.VBox:
    """Drop-down of entities by decreasing degree; shows the chosen entity's facts."""
    kg = corpus.kg
    order = np.argsort(-kg.degree, kind="stable")
    actions = Actions()
    pick = w.Dropdown(
        options=[(f"entity {e} (degree {kg.degree[e]})", int(e)) for e in order],
        value=int(order[0]), description="entity",
    )
    out = w.HTML(entity_facts_html(corpus, int(order[0])))

    def show(entity):
        out.value = entity_facts_html(corpus, entity)

    actions.on_change(pick, show, failed="Could not show this entity")
    return actions.panel([pick, out])
