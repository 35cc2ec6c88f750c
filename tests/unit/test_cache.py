"""Artifact cache: keys from every input, atomic writes."""
import json

import pytest

from kedit_utils import cache


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
