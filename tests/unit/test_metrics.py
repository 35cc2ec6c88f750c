"""The survey's metrics on hand-made examples: a bigram "language model" whose next token is a
table lookup of the current token, so every expected value can be worked out by hand."""
import math

import pytest
import torch

from kedit_utils.core.validation import ParameterError
from kedit_utils.editing import EditRequest
from kedit_utils.editing import metrics as M
from kedit_utils.kg.vocabulary import Vocabulary, hf_tokenizer

VOCAB = Vocabulary(8, 4, 2)
TOK = hf_tokenizer(VOCAB)
ID = {t: i for i, t in enumerate(VOCAB.tokens)}


class BigramLM(torch.nn.Module):
    """Next token = ``table[current token]`` (logit 10 there, 0 elsewhere); no ``generate``,
    so the metrics' own greedy loop is used."""

    def __init__(self, table: dict[str, str]):
        super().__init__()
        self.nxt = torch.tensor([ID.get(table.get(t, "<pad>"), 0) for t in VOCAB.tokens])
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.config = type("Config", (), {"vocab_size": VOCAB.size})()

    def forward(self, input_ids, attention_mask=None):
        logits = torch.nn.functional.one_hot(self.nxt[input_ids], VOCAB.size).float() * 10
        return type("Out", (), {"logits": logits + 0 * self.dummy})()

    def with_(self, **changes):
        table = {t: VOCAB.tokens[int(i)] for t, i in zip(VOCAB.tokens, self.nxt)}
        return BigramLM({**table, **changes})


BASE = BigramLM({"r2_1": "e4_1", "e4_1": "e0_0", "r1_0": "e6_0", "r3_0": "e4_1", "r0_1": "e3_0", "e3_0": "e1_1"})


def test_rewrite_rephrase_portability_are_teacher_forced_token_accuracy():
    req = EditRequest("e1_0 r2_1", "e1_0", "e4_1", rephrase_prompts=("e1_1 r2_1", "e1_1 r0_1"),
                      portability=(("e1_0 r3_0", "e4_1 e0_0"), ("e1_0 r3_0", "e4_1 e1_0")))
    assert M.rewrite_acc(BASE, TOK, req) == 1.0
    assert M.rephrase_acc(BASE, TOK, req) == 0.5  # r2_1 → e4_1 yes, r0_1 → e3_0 no
    # two-token answers: the second token is predicted from the first (teacher forcing):
    # e4_1 → e0_0 right (1.0), e4_1 → e1_0 wrong (0.5); mean 0.75
    assert M.portability(BASE, TOK, req) == 0.75
    assert M.token_accuracy(BASE, TOK, ["e1_0 r2_1"], ["e4_1 e1_0"]).tolist() == [0.5]
    other = EditRequest("e2_0 r0_1", "e2_0", "e5_1")
    assert M.rewrite_acc(BASE, TOK, [req, other]) == 0.5  # averaged over requests
    assert math.isnan(M.rephrase_acc(BASE, TOK, other)) and math.isnan(M.portability(BASE, TOK, other))
    # the condition is what the model is given: here it swaps the relation
    assert M.rewrite_acc(BASE, TOK, req, condition=lambda p: p.replace("r2_1", "r0_1")) == 0.0


def test_locality_counts_answer_tokens_whose_argmax_is_unchanged():
    req = EditRequest("e1_0 r2_1", "e1_0", "e5_1",
                      locality=(("e3_0 r1_0", "e6_0"), ("e2_0 r0_1", "e3_0 e1_1")))
    ref = M.locality_reference(BASE, TOK, req)
    assert M.locality(BASE, TOK, req, ref) == 1.0
    # the "edit" changes what follows e3_0: one of the three locality answer tokens moves
    edited = BASE.with_(**{"r2_1": "e5_1", "e3_0": "e7_0"})
    assert M.locality(edited, TOK, req, ref) == pytest.approx(2 / 3)
    # locality compares with the argmax before, not with the given answer: a wrong answer is
    # "kept" when the model still predicts what it predicted
    wrong = EditRequest("e1_0 r2_1", "e1_0", "e5_1", locality=(("e3_0 r1_0", "e7_1"),))
    assert M.locality(edited, TOK, wrong, M.locality_reference(BASE, TOK, wrong)) == 1.0
    with pytest.raises(ParameterError) as e:
        M.locality(edited, TOK, [req, wrong], ref)
    assert e.value.name == "reference"


