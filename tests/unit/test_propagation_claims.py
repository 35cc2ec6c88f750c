"""Paper B's claim rules (kedit_utils.propagation.claims) on hand-made results: Table 1's gain,
Fig. 2's depth, Table 2's meta-minus-baseline, and their edge cases (an interval touching the
paper's value or 0, n = 0, too few cases, a missing baseline)."""
import math

import pytest

from kedit_utils.core import verdicts as V
from kedit_utils.propagation import claims as C
from kedit_utils.propagation.paper_numbers import PAPER_B_TABLE1, PAPER_B_TABLE2


def _t1(scope="mlp", split="id", base=0.0, meta=0.5, n=100):
    return {"scope": scope, "split": split, "layers": "8", "acc_base": base, "acc_meta": meta, "gain": meta - base,
            "n": n}


def _t2(**acc):
    return [{"method": m, "cre_ood": a, "mquake": a, "mquake_subset": a, "seconds_per_edit": 1.0, "n": 100,
             "n_mquake": 100, "n_mquake_subset": 50} for m, a in acc.items()]


def test_table1_gain_rule():
    # MLP in-distribution: paper +65.9, ours +50 [~+40, ~+59]: the sign, not the size
    d = C.table1_gain(_t1())
    assert d.verdict == V.PARTLY and d.ours == 0.5 and d.n == 100 and d.low > 0.35 and d.high < 0.659
    assert d.paper == pytest.approx(PAPER_B_TABLE1[("mlp", "id")][1] / 100)
    # attn OOD: paper +1.6; ours +5 [+0.3, ~+11] contains it
    assert C.table1_gain(_t1("attn", "ood", 0.0, 0.05)).verdict == V.AGREES
    # no gain, or the opposite sign
    assert C.table1_gain(_t1(base=0.5, meta=0.5)).verdict == V.DOES_NOT
    assert C.table1_gain(_t1(base=0.6, meta=0.1)).verdict == V.DOES_NOT
    assert d.text() == f"{C.points_text(d.ours, d.low, d.high)}, n = 100 ({d.detectable_text})"
    assert d.decided and d.detectable == pytest.approx(0.197, abs=0.002)  # 100 cases per arm: 19.7 pts


def test_too_few_cases_to_tell_reads_so_with_the_detectable_difference():
    """Issue 30 §3: an interval holding both 0 and the paper's gain reads "too few cases to tell
    (this n detects ≥ X)", in the chapter's text and on the scorecard."""
    d = C.table1_gain(_t1("attn", "ood", n=2, base=0.0, meta=0.0))  # paper +1.6 pts
    assert not d.decided and d.verdict == V.DOES_NOT
    assert d.text().endswith(f"— too few cases to tell (this n detects ≥ {100 * d.detectable:.1f} pts)")
    assert d.detectable > 0.5  # two cases per arm detect only a huge difference
    claim = C.table1_claims({"table1": [_t1("attn", "ood", n=2, base=0.0, meta=0.0)]})[0]
    assert not claim.decided and claim.detectable == d.detectable_text


def test_table1_edge_cases():
    assert C.table1_gain(_t1(n=0)) is None  # no case: no claim
    assert C.table1_gain(_t1(scope="embed")) is None  # no paper number
    assert C.table1_gain(_t1(meta=math.nan)) is None
    # too few cases to tell: 1 of 1 against 0 of 1, the interval holds 0
    tiny = C.table1_gain(_t1(base=0.0, meta=1.0, n=1))
    assert tiny.low < 0 < tiny.high and tiny.verdict == V.DOES_NOT
    # 1 of 2 against 0 of 2 is still too few
    assert C.table1_gain(_t1(base=0.0, meta=0.5, n=2)).verdict == V.DOES_NOT


def test_interval_touching_the_paper_value_or_zero():
    assert V.verdict_difference(0.3, 0.3, 0.5) == V.AGREES  # lower bound at the paper's gain
    assert V.verdict_difference(0.3, 0.1, 0.3) == V.AGREES  # upper bound at it
    assert V.verdict_difference(0.3, 0.0, 0.5) == V.DOES_NOT  # touching 0 does not exclude it
    assert V.verdict_difference(-0.1, -0.3, 0.0) == V.DOES_NOT
    assert V.verdict_difference(-0.1, -0.3, -0.05) == V.AGREES


def test_layer_depth_rule():
    assert C.layer_depth(8, 30) == V.AGREES and C.layer_depth(9, 30) == V.AGREES  # 10/30 = one third
    assert C.layer_depth(10, 30) == V.PARTLY and C.layer_depth(14, 30) == V.PARTLY
    assert C.layer_depth(15, 30) == V.DOES_NOT
    assert C.fig2_claims({"data": {"chosen_layer": 8, "n_layers": 30}})[0].verdict == V.AGREES
    assert C.fig2_claims({"data": {}}) == [] and C.fig2_claims({}) == []


def test_table2_difference_rule():
    rows = _t2(rome=0.10, memit=0.0, alphaedit=0.38, ft=0.40, meta=0.40)
    assert C.table2_difference(rows, "ft").verdict == V.DOES_NOT  # 0 vs paper +29.7
    rome = C.table2_difference(rows, "rome")  # +30 vs paper +34.2
    assert rome.verdict == V.AGREES and rome.ours == pytest.approx(0.3)
    assert rome.paper == pytest.approx((PAPER_B_TABLE2["meta"][0] - PAPER_B_TABLE2["rome"][0]) / 100)
    assert C.table2_difference(rows, "memit", "mquake").above_zero
    assert [m for m, _ in C.ahead_of(rows)] == ["rome", "memit"]


def test_table2_edge_cases():
    rows = _t2(ft=0.40, meta=0.40)
    assert C.table2_difference(rows, "rome") is None  # a missing baseline: no claim
    assert C.table2_difference(_t2(rome=0.1), "rome") is None  # no meta row
    assert C.table2_difference(rows, "ft", "mquake_subset") is None  # a column the book does not claim
    assert C.table2_difference(_t2(ft=0.0, meta=0.5), "cake") is None  # no paper number for CRE OOD
    empty = _t2(rome=0.1, meta=0.4)
    empty[0]["n"] = 0
    assert C.table2_difference(empty, "rome") is None  # n = 0
    few = [dict(r, n=1) for r in _t2(rome=0.0, meta=1.0)]
    assert C.table2_difference(few, "rome").verdict == V.DOES_NOT and C.ahead_of(few) == []


def test_propagation_claims_and_records():
    res = {"table1": [_t1(), _t1("attn", "ood", 0.0, 0.05), _t1(n=0)],
           "table2": _t2(rome=0.10, ft=0.40, meta=0.40),
           "data": {"chosen_layer": 8, "n_layers": 30, "swept_layers": [2, 8]}}
    rows = C.propagation_claims(res)
    assert [r.rule for r in rows] == ["difference"] * 2 + ["depth"] + ["difference"] * 4
    assert all(r.paper == "B" and r.chapter == C.CHAPTER for r in rows)
    records = C.claim_records(res)
    assert [r["verdict"] for r in records] == [r.verdict for r in rows]
    assert C.CLAIMS[C.CHAPTER] == [C.propagation_claims]
    assert C.propagation_claims({"table1": [], "table2": []}) == []
