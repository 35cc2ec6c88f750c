"""The facts table of chapter 7 (kedit_utils.datasets): the table is well formed, the three
kinds of requests are consistent with the tables and round-trip through EasyEdit's dict
forms, 2-hop prompts are composed as expected, and known_facts keeps exactly what a stub
model answers (a word-level "model" whose next token is looked up from the whole prefix)."""
from collections import Counter

import pytest
from belief_lm import BeliefLM, WordTok  # tests/unit/belief_lm.py

from kedit_utils.core.validation import ParameterError
from kedit_utils.datasets import facts as F
from kedit_utils.datasets import world as W
from kedit_utils.editing import as_requests


# --------------------------------------------------------------------------- the table
def test_table_is_well_formed():
    table = F.fact_table()
    assert len(table) >= 60 and len({f.relation for f in table}) >= 8
    keys = [f.key for f in table]
    assert len(keys) == len(set(keys)), [k for k, c in Counter(keys).items() if c > 1]
    for f in table:
        assert f.subject in f.prompt
        assert f.answer.strip() and f.prompt == f.prompt.rstrip() and not f.prompt.endswith(".")
        assert 2 <= len(f.paraphrases) <= 3 and f.prompt not in f.paraphrases
        assert f.name.lower() in f.prompt.lower()
        for p in f.paraphrases:
            assert f.name.lower() in p.lower()
        for pr in f.portability:
            assert pr.prompt.strip() and pr.answer.strip() and pr.kind
    # every country relation's answer is the country table's; every city resolves to a country
    for f in table:
        if f.relation in F.COUNTRY_RELATION.values():
            hop = [h for h, r in F.COUNTRY_RELATION.items() if r == f.relation][0]
            assert W.country_fact(f.name, hop) == f.answer
    for city in list(W.LANDMARKS.values()) + [hq for _f, hq in W.COMPANIES.values() if hq]:
        assert W.country_of_city(city) in W.COUNTRIES, city


def test_probes_use_the_fact():
    eiffel = F.make_fact("landmark_city", "the Eiffel Tower", "Paris", F.aliases_of("the Eiffel Tower"))
    assert eiffel.prompt == "The Eiffel Tower is located in the city of" and eiffel.subject == "The Eiffel Tower"
    got = {p.kind: (p.prompt, p.answer) for p in eiffel.portability}
    assert got["second_hop:country"] == ("The Eiffel Tower is located in the country of", "France")
    assert got["second_hop:currency"] == ("The currency of the country where the Eiffel Tower is located is the", "Euro")
    assert got["alias"] == ("La Tour Eiffel is located in the city of", "Paris")
    capital = F.make_fact("country_capital", "France", "Paris")
    assert [(p.kind, p.prompt, p.answer) for p in capital.portability] == \
        [("reverse", "Paris is the capital city of", "France")]


def test_compose_two_hop_on_crafted_cases():
    assert W.compose_two_hop("landmark_city", "the Eiffel Tower", "currency", first_object="Rome") == \
        ("The currency of the country where the Eiffel Tower is located is the", "Euro")
    assert W.compose_two_hop("company_headquarters", "Smith Innovation PLC", "currency", first_object="Athens",
                             style="question") == \
        ("What is the currency of the country that hosts Smith Innovation PLC's headquarters?", "Euro")
    assert W.compose_two_hop("person_country", "Pablo Picasso", "capital") == \
        ("The capital of the country where Pablo Picasso was born is", "Madrid")
    assert W.compose_two_hop("city_country", "Lyon", "language", first_object="Japan")[1] == "Japanese"
    assert W.compose_two_hop("city_country", "Lyon", "continent", first_object="Russia") is None  # none stated
    assert W.country_link("the Colosseum") == "Italy" and W.country_link("Samsung") == "South Korea"
    with pytest.raises(ParameterError) as e:
        W.compose_two_hop("country_currency", "France", "capital")
    assert e.value.name == "first_relation"


# --------------------------------------------------------------------------- requests
def _second_hop_answer(relation, name, new_object, kind):
    hop = kind.split(":", 1)[1]
    country = new_object if F.RELATIONS[relation].object_type == "country" else W.country_of_city(new_object)
    return country if hop == "country" else W.country_fact(country, hop)


def test_modify_targets_differ_and_second_hops_follow_the_new_object():
    reqs = F.modify_requests(seed=3)
    assert len(reqs) == len(F.fact_table())
    for fr in reqs:
        r = fr.request
        assert r.target_new != r.ground_truth == fr.fact.answer
        assert r.subject in r.prompt and r.rephrase_prompts == fr.fact.paraphrases
        if fr.relation in W.COUNTRY_PHRASES:
            assert any(k.startswith("second_hop") for k in fr.portability_kinds), r
        for kind, (p, a) in zip(fr.portability_kinds, r.portability):
            if kind.startswith("second_hop"):
                assert a == _second_hop_answer(fr.relation, fr.fact.name, r.target_new, kind)
            elif kind == "alias":
                assert a == r.target_new
            else:
                assert kind == "reverse" and a == fr.fact.name and r.target_new in p
        for p, a in r.locality:  # unrelated: the subject is not mentioned
            assert fr.fact.name.lower() not in p.lower() and a.strip()
    assert F.modify_requests(seed=3) == reqs  # seeded


