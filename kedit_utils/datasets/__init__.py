"""Data for the editing chapters (Paper C's chapter 7; Paper B's chapter 6 draws its second
hops from here): a hand-written table of real-world facts (:mod:`.world`), facts and edit
requests checked on a model (:mod:`.facts`).

    from kedit_utils.datasets import facts
    table = facts.fact_table()                         # every fact, with probes
    known = facts.known_facts(model, tok, table)       # what the model answers
    reqs = facts.make_requests("modify", 10, known)    # FactRequest: .request, .to_easyedit()

    from kedit_utils.datasets import cre, mquake       # Paper B's data (chapter 6)
    splits = cre.generate_cre(4000, 500, 350)          # CRE-style train / in-dist / OOD cases
    cases = mquake.load_mquake("MQuAKE-CF-3k-v2.json")  # PropagationCase list

:mod:`.kg_two_hop` (chapter 6's graph section): a knowledge graph's composed 2-hop questions
and CRE-like cases about new entities; :mod:`.kg_requests`: chapter 7's requests on a graph.
"""
from . import cases, facts, world
from .facts import (ACTIONS, ERASE_TARGET, Fact, FactRequest, KnownFacts, Probe, RELATIONS, easyedit_batch,
                    edit_requests, erase_requests, fact_table, insert_requests, known_facts, make_requests,
                    modify_requests)
from .world import compose_two_hop, country_link
from . import cre  # CRE generator and PropMEND jsonl loader (Paper B)
from . import mquake  # MQuAKE loader, MQuAKE-subset, generated MQuAKE-format file (Paper B)

__all__ = ["ACTIONS", "ERASE_TARGET", "Fact", "FactRequest", "KnownFacts", "Probe", "RELATIONS", "cases",
           "compose_two_hop", "country_link", "cre", "mquake", "easyedit_batch", "edit_requests", "erase_requests", "fact_table", "facts",
           "insert_requests", "known_facts", "make_requests", "modify_requests", "world"]
