"""Data that Papers B and C share: a hand-written table of real-world facts (:mod:`.world`),
facts and edit requests checked on a model (:mod:`.facts`, chapter 7, a subpackage by job: the
table, known facts, requests, invented entities, EasyEdit export; chapter 6 draws its second hops
from the same table) and the edit cases with their questions (:mod:`.cases`).

    from kedit_utils.datasets import facts
    table = facts.fact_table()                         # every fact, with probes
    known = facts.known_facts(model, tok, table)       # what the model answers
    reqs = facts.make_requests("modify", 10, known)    # FactRequest: .request, .to_easyedit()

Paper B's own data sets (CRE, MQuAKE, the graph's 2-hop cases) are in
:mod:`kedit_utils.propagation`; chapter 7's requests on a graph in
:mod:`kedit_utils.survey.kg_requests`.
"""
from kedit_utils.datasets import cases, facts, world
from kedit_utils.datasets.facts import (
                                        ACTIONS,
                                        ERASE_TARGET,
                                        RELATIONS,
                                        Fact,
                                        FactRequest,
                                        KnownFacts,
                                        Probe,
                                        easyedit_batch,
                                        edit_requests,
                                        erase_requests,
                                        fact_table,
                                        insert_requests,
                                        known_facts,
                                        make_requests,
                                        modify_requests,
)
from kedit_utils.datasets.world import compose_two_hop, country_link

__all__ = ["ACTIONS", "ERASE_TARGET", "Fact", "FactRequest", "KnownFacts", "Probe", "RELATIONS", "cases",
           "compose_two_hop", "country_link", "easyedit_batch", "edit_requests", "erase_requests", "fact_table", "facts",
           "insert_requests", "known_facts", "make_requests", "modify_requests", "world"]
