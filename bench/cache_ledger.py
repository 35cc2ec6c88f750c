"""Benchmark ledger: what a long run built in the artifact cache, and how long each entry took.

A paper-scale run of chapter 5 takes longer than one sitting on a CPU. It caches every sweep,
model and variant as it completes (``kedit_utils.core.cache``), and the same command started again
redoes only what is missing. Its wall time is then spread over several invocations; this
script reads it back from the cache itself. An entry's build started when its
``inputs.json`` was written (the file's birth time) and ended when ``.complete`` was (its
modification time); both are the file system's record, not a log anyone wrote.

It prints one line per entry completed in ``[--since, --until]`` (kind, seconds, what it
is: graph, depth, seed, edit token, method, variant) and the sum per kind. Two workers build
two entries at once, so the sum of seconds is the run's compute on one worker each, about
twice its wall time.

    python bench/cache_ledger.py --since "2026-11-25 04:51" [--until ...] [--kinds deletion-sweep ...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kedit_utils.core.cache import COMPLETE_MARKER, cache_root  # noqa: E402

KINDS = ("trained-gpt2", "edit-sites", "deletion-sweep", "deletion-variant", "deletion-site-check",
         "deletion-sequence")


def birth_time(path: Path) -> float | None:
    """The file's birth time (``stat %W``; None where the file system does not record it)."""
    out = subprocess.run(["stat", "-c", "%W", str(path)], capture_output=True, text=True).stdout.strip()
    return float(out) if out not in ("", "0", "-") else None


def describe(inputs: dict) -> str:
    """The entry in a few words, from its inputs."""
    label = dict(inputs.get("label") or {})
    if not label and isinstance(inputs.get("graph"), dict):  # a trained model (training.training_inputs)
        g, m = inputs["graph"], inputs.get("model", {})
        label = {"graph": str(g.get("kind", "")).upper(), "layers": m.get("n_layers"), "seed": inputs.get("seed")}
        if g.get("orientation") not in (None, "one"):
            label["orientation"] = g["orientation"]
    elif not label and "seed" in inputs:  # e.g. an edit site: its model's seed
        label = {"seed": inputs["seed"]}
    parts = [f"{k}={label[k]}" for k in ("graph", "layers", "seed", "edit_token", "orientation") if k in label]
    if "method" in inputs:
        parts.append(f"method={inputs['method']}")
    if "variant" in inputs:
        parts.append("variant=" + json.dumps({k: v for k, v in inputs["variant"].items() if v not in (None, {}, False)},
                                             sort_keys=True))
    if "entities" in inputs:
        parts.append(f"entities={len(inputs['entities'])}")
    return " ".join(parts)


def ledger(root: Path, kinds, since: float, until: float) -> list[dict]:
    rows = []
    for kind in kinds:
        for entry in sorted((root / kind).glob("*")) if (root / kind).is_dir() else []:
            done, inputs = entry / COMPLETE_MARKER, entry / "inputs.json"
            if entry.name.startswith(".") or not done.is_file():
                continue
            end = os.path.getmtime(done)
            if not since <= end <= until:
                continue
            start = birth_time(inputs) if inputs.is_file() else None
            try:
                what = describe(json.loads(inputs.read_text()))
            except (OSError, ValueError):
                what = ""
            rows.append({"kind": kind, "end": end, "seconds": None if start is None else end - start, "what": what})
    return sorted(rows, key=lambda r: r["end"])


TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")


def _time(text: str | None, default: float) -> float:
    """Seconds since the epoch of ``text`` (UTC, one of :data:`TIME_FORMATS`); ``ValueError``
    naming the formats otherwise."""
    if text is None:
        return default
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a UTC time as \"YYYY-MM-DD HH:MM[:SS]\"")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--since", help='UTC, "YYYY-MM-DD HH:MM[:SS]" (default: every entry)')
    ap.add_argument("--until", help='UTC, "YYYY-MM-DD HH:MM[:SS]" (default: now)')
    ap.add_argument("--kinds", nargs="+", default=list(KINDS))
    args = ap.parse_args()
    try:
        since, until = _time(args.since, 0.0), _time(args.until, float("inf"))
    except ValueError as err:
        ap.error(f"--since/--until: {err}")
    rows = ledger(cache_root(), args.kinds, since, until)
    total: dict[str, float] = {}
    for r in rows:
        stamp = datetime.fromtimestamp(r["end"], timezone.utc).strftime("%m-%d %H:%M")
        secs = "?" if r["seconds"] is None else f"{r['seconds']:.0f}"
        print(f"{stamp}  {r['kind']:<20} {secs:>6} s  {r['what']}")
        total[r["kind"]] = total.get(r["kind"], 0.0) + (r["seconds"] or 0.0)
    print(f"{len(rows)} entries")
    for kind, secs in total.items():
        print(f"  {kind:<20} {secs:8.0f} s of build time ({secs / 3600:.2f} h)")


if __name__ == "__main__":
    main()
