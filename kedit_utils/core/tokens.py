"""Finding the subject's tokens in a prompt (ROME, Meng et al. 2022, §2.1 and §3.1).

Both causal tracing (which corrupts the subject tokens) and ROME (which reads the key k* at
the subject's *last* token) need the token span of the subject inside the tokenised prompt.
With a fast tokenizer the span comes from the character offsets of the tokens; otherwise
from the decoded tokens, as in the ROME reference (``find_token_range``).
"""
from __future__ import annotations

from kedit_utils.core.validation import ParameterError


def encode(tok, text: str, add_special_tokens: bool = True) -> list[int]:
    """Token ids of ``text`` (the model's own convention for special tokens by default)."""
    return list(tok(text, add_special_tokens=add_special_tokens)["input_ids"])


def target_token_ids(tok, target: str) -> list[int]:
    """Token ids of an answer that follows a prompt: a leading space is added when missing
    (as ROME does), no special tokens. Raises :class:`ParameterError` for an empty target."""
    if not target or not target.strip():
        raise ParameterError("target_new", target, "must be a non-empty string")
    text = target if target[0].isspace() else " " + target
    ids = encode(tok, text, add_special_tokens=False)
    if not ids:
        raise ParameterError("target_new", target, "tokenises to no tokens")
    unk, unk_text = getattr(tok, "unk_token_id", None), getattr(tok, "unk_token", None)
    if unk is not None and unk in ids and isinstance(unk_text, str) and unk_text not in target:
        raise ParameterError("target_new", target, "contains a word outside the tokenizer's vocabulary")
    return ids


def subject_token_range(tok, prompt: str, subject: str) -> tuple[list[int], tuple[int, int]]:
    """Tokenise ``prompt`` and locate the first occurrence of ``subject`` in it.

    Returns ``(ids, (b, e))``: the prompt's token ids and the half-open token range of the
    subject. Raises :class:`ParameterError` when the subject is not in the prompt.
    """
    if not subject or subject not in prompt:
        raise ParameterError("subject", subject, f"must occur in the prompt {prompt!r}")
    start = prompt.index(subject)
    end = start + len(subject)
    enc = None
    if getattr(tok, "is_fast", False):
        try:
            enc = tok(prompt, return_offsets_mapping=True)
        except (NotImplementedError, ValueError, TypeError):
            enc = None
    if enc is not None:
        ids = list(enc["input_ids"])
        inside = [
            i for i, (a, b) in enumerate(enc["offset_mapping"]) if b > a and a < end and b > start
        ]
    else:
        ids = encode(tok, prompt)
        inside = _range_from_decoded(tok, ids, prompt, subject)
    if not inside:
        raise ParameterError("subject", subject, f"no token of the prompt {prompt!r} covers it")
    return ids, (inside[0], inside[-1] + 1)


def _range_from_decoded(tok, ids: list[int], prompt: str, subject: str) -> list[int]:
    """ROME's fallback: join the decoded tokens and map the subject's characters back."""
    pieces = [tok.decode([i]) for i in ids]
    whole = "".join(pieces)
    key = subject if subject in whole else subject.replace(" ", "")
    if key not in whole:
        whole = "".join(p.replace(" ", "") for p in pieces)
        key = subject.replace(" ", "")
        pieces = [p.replace(" ", "") for p in pieces]
        if key not in whole:
            return []
    start = whole.index(key)
    end = start + len(key)
    out, pos = [], 0
    for i, p in enumerate(pieces):
        if pos < end and pos + len(p) > start:
            out.append(i)
        pos += len(p)
    return out


def pad_right(seqs: list[list[int]], pad_id: int = 0) -> tuple["torch.Tensor", "torch.Tensor"]:
    """(B, T_max) ids and attention mask of right-padded sequences (positions stay 0-based)."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask


FACT_TOKENS = ("subject_last", "last")


def lookup(tok, text: str, subject: str, fact_token: str = "subject_last") -> tuple[list[int], int]:
    """Token ids of ``text`` and the index where the fact is read and written (ROME's
    ``fact_token``): ``"subject_last"``, the subject's last token (the paper's choice), or
    ``"last"``, the last token of ``text``."""
    ids, (_b, e) = subject_token_range(tok, text, subject)
    if fact_token == "last":
        return ids, len(ids) - 1
    if fact_token != "subject_last":
        raise ParameterError("fact_token", fact_token, f"must be one of {list(FACT_TOKENS)}")
    return ids, e - 1
