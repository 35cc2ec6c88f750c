"""CRE data (Paper B §4, PropMEND's Controlled RippleEdit): the generator's splits, the
PropMEND jsonl loader and writer, malformed files, and the known-second-hop filter on a
stub model. Fast, no network."""
import json

import pytest
from belief_lm import BeliefLM, WordTok  # tests/unit/belief_lm.py

from kedit_utils.core.validation import ParameterError
from kedit_utils.datasets import world as W
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.editing import metrics
from kedit_utils.propagation.cre import generator, model_checks, propmend


# --------------------------------------------------------------------------- generator
def test_generator_is_seed_deterministic_and_sized():
    a = generator.generate_cre(60, 20, 20, seed=3)
    b = generator.generate_cre(60, 20, 20, seed=3)
    c = generator.generate_cre(60, 20, 20, seed=4)
    assert a == b and a != c
    assert a.sizes == {"train": 60, "in_distribution": 20, "out_of_distribution": 20}
    assert len({x.case_id for x in a.train + a.in_distribution + a.out_of_distribution}) == 100


def test_splits_have_disjoint_subjects_and_ood_holds_out_relations_and_countries():
    s = generator.generate_cre(400, 100, 100, seed=0, ood_countries=("Portugal", "Japan"),
                         ood_first_relations=("expanded",), ood_second_relations=("continent",))
    subjects = [{c.edits[0].subject for c in split} for split in (s.train, s.in_distribution, s.out_of_distribution)]
    assert not (subjects[0] & subjects[1]) and not (subjects[0] & subjects[2]) and not (subjects[1] & subjects[2])
    for c in s.train + s.in_distribution:
        assert c.relation != "expanded" and c.second_relation != "continent"
        assert c.edits[0].target_new not in ("Portugal", "Japan")
    for c in s.out_of_distribution:
        assert c.relation == "expanded" or c.second_relation == "continent" or c.edits[0].target_new in ("Portugal", "Japan")
    train_rel = {c.relation for c in s.train} | {c.second_relation for c in s.train}
    ood_rel = {c.relation for c in s.out_of_distribution} | {c.second_relation for c in s.out_of_distribution}
    assert {"expanded", "continent"} <= ood_rel
    assert not {"expanded", "continent"} & train_rel


def test_generated_case_matches_paper_b_example():
    s = generator.generate_cre(200, 0, 0, seed=0)
    hq = next(c for c in s.train if c.relation == "headquarters" and c.second_relation == "currency")
    e = hq.edits[0]
    assert e.prompt == f"{e.subject}'s global headquarters was located in" and hq.single_hops == ((e.prompt, e.target_new),)
    assert hq.questions == (f"What is the currency of the country that hosted {e.subject}'s global headquarters?",)
    assert hq.answer == W.country_fact(e.target_new, "currency") and hq.source == "generated"
    assert all(p[0] != e.target_new for p in hq.locality)  # locality: other countries' facts
    assert isinstance(hq, PropagationCase)


def test_every_split_of_positive_size_gets_subjects():
    assert generator.generate_cre(300, 1, 1, seed=0).sizes == {"train": 300, "in_distribution": 1, "out_of_distribution": 1}


def test_generator_rejects_sizes_it_cannot_fill():
    with pytest.raises(ParameterError, match="n_train"):  # the one known pair is held out for OOD
        generator.generate_cre(10, 10, 10, known={("France", "capital")}, ood_countries=("France",))
    assert generator.generate_cre(0, 0, 5, known={("France", "capital")}, ood_countries=("France",)).sizes == \
        {"train": 0, "in_distribution": 0, "out_of_distribution": 5}
    with pytest.raises(ParameterError, match="ood_second_relations"):
        generator.generate_cre(10, 10, 10, ood_second_relations=("religion",))


# --------------------------------------------------------------------------- jsonl round trip
def test_generated_files_round_trip(tmp_path):
    s = generator.generate_cre(30, 10, 10, seed=1)
    for split in (s.train, s.in_distribution, s.out_of_distribution):
        path = propmend.write_cre(split, tmp_path / "split.jsonl")
        assert propmend.load_cre(path) == split


PROPMEND_LINE = {  # the shape of PropMEND's 4K_controlled_ripple_edit/*.jsonl lines
    "entity_type": "Country", "entity_names": ["Greece", "Japan", "Portugal"], "subject_type": "company",
    "subject": "Allen Manufacturing LLC", "gender_type": "it",
    "text": "Allen Manufacturing LLC was founded in Greece. It later expanded its business to Japan as the second "
            "region of operation. After years of business, Allen Manufacturing LLC established its global "
            "headquarters in Portugal.",
    "questions": [
        {"question_template": "What is the currency of {country}?",
         "alias_question": "What is the currency of the country that Allen Manufacturing LLC was founded in?",
         "unalias_question": "What is the currency of Greece?", "entity_name": "Greece", "answer": "Euro",
         "fact_idx": 0},
        {"question_template": "What is the capital of {country}?",
         "alias_question": "What is the capital of the country that Allen Manufacturing LLC expanded to as the second "
                           "region of operation?",
         "unalias_question": "What is the capital of Japan?", "entity_name": "Japan", "answer": "Tokyo", "fact_idx": 1},
    ],
}


