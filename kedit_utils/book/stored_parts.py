"""A paper-scale run stored part by part (issues 12 §4 and 13: chapter 5's Table 2 over three
seeds, Paper A §4).

Chapter 5's whole paper profile is about ten hours of two CPU cores. ``kedit run ... --store``
(:mod:`.stored_results`) keeps a chapter's results only when the whole chapter has run, and
the artifact cache that lets an interrupted run resume may not outlive the machine. So the
chapter's expensive grids can also be run and stored one *part* at a time, each part the
unedited output of its own command at its own commit, and the chapter combines the parts it
finds::

    kedit store-part 05_deletion_impact sweep --profile paper -p seeds "[0]" -p compare_token last
    kedit store-part 05_deletion_impact rule --profile paper -p seeds "[1]" -p rule_layers "[6]"

A part runs exactly the function the chapter calls (:func:`kedit_utils.kg.deletion.sweep.run_deletion_experiment`
for ``sweep``, :func:`kedit_utils.kg.deletion.variants.run_variants` of the rule for ``rule``), with
the chapter's config (:class:`kedit_utils.kg.deletion.config.DeletionChapterConfig`, resolved from
the profile and checked), so its sweeps share the chapter's cache keys. It writes ``results/stored/<chapter>.<profile>.<part>.seeds-<seeds>.layers-<depths>.json``::

    {"provenance": {"command", "commit", "machine", "date", "wall_seconds"},
     "results": {"meta": {"notebook", "profile", "part", "seeds", "layers", "parameters"},
                 "entities": [one row per deleted entity: editor, edit token or variant,
                              seed, graph, layers, degree, impact and its parts, ...]}}

:func:`combined_entities` joins every stored part of a kind into one per-entity table (a
seed × graph × depth × editor × token stored twice is an error, not a silent average); the
chapter computes Table 2 from it with the same function as its own
(:func:`kedit_utils.kg.deletion.statistics.degree_impact_table`), so the interval across seeds is computed by the build
from stored per-entity impacts, never typed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from kedit_utils.book.stored_results import read_stored, stored_dir, write_with_provenance
from kedit_utils.core.validation import ParameterError, check_choice

PARTS = {"05_deletion_impact": ("sweep", "rule")}

# the per-entity columns a part keeps (those Table 2, the variants' rows and the decomposition read)
ENTITY_COLUMNS = ("editor", "edit_token", "variant", "seed", "graph", "layers", "entity", "degree", "relation",
                  "skipped", "acc_pre", "acc_post", "impact", "side_effect", "impact_own", "impact_subject", "impact_object",
                  "impact_hop1", "impact_far", "impact_canonical", "side_effect_canonical", "deleted_ok",
                  "seconds")
# what makes two rows the same deletion (a part stored twice must not count twice)
ROW_KEYS = {"sweep": ("editor", "edit_token", "seed", "graph", "layers", "entity"),
            "rule": ("variant", "seed", "graph", "layers", "entity")}


def check_part(notebook: str, part: str) -> None:
    """``ParameterError`` naming the chapter or part when it has no stored parts."""
    check_choice("notebook", notebook, sorted(PARTS))
    check_choice("part", part, PARTS[notebook])


def part_path(notebook: str, profile: str, part: str, seeds, layers) -> Path:
    """``<notebook>.<profile>.<part>.seeds-<s1-s2..>.layers-<d1-d2..>.json`` in ``results/stored``."""
    label = lambda xs: "-".join(str(int(x)) for x in xs)  # noqa: E731
    return stored_dir() / f"{notebook}.{profile}.{part}.seeds-{label(seeds)}.layers-{label(layers)}.json"


def _entity_records(frame) -> list[dict]:
    from kedit_utils.book.results import frame_records

    return frame_records(frame[[c for c in ENTITY_COLUMNS if c in frame.columns]])


def run_part(notebook: str, part: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run ``part`` of ``notebook`` with ``params`` (the chapter's parameter names; ``None``
    or absent ones from the profile) and return its results (module docstring). Every parameter
    is checked first (:class:`kedit_utils.kg.deletion.config.DeletionChapterConfig`, the chapter's
    own config), so a bad one stops the part before any work."""
    from kedit_utils.book import profiles
    from kedit_utils.kg.deletion.config import DeletionChapterConfig

    check_part(notebook, part)
    profile = params.get("profile") or "quick"
    config = DeletionChapterConfig.from_parameters(params, profiles.resolve_parameters(notebook, profile, {}),
                                                   strict=True)
    if part == "sweep":
        from kedit_utils.kg.deletion.sweep import run_deletion_experiment

        entities = run_deletion_experiment(config).entities
        layers = config.layers
    else:
        from kedit_utils.kg.deletion.variants import run_variants, variants_by_name

        tables = run_variants(config.training_params(), variants_by_name(["rule"]), kinds=config.graph_kinds,
                              n_layers=list(config.rule_layers), seeds=list(config.seeds),
                              max_entities=config.variant_entities, trained_epochs=config.trained_epochs,
                              n_trace_facts=config.n_trace_facts, layers_name="rule_layers", executor=config.executor,
                              workers=config.workers, scheduler=config.scheduler)
        entities = tables["entities"]
        layers = config.rule_layers
    shown = {k: v for k, v in config.parameters().items() if isinstance(v, (int, float, str, list, type(None)))}
    return {"meta": {"notebook": notebook, "profile": profile, "part": part, "seeds": list(config.seeds),
                     "layers": [int(n) for n in layers], "parameters": shown},
            "entities": _entity_records(entities)}


