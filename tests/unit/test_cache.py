"""Artifact cache: keys from every input, atomic writes."""
import json

import pytest

from kedit_utils.core import cache


def test_key_depends_on_every_input_not_on_order():
    a = cache.cache_key({"lr": 1e-3, "layers": 6}, "v1")
    assert a == cache.cache_key({"layers": 6, "lr": 1e-3}, "v1")
    assert a != cache.cache_key({"lr": 1e-3, "layers": 12}, "v1")
    assert a != cache.cache_key({"lr": 1e-3, "layers": 6}, "v2")


def test_cached_builds_once(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    calls = []

    def build(d):
        calls.append(1)
        (d / "x.json").write_text(json.dumps(42))

    p1 = cache.cached("thing", {"a": 1}, "v", build)
    p2 = cache.cached("thing", {"a": 1}, "v", build)
    assert p1 == p2 and len(calls) == 1 and p1.parent.parent == tmp_path
    assert json.loads((p1 / "x.json").read_text()) == 42


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))

    def build(d):
        (d / "half.bin").write_bytes(b"123")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.cached("thing", {"a": 2}, "v", build)
    assert not any((tmp_path / "thing").iterdir())


def test_write_json_atomic(tmp_path):
    p = cache.write_json_atomic(tmp_path / "r" / "x.json", {"b": [1, 2]})
    assert json.loads(p.read_text()) == {"b": [1, 2]}
    assert [f.name for f in p.parent.iterdir()] == ["x.json"]


def test_a_build_finishing_second_keeps_the_entry_published_first(tmp_path, monkeypatch):
    """Two workers build one key: the second to finish discards its folder, the first's stays."""
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    first = []

    def other_worker(d):
        (d / "x.json").write_text(json.dumps("first"))

    def ours(d):
        (d / "x.json").write_text(json.dumps("second"))
        path = cache.cached("thing", {"a": 3}, "v", other_worker)  # completes while we build
        first.append((path, path.stat().st_ino))

    path = cache.cached("thing", {"a": 3}, "v", ours)
    assert (path, path.stat().st_ino) == first[0] and cache.is_complete(path)
    assert json.loads((path / "x.json").read_text()) == "first"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # our temporary folder is gone


def test_an_incomplete_leftover_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    final = cache.artifact_dir("thing", cache.cache_key({"a": 4}, "v"))
    final.mkdir(parents=True)
    (final / "half.bin").write_bytes(b"12")  # no completion marker
    path = cache.cached("thing", {"a": 4}, "v", lambda d: (d / "x.json").write_text("4"))
    assert path == final and cache.is_complete(path) and not (path / "half.bin").exists()
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def _build_same_key(root, text, started, published, mine_done, other_done, out):
    """One of two processes building the same key: both wait inside build until both have
    started; the second waits for the first to publish before finishing its own build."""
    import os

    os.environ["KEDIT_CACHE"] = root

    def build(d):
        (d / "x.json").write_text(json.dumps(text))
        started.wait()
        if text == "second":
            published.wait()

    path = cache.cached("thing", {"a": 5}, "v", build)
    seen = json.loads((path / "x.json").read_text())
    if text == "first":
        published.set()
    mine_done.set()
    other_done.wait()
    out.put((text, str(path), seen, json.loads((path / "x.json").read_text()), cache.is_complete(path)))


def test_two_processes_building_one_key_share_the_first_entry(tmp_path):
    from multiprocessing import get_context

    ctx = get_context("spawn")
    started, published, done, out = ctx.Barrier(2), ctx.Event(), [ctx.Event(), ctx.Event()], ctx.Queue()
    procs = [ctx.Process(target=_build_same_key, args=(str(tmp_path), text, started, published,
                                                      done[k], done[1 - k], out))
             for k, text in enumerate(("first", "second"))]
    for p in procs:
        p.start()
    results = sorted(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=10)
    assert [p.exitcode for p in procs] == [0, 0]
    # each read the first entry right after building and again after the other finished
    assert results == [("first", results[0][1], "first", "first", True),
                       ("second", results[0][1], "first", "first", True)]
    assert [p.name for p in (tmp_path / "thing").iterdir()] == [tmp_path.joinpath(results[0][1]).name]