def test_generation_mode_contains_the_normalised_answer():
    assert M.normalize_answer("The  Answer, is: an Apple.") == "answer is apple"
    assert M.generate(BASE, TOK, ["e1_0 r2_1"], 3) == ["e4_1 e0_0"]  # e0_0 → <pad> (eos) stops it
    acc = M.generation_acc(BASE, TOK, ["e1_0 r2_1", "e1_0 r2_1", "e2_0 r0_1"], ["E0_0", "e7_0", "e1_1"], 10)
    assert acc.tolist() == [True, False, True]
    req = EditRequest("e2_0 r0_1", "e2_0", "e1_1")
    assert M.rewrite_acc(BASE, TOK, req) == 0.0  # the *next* token is e3_0 ...
    assert M.rewrite_acc(BASE, TOK, req, mode="generation") == 1.0  # ... but e1_1 follows within 10
    assert M.rewrite_acc(BASE, TOK, req, mode="generation", max_new_tokens=1) == 0.0


def test_ngram_entropy_by_hand_and_repetition_lowers_fluency():
    # "a b a b": bigrams ab, ba, ab → H2 = H(2/3, 1/3); trigrams aba, bab → H3 = 1 bit
    h2 = -(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3)
    assert M.ngram_entropy("a b a b") == pytest.approx((2 / 3 * h2 + 4 / 3 * 1.0) / 2)
    assert M.ngram_entropy("the the the the the the") == 0.0
    varied = "the tower stands in paris, where many people visit it every summer."
    assert M.ngram_entropy("paris paris paris paris paris paris paris") < M.ngram_entropy(varied)
    # on generations: a model stuck on one token vs one that walks through eight
    stuck = BigramLM({"r2_1": "e4_1", "e4_1": "e4_1"})
    walk = BigramLM({"r2_1": "e0_0", **{f"e{i}_0": f"e{i + 1}_0" for i in range(7)}})
    assert M.fluency(stuck, TOK, ["e1_0 r2_1"], 8) < M.fluency(walk, TOK, ["e1_0 r2_1"], 8)


def test_erase_reports_old_answer_gone_and_erase_target():
    req = EditRequest("e1_0 r2_1", "e1_0", "<deleted>", ground_truth="e4_1", rephrase_prompts=("e1_1 r3_0",))
    before = M.erase_metrics(BASE, TOK, req)
    assert before == {"old_answer_gone": 0.0, "erase_target": 0.0,
                      "old_answer_gone_rephrase": 0.0, "erase_target_rephrase": 0.0}
    # erased on the prompt only: r2_1 now → <deleted>, the rephrase (r3_0) still → e4_1
    after = M.erase_metrics(BASE.with_(r2_1="<deleted>"), TOK, req)
    assert after == {"old_answer_gone": 1.0, "erase_target": 1.0,
                     "old_answer_gone_rephrase": 0.0, "erase_target_rephrase": 0.0}
    # old answer gone but the erase target not produced either
    other = M.erase_metrics(BASE.with_(r2_1="e7_1"), TOK, req, mode="generation")
    assert other["old_answer_gone"] == 1.0 and other["erase_target"] == 0.0
    with pytest.raises(ParameterError) as e:
        M.erase_metrics(BASE, TOK, EditRequest("e1_0 r2_1", "e1_0", "<deleted>"))
    assert e.value.name == "ground_truth"


def test_evaluate_and_conditions_from_handles():
    from kedit_utils.editing import get_editor
    from kedit_utils.editing.ice import ICEHyperParams

    req = EditRequest("e1_0 r2_1", "e1_0", "e4_1", rephrase_prompts=("e1_1 r2_1",),
                      locality=(("e3_0 r1_0", "e6_0"),), portability=(("e1_0 r3_0", "e4_1"),))
    out = M.evaluate(BASE, TOK, req, reference=M.locality_reference(BASE, TOK, req),
                     fluency_prompts=["e1_0 r2_1"], fluency_tokens=3)
    assert out == {"rewrite_acc": 1.0, "rephrase_acc": 1.0, "portability": 1.0, "locality": 1.0,
                   "fluency": pytest.approx(M.ngram_entropy("e1_0 r2_1 e4_1 e0_0"))}
    # an ICE handle as the condition: its prefix ends "... r0_1", so the bigram model reads
    # the prompt's last token only and nothing changes; a prompt-replacing condition does
    h = get_editor("ice").apply(BASE, TOK, EditRequest("e2_0 r0_1", "e2_0", "e1_1"), ICEHyperParams.tiny_gpt2())
    assert h.condition("e1_0 r2_1") == "e2_0 r0_1 e1_1 e1_0 r2_1"
    assert M.rewrite_acc(BASE, TOK, req, h) == 1.0
    with pytest.raises(ParameterError) as e:
        M.rewrite_acc(BASE, TOK, req, mode="sampled")
    assert e.value.name == "mode"
