"""Chapter 5's setup variants (issue 12 §2): the grid, its rule, its rows and its verdict."""
import numpy as np
import pandas as pd
import pytest

from kedit_utils.book.profiles import TRAINING
from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.claims import reproduced_by, table2_criterion
from kedit_utils.kg.deletion.variants import (
    RULE,
    Variant,
    check_graphs,
    edit_effect,
    edit_effect_text,
    fixed_relation,
    run_variants,
    stand_in_target,
    variant_grid,
    variant_rows,
    variants_by_graph,
    variants_by_name,
)
from kedit_utils.kg.graphs import GraphSpec, build_graph

TINY = {**TRAINING["quick"], "n_entities": 12, "n_relations": 8, "ba_m": 2, "n_aliases": 2, "sample_fraction": 0.5,
        "layers": [2], "n_embd": 16, "n_head": 2, "lr": 3e-3, "batch_size": 64, "max_epochs": 30, "warmup": 5,
        "seed": 0, "device": "cpu"}


def test_the_grid_has_one_baseline_unique_names_and_a_rule_that_applies_every_choice_it_lists():
    grid = variant_grid()
    names = [v.name for v in grid]
    assert names[0] == "baseline" and names[-1] == "rule" and len(set(names)) == len(names)
    rule = grid[-1]
    assert (rule.orientation, rule.training, rule.fact, rule.target, rule.token, rule.layer, rule.all_aliases) == \
        ("both", "epochs", "fixed", "untrained", "subject_last", None, False)
    assert rule.rome["v_loss_layer"] == "edit" and {c for c, _, _ in RULE} >= {"orientation", "training", "target"}
    assert sorted(v.rome["clamp_norm_factor"] for v in grid if "clamp_norm_factor" in v.rome) == [0.5, 1.0, 2.0, 8.0]
    # variants that differ only in how the rows are read share one sweep
    assert variants_by_name(["canonical prompt"])[0].sweep_key() == grid[0].sweep_key()


def test_bad_variants_are_named_before_any_work():
    with pytest.raises(ParameterError, match="variants"):
        variants_by_name(["clamp 3"])
    with pytest.raises(ParameterError, match="rome"):
        Variant("x", "rome", "", rome={"clamp": 1})
    with pytest.raises(ParameterError, match="n_relations"):  # a hub with more facts than relations
        check_graphs({**TINY, "n_relations": 3}, [Variant("b", "orientation", "", orientation="both")], ["ba"])


def test_fixed_relation_and_stand_in_target():
    kg = build_graph(GraphSpec(kind="ba", n_entities=30, n_relations=10, ba_m=2, seed=0))
    r = fixed_relation(kg)
    count = [np.unique(kg.triples[kg.triples[:, 1] == q, 0]).size for q in range(kg.n_relations)]
    assert count[r] == max(count)
    for t in range(kg.n_triples):
        e = stand_in_target(kg, t)
        assert e not in (kg.triples[t, 0], kg.triples[t, 2])
        assert kg.degree[e] <= np.sort(kg.degree)[2]


def test_rows_and_the_verdict():
    rng = np.random.default_rng(0)
    degree = np.arange(1, 31)
    frames = []
    for variant, slope in (("a", 1.0), ("b", 0.0)):
        for graph in ("BA", "ER"):
            s = slope if graph == "BA" else 0.0
            impact = s * degree / 1000 + rng.normal(0, 0.002, degree.size)
            frames.append(pd.DataFrame({"variant": variant, "graph": graph, "layers": 6, "seed": 0, "entity": degree,
                                        "degree": degree, "impact": impact, "side_effect": impact, "deleted_ok": 0.5,
                                        "skipped": False, **{f"impact_{p}": impact / 5 for p in
                                                             ("own", "subject", "object", "hop1", "far")}}))
    grid = [Variant("a", "rome", ""), Variant("b", "rome", "", rome={"kl_factor": 1.0})]
    rows = variant_rows(pd.concat(frames, ignore_index=True), grid, n_boot=200)
    assert set(rows.columns) >= {"variant", "orientation", "graph", "layers", "pearson", "spearman", "ci_low",
                                 "ci_high", "mean_impact", "max_impact", "own_share", "far_share", "deleted_ok",
                                 "n_seeds"}
    a = rows[(rows.variant == "a") & (rows.graph == "BA")].iloc[0]
    assert a.pearson > 0.9 and a.own_share == pytest.approx(0.2) and a.far_share == pytest.approx(0.4)
    assert reproduced_by(rows, layers=(6,)) == {"a": True, "b": False}
    wide = variants_by_graph(rows, {"pearson": "r", "deleted_ok": "deleted"})
    assert list(wide.columns) == ["r BA", "r ER", "deleted BA", "deleted ER"] and list(wide.index) == ["a", "b"]
    assert wide.loc["a", "r BA"] == pytest.approx(a.pearson)
    assert reproduced_by(rows, layers=(12,)) == {"a": False, "b": False}  # nothing ran at that depth


