"""CRE (Controlled RippleEdit) data for Paper B (§4 "Datasets" and Appendix A, Table 3): a
new fact about an invented entity whose country is the first hop, and a question whose
second hop is common knowledge about that country.

Source: CRE is PropMEND's dataset (Liu, Durrett & Choi 2025, "PropMEND: Hypernetworks for
Knowledge Propagation in LLMs", arXiv:2506.08920; code github.com/leo-liuzy/propmend, data
``4K_controlled_ripple_edit/{train_data_id,valid_data_id,test_data_id,test_data_ood}.jsonl``).
Paper B meta-trains on its 4,000 training cases and evaluates on 500 in-distribution and 350
out-of-distribution ones. Nothing here is downloaded: :func:`generate_cre` builds CRE-style
data offline from :mod:`kedit_utils.datasets.world`, and :func:`load_cre` reads PropMEND's published jsonl
(``cre_path``) when a reader has it.

One module per job:

* :mod:`.templates`: the first-hop relations and the sentences (second hop alone, 2-hop
  question or cloze, chat form);
* :mod:`.model_checks`: which second hops the unedited model knows
  (:func:`check_second_hops`, :func:`keep_known`);
* :mod:`.generator`: CRE-style train / in-distribution / OOD splits (:func:`generate_cre`);
* :mod:`.propmend`: PropMEND's jsonl (:func:`load_cre`, :func:`write_cre`).

The names of all four are re-exported here (``from kedit_utils.propagation import cre;
cre.generate_cre(...)``).
"""
from kedit_utils.propagation.cre.generator import CRESplits, generate_cre
from kedit_utils.propagation.cre.model_checks import (
    KnownCases,
    SecondHopCheck,
    check_second_hops,
    keep_known,
    second_hop_of,
)
from kedit_utils.propagation.cre.propmend import (
    ABBREVIATIONS,
    cre_record,
    leading_subject,
    load_cre,
    sentence_spans,
    split_fact,
    write_cre,
)
from kedit_utils.propagation.cre.templates import (
    EDIT_FACTS,
    FIRST_HOPS,
    OOD_FIRST_HOPS,
    OOD_SECOND_HOPS,
    STYLES,
    FirstHop,
    chat_form,
    second_hop_pairs,
    second_hop_prompt,
    two_hop_question,
    with_chat_template,
)

__all__ = [
    "ABBREVIATIONS",
    "EDIT_FACTS",
    "FIRST_HOPS",
    "OOD_FIRST_HOPS",
    "OOD_SECOND_HOPS",
    "STYLES",
    "CRESplits",
    "FirstHop",
    "KnownCases",
    "SecondHopCheck",
    "chat_form",
    "check_second_hops",
    "cre_record",
    "generate_cre",
    "keep_known",
    "leading_subject",
    "load_cre",
    "second_hop_of",
    "second_hop_pairs",
    "second_hop_prompt",
    "sentence_spans",
    "split_fact",
    "two_hop_question",
    "with_chat_template",
    "write_cre",
]
