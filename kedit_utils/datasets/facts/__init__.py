"""The facts table of chapter 7 (Paper C, the survey, §4: insert, modify and erase, scored by
reliability, generalization, locality and portability) and its edit requests, one module per job:

* :mod:`.table`: the relations' templates and every fact of :mod:`kedit_utils.datasets.world`,
  with paraphrases and portability probes (:func:`fact_table`, :func:`make_fact`);
* :mod:`.known`: which of them a model answers (:func:`known_facts`; measured, not assumed,
  so a chapter says "N of M facts kept");
* :mod:`.requests`: insert / modify / erase requests from the (known) facts
  (:func:`make_requests`, :class:`FactRequest`);
* :mod:`.invented`: the invented entities an insert is about (Paper B's CRE names);
* :mod:`.easyedit`: EasyEdit's record and batch forms of the requests (KnowEdit's keys).

**Where the data comes from**: the templates and the tables of :mod:`kedit_utils.datasets.world`
were written by hand for this book from general knowledge; nothing is downloaded.

Every public name is importable from here (``from kedit_utils.datasets import facts as F``).
"""
from kedit_utils.datasets.facts.easyedit import (
    LOCALITY_KEY,
    PORTABILITY_KEYS,
    easyedit_batch,
    easyedit_record,
)
from kedit_utils.datasets.facts.invented import invented_entities
from kedit_utils.datasets.facts.known import (
    CHECK_MODES,
    KnownFacts,
    answer_forms,
    answered,
    known_facts,
)
from kedit_utils.datasets.facts.requests import (
    ACTIONS,
    ERASE_TARGET,
    INSERT_RELATIONS,
    FactRequest,
    edit_requests,
    erase_requests,
    insert_requests,
    make_requests,
    modify_requests,
)
from kedit_utils.datasets.facts.table import (
    COUNTRY_RELATION,
    RELATIONS,
    Fact,
    Probe,
    Relation,
    aliases_of,
    fact_table,
    make_fact,
    raw_triples,
    second_hops,
)

__all__ = ["ACTIONS", "CHECK_MODES", "COUNTRY_RELATION", "ERASE_TARGET", "INSERT_RELATIONS", "LOCALITY_KEY",
           "PORTABILITY_KEYS", "RELATIONS", "Fact", "FactRequest", "KnownFacts", "Probe", "Relation", "aliases_of",
           "answer_forms", "answered", "easyedit_batch", "easyedit_record", "edit_requests", "erase_requests",
           "fact_table", "insert_requests", "invented_entities", "known_facts", "make_fact", "make_requests",
           "modify_requests", "raw_triples", "second_hops"]
