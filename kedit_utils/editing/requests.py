"""Edit requests: our :class:`EditRequest` and EasyEdit's dict form (Paper C's evaluation fields).

An edit asks the model to continue ``prompt`` (which contains ``subject``) with
``target_new`` instead of ``ground_truth``. The survey (Paper C) scores an edit on the edit
prompt (reliability), on paraphrases (generalization), on unrelated prompts that must keep
their answers (locality) and on prompts that need the new fact (portability), so a request
carries those too, as EasyEdit's requests do (Wang et al. 2023, "EasyEdit";
``easyeditor/editors/utils.py::_prepare_requests``).

:func:`as_requests` accepts, and validates naming the field at fault:

* an :class:`EditRequest`, or a list of them;
* EasyEdit's *batch* form, the keyword arguments of ``BaseEditor.edit``::

      {"prompts": [...], "ground_truth": [...], "target_new": [...], "subject": [...],
       "rephrase_prompts": [...],
       "locality_inputs": {"neighborhood": {"prompt": [...], "ground_truth": [...]}},
       "portability_inputs": {"one_hop": {"prompt": [...], "ground_truth": [...]}}}

  (strings instead of lists for a single edit; one entry per edit in every list);
* EasyEdit's *record* form (one request, as ``_prepare_requests`` returns and KnowEdit's
  JSON files hold): ``prompt``, ``target_new``, ``ground_truth``, ``subject``,
  ``rephrase_prompt``, ``locality`` / ``portability`` = ``{key: {"prompt", "ground_truth"}}``;
  or a list of records.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kedit_utils.core.validation import ParameterError

BATCH_KEYS = ("prompts", "target_new", "ground_truth", "subject", "rephrase_prompts",
              "locality_inputs", "portability_inputs")
RECORD_KEYS = ("prompt", "target_new", "ground_truth", "subject", "rephrase_prompt", "rephrase_prompts",
               "locality", "portability", "case_id")


def _pairs(name: str, value) -> tuple[tuple[str, str], ...]:
    out = []
    for item in value:
        if not isinstance(item, (tuple, list)) or len(item) != 2 or not all(isinstance(x, str) for x in item):
            raise ParameterError(name, item, "every entry must be a (prompt, answer) pair of strings")
        out.append((item[0], item[1]))
    return tuple(out)


@dataclass(frozen=True)
class EditRequest:
    """Make the model continue ``prompt`` (which contains ``subject``) with ``target_new``.

    ground_truth: the answer before the edit (``None`` when unknown or for an insert); the
        erase metrics check that it is no longer produced.
    paraphrases: *extension beyond the paper* (ROME): more (prompt, subject) phrasings of the
        same fact that ROME/MEMIT average k* and optimise v* over (they are trained on).
    rephrase_prompts: paraphrases of ``prompt`` used only to *evaluate* generalization
        (EasyEdit's ``rephrase_prompt``); never trained on.
    locality: (prompt, answer) pairs about unrelated facts whose predictions must not change.
    portability: (prompt, answer) pairs that need the new fact (a second hop, an alias, ...).
    """

    prompt: str
    subject: str
    target_new: str
    paraphrases: tuple[tuple[str, str], ...] = ()
    ground_truth: str | None = None
    rephrase_prompts: tuple[str, ...] = ()
    locality: tuple[tuple[str, str], ...] = ()
    portability: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        for name in ("prompt", "subject", "target_new"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ParameterError(name, value, "must be a non-empty string")
        if self.subject not in self.prompt:
            raise ParameterError("subject", self.subject, f"must occur in the prompt {self.prompt!r}")
        pairs = tuple((str(p), str(s)) for p, s in self.paraphrases)
        for p, s in pairs:
            if s not in p:
                raise ParameterError("paraphrases", (p, s), "each subject must occur in its prompt")
        object.__setattr__(self, "paraphrases", pairs)
        if self.ground_truth is not None and not isinstance(self.ground_truth, str):
            raise ParameterError("ground_truth", self.ground_truth, "must be a string or None")
        reph = self.rephrase_prompts
        if isinstance(reph, str):
            reph = (reph,)
        reph = tuple(reph)
        for r in reph:
            if not isinstance(r, str) or not r.strip():
                raise ParameterError("rephrase_prompts", r, "every rephrase prompt must be a non-empty string")
        object.__setattr__(self, "rephrase_prompts", reph)
        object.__setattr__(self, "locality", _pairs("locality", self.locality))
        object.__setattr__(self, "portability", _pairs("portability", self.portability))

    @property
    def fact(self) -> str:
        """The new fact as a sentence: ``prompt + " " + target_new``."""
        return f"{self.prompt.rstrip()} {self.target_new.strip()}"

    def to_easyedit(self) -> dict:
        """EasyEdit's record form of this request (see the module docstring)."""
        rec = {"prompt": self.prompt, "subject": self.subject, "target_new": self.target_new,
               "ground_truth": self.ground_truth if self.ground_truth is not None else "<|endoftext|>"}
        if self.rephrase_prompts:
            rec["rephrase_prompt"] = self.rephrase_prompts[0] if len(self.rephrase_prompts) == 1 \
                else list(self.rephrase_prompts)
        for key in ("locality", "portability"):
            pairs = getattr(self, key)
            if pairs:
                rec[key] = {f"{key}_{i}": {"prompt": p, "ground_truth": a} for i, (p, a) in enumerate(pairs)}
        return rec


def _as_list(name: str, value, n: int | None) -> list:
    if isinstance(value, str) or value is None:
        value = [value]
    if not isinstance(value, Sequence):
        raise ParameterError(name, type(value).__name__, "must be a string or a list of strings")
    value = list(value)
    if n is not None and len(value) != n:
        raise ParameterError(name, f"{len(value)} entries", f"must have one entry per edit ({n})")
    return value


def _str_field(name: str, value) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]  # EasyEdit sometimes wraps an answer in a list
    if not isinstance(value, str):
        raise ParameterError(name, value, "must be a string")
    return value


