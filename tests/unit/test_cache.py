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
