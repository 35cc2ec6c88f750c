"""Artifact cache: expensive results saved under a key built from every input.

Modelled on the ROME reference's cached statistics: an artifact lives in
``<cache root>/<kind>/<key>/`` where the key hashes every input that determines it (the
parameters, the seed, and the *code version* of the producer: :func:`code_version`, a hash of
the source of every ``kedit_utils`` module the producer's module imports, directly or not, so
editing any code that ran invalidates old artifacts; a producer whose artifact must survive
unrelated edits passes a named version pin instead, stated beside the producer).

The root is ``$KEDIT_CACHE`` when set, else ``.cache/`` in the project. Writes are atomic:
an artifact is built in a temporary sibling folder and renamed into place only when
complete, so a killed run never leaves something a later run would take for a result, and
when two workers build the same entry at once the first to finish publishes it and the
other keeps it (:func:`atomic_dir`), so the cache may be shared by the workers of a cluster
(:mod:`kedit_utils.core.jobs`).
Checkpoints are safetensors or JSON; nothing is unpickled.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMPLETE_MARKER = ".complete"


def cache_root() -> Path:
    """``$KEDIT_CACHE`` or ``<project>/.cache``."""
    return Path(os.environ.get("KEDIT_CACHE") or PROJECT_ROOT / ".cache")


def code_version(*roots: ModuleType | Callable) -> str:
    """Short hash of the code that ``roots`` run: the source of every module in their import closure.

    Each root is a module (``sys.modules[__name__]``: the producer's own module) or a callable
    (a function or class: its module). The closure (:func:`code_closure`) is the root's module
    and every module of the same top-level package (``kedit_utils``) that it imports, directly
    or through other modules, at module level or inside functions. The hash is taken over the
    *content* of those modules' files, not their names or paths: a pure move of a file (same
    content, another name) keeps the key of what it produces, but the modules that import it
    change their text (the import line), so their keys change. The closure and the hash are
    computed once per process (the modules' code is read when they are first asked for, not
    again), so a call after the first costs a dictionary look-up.

    A callable that belongs to no package file (defined in a notebook or a ``-c`` script) is
    hashed by its own source (:func:`inspect.getsource`).
    """
    names, loose = [], []
    for root in roots:
        name = _root_module(root)
        if name is not None and _module_source(name) is not None:
            names.append(name)
        else:
            loose.append(inspect.getsource(root))
    digest = _closure_digest(frozenset(names))
    if loose:
        digest = hashlib.sha256("\n".join([digest, *loose]).encode()).hexdigest()[:12]
    return digest


def code_closure(*roots: ModuleType | Callable) -> frozenset[str]:
    """Names of the modules whose source :func:`code_version` hashes for ``roots``.

    Followed: ``import pkg.mod``; ``from pkg.mod import name``; ``from pkg import mod`` (the
    submodule ``mod``; ``pkg``'s ``__init__`` when ``name`` is not a submodule, i.e. when names
    are read from the package itself, as in ``from kedit_utils.editing import get_editor``);
    relative imports (``from .mod import x``, ``from .. import mod``); and a quoted string in
    the source that is exactly the dotted name of a module of the package (the editor
    registry's lazy ``importlib.import_module`` targets, so whatever calls ``get_editor``
    depends on every editor). Not followed: imports under ``if TYPE_CHECKING:``
    (they never run) and a parent package's ``__init__`` that Python only passes through on the
    way to a submodule (``kedit_utils.editing.rome`` for ``from kedit_utils.editing.rome import
    compute_k``): this project's ``__init__`` modules hold a docstring, imports and ``__all__``,
    no logic (tests/unit/test_cache.py checks), so leaving them out loses no code and keeps
    a docstring edit there from invalidating every artifact below.
    """
    out: set[str] = set()
    for root in roots:
        name = _root_module(root)
        if name is None or _module_source(name) is None:
            raise ValueError(f"{root!r} belongs to no module file of a package")
        out |= _closure(name)
    return frozenset(out)


def forget_code_versions() -> None:
    """Drop the per-process memory of module sources, closures and hashes (for tests that edit sources)."""
    for memo in (_package_paths, _module_file, _module_source, _closure, _closure_digest):
        memo.cache_clear()


@dataclass(frozen=True)
class _ModuleSource:
    digest: str  # sha256 of the file's bytes
    imports: frozenset[str]  # modules of the same top-level package that it imports


def _root_module(root: ModuleType | Callable) -> str | None:
    """The dotted name of ``root``'s module (its spec's name for ``__main__`` run with ``-m``)."""
    if isinstance(root, ModuleType):
        module = root
    else:
        target = inspect.unwrap(root)
        target = getattr(target, "func", target)  # functools.partial
        name = getattr(target, "__module__", None)
        if name is None:
            return None
        module = sys.modules.get(name)
        if module is None:
            return name
    spec = getattr(module, "__spec__", None)
    return spec.name if spec is not None and spec.name else module.__name__


@functools.lru_cache(maxsize=None)
def _package_paths(top: str) -> tuple[Path, ...] | None:
    """Folders of the top-level package ``top`` (``None`` for a single-file module)."""
    module = sys.modules.get(top)
    if module is not None:
        paths = getattr(module, "__path__", None)
    else:
        try:
            spec = importlib.util.find_spec(top)  # a top-level spec executes nothing
        except (ImportError, ValueError):
            spec = None
        paths = spec.submodule_search_locations if spec is not None else None
    return tuple(Path(p) for p in paths) if paths is not None else None


@functools.lru_cache(maxsize=None)
def _module_file(name: str) -> Path | None:
    """The source file of module ``name``: ``a/b.py`` or ``a/b/__init__.py``, found without importing."""
    top, _, rest = name.partition(".")
    paths = _package_paths(top)
    if paths is None:  # a single-file top-level module has no submodules
        module = sys.modules.get(name) if not rest else None
        file = getattr(module, "__file__", None)
        return Path(file) if file and file.endswith(".py") else None
    parts = rest.split(".") if rest else []
    for folder in paths:
        base = folder.joinpath(*parts)
        for candidate in (base / "__init__.py", base.with_name(base.name + ".py") if parts else None):
            if candidate is not None and candidate.is_file():
                return candidate
    return None


def _is_package(name: str) -> bool:
    file = _module_file(name)
    return file is not None and file.name == "__init__.py"


@functools.lru_cache(maxsize=None)
def _module_source(name: str) -> _ModuleSource | None:
    file = _module_file(name)
    if file is None:
        return None
    source = file.read_bytes()
    return _ModuleSource(hashlib.sha256(source).hexdigest(), frozenset(_imports(source, name)))


def _imports(source: bytes, name: str) -> Iterator[str]:
    """Modules of ``name``'s top-level package that its code imports (see :func:`code_closure`)."""
    top = name.partition(".")[0]
    package = name if _is_package(name) else name.rpartition(".")[0]

    def ours(module: str) -> bool:
        return module == top or module.startswith(top + ".")

    for node in _import_statements(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if ours(alias.name) and _module_file(alias.name))
            continue
        base = _absolute(node, package)
        if base is None or not ours(base):
            continue
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            yield sub if alias.name != "*" and _module_file(sub) else base
    quoted = re.compile(rb"""["'](%s(?:\.[A-Za-z_]\w*)+)["']""" % re.escape(top.encode()))
    for match in quoted.finditer(source):  # lazy imports by name (the editor registry)
        if _module_file(match.group(1).decode()):
            yield match.group(1).decode()


def _import_statements(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree``, in functions and blocks too, except under ``if TYPE_CHECKING:``.

    Only statements are visited (expressions hold no imports), which keeps a module's walk short.
    """
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            stack.extend(getattr(node, field, ()))


def _absolute(node: ast.ImportFrom, package: str) -> str | None:
    """The absolute module name of ``from <module> import ...``, relative ones resolved in ``package``."""
    if not node.level:
        return node.module
    parts = package.split(".") if package else []
    if node.level - 1 > len(parts) - 1:
        return None  # beyond the top-level package
    parts = parts[:len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@functools.lru_cache(maxsize=None)
def _closure(name: str) -> frozenset[str]:
    seen, todo = {name}, [name]
    while todo:
        info = _module_source(todo.pop())
        for dep in info.imports if info is not None else ():
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return frozenset(seen)


@functools.lru_cache(maxsize=None)
def _closure_digest(names: frozenset[str]) -> str:
    """Hash of the contents (not the names) of the modules in the closures of ``names``."""
    modules = set().union(*(_closure(n) for n in names)) if names else set()
    digests = sorted(_module_source(m).digest for m in modules)
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()[:12]


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