def _inputs_pairs(name: str, block) -> list[tuple[str, str]]:
    """(prompt, answer) pairs of a locality/portability block ``{key: {prompt, ground_truth}}``."""
    if block is None:
        return []
    if not isinstance(block, Mapping):
        raise ParameterError(name, type(block).__name__, "must be a dict {key: {'prompt': ..., 'ground_truth': ...}}")
    out = []
    for key, entry in block.items():
        field_name = f"{name}.{key}"
        if not isinstance(entry, Mapping) or "prompt" not in entry or "ground_truth" not in entry:
            raise ParameterError(field_name, entry, "must be a dict with 'prompt' and 'ground_truth'")
        prompts, answers = entry["prompt"], entry["ground_truth"]
        ps = [prompts] if isinstance(prompts, str) else list(prompts)
        ans = [answers] if isinstance(answers, str) else list(answers)
        if len(ans) == 1 and len(ps) > 1:
            ans = ans * len(ps)
        if len(ps) != len(ans):
            raise ParameterError(f"{field_name}.ground_truth", answers, f"must have one answer per prompt ({len(ps)})")
        for p, a in zip(ps, ans):
            out.append((_str_field(f"{field_name}.prompt", p), _str_field(f"{field_name}.ground_truth", a)))
    return out


def _from_record(rec: Mapping) -> EditRequest:
    unknown = sorted(set(rec) - set(RECORD_KEYS))
    if unknown:
        raise ParameterError(unknown[0], rec[unknown[0]], f"is not a request field; allowed: {list(RECORD_KEYS)}")
    for key in ("prompt", "target_new", "subject"):
        if key not in rec:
            raise ParameterError(key, None, "is missing from the request dict")
    target = rec["target_new"]
    if isinstance(target, Mapping):  # ROME/MEMIT's {"str": ...}
        target = target.get("str")
    gt = rec.get("ground_truth")
    if isinstance(gt, Mapping):
        gt = gt.get("str")
    gt = None if gt in (None, "<|endoftext|>") else _str_field("ground_truth", gt)
    reph = rec.get("rephrase_prompt", rec.get("rephrase_prompts", ()))
    reph = () if reph is None else ((reph,) if isinstance(reph, str) else tuple(reph))
    return EditRequest(
        prompt=_str_field("prompt", rec["prompt"]), subject=_str_field("subject", rec["subject"]),
        target_new=_str_field("target_new", target), ground_truth=gt, rephrase_prompts=reph,
        locality=tuple(_inputs_pairs("locality", rec.get("locality"))),
        portability=tuple(_inputs_pairs("portability", rec.get("portability"))),
    )