def test_a_tiny_grid_runs_and_a_fixed_layer_equal_to_the_traced_one_is_the_same_sweep(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    grid = variants_by_name(["baseline", "layer 0", "clamp 1", "trained target", "canonical prompt", "rule"])
    tabs = run_variants(TINY, grid, kinds=["ba"], n_layers=2, max_entities=5, trained_epochs=3, n_trace_facts=3,
                        progress=False)
    e = tabs["entities"]
    assert set(e.variant) == {v.name for v in grid} and (e.groupby("variant").size() == 5).all()
    base = e[e.variant == "baseline"].set_index("entity")
    if (base.edit_layer == 0).all():  # the trace chose layer 0: "layer 0" must be the very same sweep
        assert np.array_equal(e[e.variant == "layer 0"].set_index("entity").impact, base.impact)
    assert (e[e.variant == "canonical prompt"].impact.to_numpy() == base.impact.to_numpy()).all()
    rule = e[e.variant == "rule"]
    assert rule.fixed_relation.any() and (rule.seed == 0).all()  # the paper's r where the entity has it
    rows = variant_rows(e, grid, n_boot=20)
    canon = rows[rows.variant == "canonical prompt"].iloc[0]
    assert canon.mean_impact == pytest.approx(100 * base.impact_canonical.mean())


def table2_verdict(rows):
    """(outcome, evidence) of the criterion, now ruled in kg.claims (one rule per verdict)."""
    return table2_criterion(rows)[1:]


def test_the_verdict_reads_the_interval_across_seeds_and_says_when_a_depth_is_missing():
    def row(graph, layers, r, ci, seeds_ci, n_seeds):
        return {"graph": graph, "layers": layers, "pearson": r, "ci_low": ci[0], "ci_high": ci[1],
                "seeds_low": seeds_ci[0], "seeds_high": seeds_ci[1], "n_seeds": n_seeds}

    nan = (float("nan"), float("nan"))
    one_seed = pd.DataFrame([row("BA", 6, 0.9, (0.85, 0.95), nan, 1), row("ER", 6, 0.2, (0.0, 0.4), nan, 1),
                             row("BA", 12, 0.95, (0.9, 0.99), nan, 1), row("ER", 12, 0.3, (0.1, 0.5), nan, 1)])
    outcome, evidence = table2_verdict(one_seed)
    assert outcome == "reproduced" and "over entities" in evidence and "12 layers: BA r 0.95" in evidence
    # three seeds that disagree: the entity bootstrap is tight, the interval across seeds is not
    seeds = one_seed.assign(n_seeds=3, seeds_low=[0.3, -0.2, 0.4, -0.1], seeds_high=[1.0, 0.6, 1.0, 0.7])
    outcome, evidence = table2_verdict(seeds)
    assert outcome == "not reproduced" and "across seeds" in evidence
    assert reproduced_by(seeds.assign(variant="rule"), layers=(6, 12)) == {"rule": False}
    assert table2_verdict(one_seed[one_seed.layers == 6])[0] == "undecided"  # 12 layers did not run
    assert table2_verdict(seeds[seeds.layers == 6])[0] == "not reproduced"  # 6 layers fail already
    assert "not run at 12 layers" in table2_verdict(one_seed[one_seed.layers == 6])[1]


def test_a_variant_runs_over_seeds_and_depths_and_its_rows_carry_the_interval_across_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    base = variants_by_name(["baseline"])
    tabs = run_variants(TINY, base, kinds=["ba"], n_layers=[1, 2], seeds=[0, 1], max_entities=4, n_trace_facts=3,
                        progress=False)
    e = tabs["entities"]
    assert sorted(set(zip(e.seed, e.layers))) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert (e.groupby(["seed", "layers"]).size() == 4).all()
    once = run_variants(TINY, base, kinds=["ba"], n_layers=2, max_entities=4, n_trace_facts=3, progress=False)
    same = e[(e.seed == 0) & (e.layers == 2)].reset_index(drop=True)
    assert np.array_equal(once["entities"].impact.to_numpy(), same.impact.to_numpy())  # one seed, one depth: same sweep
    rows = variant_rows(e, base, n_boot=20)
    assert set(rows.n_seeds) == {2} and rows[["seeds_low", "seeds_high"]].notna().all().all()
    with pytest.raises(ParameterError, match="rule_layers"):
        run_variants(TINY, base, kinds=["ba"], n_layers=[], layers_name="rule_layers", progress=False)
    with pytest.raises(ParameterError, match="seeds"):
        run_variants(TINY, base, kinds=["ba"], n_layers=2, seeds=[-1], progress=False)


def test_edit_effect_says_whether_a_setup_removed_the_facts():
    rows = pd.DataFrame({"variant": ["a", "a", "a", "b", "b"], "skipped": [False, False, True, False, False],
                         "deleted_ok": [0.5, 0.1, 1.0, 0.0, 0.0], "impact": [0.02, 0.0, 0.5, 0.0, -0.001],
                         "impact_own": [0.01, 0.0, 0.2, 0.0, 0.0]})
    a = edit_effect(rows, "a")
    assert a == {"deleted_ok": pytest.approx(0.3), "mean_impact": pytest.approx(1.0), "kept": 0.5, "n": 2}
    b = edit_effect(rows, "b")
    assert b["kept"] == 1.0 and b["deleted_ok"] == 0.0 and b["n"] == 2
    assert edit_effect(rows, "c")["n"] == 0 and edit_effect_text(edit_effect(rows, "c")) == "not run"
    assert "100% of the 2 deletions" in edit_effect_text(b) and "0.0%" in edit_effect_text(b)
