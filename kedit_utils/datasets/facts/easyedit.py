"""EasyEdit's forms of the fact requests (Paper C: the survey's experiments run on EasyEdit and
its KnowEdit data): one record per request (:func:`easyedit_record`, what
``FactRequest.to_easyedit`` returns) and the batch keyword arguments of EasyEdit's
``BaseEditor.edit`` (:func:`easyedit_batch`), so the same requests can be run by EasyEdit
itself. Portability and locality carry KnowEdit's keys (:data:`PORTABILITY_KEYS`,
:data:`LOCALITY_KEY`).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kedit_utils.core.validation import ParameterError

if TYPE_CHECKING:
    from kedit_utils.datasets.facts.requests import FactRequest

PORTABILITY_KEYS = {"second_hop": "Reasoning", "alias": "Subject_Aliasing", "reverse": "Logical_Generalization"}
LOCALITY_KEY = "Relation_Specificity"


def easyedit_record(fact_request: FactRequest) -> dict:
    """EasyEdit's record form of one request, with KnowEdit's keys: portability ``Reasoning``
    (second hops), ``Subject_Aliasing``, ``Logical_Generalization`` (reverse); locality
    ``Relation_Specificity``. :func:`kedit_utils.editing.as_requests` reads it back."""

    r = fact_request.request
    rec = {"prompt": r.prompt, "subject": r.subject, "target_new": r.target_new,
           "ground_truth": r.ground_truth if r.ground_truth is not None else "<|endoftext|>",
           "rephrase_prompt": list(r.rephrase_prompts)}
    port: dict[str, dict] = {}
    for kind, (p, a) in zip(fact_request.portability_kinds, r.portability):
        key = PORTABILITY_KEYS[kind.split(":")[0]]
        port.setdefault(key, {"prompt": [], "ground_truth": []})
        port[key]["prompt"].append(p)
        port[key]["ground_truth"].append(a)
    if port:
        rec["portability"] = port
    if r.locality:
        rec["locality"] = {LOCALITY_KEY: {"prompt": [p for p, _ in r.locality],
                                          "ground_truth": [a for _, a in r.locality]}}
    return rec


def easyedit_batch(requests: Sequence[FactRequest]) -> dict:
    """EasyEdit's batch form (``BaseEditor.edit``'s keyword arguments) of several requests:
    ``prompts``, ``ground_truth``, ``target_new``, ``subject``, ``rephrase_prompts`` (the
    first rephrase of each), ``locality_inputs`` / ``portability_inputs`` with one key per
    position (``Relation_Specificity_0``, ``Reasoning_1``, ...), ``None`` where a request has
    fewer pairs."""
    if not requests:
        raise ParameterError("requests", [], "must hold at least one request")
    reqs = [r.request for r in requests]
    out = {"prompts": [r.prompt for r in reqs], "subject": [r.subject for r in reqs],
           "target_new": [r.target_new for r in reqs],
           "ground_truth": [r.ground_truth if r.ground_truth is not None else "<|endoftext|>" for r in reqs],
           "rephrase_prompts": [r.rephrase_prompts[0] if r.rephrase_prompts else None for r in reqs]}
    if all(x is None for x in out["rephrase_prompts"]):
        del out["rephrase_prompts"]

    def block(pairs_of, key_of):
        keyed: list[dict[str, tuple[str, str]]] = []
        for fr in requests:
            d, seen = {}, Counter()
            for kind, pair in pairs_of(fr):
                k = key_of(kind)
                d[f"{k}_{seen[k]}"] = pair
                seen[k] += 1
            keyed.append(d)
        keys = sorted({k for d in keyed for k in d})
        return {k: {"prompt": [d[k][0] if k in d else None for d in keyed],
                    "ground_truth": [d[k][1] if k in d else None for d in keyed]} for k in keys}

    loc = block(lambda fr: [("loc", p) for p in fr.request.locality], lambda _k: LOCALITY_KEY)
    port = block(lambda fr: list(zip(fr.portability_kinds, fr.request.portability)),
                 lambda kind: PORTABILITY_KEYS[kind.split(":")[0]])
    if loc:
        out["locality_inputs"] = loc
    if port:
        out["portability_inputs"] = port
    return out


__all__ = ["LOCALITY_KEY", "PORTABILITY_KEYS", "easyedit_batch", "easyedit_record"]