def _from_batch(d: Mapping) -> list[EditRequest]:
    unknown = sorted(set(d) - set(BATCH_KEYS))
    if unknown:
        raise ParameterError(unknown[0], d[unknown[0]], f"is not an EasyEdit edit argument; allowed: {list(BATCH_KEYS)}")
    for key in ("prompts", "target_new", "subject"):
        if key not in d:
            raise ParameterError(key, None, "is missing from the EasyEdit request dict")
    prompts = _as_list("prompts", d["prompts"], None)
    n = len(prompts)
    if n == 0:
        raise ParameterError("prompts", [], "must hold at least one prompt")
    targets = _as_list("target_new", d["target_new"], n)
    subjects = _as_list("subject", d["subject"], n)
    gts = _as_list("ground_truth", d.get("ground_truth"), n) if d.get("ground_truth") is not None else [None] * n
    reph = d.get("rephrase_prompts")
    reph = _as_list("rephrase_prompts", reph, n) if reph is not None else [None] * n
    out = []
    for i in range(n):
        r = reph[i]
        out.append(_from_record({
            "prompt": prompts[i], "target_new": targets[i], "subject": subjects[i], "ground_truth": gts[i],
            "rephrase_prompt": () if r is None else r,
            "locality": {k: {"prompt": p, "ground_truth": a} for k, (p, a) in
                         _indexed(d.get("locality_inputs"), "locality_inputs", i, n).items()},
            "portability": {k: {"prompt": p, "ground_truth": a} for k, (p, a) in
                            _indexed(d.get("portability_inputs"), "portability_inputs", i, n).items()},
        }))
    return out


def _indexed(block, name: str, i: int, n: int) -> dict:
    """Entry ``i`` of each key of a batch locality/portability block (validated)."""
    if block is None:
        return {}
    if not isinstance(block, Mapping):
        raise ParameterError(name, type(block).__name__, "must be a dict {key: {'prompt': [...], 'ground_truth': [...]}}")
    out = {}
    for key, entry in block.items():
        f = f"{name}.{key}"
        if not isinstance(entry, Mapping) or "prompt" not in entry or "ground_truth" not in entry:
            raise ParameterError(f, entry, "must be a dict with 'prompt' and 'ground_truth'")
        p = _as_list(f"{f}.prompt", entry["prompt"], n)[i]
        a = _as_list(f"{f}.ground_truth", entry["ground_truth"], n)[i]
        if p is not None:
            out[key] = (p, a)
    return out


def as_requests(requests) -> list[EditRequest]:
    """A non-empty list of :class:`EditRequest` from any accepted form (module docstring)."""
    if isinstance(requests, EditRequest):
        return [requests]
    if isinstance(requests, Mapping):
        if "prompts" in requests:
            return _from_batch(requests)
        if "prompt" in requests:
            return [_from_record(requests)]
        raise ParameterError("prompts", None, "the request dict needs 'prompts' (EasyEdit batch) or 'prompt' (one record)")
    if isinstance(requests, (str, bytes)) or not isinstance(requests, Sequence):
        raise ParameterError("requests", type(requests).__name__,
                             "must be an EditRequest, an EasyEdit dict, or a list of them")
    out = []
    for r in requests:
        if isinstance(r, EditRequest):
            out.append(r)
        elif isinstance(r, Mapping):
            out.extend(as_requests(r))
        else:
            raise ParameterError("requests", type(r).__name__, "every entry must be an EditRequest or a dict")
    if not out:
        raise ParameterError("requests", [], "must hold at least one request")
    return out


def requests_hash(requests) -> str:
    """sha256 of every field of every request, in order (keys a component trained on them)."""
    import hashlib
    import json

    from kedit_utils.core.cache import _canonical

    return hashlib.sha256(json.dumps([_canonical(r) for r in as_requests(requests)],
                                     sort_keys=True).encode()).hexdigest()[:16]
