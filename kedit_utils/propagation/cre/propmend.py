"""PropMEND's CRE jsonl, read and written (Paper B §4 "Datasets"; Liu, Durrett & Choi 2025,
arXiv:2506.08920, data ``4K_controlled_ripple_edit/*.jsonl``).

**Loader** (:func:`load_cre`) for PropMEND's jsonl, one JSON object a line. The fields (from
PropMEND's ``notebooks/syn_data_text_curation.ipynb``, ``generate_text_instance`` and
``question_suite_generator``; read by ``data_classes/controlled_ripple_edit.py``):

    text           the new facts (PropMEND: a three-sentence story about the subject)
    questions      [{alias_question (or question), answer, unalias_question,
                     alias_question_paraphrase, unalias_question_paraphrase,
                     question_template ("What is the currency of {country}?"),
                     entity_name (the real entity the question goes through), fact_idx}]
    subject, subject_type ("person" / "company"), gender_type, entity_type,
    entity_names   the three real-world objects of the story, in order
    facts          (test files for MEMIT) [{fact, prefix, paraphrase, paraphrase_prefix, target}]

Only ``text`` and ``questions`` (each with ``question`` or ``alias_question`` and
``answer``) are required. One case per question (a :class:`kedit_utils.datasets.cases.PropagationCase` holds
questions with one answer). Its edit is the fact the question goes through: ``facts[fact_idx]``
(prefix → target) when the line has ``facts``; otherwise the sentence of ``text`` that
contains ``entity_name`` (or ``entity_names[fact_idx]``), cut just before it (when that
sentence names the subject only by a pronoun, the text from its start up to the object, so
that the prompt contains the subject). A line with neither (Paper B's one-sentence form,
"Allen Manufacturing LLC was founded in Portugal.") is split as documented in
:func:`split_fact`: the object is the longest word-aligned suffix that names a country or city
of :mod:`kedit_utils.datasets.world`, else the last word — a fallback, since the object cannot be told apart
from the relation without knowing the entity. ``edit_facts="all"`` puts the story's other
facts after the needed one (PropMEND edits with the whole text). The subject is the line's
``subject``, else the run of capitalised words that starts the text ("Smith Innovation
PLC's ..." → "Smith Innovation PLC").

:func:`write_cre` writes cases in the same format (plus ``case_id``, ``answer_aliases``,
``relation``, ``second_relation``, ``single_hops``, ``locality``, ``source``), so generated
data round-trips through :func:`load_cre`. A malformed line raises
:class:`~kedit_utils.core.validation.ParameterError` naming the file, the line and the field.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from kedit_utils.core.validation import ParameterError, check_choice
from kedit_utils.datasets import world as W
from kedit_utils.datasets.cases import PropagationCase
from kedit_utils.editing.requests import EditRequest
from kedit_utils.propagation.cre.templates import (
    EDIT_FACTS,
    FIRST_HOPS,
    second_hop_prompt,
)

_END = re.compile(r"[.!?]+(?=\s|$)")
# words whose final dot does not end a sentence ("Orange Development Inc. was founded in ...")
ABBREVIATIONS = frozenset({"Inc.", "Ltd.", "Co.", "Corp.", "Jr.", "Sr.", "St.", "Dr.", "Mr.", "Mrs.", "Ms.", "Prof."})


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text`` (ended by . ! or ? before a space or
    the end, except after :data:`ABBREVIATIONS`); leading spaces excluded."""
    spans, start = [], 0
    for m in _END.finditer(text):
        word = text[:m.end()].split()[-1] if text[:m.end()].split() else ""
        if word in ABBREVIATIONS and m.end() < len(text.rstrip()):
            continue
        spans.append((start, m.end()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return [(a + len(text[a:b]) - len(text[a:b].lstrip()), b) for a, b in spans if text[a:b].strip()]


def _entity_names() -> list[str]:
    """Countries (with aliases, with and without their article) and cities of :mod:`kedit_utils.datasets.world`."""
    names = set(W.all_cities())
    for c, info in W.COUNTRIES.items():
        for n in (c, *info.aliases):
            names.add(n)
            if n.startswith("the "):
                names.add(n[4:])
    return sorted(names, key=len, reverse=True)


def leading_subject(text: str) -> str:
    """The run of capitalised words that starts ``text``, without a final "'s"
    ("Smith Innovation PLC's global ..." → "Smith Innovation PLC"); "" when none."""
    words = []
    for w in text.split():
        if not w[:1].isupper():
            break
        stem = re.sub(r"(?:'s|’s)$", "", w)
        if stem in ABBREVIATIONS:
            words.append(stem)
        else:
            words.append(stem.rstrip(",;:.!?"))
        if stem != w or (stem not in ABBREVIATIONS and w.endswith((",", ";", ":", ".", "!", "?"))):
            break
    return " ".join(words)


def split_fact(sentence: str) -> tuple[str, str]:
    """``(prompt, object)`` of a one-sentence fact whose object ends it, for a line without
    ``facts`` or ``entity_name``: the object is the longest word-aligned suffix (before the
    final punctuation) that names a country or city of :mod:`kedit_utils.datasets.world` ("... located in the
    United States." → "the United States"), else the last word. The fallback cannot tell a
    multi-word object it does not know from the relation, so such a target is only its last
    word; PropMEND's own files always carry the object (``entity_names`` / ``facts``)."""
    body = sentence.strip().rstrip(".!?").rstrip()
    words = body.split()
    if len(words) < 2:
        raise ParameterError("text", sentence, "must hold a fact with a subject and an object")
    known = set(_entity_names())
    for k in range(len(words) - 1, 0, -1):
        suffix = " ".join(words[-k:])
        if suffix in known:
            return " ".join(words[:-k]), suffix
    return " ".join(words[:-1]), words[-1]


def _where(path, lineno) -> str:
    return f"{path}, line {lineno}"


def _str(where: str, name: str, value, allow_number: bool = False) -> str:
    if allow_number and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ParameterError(name, value, f"{where}: must be a string")
    if not value.strip():
        raise ParameterError(name, value, f"{where}: must not be empty")
    return value


def _pairs_field(where: str, name: str, value) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                                              for p in value):
        raise ParameterError(name, value, f"{where}: must be a list of [prompt, answer] pairs of strings")
    return tuple((p[0], p[1]) for p in value)


def _edit_at(where: str, text: str, subject: str, obj: str, after: int = 0) -> tuple[EditRequest, int]:
    """The fact of ``text`` whose object is ``obj`` (its first occurrence from ``after``, as
    a story names its objects in order): its sentence cut before ``obj`` (the text up to
    ``obj`` when that sentence does not name the subject); and where ``obj`` ends."""
    at = text.find(obj, after)
    if at < 0:
        raise ParameterError("entity_name", obj, f"{where}: does not occur in the text")
    start = next((a for a, b in sentence_spans(text) if a <= at < b), 0)
    prompt = text[start:at].strip()
    if subject not in prompt:
        prompt = text[:at].strip()
    if subject not in prompt:
        raise ParameterError("subject", subject, f"{where}: does not occur before {obj!r} in the text")
    return EditRequest(prompt=prompt, subject=subject, target_new=obj), at + len(obj)


def _line_edits(where: str, d: dict, subject: str, text: str) -> tuple[list[EditRequest], list[str]]:
    """Every fact of a line, as EditRequests, and their objects (module docstring)."""
    if "facts" in d:
        facts = d["facts"]
        if not isinstance(facts, list) or not facts:
            raise ParameterError("facts", facts, f"{where}: must be a non-empty list")
        edits = []
        for i, f in enumerate(facts):
            if not isinstance(f, dict):
                raise ParameterError(f"facts[{i}]", f, f"{where}: must be an object with prefix and target")
            for key in ("prefix", "target"):
                if key not in f:
                    raise ParameterError(f"facts[{i}].{key}", None, f"{where}: is missing")
            prefix = _str(where, f"facts[{i}].prefix", f["prefix"])
            target = _str(where, f"facts[{i}].target", f["target"], allow_number=True)
            if subject not in prefix:
                raise ParameterError("subject", subject, f"{where}: does not occur in facts[{i}].prefix {prefix!r}")
            edits.append(EditRequest(prompt=prefix.strip(), subject=subject, target_new=target))
        return edits, [e.target_new for e in edits]
    if "entity_names" in d:
        names = d["entity_names"]
        if not isinstance(names, list) or not names:
            raise ParameterError("entity_names", names, f"{where}: must be a non-empty list of strings")
        objs = [_str(where, f"entity_names[{i}]", n) for i, n in enumerate(names)]
        edits, after = [], 0
        for o in objs:
            edit, after = _edit_at(where, text, subject, o, after)
            edits.append(edit)
        return edits, objs
    edits = []
    for a, b in sentence_spans(text):
        sent = text[a:b].strip()
        if subject in sent:
            prompt, obj = split_fact(sent)
            if subject in prompt:
                edits.append(EditRequest(prompt=prompt, subject=subject, target_new=obj))
    if not edits:
        raise ParameterError("text", text, f"{where}: no sentence names the subject {subject!r} before its object")
    return edits, [e.target_new for e in edits]


def _line_cases(path, lineno: int, d, edit_facts: str) -> list[PropagationCase]:
    where = _where(path, lineno)
    if not isinstance(d, dict):
        raise ParameterError("line", type(d).__name__, f"{where}: must be a JSON object")
    for key in ("text", "questions"):
        if key not in d:
            raise ParameterError(key, None, f"{where}: is missing")
    text = _str(where, "text", d["text"])
    subject = _str(where, "subject", d["subject"]) if "subject" in d else leading_subject(text)
    if not subject:
        raise ParameterError("subject", None, f"{where}: is missing and the text does not start with a name")
    questions = d["questions"]
    if not isinstance(questions, list) or not questions:
        raise ParameterError("questions", questions, f"{where}: must be a non-empty list")
    edits, objects = _line_edits(where, d, subject, text)
    base = str(d["case_id"]) if "case_id" in d else f"{Path(path).stem}:{lineno}"
    single = _pairs_field(where, "single_hops", d["single_hops"]) if "single_hops" in d else None
    locality = _pairs_field(where, "locality", d["locality"]) if "locality" in d else ()
    out = []
    for j, q in enumerate(questions):
        qf = f"questions[{j}]"
        if not isinstance(q, dict):
            raise ParameterError(qf, q, f"{where}: must be an object")
        qkey = "question" if "question" in q else "alias_question"
        if qkey not in q:
            raise ParameterError(f"{qf}.question", None, f"{where}: is missing (question or alias_question)")
        if "answer" not in q:
            raise ParameterError(f"{qf}.answer", None, f"{where}: is missing")
        question = _str(where, f"{qf}.{qkey}", q[qkey])
        answer = _str(where, f"{qf}.answer", q["answer"], allow_number=True)
        aliases = q.get("answer_aliases", [])
        if not isinstance(aliases, list):
            raise ParameterError(f"{qf}.answer_aliases", aliases, f"{where}: must be a list of strings")
        aliases = [_str(where, f"{qf}.answer_aliases", a) for a in aliases]
        idx = q.get("fact_idx")
        if idx is None and "entity_name" in q and q["entity_name"] in objects:
            idx = objects.index(q["entity_name"])
        if idx is not None and (isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < len(edits)):
            raise ParameterError(f"{qf}.fact_idx", idx, f"{where}: must index one of the {len(edits)} facts")
        if idx is None:
            chosen = edits
        elif edit_facts == "needed":
            chosen = [edits[idx]]
        else:
            chosen = [edits[idx]] + [e for i, e in enumerate(edits) if i != idx]
        rel2 = q.get("second_relation", q.get("question_template", ""))
        rel1 = q.get("relation", "")
        for name, v in (("second_relation", rel2), ("relation", rel1)):
            if not isinstance(v, str):
                raise ParameterError(f"{qf}.{name}", v, f"{where}: must be a string")
        out.append(PropagationCase(
            case_id=base if len(questions) == 1 else f"{base}:q{j}", edits=tuple(chosen), questions=(question,),
            answers=(answer, *[a for a in aliases if a != answer]),
            single_hops=single if single is not None else tuple((e.prompt, e.target_new) for e in chosen),
            locality=locality, source=str(d.get("source", "cre")), relation=rel1, second_relation=rel2))
    return out


def load_cre(cre_path, edit_facts: str = "needed") -> list[PropagationCase]:
    """PropMEND's CRE jsonl (or one written by :func:`write_cre`) as PropagationCases, one
    per question (module docstring). ``edit_facts``: ``"needed"`` (the fact the question goes
    through: Paper B's one-fact target) or ``"all"`` (that fact, then the line's others).
    Raises :class:`ParameterError` naming the file, the line and the field at fault."""
    check_choice("edit_facts", edit_facts, EDIT_FACTS)
    path = Path(cre_path)
    if not path.is_file():
        raise ParameterError("cre_path", str(cre_path), "must be an existing jsonl file")
    out = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ParameterError("line", line[:80], f"{_where(path, lineno)}: is not valid JSON ({e.msg})") from None
            out.extend(_line_cases(path, lineno, d, edit_facts))
    if not out:
        raise ParameterError("cre_path", str(cre_path), "holds no case")
    ids = [c.case_id for c in out]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ParameterError("case_id", dup, f"{path}: is not unique")
    return out


def cre_record(case: PropagationCase) -> dict:
    """One jsonl object of PropMEND's format for a case (plus this book's fields: module
    docstring); :func:`load_cre` reads it back as the same case."""
    subject = case.edits[0].subject
    facts = [{"fact": e.fact + ".", "prefix": e.prompt, "target": e.target_new} for e in case.edits]
    bridge = case.edits[0].target_new
    questions = []
    for q in case.questions:
        entry = {"alias_question": q, "answer": case.answer, "answer_aliases": list(case.answers[1:]),
                 "entity_name": bridge, "relation": case.relation, "second_relation": case.second_relation}
        if case.second_relation in W.SECOND_HOPS:
            entry["question_template"] = W.SECOND_HOP_TEMPLATES[case.second_relation][1].replace("{}", "{country}")
            entry["unalias_question"] = second_hop_prompt(bridge, case.second_relation, "question")
        if len(case.edits) == 1:
            entry["fact_idx"] = 0
        questions.append(entry)
    kind = next((h.kind for r, h in FIRST_HOPS.items() if r == case.relation), "")
    return {"case_id": case.case_id, "subject": subject, "subject_type": kind,
            "text": " ".join(f["fact"] for f in facts), "entity_names": [e.target_new for e in case.edits],
            "facts": facts, "questions": questions, "single_hops": [list(p) for p in case.single_hops],
            "locality": [list(p) for p in case.locality], "source": case.source}


def write_cre(cases: Sequence[PropagationCase], cre_path) -> Path:
    """Write ``cases`` as CRE jsonl (one line per case, :func:`cre_record`); returns the path.
    A case with several questions is read back as one case per question."""
    path = Path(cre_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for c in cases:
            if len(c.questions) != 1:
                raise ParameterError("cases", c.case_id, "write_cre writes cases with one question each")
            fh.write(json.dumps(cre_record(c), ensure_ascii=False) + "\n")
    return path


__all__ = ["ABBREVIATIONS", "cre_record", "leading_subject", "load_cre", "sentence_spans", "split_fact", "write_cre"]
