"""Hyper-parameters of the editing methods: frozen dataclasses, presets, YAML/JSON files.

Every method has one frozen dataclass (``ROMEHyperParams``, ``MEMITHyperParams``, ...) that
inherits :class:`HyperParams`: validation in ``__post_init__`` names the field, the value and
the allowed range (:class:`~kedit_utils.core.validation.ParameterError`), and three presets,

* ``tiny_gpt2()``: the from-scratch alias GPT-2 models of Paper A;
* ``smollm2()``: SmolLM2-135M (Llama family, 30 layers);
* ``gpt2_family(n_layers=48)``: a GPT-2 checkpoint from a local folder (the published
  values are for GPT-2 XL; each preset says where its numbers come from),

are classmethods. Files are read and written like EasyEdit's ``hparams/<METHOD>/*.yaml``:
``alg_name`` names the method, and the keys EasyEdit and the ROME/MEMIT reference keep but
this package derives from the model itself (module templates, ``model_name``, ``device``,
``mom2_dataset``, ...) are accepted and ignored (:data:`IGNORED_KEYS`), so a published file
can be loaded as it is; any other unknown key is an error naming it.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import ClassVar

from kedit_utils.core.validation import ParameterError

PRESETS = ("tiny_gpt2", "smollm2", "gpt2_family")
IGNORED_KEYS = frozenset({
    "model_name", "device", "model_parallel", "stats_dir", "mom2_dataset", "layer_selection",
    "rewrite_module_tmp", "layer_module_tmp", "mlp_module_tmp", "attn_module_tmp", "ln_f_module",
    "lm_head_module", "max_length", "batch_size", "fp16", "context_template_length_params",
})


def _tuple_fields(cls) -> set[str]:
    hints = typing.get_type_hints(cls)
    return {f.name for f in dataclasses.fields(cls) if "tuple" in str(hints.get(f.name, ""))}


class HyperParams:
    """Mixin for a method's frozen hyper-parameter dataclass (see the module docstring)."""

    METHOD: ClassVar[str] = ""

    def to_dict(self) -> dict:
        """Plain values (tuples as lists), with ``alg_name`` first, as EasyEdit writes it."""
        d = dataclasses.asdict(self)
        return {"alg_name": self.METHOD, **{k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}}

    @classmethod
    def from_dict(cls, data: dict):
        """Build from a dict (EasyEdit's keys accepted; see :data:`IGNORED_KEYS`)."""
        if not isinstance(data, dict):
            raise ParameterError("hparams", type(data).__name__, "must be a mapping of field names to values")
        data = dict(data)
        alg = data.pop("alg_name", None)
        if alg is not None and str(alg).lower().replace("-", "_") != cls.METHOD.lower().replace("-", "_"):
            raise ParameterError("alg_name", alg, f"these are {cls.METHOD} hyper-parameters")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in data if k not in names and k not in IGNORED_KEYS)
        if unknown:
            raise ParameterError(unknown[0], data[unknown[0]], f"is not a {cls.METHOD} field; fields: {sorted(names)}")
        tuples = _tuple_fields(cls)
        kw = {k: (tuple(tuple(x) if isinstance(x, list) else x for x in v) if k in tuples and isinstance(v, list) else v)
              for k, v in data.items() if k in names}
        return cls(**kw)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_json(cls, source: str | Path):
        """From a JSON file path or a JSON string."""
        return cls.from_dict(json.loads(_read(source, "json")))

    def to_yaml(self, path: str | Path | None = None) -> str:
        yaml = _yaml()
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, source: str | Path):
        """From a YAML file path or a YAML string (EasyEdit's hparams files are YAML)."""
        return cls.from_dict(_yaml().safe_load(_read(source, "yaml")))

    @classmethod
    def from_file(cls, path: str | Path):
        p = Path(path)
        return cls.from_json(p) if p.suffix == ".json" else cls.from_yaml(p)

    def with_(self, **changes):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def preset(cls, name: str, **changes):
        """``cls.<name>(**changes)`` for a preset name in :data:`PRESETS`."""
        if name not in PRESETS:
            raise ParameterError("preset", name, f"must be one of {list(PRESETS)}")
        return getattr(cls, name)(**changes)


def _read(source, kind: str) -> str:
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and
                                    source.rstrip().endswith((".json", ".yaml", ".yml"))):
        p = Path(source)
        if not p.is_file():
            raise ParameterError("path", str(source), f"must be an existing {kind} file")
        return p.read_text()
    if not isinstance(source, str):
        raise ParameterError("source", type(source).__name__, f"must be a {kind} string or a file path")
    return source


def _yaml():
    try:
        import yaml
    except ImportError as e:  # pragma: no cover - pyyaml comes with jupyter-book
        raise ImportError("reading/writing YAML hyper-parameters needs PyYAML: pip install pyyaml") from e
    return yaml


# --------------------------------------------------------------------------- shared checks
def check_layers(name: str, layers) -> tuple[int, ...]:
    """A non-empty, strictly increasing tuple of non-negative ints."""
    if isinstance(layers, int) and not isinstance(layers, bool):
        layers = (layers,)
    try:
        out = tuple(layers)
    except TypeError:
        raise ParameterError(name, layers, "must be a list of layer indices") from None
    if not out or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in out):
        raise ParameterError(name, layers, "must be a non-empty list of integers >= 0")
    if any(b <= a for a, b in zip(out, out[1:])):
        raise ParameterError(name, layers, "must be strictly increasing")
    return out


def scaled_layer(layer: int, of: int, n_layers: int) -> int:
    """Layer ``layer`` of an ``of``-layer model at the same relative depth in ``n_layers``."""
    return min(n_layers - 1, max(0, round(layer * (n_layers - 1) / max(of - 1, 1))))
