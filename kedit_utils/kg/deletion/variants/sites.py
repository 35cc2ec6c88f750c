"""Chapter 5's re-trace (issue 12 §3; Paper A §3.3, Fig. 6): where the MLP effect peaks under the
paper's corruption (noise of 3σ on the subject's embedding only) on the models of each graph
orientation, with one layer's MLP restored (the paper's "one hidden state") or ROME's window of
10. The paper finds the first-layer MLP at the subject token; chapter 4 finds the relation token.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from kedit_utils.core import cache
from kedit_utils.kg.alias_accuracy import score_prompts
from kedit_utils.kg.tracing import alias_prompts, summarise, trace
from kedit_utils.kg.trained_models import trained_model


def site_check(params: dict, kinds=("er", "ba"), n_layers: int = 6, orientations=("one", "both"),
               windows=(1, 10), n_facts: int = 40, n_samples: int = 5) -> pd.DataFrame:
    """Issue 12 §3: where the MLP effect peaks under the paper's corruption (noise of 3σ on
    the subject's embedding h₁⁽⁰⁾ only) on the models of each graph orientation, restoring
    one layer's MLP (``window`` 1, the paper's "one hidden state") or ROME's window of 10.

    Returns one row per orientation × graph × window: the peak's layer and token
    (``subject`` / ``relation``), and the first layer's average indirect effect at each token
    (the paper finds the first-layer MLP at the subject token). Cached per model."""
    rows = []
    for orientation in orientations:
        for kind in kinds:
            tm = trained_model({**params, "orientation": orientation}, kind, n_layers, progress=False)
            inputs = {"model": str(tm.path), "windows": list(windows), "n_facts": n_facts, "n_samples": n_samples,
                      "seed": params["seed"]}

            def build(tmp: Path, tm=tm) -> None:
                c = tm.corpus
                correct = np.flatnonzero(score_prompts(tm.model, c.prompts, c.prompt_object, c.vocab).correct)
                pick = np.random.default_rng(params["seed"]).choice(correct, min(n_facts, correct.size), replace=False)
                prompts = alias_prompts(c.vocab, c.prompts[pick], c.prompt_object[pick])
                out = []
                for w in windows:
                    mlp = summarise(trace(tm.model, prompts, kinds=("mlp",), n_samples=n_samples, window=w,
                                          seed=params["seed"]))["mlp"]
                    mean = np.where(np.isnan(mlp.mean), -np.inf, mlp.mean)
                    r, col = np.unravel_index(int(np.argmax(mean)), mean.shape)
                    first = int(np.flatnonzero(mlp.layers == 0)[0])
                    out.append({"window": w, "peak_layer": int(mlp.layers[r]),
                                "peak_token": "subject" if col == 0 else "relation",
                                "first_layer_subject": float(mlp.mean[first, 0]),
                                "first_layer_relation": float(mlp.mean[first, -1])})
                cache.write_json_atomic(tmp / "sites.json", out)

            path = cache.cached("deletion-site-check", inputs, cache.code_version(sys.modules[__name__]), build)
            for row in json.loads((path / "sites.json").read_text()):
                rows.append({"orientation": orientation, "graph": kind.upper(), "layers": n_layers, **row})
    return pd.DataFrame(rows)
