"""MQuAKE loader, MQuAKE-subset filter and the generated MQuAKE-format file (Paper B §4.2,
Table 2). Fast, no network."""
import copy
import json

import pytest

from kedit_utils.core.validation import ParameterError
from kedit_utils.propagation import mquake as M


def _case(cid, hops, edited, subject="Joe Biden"):
    """A crafted MQuAKE case: ``hops`` (subject, relation, new object) in order; ``edited``
    the indices of the hops that are requested rewrites."""
    rewrites = [{"prompt": "{} is a citizen of" if i == 0 else "The official language of {} is",
                 "relation_id": f"P{i}", "subject": hops[i][0], "target_new": {"str": hops[i][2], "id": "Q1"},
                 "target_true": {"str": "old", "id": "Q2"}, "question": f"q{i}?"} for i in edited]
    return {"case_id": cid, "requested_rewrite": rewrites,
            "questions": ["Which language is the official language of Joe Biden's country?", "b?", "c?"],
            "answer": "English", "answer_alias": [], "new_answer": hops[-1][2], "new_answer_alias": ["alias"],
            "single_hops": [], "new_single_hops": [{"question": f"{s} {r}?", "cloze": f"{s} {r}", "answer": o,
                                                    "answer_alias": []} for s, r, o in hops],
            "orig": {}}


CRAFTED = [
    _case(1, [("Joe Biden", "citizen", "Vietnam"), ("Vietnam", "language", "Vietnamese")], [0]),  # subset
    _case(2, [("Joe Biden", "citizen", "United States of America"), ("United States of America", "language",
                                                                         "Arabic")], [1]),  # second hop edited
    _case(3, [("Joe Biden", "citizen", "Spain"), ("Spain", "language", "Arabic")], [0, 1]),  # two edits
    _case(4, [("Joe Biden", "citizen", "Peru"), ("Peru", "capital", "Lima"), ("Lima", "x", "y")], [0]),  # 3 hops
    _case(5, [("Joe Biden", "citizen", "Japan"), ("Japan", "language", "Japanese")], [0]),  # subset
]


