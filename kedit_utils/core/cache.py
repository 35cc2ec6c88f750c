"""Artifact cache: expensive results saved under a key built from every input.

Modelled on the ROME reference's cached statistics: an artifact lives in
``<cache root>/<kind>/<key>/`` where the key hashes every input that determines it (the
parameters, the seed, and the *code version* of the module that produces it: a hash of that
module's source, so editing the producer invalidates old artifacts).

The root is ``$KEDIT_CACHE`` when set, else ``.cache/`` in the project. Writes are atomic:
an artifact is built in a temporary sibling folder and renamed into place only when
complete, so a killed run never leaves something a later run would take for a result, and
when two workers build the same entry at once the first to finish publishes it and the
other keeps it (:func:`atomic_dir`), so the cache may be shared by the workers of a cluster
(:mod:`kedit_utils.core.jobs`).
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

PROJECT_ROOT = Path(__file__).resolve().parents[2]
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
    """Yield a temporary folder; on success it is marked complete and renamed to ``final``.

    Safe when several processes (Dask workers, pool workers) build the same entry at once:
    if a complete ``final`` exists when this build finishes (another process published it
    first), it is kept and this build's folder is discarded, so a reader of ``final`` never
    sees it change; an incomplete leftover at ``final`` is replaced. On an exception (or a
    killed process) the temporary folder is never marked complete and ``final`` is left
    untouched.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        (tmp / COMPLETE_MARKER).write_text("")
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(tmp: Path, final: Path) -> None:
    """Rename the complete folder ``tmp`` to ``final`` unless a complete ``final`` exists."""
    if is_complete(final):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if final.exists() or final.is_symlink():  # incomplete (atomic_dir's entries appear whole) or a dead link
        _remove_aside(final)
    try:
        os.replace(tmp, final)
    except OSError:  # another process published ``final`` between the check and the rename
        if not is_complete(final):
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _remove_aside(path: Path) -> None:
    """Rename ``path`` to a hidden sibling (one atomic step), then delete that sibling."""
    aside = path.parent / f".{path.name}.stale-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:  # another process removed it first
        return
    shutil.rmtree(aside, ignore_errors=True)


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