def store_part(results: dict, command: str, commit: str, wall_seconds: float) -> Path:
    """Write ``results`` of :func:`run_part` (unedited) with its provenance; returns its path."""
    meta = results["meta"]
    out = part_path(meta["notebook"], meta["profile"], meta["part"], meta["seeds"], meta["layers"])
    return write_with_provenance(out, results, command, commit, wall_seconds)


def load_parts(notebook: str, profile: str, part: str) -> list[dict[str, Any]]:
    """Every stored ``part`` of ``notebook`` at ``profile``, by file name; a file without its
    provenance or results is an error."""
    check_part(notebook, part)
    found = []
    for path in sorted(stored_dir().glob(f"{notebook}.{profile}.{part}.seeds-*.json")):
        data = read_stored(path, needs=("entities",))
        data["file"] = path.name
        found.append(data)
    return found


def combined_entities(parts: list[dict[str, Any]]):
    """One per-entity DataFrame of ``parts`` (:func:`load_parts`); a deletion stored by two
    parts raises ``ParameterError`` naming both files."""
    import pandas as pd

    frames = []
    for p in parts:
        f = pd.DataFrame(p["results"]["entities"])
        frames.append(f.assign(stored_file=p["file"]))
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    keys = [k for k in ROW_KEYS[parts[0]["results"]["meta"]["part"]] if k in table.columns]
    dup = table[table.duplicated(keys, keep=False)]
    if len(dup):
        raise ParameterError("stored parts", sorted(set(dup.stored_file)),
                             f"store the same deletions twice ({dict(dup.iloc[0][keys])}): keep one file")
    return table.drop(columns=["stored_file"])


def stored_paper_scale(notebook: str, profile: str):
    """What is stored of ``notebook``'s paper-scale run (:class:`kedit_utils.kg.deletion.chapter.StoredPaperScale`):
    the whole chapter (``kedit run ... --store``) and its parts (``kedit store-part``), joined;
    nothing when ``profile`` is the paper's (the build is the paper-scale run)."""
    from kedit_utils.book.stored_results import load_stored
    from kedit_utils.kg.deletion.chapter import StoredPaperScale

    if profile == "paper":
        return StoredPaperScale(this_build_is_paper=True)
    whole = load_stored(notebook, "paper")
    sweep, rule = load_parts(notebook, "paper", "sweep"), load_parts(notebook, "paper", "rule")
    seeds = lambda parts: tuple(sorted({s for p in parts for s in p["results"]["meta"]["seeds"]}))
    return StoredPaperScale(
        results=None if whole is None else whole["results"], provenance=None if whole is None else whole["provenance"],
        sweep_entities=combined_entities(sweep), sweep_seeds=seeds(sweep), sweep_provenance=provenance_markdown(sweep),
        rule_entities=combined_entities(rule), rule_seeds=seeds(rule), rule_provenance=provenance_markdown(rule),
        parts_provenance=provenance_table(sweep + rule))


def provenance_table(parts: list[dict[str, Any]]):
    """One row per stored part: its file, seeds and provenance (shown beside the table)."""
    import pandas as pd

    return pd.DataFrame([{"file": p["file"], "seeds": ", ".join(map(str, p["results"]["meta"]["seeds"])),
                          **p["provenance"]} for p in parts])


def provenance_markdown(parts: list[dict[str, Any]]) -> str:
    """A Markdown list, one item per stored part: what it holds and its provenance (the
    command in full, so it wraps in the page instead of widening a table)."""
    items = []
    for p in parts:
        meta, prov = p["results"]["meta"], p["provenance"]
        wall = float(prov["wall_seconds"])
        items.append(f"- **{meta['part']}**, seed{'s' if len(meta['seeds']) > 1 else ''} "
                     f"{', '.join(map(str, meta['seeds']))}, {', '.join(map(str, meta.get('layers', [])))} layers: "
                     f"`{prov['command']}` at commit `{prov['commit'][:12]}`, {prov['date']}, "
                     f"{int(wall // 3600)} h {int(wall % 3600 // 60):02d} min on {prov['machine']}")
    return "\n".join(items)


__all__ = ["ENTITY_COLUMNS", "PARTS", "check_part", "combined_entities", "load_parts", "part_path",
           "provenance_markdown", "provenance_table", "run_part", "store_part", "stored_paper_scale"]
