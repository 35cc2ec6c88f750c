"""MQuAKE for Paper B's Table 2 (§4.2; Appendix A, Table 4): multi-hop questions after one
or more counterfactual edits, and the MQuAKE-subset (2 hops, one edit, on the first hop:
CRE's form; 213 cases of MQuAKE-CF-3k-v2 in the paper).

Source: Zhong et al. 2023, "MQuAKE: Assessing Knowledge Editing in Language Models via
Multi-Hop Questions" (EMNLP 2023), github.com/princeton-nlp/MQuAKE, ``datasets/``
``MQuAKE-CF-3k-v2.json``, ``MQuAKE-CF.json``, ``MQuAKE-T.json``: a JSON list of cases

    case_id             int
    requested_rewrite   [{prompt ("{} is a citizen of"), subject, target_new {str, id},
                          target_true {str, id}, relation_id, question}]   (1 to 4 edits)
    questions           3 paraphrases of the multi-hop question
    answer, answer_alias              the answer before the edits
    new_answer, new_answer_alias      the answer after them
    single_hops, new_single_hops      [{question, cloze, answer, answer_alias}], one per hop
    orig                {triples, triples_labeled, new_triples, new_triples_labeled, edit_triples}

:func:`load_mquake` (parameter ``mquake_path``) turns each case into a
:class:`kedit_utils.datasets.cases.PropagationCase`: one :class:`EditRequest` per requested rewrite (prompt =
``prompt`` with the subject in place of ``{}``; MQuAKE's prompts end where the object starts;
``target_new.str`` → target_new, ``target_true.str`` → ground_truth), the three questions,
answers = new_answer then new_answer_alias, single_hops = each hop of ``new_single_hops`` as
(cloze, answer) (the question when a hop has no cloze). Only those fields are used (and
``case_id``); ``answer``, ``single_hops`` and ``orig`` may be absent. Every answer and alias
present (``answer``, ``answer_alias``, ``new_answer``, ``new_answer_alias`` and each hop's
``answer`` / ``answer_alias``) must be a non-blank string: an empty answer would match any
generation. A malformed case raises :class:`~kedit_utils.core.validation.ParameterError` naming
the file, the case id, its entry index and the field.

:func:`mquake_subset` keeps the 2-hop cases with exactly one edit whose new object is the
first hop's new answer (MQuAKE's ``new_single_hops[0].answer`` is ``target_new.str`` of
the rewrite that edits it).

Nothing is downloaded: :func:`generate_mquake` writes MQuAKE's format offline from the facts
table (:mod:`kedit_utils.datasets.world`, :mod:`kedit_utils.datasets.facts`), so the chapter runs as is and the real file drops in
through the same loader. Its chains: person → country → (capital | currency | language |
continent), city → country → ..., landmark → city → country → ..., company → headquarters
city → country → ...; edits on one or two hops (counterfactual objects of the same type);
three questions per case from three phrasings of each intermediate hop.
"""
from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from kedit_utils.core.validation import ParameterError, check_int
from kedit_utils.datasets import world as W
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.datasets.facts import RELATIONS, answer_forms
from kedit_utils.editing.metrics import normalize_answer
from kedit_utils.editing.requests import EditRequest


# --------------------------------------------------------------------------- loader
def _where(path, case_id, index: int) -> str:
    return f"{path}, case {case_id} (entry {index})"


def _text(where: str, name: str, value) -> str:
    if not isinstance(value, str):
        raise ParameterError(name, value, f"{where}: must be a string")
    if not value.strip():
        raise ParameterError(name, value, f"{where}: must not be empty or only whitespace")
    return value


def _strings(where: str, name: str, value, allow_empty: bool) -> list[str]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise ParameterError(name, value, f"{where}: must be a {'' if allow_empty else 'non-empty '}list of strings")
    return [_text(where, f"{name}[{i}]", v) for i, v in enumerate(value)]


def _field(where: str, d: dict, name: str, prefix: str = ""):
    if name not in d:
        raise ParameterError(prefix + name, None, f"{where}: is missing")
    return d[name]


def _obj_str(where: str, rw: dict, name: str, prefix: str) -> str:
    v = _field(where, rw, name, prefix)
    if not isinstance(v, dict) or "str" not in v:
        raise ParameterError(f"{prefix}{name}.str", v, f"{where}: must be an object with a 'str'")
    return _text(where, f"{prefix}{name}.str", v["str"])


