"""Chapter 5's setup variants (issue 12 §2): which choice moves Paper A's Table 2?

Paper A §3.4 / §4 reports a degree–impact correlation of .93 / .99 / .75 on the BA graphs
(6 / 12 / 24 layers) and .21–.30 on ER; the book's baseline sweep does not reproduce it.
Many of the choices behind a deletion are not stated in the paper. Each :class:`Variant`
changes *one* of them (or, for ``rule``, every choice the rule below makes) and reruns the
deletion sweep of :mod:`kedit_utils.kg.deletion.impact` on the models of one depth, both graphs:

* the graph's **orientation**: one triple per edge (the book) or both directions of every
  edge (the public implementation's data: an entity is the subject of ``degree`` facts);
* the **training length**: stop at the target accuracy (the book) or train on for a fixed
  number of epochs, keeping the last weights (the public implementation: 100 epochs);
* **ROME's settings** that decide how hard an edit pushes: the v* clamp (a curve, not one
  point), the KL factor, the weight decay, the steps and early stop, the layer whose
  output the v* loss reads (ROME: the last; the public implementation: the edited layer),
  the key covariance's sample and ridge, and the edited layer (traced, 0 or 1);
* the **edit token** (subject, as the paper; or the relation token, where the small models
  read a fact: chapter 4) and the **key** (one alias prompt, as the paper; or averaged over
  the subject's aliases);
* **which fact** is deleted (lowest relation id, the book; or one relation fixed for every
  entity that has it, the paper's "r fixed to one relation", the lowest id otherwise);
* the **target**: the untrained ``<deleted>`` token (the book, and the public
  implementation's ``[E_DELETED]``) or a trained entity token standing in for it (the
  lowest-degree entity that is neither the subject nor the old object);
* the **accuracy's prompt set**: every subject × relation alias prompt, any alias of the
  object counted correct (the book) or the canonical prompt (alias 0, alias 0) only.

**The rule, stated before any variant ran** (issue 12: "Don't pick the variant by its
correlation"). For each choice: the paper's text where it states one; where it does not, the
public implementation of exactly this setup (``ishigaki0302/kekg``: the same 200 entities,
50 relations, m = 3, 5 aliases and 20 % sample), the closest evidence of what was run; where
that is silent too, ROME's published GPT-2 hyper-parameters. :data:`RULE` lists the outcome
choice by choice with its source, and the ``rule`` variant applies all of them at once.
Every variant is reported, whatever its correlation.

Each sweep is one job of :func:`kedit_utils.core.jobs.run_jobs` (in this process, local workers
or Dask), cached in the artifact cache under every input (model, site, ROME settings,
entities, variant); variants that share a sweep (``prompts``) share its cache entry.

The subpackage, by job: :mod:`.definitions` (:class:`Variant`, the grid, :data:`RULE`,
:data:`BASELINE`), :mod:`.runs` (the sweeps, cached), :mod:`.sites` (the re-trace under the
paper's corruption), :mod:`.margins` (the margins a variant's model leaves), :mod:`.effects`
(the rows, the edit effects). The verdicts on the rows (Table 2 reproduced or not) are in
:mod:`kedit_utils.kg.claims`.
"""
from kedit_utils.kg.deletion.variants.definitions import (
    BASELINE,
    FAMILIES,
    RULE,
    Variant,
    fixed_relation,
    model_params,
    stand_in_target,
    variant_grid,
    variants_by_name,
)
from kedit_utils.kg.deletion.variants.effects import (
    edit_effect,
    edit_effect_text,
    variant_rows,
    variants_by_graph,
)
from kedit_utils.kg.deletion.variants.margins import model_margins
from kedit_utils.kg.deletion.variants.runs import (
    check_graphs,
    run_variants,
    variant_edit_fn,
    variant_job,
)
from kedit_utils.kg.deletion.variants.sites import site_check

__all__ = ["BASELINE", "FAMILIES", "RULE", "Variant", "check_graphs", "edit_effect", "edit_effect_text",
           "fixed_relation", "model_margins", "model_params", "run_variants", "site_check", "stand_in_target",
           "variant_edit_fn", "variant_grid", "variant_job", "variant_rows", "variants_by_graph", "variants_by_name"]