def test_insert_requests_are_about_invented_entities():
    reqs = F.insert_requests(12, seed=1)
    assert len(reqs) == 12 and Counter(r.relation for r in reqs) == Counter(F.INSERT_RELATIONS * 6)
    subjects = [r.request.subject for r in reqs]
    assert len(set(subjects)) == 12
    for fr in reqs:
        r = fr.request
        assert r.ground_truth is None and fr.fact is None
        assert r.subject not in W.COMPANIES and r.subject not in W.PEOPLE
        assert fr.portability_kinds and all(k.startswith("second_hop") for k in fr.portability_kinds)
        for kind, (p, a) in zip(fr.portability_kinds, r.portability):
            assert r.subject in p and a == _second_hop_answer(fr.relation, r.subject, r.target_new, kind)
    assert "Smith Innovation PLC" in F.invented_entities("company", 800)


def test_erase_requests():
    reqs = F.erase_requests(n=20, seed=0)
    assert len(reqs) == 20 and len({r.relation for r in reqs}) == len(F.RELATIONS)  # spread over relations
    for fr in reqs:
        r = fr.request
        assert r.target_new == F.ERASE_TARGET and r.ground_truth == fr.fact.answer
        assert all(a == F.ERASE_TARGET for _p, a in r.portability) and set(fr.portability_kinds) <= {"alias"}
    assert F.erase_requests(n=2, erase_target="unknown")[0].request.target_new == "unknown"
    with pytest.raises(ParameterError) as e:
        F.erase_requests(n=2, erase_target=" ")
    assert e.value.name == "erase_target"
    with pytest.raises(ParameterError) as e:
        F.make_requests("rewrite", 3)
    assert e.value.name == "action"


@pytest.mark.parametrize("action", F.ACTIONS)
def test_requests_round_trip_through_easyedit_dicts(action):
    reqs = F.make_requests(action, 9, seed=2)
    edit = F.edit_requests(reqs)
    # record form (KnowEdit's keys), one dict per request: exactly the same request back
    assert [as_requests(fr.to_easyedit())[0] for fr in reqs] == edit
    rec = reqs[0].to_easyedit()
    assert set(rec) >= {"prompt", "subject", "target_new", "ground_truth", "rephrase_prompt", "locality"}
    assert set(rec.get("portability", {})) <= {"Reasoning", "Subject_Aliasing", "Logical_Generalization"}
    # batch form (BaseEditor.edit's arguments): same edits; the first rephrase; pairs as sets
    batch = F.easyedit_batch(reqs)
    assert set(batch) <= set(("prompts", "ground_truth", "target_new", "subject", "rephrase_prompts",
                              "locality_inputs", "portability_inputs"))
    back = as_requests(batch)
    assert len(back) == len(edit)
    for b, r in zip(back, edit):
        assert (b.prompt, b.subject, b.target_new, b.ground_truth) == (r.prompt, r.subject, r.target_new, r.ground_truth)
        assert b.rephrase_prompts == r.rephrase_prompts[:1]
        assert set(b.locality) == set(r.locality) and set(b.portability) == set(r.portability)


# --------------------------------------------------------------------------- known_facts on a stub model

def test_known_facts_keeps_what_the_model_answers():
    facts = [F.make_fact("city_country", "Lyon", "France"), F.make_fact("country_capital", "France", "Paris"),
             F.make_fact("country_currency", "France", "Euro"), F.make_fact("city_country", "Osaka", "Japan")]
    tok = WordTok()
    model = BeliefLM(tok, {
        "The city of Lyon is in the country of": "France",
        "The currency of the country where Lyon is located is the": "Euro",
        "The capital of the country where Lyon is located is": "Lyon",  # a wrong second hop
        "The capital of France is": "Paris",
        "Paris is the capital city of": "Europe",  # a wrong reverse
        "The currency of France is the": "euro",  # another accepted form of the answer
        "The city of Osaka is in the country of": "China",  # wrong: dropped
    })
    k = F.known_facts(model, tok, facts)
    assert [f.key for f in k.kept] == [("city_country", "Lyon"), ("country_capital", "France"),
                                       ("country_currency", "France")]
    lyon, capital, currency = k.kept
    assert [(p.kind, p.answer) for p in lyon.portability] == [("second_hop:currency", "Euro")]
    assert capital.portability == () and currency.answer == "euro" and k.form("country_currency", "France", "") == "euro"
    assert k.total == {"city_country": 2, "country_capital": 1, "country_currency": 1}
    assert k.known == {"city_country": 1, "country_capital": 1, "country_currency": 1}
    assert k.dropped == {"prompt": 1, "second_hop:capital": 1, "second_hop:language": 1, "second_hop:continent": 1,
                         "reverse": 1}
    assert k.share("city_country") == 0.5 and k.share() == 0.75 and k.knows("country_capital", "France")
    assert F.known_facts(model, tok, facts) == k  # deterministic
    strict = F.known_facts(model, tok, facts, require_portability=True)
    assert [f.key for f in strict.kept] == [("city_country", "Lyon")] and strict.dropped["no_portability"] == 2
    # generation mode: the answer contained in the greedy continuation (the stub stops at <pad>)
    assert [f.key for f in F.known_facts(model, tok, facts, mode="generation").kept] == \
        [("city_country", "Lyon"), ("country_capital", "France"), ("country_currency", "France")]