# --------------------------------------------------------------------------- keys from the code that ran
# (issue 29 §2) A throwaway package under tmp_path, one module per kind of import that
# :func:`cache.code_closure` follows or leaves out; ``{pkg}`` is its (unique) name.
THROWAWAY = {
    "__init__.py": '"""A throwaway package: only passed through on the way to its modules."""\n',
    "producer.py": '''"""The producer: every kind of import."""
from typing import TYPE_CHECKING

from {pkg}.helpers import util
from . import sibling

if TYPE_CHECKING:
    from {pkg} import typing_only


def make():
    import {pkg}.plain
    from {pkg}.facade import NAME

    from .deep.leaf import value

    return util.x + sibling.y + value + NAME + {pkg}.plain.p, "{pkg}.lazy"
''',
    "helpers/__init__.py": '"""Passed through: only its submodule is imported."""\n',
    "helpers/util.py": "x = 1\n",
    "sibling.py": "y = 2\n",
    "deep/__init__.py": '"""Passed through too."""\n',
    "deep/leaf.py": "from ..chained import z\n\nvalue = 3 + z\n",
    "chained.py": "z = 0\n",
    "plain.py": "p = 0\n",
    "facade/__init__.py": '"""Names are read from this package."""\nfrom {pkg}.facade.impl import NAME\n',
    "facade/impl.py": "NAME = 4\n",
    "lazy.py": "lazy = 5\n",
    "typing_only.py": "t = 6\n",
    "outside.py": "from {pkg} import producer\n",
}
IN_CLOSURE = ["producer", "helpers.util", "sibling", "deep.leaf", "chained", "plain", "facade", "facade.impl", "lazy"]
OUTSIDE = ["outside", "typing_only", "", "helpers", "deep"]  # "": the package's own __init__


@pytest.fixture
def throwaway(tmp_path, monkeypatch):
    """(package name, its folder): the package above, importable, with code versions forgotten around the test."""
    import importlib
    import sys
    import uuid

    pkg = f"throwaway_{uuid.uuid4().hex[:8]}"
    for rel, text in THROWAWAY.items():
        path = tmp_path / pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{pkg}", pkg))
    monkeypatch.syspath_prepend(str(tmp_path))
    cache.forget_code_versions()
    importlib.import_module(f"{pkg}.producer")
    yield pkg, tmp_path / pkg
    cache.forget_code_versions()
    for name in [n for n in sys.modules if n == pkg or n.startswith(pkg + ".")]:
        del sys.modules[name]


def _file(folder, module: str):
    parts = module.split(".") if module else []
    package = folder.joinpath(*parts) / "__init__.py"
    return package if package.is_file() else folder.joinpath(*parts[:-1]) / f"{parts[-1]}.py"


def _qualified(pkg: str, module: str) -> str:
    return f"{pkg}.{module}" if module else pkg


def _key(pkg: str) -> str:
    import sys

    cache.forget_code_versions()
    return cache.code_version(sys.modules[f"{pkg}.producer"])


def test_the_closure_follows_every_import_that_runs(throwaway):
    import sys

    pkg, _ = throwaway
    producer = sys.modules[f"{pkg}.producer"]
    assert cache.code_closure(producer) == {_qualified(pkg, m) for m in IN_CLOSURE}
    assert cache.code_closure(producer.make) == cache.code_closure(producer)  # a function: its module
    assert cache.code_version(producer.make) == cache.code_version(producer)


@pytest.mark.parametrize("module", IN_CLOSURE)
def test_editing_a_module_in_the_closure_changes_the_key(throwaway, module):
    pkg, folder = throwaway
    before = _key(pkg)
    path = _file(folder, module)
    original = path.read_text()
    path.write_text(original + "EDITED = True\n")
    assert _key(pkg) != before
    path.write_text(original)
    assert _key(pkg) == before  # the key is a function of the sources


@pytest.mark.parametrize("module", OUTSIDE)
def test_editing_a_module_outside_the_closure_keeps_the_key(throwaway, module):
    pkg, folder = throwaway
    before = _key(pkg)
    path = _file(folder, module)
    path.write_text(path.read_text() + "EDITED = True\n")
    assert _key(pkg) == before


def test_a_pure_move_keeps_the_key_and_the_importers_text_changes_theirs(throwaway):
    import importlib
    import shutil
    import sys

    pkg, folder = throwaway
    shutil.copy(folder / "producer.py", folder / "moved_producer.py")  # same content, another name
    moved = importlib.import_module(f"{pkg}.moved_producer")
    assert cache.code_closure(moved) != cache.code_closure(sys.modules[f"{pkg}.producer"])
    assert cache.code_version(moved) == cache.code_version(sys.modules[f"{pkg}.producer"])
    # moving a module the producer imports: its content (hence the key's part for it) is the
    # same, but the producer's import line names the new place, so the producer's key changes
    before = _key(pkg)
    (folder / "sibling.py").rename(folder / "renamed_sibling.py")
    producer = folder / "producer.py"
    renamed = producer.read_text().replace("from . import sibling", "from . import renamed_sibling as sibling")
    producer.write_text(renamed)
    assert _key(pkg) != before


def test_the_closure_and_key_are_read_once_per_process(throwaway, monkeypatch):
    import pathlib
    import sys

    pkg, _ = throwaway
    producer = sys.modules[f"{pkg}.producer"]
    key = cache.code_version(producer)
    reads = []
    real = pathlib.Path.read_bytes
    monkeypatch.setattr(pathlib.Path, "read_bytes", lambda self: reads.append(self) or real(self))
    assert cache.code_version(producer) == key and cache.code_closure(producer) and not reads
    cache.forget_code_versions()
    assert cache.code_version(producer) == key and len(reads) == len(IN_CLOSURE)


