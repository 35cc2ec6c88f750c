"""Invented entities for the facts an edit *inserts* (chapter 7's insert action; Paper B's CRE
entities: "Smith Innovation PLC", "Allen Manufacturing LLC"): names that no table of
:mod:`kedit_utils.datasets.world` holds, so nothing about them can be known before the edit.
"""
from __future__ import annotations

import random

from kedit_utils.core.validation import ParameterError, check_choice, check_int
from kedit_utils.datasets import world as W

# invented entities (Paper B's CRE: "Smith Innovation PLC", "Allen Manufacturing LLC")
_SURNAMES = ("Smith", "Allen", "Baker", "Carter", "Dawson", "Ellison", "Fletcher", "Granger", "Harlow", "Irving",
             "Jensen", "Kessler", "Lambert", "Morrow", "Norwood", "Osgood", "Prescott", "Quinlan", "Rowley",
             "Sutton", "Thackeray", "Underhill", "Vickers", "Whitlock", "Yardley")
_INDUSTRIES = ("Innovation", "Manufacturing", "Dynamics", "Logistics", "Systems", "Holdings", "Analytics",
               "Robotics")
_SUFFIXES = ("PLC", "LLC", "Ltd", "Inc.")
_FIRST = ("Elena", "Tomas", "Ingrid", "Marco", "Yuki", "Amara", "Oskar", "Lucia", "Dmitri", "Sofia", "Rafael",
          "Nadia", "Henrik", "Chiara", "Kenji", "Leila")
_LAST = ("Varga", "Lindqvist", "Moreau", "Castellano", "Okafor", "Brandt", "Nakamura", "Petrov", "Alvarez",
         "Kowalczyk", "Haddad", "Ferreira", "Janssen", "Rossi", "Sato", "Novak")


def invented_entities(kind: str, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct invented names, seeded: ``"company"`` ("Smith Innovation PLC") or
    ``"person"`` ("Elena Varga"). Names of the tables are never returned."""
    check_choice("kind", kind, ("company", "person"))
    check_int("n", n, minimum=0)
    if kind == "company":
        names = [f"{s} {i} {x}" for s in _SURNAMES for i in _INDUSTRIES for x in _SUFFIXES]
    else:
        names = [f"{a} {b}" for a in _FIRST for b in _LAST]
    names = [x for x in names if x not in W.COMPANIES and x not in W.PEOPLE]
    if n > len(names):
        raise ParameterError("n", n, f"at most {len(names)} invented {kind} names")
    rng = random.Random(f"{kind}-{seed}")
    rng.shuffle(names)
    return names[:n]


__all__ = ["invented_entities"]
