"""Chapter 5's experiment gives the same tables whether its models are swept in this process
or in worker processes (Paper A §4; ``run_deletion_experiment`` with ``workers`` in its config)."""
import shutil

import numpy as np
import pandas as pd
import pytest

from kedit_utils.book.profiles import TRAINING
from kedit_utils.kg.deletion.config import DeletionChapterConfig
from kedit_utils.kg.deletion.sweep import run_deletion_experiment
from kedit_utils.kg.training import ARTIFACT_KIND

pytestmark = pytest.mark.slow  # integration tier: `make test`, not `make test-fast`

PARAMS = {
    **TRAINING["quick"], "n_entities": 10, "n_relations": 4, "ba_m": 2, "n_aliases": 2, "sample_fraction": 0.5,
    "layers": [1, 2], "n_embd": 16, "n_head": 2, "lr": 3e-3, "batch_size": 32, "max_epochs": 20, "warmup": 2,
    "graph_kinds": ["ba"], "seed": 0, "device": "cpu",
}


def sweep_config(**changes) -> DeletionChapterConfig:
    """The chapter's config for a sweep of PARAMS' models (seed 0, BA, both key tokens)."""
    return DeletionChapterConfig(training=PARAMS, seed=0, device="cpu", graph_kinds=("ba",), seeds=(0,),
                                 n_trace_facts=3, edit_token="subject_last", compare_token="last", **changes)


def test_worker_processes_give_the_same_sweep(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "one"))
    one = run_deletion_experiment(sweep_config(workers=1), progress=False)
    # the trained models only (training in the pool is the same run_jobs path): the workers sweep
    shutil.copytree(tmp_path / "one" / ARTIFACT_KIND, tmp_path / "two" / ARTIFACT_KIND)
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "two"))
    two = run_deletion_experiment(sweep_config(workers=2), progress=False)
    key = ["edit_token", "graph", "layers", "entity"]
    a, b = (e.entities.sort_values(key).reset_index(drop=True) for e in (one, two))
    assert len(a) == 2 * 2 * 10 and set(a.edit_token) == {"subject_last", "last"}
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"), check_exact=False, atol=1e-9)
    assert one.layers_used.equals(two.layers_used)
    assert set(two.lens) == {("ba", 1), ("ba", 2)} and two.panel_model is not None
    assert np.allclose(one.lens[("ba", 2)]["probs"], two.lens[("ba", 2)]["probs"], atol=1e-6)
    # a re-run finds every sweep (and the traced edit sites) in the cache: the same tables, timings included
    again = run_deletion_experiment(sweep_config(workers=2), progress=False)
    pd.testing.assert_frame_equal(again.entities, two.entities)


def test_bad_workers_named_before_any_work():
    from kedit_utils.core.validation import ParameterError

    with pytest.raises(ParameterError, match="workers"):
        run_deletion_experiment(sweep_config(workers=0))
