"""Artifact cache: expensive results saved under a key built from every input.

Modelled on the ROME reference's cached statistics: an artifact lives in
``<cache root>/<kind>/<key>/`` where the key hashes every input that determines it (the
parameters, the seed, and the *code version* of the module that produces it: a hash of that
module's source, so editing the producer invalidates old artifacts).

The root is ``$KEDIT_CACHE`` when set, else ``.cache/`` in the project. Writes are atomic:
an artifact is built in a temporary sibling folder and renamed into place only when
complete, so a killed run never leaves something a later run would take for a result.
Checkpoints are safetensors or JSON; nothing is unpickled.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMPLETE_MARKER = ".complete"


def cache_root() -> Path:
    """``$KEDIT_CACHE`` or ``<project>/.cache``."""
    return Path(os.environ.get("KEDIT_CACHE") or PROJECT_ROOT / ".cache")


def code_version(*modules: ModuleType | Callable) -> str:
    """Short hash of the source of the given modules/functions."""
    h = hashlib.sha256()
    for m in modules:
        h.update(inspect.getsource(m).encode())
    return h.hexdigest()[:12]


def _canonical(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _canonical(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    return obj


def cache_key(inputs: dict, version: str = "") -> str:
    """Hash of ``inputs`` (JSON-canonical: key order does not matter) and a code version."""
    payload = json.dumps({"inputs": _canonical(inputs), "code": version}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def artifact_dir(kind: str, key: str) -> Path:
    return cache_root() / kind / key


def is_complete(path: Path) -> bool:
    return (path / COMPLETE_MARKER).is_file()


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it is renamed to ``final`` (marked complete).

    On an exception the temporary folder is removed and ``final`` is left untouched.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        (tmp / COMPLETE_MARKER).write_text("")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write JSON to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_canonical(data), f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def cached(kind: str, inputs: dict, version: str, build: Callable[[Path], None]) -> Path:
    """Return the complete artifact folder for ``inputs``, building it with ``build(tmpdir)`` if needed."""
    path = artifact_dir(kind, cache_key(inputs, version))
    if not is_complete(path):
        with atomic_dir(path) as tmp:
            (tmp / "inputs.json").write_text(json.dumps(_canonical(inputs), indent=2, sort_keys=True))
            build(tmp)
    return path