def test_requests_from_known_facts_use_only_grounded_second_hops():
    facts = [F.make_fact("landmark_city", "the Eiffel Tower", "Paris"), F.make_fact("city_country", "Lyon", "France")]
    tok = WordTok()
    beliefs = {"The Eiffel Tower is located in the city of": "Paris", "The city of Lyon is in the country of": "France",
               "The capital of Italy is": "Rome", "The currency of Italy is the": "Euro"}
    k = F.known_facts(BeliefLM(tok, beliefs), tok, facts + [F.make_fact("country_capital", "Italy", "Rome"),
                                                           F.make_fact("country_currency", "Italy", "Euro")])
    (eiffel,) = F.modify_requests([k.kept[0]], k, seed=0)
    # the only city whose country the model knows (as a capital) with a known hop is Rome
    assert eiffel.request.target_new == "Rome"
    assert dict(zip(eiffel.portability_kinds, eiffel.request.portability)) == {
        "second_hop:country": ("The Eiffel Tower is located in the country of", "Italy"),
        "second_hop:currency": ("The currency of the country where the Eiffel Tower is located is the", "Euro"),
        "second_hop:capital": ("The capital of the country where the Eiffel Tower is located is", "Rome")}
    ins = F.insert_requests(2, k, seed=0)
    assert ins[1].request.target_new == "Italy"  # person_country: the one country with known hops
    assert {a for _p, a in ins[1].request.portability} == {"Rome", "Euro"}


# --------------------------------------------------------------------------- the alias knowledge graphs
def test_kg_requests_on_an_alias_graph():
    from kedit_utils.kg.graphs import DELETED_ENTITY, GraphSpec, build_graph
    from kedit_utils.kg.vocabulary import Vocabulary, hf_tokenizer
    from kedit_utils.survey.kg_requests import kg_request, kg_requests

    kg = build_graph(GraphSpec(kind="ba", n_entities=16, n_relations=6, ba_m=2, seed=0))
    vocab = Vocabulary(16, 6, 3)
    s, r, o = (int(x) for x in kg.triples[0])
    mod = kg_request(kg, vocab, "modify", s, r, new_object=(o + 1) % 16 if (o + 1) % 16 != s else (o + 2) % 16)
    q = mod.request
    assert q.prompt == f"e{s}_0 r{r}_0" and q.subject == f"e{s}_0" and q.ground_truth == f"e{o}_0"
    assert q.target_new != q.ground_truth and q.target_new.startswith("e")
    assert q.rephrase_prompts == (f"e{s}_0 r{r}_1", f"e{s}_0 r{r}_2")
    assert q.portability == ((f"e{s}_1 r{r}_0", q.target_new), (f"e{s}_2 r{r}_0", q.target_new))
    touched = {f"e{s}_", f"e{o}_", q.target_new[:-1]}
    for p, a in q.locality:  # other facts, none about the edit's entities
        assert not any(p.startswith(t) for t in touched) and not any(a.startswith(t) for t in touched)
        subj, rel = int(p.split()[0][1:].split("_")[0]), int(p.split()[1][1:].split("_")[0])
        assert a == f"e{kg.object_of[(subj, rel)]}_0"
    era = kg_request(kg, vocab, "erase", s, r).request
    assert era.target_new == DELETED_ENTITY and era.ground_truth == f"e{o}_0"
    ins = kg_requests(kg, vocab, "insert", 5, seed=1)
    for fr in ins:
        subj, rel = (int(t[1:].split("_")[0]) for t in fr.request.prompt.split())
        assert (subj, rel) not in kg.object_of and fr.request.ground_truth is None
    assert len({fr.request.prompt for fr in kg_requests(kg, vocab, "erase", 10)}) == 10
    with pytest.raises(ParameterError) as e:
        kg_request(kg, vocab, "insert", s, r)
    assert e.value.name == "relation"
    with pytest.raises(ParameterError) as e:
        kg_request(kg, vocab, "modify", s, r, new_object=o)
    assert e.value.name == "new_object"
    # the tokenizer of the tiny models reads every prompt and target; EasyEdit dicts round-trip
    tok = hf_tokenizer(vocab)
    for fr in ins + [mod]:
        assert tok.unk_token_id not in tok(fr.request.prompt + " " + fr.request.target_new)["input_ids"]
        assert as_requests(fr.to_easyedit())[0] == fr.request