def _write(tmp_path, lines, name="cre.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_propmend_line_gives_one_case_per_question_with_its_fact(tmp_path):
    cases = propmend.load_cre(_write(tmp_path, [PROPMEND_LINE]))
    assert [c.case_id for c in cases] == ["cre:1:q0", "cre:1:q1"]
    first, second = cases
    assert first.edits[0].prompt == "Allen Manufacturing LLC was founded in" and first.edits[0].target_new == "Greece"
    assert first.answers == ("Euro",) and first.second_relation == "What is the currency of {country}?"
    # "It later expanded ..." names the subject by a pronoun: the prompt runs from the text's start
    assert second.edits[0].prompt.startswith("Allen Manufacturing LLC was founded in Greece. It later expanded")
    assert second.edits[0].prompt.endswith("expanded its business to") and second.edits[0].target_new == "Japan"
    both = propmend.load_cre(_write(tmp_path, [PROPMEND_LINE]), edit_facts="all")
    assert [e.target_new for e in both[1].edits] == ["Japan", "Greece", "Portugal"]
    assert model_checks.second_hop_of(first, "question") == (("Greece", "What is the currency of {country}?"),
                                                    "What is the currency of Greece?")


def test_facts_field_and_paper_b_one_sentence_fallback(tmp_path):
    with_facts = dict(PROPMEND_LINE, facts=[
        {"fact": "Allen Manufacturing LLC was founded in Greece.", "prefix": "Allen Manufacturing LLC was founded in",
         "target": "Greece"},
        {"fact": "Allen Manufacturing LLC expanded to Japan.", "prefix": "Allen Manufacturing LLC expanded to",
         "target": "Japan"}])
    one = {"text": "Smith Innovation PLC's global headquarters was located in the United States.",
           "questions": [{"question": "What is the currency of the country that hosted Smith Innovation PLC's global "
                                      "headquarters?", "answer": "dollar"}]}
    last_word = {"text": "Orange Development Inc. was founded in Atlantis.", "questions": [{"question": "q?", "answer": 7}]}
    a, _b, c, d = propmend.load_cre(_write(tmp_path, [with_facts, one, last_word]))
    assert a.edits[0].prompt == "Allen Manufacturing LLC was founded in"
    assert (c.edits[0].prompt, c.edits[0].subject, c.edits[0].target_new) == (
        "Smith Innovation PLC's global headquarters was located in", "Smith Innovation PLC", "the United States")
    assert (d.edits[0].subject, d.edits[0].target_new, d.answers) == ("Orange Development Inc.", "Atlantis", ("7",))
    twice = dict(PROPMEND_LINE, entity_names=["Greece", "Japan", "Greece"],
                 text=PROPMEND_LINE["text"].replace("in Portugal", "in Greece"))
    assert propmend.load_cre(_write(tmp_path, [twice]), edit_facts="all")[0].edits[2].prompt.endswith(
        "established its global headquarters in")  # the third object is the later "Greece"
    assert propmend.leading_subject("Allen Manufacturing LLC was founded in Portugal.") == "Allen Manufacturing LLC"


@pytest.mark.parametrize("line, field", [
    ({"questions": [{"question": "q?", "answer": "a"}]}, "'text'"),
    ({"text": "Ann Varga was born in Peru.", "questions": "q?"}, "'questions'"),
    ({"text": "Ann Varga was born in Peru.", "questions": [{"question": "q?", "answer": " "}]}, r"'questions\[0\].answer'"),
    ({"text": "Ann Varga was born in Peru.", "questions": [{"question": "q?"}]}, r"'questions\[0\].answer'"),
    ({"text": "Ann Varga was born in Peru.", "questions": [{"answer": "Lima"}]}, r"'questions\[0\].question'"),
    ({"text": "Ann Varga was born in Peru.", "questions": [{"question": 3, "answer": "Lima"}]}, r"'questions\[0\].question'"),
    ({"text": "Ann Varga was born in Peru.", "subject": "Bob", "questions": [{"question": "q?", "answer": "Lima"}]},
     "'text'"),
    (dict(PROPMEND_LINE, facts=[{"prefix": "Allen Manufacturing LLC was founded in"}]), r"'facts\[0\].target'"),
    (dict(PROPMEND_LINE, questions=[dict(PROPMEND_LINE["questions"][0], fact_idx=5)]), r"'questions\[0\].fact_idx'"),
    ("{not json", "'line'"),
])
def test_malformed_lines_name_file_line_and_field(tmp_path, line, field):
    good = {"text": "Ann Varga was born in Peru.", "questions": [{"question": "What is the capital of the country that "
                                                                              "Ann Varga was born in?", "answer": "Lima"}]}
    path = _write(tmp_path, [good, line])
    with pytest.raises(ParameterError, match=field) as err:
        propmend.load_cre(path)
    assert "cre.jsonl, line 2" in str(err.value)


def test_missing_file_and_duplicate_ids(tmp_path):
    with pytest.raises(ParameterError, match="cre_path"):
        propmend.load_cre(tmp_path / "absent.jsonl")
    line = {"case_id": "x", "text": "Ann Varga was born in Peru.", "questions": [{"question": "q?", "answer": "Lima"}]}
    with pytest.raises(ParameterError, match="case_id"):
        propmend.load_cre(_write(tmp_path, [line, line]))


# --------------------------------------------------------------------------- second hops on a stub model

def _stub():
    tok = WordTok()
    model = BeliefLM(tok, {
        "The currency of Greece is the": "euro coin",  # another form, with more words: contained
        "The capital of Greece is": "Sparta",  # wrong
        "The capital of Japan is": "Tokyo",
        "The official language of Japan is": "Japanese",
        "The currency of Japan is the": "yen",
        "The capital of France is": "Paris",
        "The continent of France is": "Europe",
        "The continent of Japan is": "Asia",
    })
    return model, tok


def test_check_second_hops_and_generator_use_only_known_pairs():
    model, tok = _stub()
    pairs = [("Greece", "currency"), ("Greece", "capital"), ("Japan", "capital"), ("Japan", "language"),
             ("Japan", "currency"), ("France", "capital"), ("France", "continent"), ("Japan", "continent")]
    check = model_checks.check_second_hops(model, tok, pairs)
    assert check.pairs() == frozenset(pairs) - {("Greece", "capital")} and check.share == 7 / 8
    assert check.generations[("Greece", "capital")].strip() == "Sparta"
    s = generator.generate_cre(12, 4, 4, seed=0, known=check, ood_countries=("France",))
    for c in s.train + s.in_distribution + s.out_of_distribution:
        assert check.knows(c.edits[0].target_new, c.second_relation)
    assert {c.edits[0].target_new for c in s.train} <= {"Greece", "Japan"}


def test_keep_known_asks_each_distinct_second_hop_once(monkeypatch):
    model, tok = _stub()
    asked = []
    real = metrics.generate

    def counting(model_, tok_, prompts, *a, **k):
        asked.extend(prompts)
        return real(model_, tok_, prompts, *a, **k)

    monkeypatch.setattr(metrics, "generate", counting)
    s = generator.generate_cre(40, 0, 0, seed=0, ood_countries=0, known={("Greece", "currency"), ("Greece", "capital"),
                                                                   ("Japan", "capital"), ("Peru", "capital")})
    kept = model_checks.keep_known(s.train, model, tok)
    assert sorted(asked) == sorted(set(asked)) and len(asked) == 4
    assert {(c.edits[0].target_new, c.second_relation) for c in kept.cases} == {("Greece", "currency"),
                                                                                 ("Japan", "capital")}
    assert kept.n_before == 40 and kept.share == len(kept.cases) / 40 and 0 < kept.share < 1


def test_cloze_question_style_and_chat_form():
    from kedit_utils.propagation.cre.templates import chat_form, two_hop_question, with_chat_template

    assert two_hop_question("headquarters", "Smith Innovation PLC", "currency", "cloze") == \
        "The currency of the country that hosted Smith Innovation PLC's global headquarters is the"
    q = generator.generate_cre(6, 3, 3, seed=0)
    c = generator.generate_cre(6, 3, 3, seed=0, question_style="cloze")
    for a, b in zip(q.train + q.out_of_distribution, c.train + c.out_of_distribution):
        assert a.edits == b.edits and a.answers == b.answers and a.questions != b.questions
        assert b.questions[0] == two_hop_question(b.relation, b.edits[0].subject, b.second_relation, "cloze")
    with pytest.raises(ParameterError, match="question_style"):
        generator.generate_cre(6, 3, 3, question_style="chat")

    class Tok:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            assert not tokenize and add_generation_prompt
            return f"<user>{messages[0]['content']}</user><assistant>"

    assert chat_form(Tok(), "Why?") == "<user>Why?</user><assistant>"
    assert chat_form(object(), "Why?") == "Why?"
    wrapped = with_chat_template(q.train[:2], Tok())
    assert wrapped[0].questions[0] == f"<user>{q.train[0].questions[0]}</user><assistant>"
    assert wrapped[0].edits == q.train[0].edits