def _hops(where: str, name: str, hops, allow_empty: bool = False) -> list[tuple[str, str]]:
    """(cloze, answer) of each hop of ``single_hops`` / ``new_single_hops`` (the question when
    a hop has no cloze); its ``answer_alias``, when present, must hold non-empty strings too."""
    if not isinstance(hops, list) or (not hops and not allow_empty):
        raise ParameterError(name, hops, f"{where}: must be a {'' if allow_empty else 'non-empty '}list")
    out = []
    for k, h in enumerate(hops):
        pre = f"{name}[{k}]."
        if not isinstance(h, dict):
            raise ParameterError(pre.rstrip("."), h, f"{where}: must be an object")
        key = "cloze" if "cloze" in h else "question"
        out.append((_text(where, pre + key, _field(where, h, key, pre)),
                    _text(where, pre + "answer", _field(where, h, "answer", pre))))
        _strings(where, pre + "answer_alias", h.get("answer_alias", []), allow_empty=True)
    return out


def _case(path, i: int, d) -> PropagationCase:
    if not isinstance(d, dict):
        raise ParameterError("case", type(d).__name__, f"{path}, entry {i}: must be a JSON object")
    if "case_id" not in d:
        raise ParameterError("case_id", None, f"{path}, entry {i}: is missing")
    cid = d["case_id"]
    if isinstance(cid, bool) or not isinstance(cid, (int, str)) or str(cid) == "":
        raise ParameterError("case_id", cid, f"{path}, entry {i}: must be an integer or a string")
    where = _where(path, cid, i)
    rewrites = _field(where, d, "requested_rewrite")
    if not isinstance(rewrites, list) or not rewrites:
        raise ParameterError("requested_rewrite", rewrites, f"{where}: must be a non-empty list")
    edits = []
    for k, rw in enumerate(rewrites):
        pre = f"requested_rewrite[{k}]."
        if not isinstance(rw, dict):
            raise ParameterError(pre.rstrip("."), rw, f"{where}: must be an object")
        prompt = _text(where, pre + "prompt", _field(where, rw, "prompt", pre))
        if "{}" not in prompt:
            raise ParameterError(pre + "prompt", prompt, f"{where}: must contain {{}} where the subject goes")
        subject = _text(where, pre + "subject", _field(where, rw, "subject", pre))
        edits.append(EditRequest(prompt=prompt.replace("{}", subject, 1), subject=subject,
                                 target_new=_obj_str(where, rw, "target_new", pre),
                                 ground_truth=_obj_str(where, rw, "target_true", pre)))
    questions = _strings(where, "questions", _field(where, d, "questions"), allow_empty=False)
    if "answer" in d:  # the answer before the edits: not used, but an empty one means a broken file
        _text(where, "answer", d["answer"])
    _strings(where, "answer_alias", d.get("answer_alias", []), allow_empty=True)
    new_answer = _text(where, "new_answer", _field(where, d, "new_answer"))
    aliases = _strings(where, "new_answer_alias", d.get("new_answer_alias", []), allow_empty=True)
    if "single_hops" in d:
        _hops(where, "single_hops", d["single_hops"], allow_empty=True)
    single = _hops(where, "new_single_hops", _field(where, d, "new_single_hops"))
    answers = [new_answer] + [a for a in dict.fromkeys(aliases) if a != new_answer]
    relation = rewrites[0].get("relation_id", "")
    return PropagationCase(case_id=str(cid), edits=tuple(edits), questions=tuple(questions), answers=tuple(answers),
                           single_hops=tuple(single), source="mquake",
                           relation=relation if isinstance(relation, str) else "")