def _cell_function(source: str, cell: str):
    """A function defined as a notebook cell defines it: a module of no file, source in linecache."""
    import linecache

    linecache.cache[cell] = (len(source), None, source.splitlines(True), cell)
    namespace = {"__name__": "notebook_cell_module"}
    exec(compile(source, cell, "exec"), namespace)
    return namespace["f"]


def test_a_callable_outside_any_package_is_keyed_by_its_own_source():
    one = _cell_function("def f():\n    return 1\n", "<cell one>")
    two = _cell_function("def f():\n    return 2\n", "<cell two>")
    assert cache.code_version(one) == cache.code_version(one) != cache.code_version(two)
    with pytest.raises(ValueError, match="no module file"):
        cache.code_closure(one)


def test_the_deletion_sweeps_closure_holds_the_code_it_runs():
    """Chapter 5's ROME sweep: the replay of the edit, the edited token's choice, the key
    covariance and the architecture adapters are in its key; the book is not."""
    from kedit_utils.editing import registry
    from kedit_utils.kg.deletion import sweep

    closure = cache.code_closure(sweep)
    assert {"kedit_utils.editing.replay", "kedit_utils.core.tokens", "kedit_utils.editing.rome.covariance",
            "kedit_utils.core.architectures", "kedit_utils.kg.deletion.impact", "kedit_utils.kg.training"} <= closure
    assert {module for module, _ in registry.METHODS.values()} <= closure  # get_editor's lazy imports
    assert not {m for m in closure if m.startswith("kedit_utils.book")}
    assert "kedit_utils.book.scorecard" not in closure


def test_a_trained_models_key_covers_the_trainer_not_its_callers():
    """Chapter 2's models: the model, corpus, graph, vocabulary and evaluation code are in the
    key; the module that asks for models (kg.trained_models), the deletion code and the book are not."""
    from kedit_utils.kg import training

    closure = cache.code_closure(training)
    assert {"kedit_utils.kg.gpt2", "kedit_utils.kg.corpus", "kedit_utils.kg.graphs", "kedit_utils.kg.vocabulary",
            "kedit_utils.kg.alias_accuracy", "kedit_utils.core.prefix_scoring"} <= closure
    assert not {m for m in closure if m.startswith(("kedit_utils.kg.trained_models", "kedit_utils.kg.deletion",
                                                    "kedit_utils.editing", "kedit_utils.book"))}
    assert training.training_code_version() == cache.code_version(training)


def test_package_inits_hold_only_a_docstring_imports_and_all():
    """:func:`cache.code_closure` leaves out parent packages that are only passed through, so
    their ``__init__`` must hold no code that could change an artifact."""
    import ast

    root = cache.PROJECT_ROOT / "kedit_utils"
    for init in sorted(root.rglob("__init__.py")):
        body = ast.parse(init.read_text()).body
        for k, node in enumerate(body):
            docstring = k == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            all_names = isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]
            assert docstring or all_names or isinstance(node, (ast.Import, ast.ImportFrom)), \
                f"{init.relative_to(cache.PROJECT_ROOT)}:{node.lineno} holds code; move it to a module"


def test_the_smollm2_pin_stands_for_the_conversion_code():
    """The float32 copy of SmolLM2 is keyed by ``SMOLLM2_FLOAT32_PIN``, not by the import
    closure (core/pretrained.py says why). When this fails, the GGUF reading or the saved copy
    changed: bump the pin if what is saved differs (old entries are then rebuilt, 30 s), and
    record the new digest here."""
    import hashlib
    import inspect

    from kedit_utils.core import pretrained

    source = inspect.getsource(pretrained._smollm2_from_gguf) + inspect.getsource(pretrained._save_smollm2_float32)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert (pretrained.SMOLLM2_FLOAT32_PIN, digest) == ("smollm2-float32/1", "de9a8b0c789683b2")


def test_no_producer_names_its_modules_by_hand():
    """Issue 29 §2: a producer's key is its own module's import closure (``code_version(sys.modules
    [__name__])``, or a module looked up by name at run time, such as an editor from the registry)
    or a named pin; a call that passes a module it imported is a hand-written list again."""
    import ast
    from pathlib import Path

    import kedit_utils

    offenders = []
    for path in Path(kedit_utils.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
                    if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        for node in ast.walk(tree):
            func = getattr(node, "func", None)
            name = getattr(func, "attr", None) or getattr(func, "id", None)
            if isinstance(node, ast.Call) and name == "code_version":
                for arg in node.args:
                    base = arg.value if isinstance(arg, ast.Attribute) else arg
                    if isinstance(base, ast.Name) and base.id in imported:
                        offenders.append(f"{path.name}:{node.lineno} passes {ast.unparse(arg)}")
    assert not offenders, offenders