def _write(tmp_path, data, name="MQuAKE-test.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path




def test_crafted_file_loads_and_subset_count(tmp_path):
    cases = M.load_mquake(_write(tmp_path, CRAFTED))
    assert [c.case_id for c in cases] == ["1", "2", "3", "4", "5"]
    first = cases[0]
    e = first.edits[0]
    assert (e.prompt, e.subject, e.target_new, e.ground_truth) == ("Joe Biden is a citizen of", "Joe Biden", "Vietnam",
                                                                   "old")
    assert first.answers == ("Vietnamese", "alias") and len(first.questions) == 3 and first.source == "mquake"
    assert first.single_hops == (("Joe Biden citizen", "Vietnam"), ("Vietnam language", "Vietnamese"))
    assert len(cases[2].edits) == 2 and cases[2].edits[1].prompt == "The official language of Spain is"
    assert [c.case_id for c in M.mquake_subset(cases)] == ["1", "5"]


def test_generated_file_round_trips_and_subset_agrees_with_orig(tmp_path):
    records = M.generate_mquake(120, seed=2)
    assert records == M.generate_mquake(120, seed=2) and records != M.generate_mquake(120, seed=3)
    path = M.write_mquake(records, tmp_path / "generated.json")
    cases = M.load_mquake(path)
    assert len(cases) == 120
    for rec, case in zip(records, cases):
        assert case.case_id == str(rec["case_id"]) and list(case.questions) == rec["questions"]
        assert [e.target_new for e in case.edits] == [r["target_new"]["str"] for r in rec["requested_rewrite"]]
        assert [e.prompt for e in case.edits] == [r["prompt"].replace("{}", r["subject"]) for r in
                                                 rec["requested_rewrite"]]
        assert case.answers[0] == rec["new_answer"] != rec["answer"]
        assert [a for _, a in case.single_hops] == [h["answer"] for h in rec["new_single_hops"]]
    # the answer-based subset rule equals the one read from orig (2 triples, one edit, on the first)
    by_orig = [str(r["case_id"]) for r in records if len(r["orig"]["triples"]) == 2
               and len(r["orig"]["edit_triples"]) == 1 and r["orig"]["edit_triples"][0][:2] == r["orig"]["triples"][0][:2]]
    assert [c.case_id for c in M.mquake_subset(cases)] == by_orig and 10 < len(by_orig) < 120
    assert M.write_mquake(records, tmp_path / "again.json").read_text() == path.read_text()


def _broken(mutate):
    data = copy.deepcopy(CRAFTED)
    mutate(data[1])
    return data


@pytest.mark.parametrize("mutate, field", [
    (lambda c: c.pop("requested_rewrite"), "'requested_rewrite'"),
    (lambda c: c.update(requested_rewrite=[]), "'requested_rewrite'"),
    (lambda c: c["requested_rewrite"][0].update(prompt="The official language of is"), r"'requested_rewrite\[0\].prompt'"),
    (lambda c: c["requested_rewrite"][0].pop("subject"), r"'requested_rewrite\[0\].subject'"),
    (lambda c: c["requested_rewrite"][0].update(target_new="Arabic"), r"'requested_rewrite\[0\].target_new.str'"),
    (lambda c: c["requested_rewrite"][0]["target_true"].update(str=""), r"'requested_rewrite\[0\].target_true.str'"),
    (lambda c: c.update(questions="q?"), "'questions'"),
    (lambda c: c.update(questions=["a?", 3, "c?"]), r"'questions\[1\]'"),
    (lambda c: c.update(new_answer=""), "'new_answer'"),
    (lambda c: c.pop("new_answer"), "'new_answer'"),
    (lambda c: c.update(new_answer_alias=[""]), r"'new_answer_alias\[0\]'"),
    (lambda c: c["new_single_hops"][1].pop("answer"), r"'new_single_hops\[1\].answer'"),
])
def test_malformed_cases_name_file_case_and_field(tmp_path, mutate, field):
    path = _write(tmp_path, _broken(mutate))
    with pytest.raises(ParameterError, match=field) as err:
        M.load_mquake(path)
    assert "MQuAKE-test.json, case 2" in str(err.value)


@pytest.mark.parametrize("mutate, field", [
    (lambda c: c.update(answer=""), "'answer'"),
    (lambda c: c.update(answer="   "), "'answer'"),
    (lambda c: c.update(answer_alias=["US English", ""]), r"'answer_alias\[1\]'"),
    (lambda c: c.update(new_answer=" \t"), "'new_answer'"),
    (lambda c: c.update(new_answer_alias=["ok", "\n"]), r"'new_answer_alias\[1\]'"),
    (lambda c: c["new_single_hops"][0].update(answer=""), r"'new_single_hops\[0\].answer'"),
    (lambda c: c["new_single_hops"][1].update(answer_alias=[" "]), r"'new_single_hops\[1\].answer_alias\[0\]'"),
    (lambda c: c.update(single_hops=[{"question": "q?", "answer": ""}]), r"'single_hops\[0\].answer'"),
])
def test_empty_or_blank_answers_are_rejected_with_file_case_entry_and_field(tmp_path, mutate, field):
    """An empty answer would count any generation as correct; the file must be refused, not load."""
    path = _write(tmp_path, _broken(mutate))
    with pytest.raises(ParameterError, match=field) as err:
        M.load_mquake(path)
    message = str(err.value)
    assert f"{path}, case 2 (entry 1)" in message and "must not be empty or only whitespace" in message


def test_absent_optional_answers_still_load(tmp_path):
    data = copy.deepcopy(CRAFTED)
    for case in data:
        for key in ("answer", "answer_alias", "single_hops", "new_answer_alias", "orig"):
            case.pop(key)
    cases = M.load_mquake(_write(tmp_path, data))
    assert [c.answers for c in cases[:2]] == [("Vietnamese",), ("Arabic",)]


def test_malformed_files(tmp_path):
    with pytest.raises(ParameterError, match="mquake_path"):
        M.load_mquake(tmp_path / "absent.json")
    with pytest.raises(ParameterError, match="not valid JSON"):
        M.load_mquake(_write(tmp_path, "[{"))
    with pytest.raises(ParameterError, match="JSON list"):
        M.load_mquake(_write(tmp_path, {"case_id": 1}))
    with pytest.raises(ParameterError, match="'case_id'.*entry 1"):
        M.load_mquake(_write(tmp_path, _broken(lambda c: c.pop("case_id"))))
    with pytest.raises(ParameterError, match="'case_id'"):
        M.load_mquake(_write(tmp_path, CRAFTED + CRAFTED[:1]))


def test_generated_cloze_questions_keep_the_cases():
    from kedit_utils.propagation.mquake import generate_mquake

    q, c = generate_mquake(20, seed=1), generate_mquake(20, seed=1, question_style="cloze")
    for a, b in zip(q, c):
        assert {k: v for k, v in a.items() if k != "questions"} == {k: v for k, v in b.items() if k != "questions"}
        assert len(b["questions"]) == 3 and not any(x.endswith("?") for x in b["questions"])