def load_mquake(mquake_path) -> list[PropagationCase]:
    """The cases of an MQuAKE file (MQuAKE-CF-3k-v2, MQuAKE-CF, MQuAKE-T, or one written by
    :func:`write_mquake`), in file order (module docstring)."""
    path = Path(mquake_path)
    if not path.is_file():
        raise ParameterError("mquake_path", str(mquake_path), "must be an existing MQuAKE JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ParameterError("mquake_path", str(path), f"is not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(data, list) or not data:
        raise ParameterError("mquake_path", str(path), "must hold a non-empty JSON list of cases")
    cases = [_case(path, i, d) for i, d in enumerate(data)]
    seen = set()
    for c in cases:
        if c.case_id in seen:
            raise ParameterError("case_id", c.case_id, f"{path}: is not unique")
        seen.add(c.case_id)
    return cases


def is_subset_case(case: PropagationCase) -> bool:
    """2 hops, exactly one edit, and that edit is the first hop (its new object is the first
    hop's new answer, compared normalised)."""
    return (len(case.single_hops) == 2 and len(case.edits) == 1
            and normalize_answer(case.single_hops[0][1]) == normalize_answer(case.edits[0].target_new))


def mquake_subset(cases: Sequence[PropagationCase]) -> list[PropagationCase]:
    """Paper B's MQuAKE-subset: the cases of :func:`is_subset_case` (213 of MQuAKE-CF-3k-v2
    in the paper), in order."""
    return [c for c in cases if is_subset_case(c)]


# --------------------------------------------------------------------------- generated file
# how a hop's object is named inside a longer question: three phrasings (one per question)
HOP_PHRASES: dict[str, tuple[str, str, str]] = {
    "person_country": ("the country where {} was born", "{}'s country of birth", "the country {} came from"),
    "city_country": ("the country where {} is located", "the country that {} belongs to", "the country of {}"),
    "landmark_city": ("the city where {} is located", "the city that is home to {}", "the city where {} stands"),
    "company_headquarters": ("the city that hosts {}'s headquarters", "the city where {} is headquartered",
                             "{}'s headquarters city"),
}
SINGLE_QUESTIONS: dict[str, str] = {
    "person_country": "Which country was {} born in?", "city_country": "Which country is {} in?",
    "landmark_city": "In which city is {} located?", "company_headquarters": "Where are the headquarters of {}?",
    "country_capital": "What is the capital of {}?", "country_currency": "What is the currency of {}?",
    "country_language": "What is the official language of {}?", "country_continent": "On which continent is {}?",
}
SECOND = {"country_capital": "capital", "country_currency": "currency", "country_language": "language",
          "country_continent": "continent"}


def _next(relation: str, subject: str, edited: dict) -> str | None:
    """The object of (subject, relation), after the edits in ``edited``."""
    if (subject, relation) in edited:
        return edited[(subject, relation)]
    if relation == "city_country":
        return W.country_of_city(subject)
    if relation in SECOND:
        return W.country_fact(subject, SECOND[relation])
    return W.table_object(relation, subject)


def _chain(start: str, relations: Sequence[str], edited: dict) -> list[str] | None:
    objs, s = [], start
    for r in relations:
        s = _next(r, s, edited)
        if s is None:
            return None
        objs.append(s)
    return objs


def _hop(relation: str, subject: str, answer: str) -> dict:
    cloze, _ = W.render(RELATIONS[relation].template, subject)
    question = W.render(SINGLE_QUESTIONS[relation], subject)[0]
    return {"question": question, "cloze": cloze, "answer": answer, "answer_alias": list(answer_forms(answer)[1:])}


def _questions(start: str, relations: Sequence[str], style: str = "question") -> list[str]:
    """Three phrasings of the multi-hop query: questions (MQuAKE's form), or clozes whose
    last relation is the facts table's template or one of its paraphrases."""
    out = []
    last = RELATIONS[relations[-1]]
    clozes = (last.template, *last.paraphrases, last.template)
    for v in range(3):
        phrase = start
        for r in relations[:-1]:
            phrase = HOP_PHRASES[r][v].format(phrase)
        q = W.render(SINGLE_QUESTIONS[relations[-1]] if style == "question" else clozes[v], phrase)[0]
        out.append(q[0].upper() + q[1:])
    return out


def _candidates(relation: str, subject: str, true: str) -> list[str]:
    """Counterfactual objects of the same type as ``true`` (never ``true``)."""
    if relation in ("person_country", "city_country"):
        pool = list(W.COUNTRIES)
    elif relation in ("landmark_city", "company_headquarters"):
        pool = sorted(W.all_cities())
    else:
        pool = sorted({v for c in W.COUNTRIES for v in [W.country_fact(c, SECOND[relation])] if v is not None})
    return [o for o in pool if o != true]


def _starts() -> list[tuple[str, tuple[str, ...]]]:
    """(subject, relation chain up to the country) of every chain the tables support."""
    out = [(p, ("person_country",)) for p, (c, _) in W.PEOPLE.items() if c is not None]
    out += [(c, ("city_country",)) for c in W.CITIES]
    out += [(lm, ("landmark_city", "city_country")) for lm in W.LANDMARKS]
    out += [(co, ("company_headquarters", "city_country")) for co, (_, hq) in W.COMPANIES.items() if hq is not None]
    return out


def generate_mquake(n: int = 300, seed: int = 0, max_edits: int = 2, question_style: str = "question") -> list[dict]:
    """``n`` MQuAKE-format cases (module docstring) from the facts table, seeded. Each chain
    ends in a country's second hop; 1 to ``max_edits`` of its hops get a counterfactual
    object chosen so that the final answer changes. About a fifth of the cases are in
    MQuAKE-subset form (2 hops, the first edited; 55 of 300 with seed 0).
    ``question_style``: ``"question"`` (MQuAKE's) or ``"cloze"`` ("The capital of the country
    where X was born is"; for an instruct model asked without its chat template); the cases
    are otherwise the same."""
    check_int("n", n, minimum=1)
    from kedit_utils.core.validation import check_choice

    check_choice("question_style", question_style, ("question", "cloze"))
    check_int("seed", seed, minimum=0)
    check_int("max_edits", max_edits, minimum=1, maximum=3)
    rng = random.Random(f"mquake-{seed}")
    chains = [(s, rels + (second,)) for s, rels in _starts() for second in SECOND]
    rng.shuffle(chains)
    out, tries = [], 0
    while len(out) < n and tries < 50 * n:
        start, rels = chains[tries % len(chains)]
        tries += 1
        true = _chain(start, rels, {})
        if true is None:
            continue
        k = rng.randint(1, min(max_edits, len(rels)))
        hops = sorted(rng.sample(range(len(rels)), k))
        edited = {}
        ok = True
        for h in hops:
            subj = start if h == 0 else _chain(start, rels[:h], edited)[-1]
            old = _next(rels[h], subj, {})
            if old is None:
                ok = False
                break
            cands = _candidates(rels[h], subj, old)
            rng.shuffle(cands)
            pick = None
            for c in cands:
                trial = dict(edited)
                trial[(subj, rels[h])] = c
                new = _chain(start, rels, trial)
                if new is not None and normalize_answer(new[-1]) != normalize_answer(true[-1]):
                    pick = c
                    break
            if pick is None:
                ok = False
                break
            edited[(subj, rels[h])] = pick
        new = _chain(start, rels, edited) if ok else None
        if new is None:
            continue
        subjects, new_subjects = [start] + true[:-1], [start] + new[:-1]
        rewrites = []
        for (subj, rel), obj in edited.items():
            cloze, shown = W.render(RELATIONS[rel].template, subj)
            rewrites.append({"prompt": cloze.replace(shown, "{}", 1), "relation_id": rel,
                             "target_new": {"str": obj, "id": obj}, "target_true": {"str": _next(rel, subj, {}), "id":
                                                                                   _next(rel, subj, {})},
                             "subject": shown, "question": W.render(SINGLE_QUESTIONS[rel], subj)[0]})
        triples = [[s, r, o] for s, r, o in zip(subjects, rels, true)]
        new_triples = [[s, r, o] for s, r, o in zip(new_subjects, rels, new)]
        out.append({
            "case_id": len(out) + 1, "requested_rewrite": rewrites, "questions": _questions(start, rels, question_style),
            "answer": true[-1], "answer_alias": list(answer_forms(true[-1])[1:]),
            "new_answer": new[-1], "new_answer_alias": list(answer_forms(new[-1])[1:]),
            "single_hops": [_hop(r, s, o) for s, r, o in triples],
            "new_single_hops": [_hop(r, s, o) for s, r, o in new_triples],
            "orig": {"triples": triples, "triples_labeled": triples, "new_triples": new_triples,
                     "new_triples_labeled": new_triples,
                     "edit_triples": [[s, r, o] for (s, r), o in edited.items()]},
        })
    if len(out) < n:
        raise ParameterError("n", n, f"at most {len(out)} cases could be generated")
    return out


def write_mquake(records: Sequence[dict], mquake_path) -> Path:
    """Write MQuAKE-format ``records`` (:func:`generate_mquake`'s, or real ones) as a JSON list."""
    path = Path(mquake_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(records), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


__all__ = ["HOP_PHRASES", "SINGLE_QUESTIONS", "generate_mquake", "is_subset_case", "load_mquake", "mquake_subset",
           "write_mquake"]
