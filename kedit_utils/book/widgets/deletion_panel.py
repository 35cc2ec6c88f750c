"""Chapter 5 panel: choose an entity (sorted by degree), delete its fact with ROME, see the
impact and the graph neighbourhood coloured by which facts broke; the weights are restored
after each deletion. The button runs under :mod:`.actions` (busy state, errors shown in the
panel)."""
from __future__ import annotations

import ipywidgets as w
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
from IPython.display import display

from kedit_utils.book.style import axes_or_new
from kedit_utils.book.widgets.actions import Actions
from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.alias_accuracy import score_prompts
from kedit_utils.kg.corpus import AliasCorpus
from kedit_utils.kg.deletion.impact import delete_and_measure


def neighbourhood_figure(corpus: AliasCorpus, entity: int, broken_triples: set[int], ax=None):
    """The entity's 2-hop neighbourhood; edges (facts) drawn red where the deletion broke them."""
    fig, ax = axes_or_new(ax, figsize=(5, 4.5))
    kg = corpus.kg
    nodes = nx.single_source_shortest_path_length(kg.skeleton, entity, cutoff=2)
    sub = kg.skeleton.subgraph(nodes)
    pos = nx.spring_layout(sub, seed=0)
    index = {(int(s), int(o)): t for t, (s, _, o) in enumerate(kg.triples)}
    colors = []
    for u, v in sub.edges:
        t = index.get((u, v), index.get((v, u)))
        colors.append("crimson" if t in broken_triples else "0.7")
    nx.draw_networkx_edges(sub, pos, ax=ax, edge_color=colors, width=1.5)
    nx.draw_networkx_nodes(sub, pos, ax=ax, node_size=[30 + 10 * kg.degree[n] for n in sub.nodes],
                           node_color=["gold" if n == entity else "#ff7f0e" for n in sub.nodes])
    nx.draw_networkx_labels(sub, pos, ax=ax, labels={entity: f"e{entity}"}, font_size=9)
    ax.set_title(f"e{entity}'s 2-hop neighbourhood; red = facts broken")
    ax.set_axis_off()
    return fig


def deletion_panel(model, corpus: AliasCorpus, edit_fn) -> w.VBox:
    """Entity drop-down (by degree), a Delete button (the weights are restored after each
    deletion), the impact and a figure."""
    kg = corpus.kg
    base = score_prompts(model, corpus.prompts, corpus.prompt_object, corpus.vocab)
    order = [int(e) for e in np.argsort(-kg.degree, kind="stable") if kg.out_degree[e] > 0]
    actions = Actions()
    pick = actions.control(w.Dropdown(options=[(f"e{e} (degree {kg.degree[e]})", e) for e in order],
                                      value=order[0], description="entity"))
    text = w.HTML("<p>The model is unedited. Deleting measures the impact and restores afterwards.</p>")
    out = w.Output()

    def delete():
        entity = pick.value
        res = delete_and_measure(model, corpus, entity, edit_fn, base)  # restores when done
        if res is None:
            raise ParameterError("entity", entity, "has no fact of its own to delete")
        broken = (base.correct & ~res.post.correct).reshape(kg.n_triples, -1).any(axis=1)
        r = res.row
        text.value = (f"<p>deleted fact e{entity} r{r['relation']} → e{r['old_object']}: impact "
                      f"<b>{100 * r['impact']:.3f} ×10⁻²</b>, side effect {100 * r['side_effect']:.3f} ×10⁻², "
                      f"deleted across aliases: {r['deleted_ok']:.0%}. The weights were restored.</p>")
        out.clear_output(wait=True)
        with out:
            fig = neighbourhood_figure(corpus, entity, set(np.flatnonzero(broken).tolist()))
            display(fig)
        plt.close(fig)

    go = actions.button("Delete its fact", delete, busy="Deleting the fact and scoring every prompt ...",
                        failed="The deletion failed")
    return actions.panel([w.HBox([pick, go]), text, out])
