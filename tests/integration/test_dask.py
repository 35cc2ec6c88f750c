"""Chapters 2 and 5 on a real Dask cluster (issue 13): a ``distributed.LocalCluster`` of two
worker processes trains a tiny training grid and runs a tiny chapter-5 sweep, and their
tables equal the in-process run's; a worker killed in the middle of a job leaves no corrupt
cache entry and the job is run again elsewhere; a wrong scheduler address fails in seconds.

One cluster serves the module, and the models are trained once in this process and copied
into each test's cache, so that each Dask run computes only what it tests."""
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kedit_utils.book.profiles import TRAINING
from kedit_utils.core import cache, jobs
from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.deletion.config import DeletionChapterConfig
from kedit_utils.kg.deletion.sweep import ARTIFACT_KIND as SWEEPS
from kedit_utils.kg.deletion.sweep import (
    model_sweeps,
    run_deletion_experiment,
    sweep_jobs,
    sweep_tables,
)
from kedit_utils.kg.trained_models import trained_folder, trained_models
from kedit_utils.kg.training import ARTIFACT_KIND as MODELS

pytestmark = pytest.mark.slow  # integration tier: `make test`, not `make test-fast`

distributed = pytest.importorskip("distributed")

PARAMS = {
    **TRAINING["quick"], "n_entities": 10, "n_relations": 4, "ba_m": 2, "n_aliases": 2, "sample_fraction": 0.5,
    "layers": [1, 2], "n_embd": 16, "n_head": 2, "lr": 3e-3, "batch_size": 32, "max_epochs": 20, "warmup": 2,
    "graph_kinds": ["ba"], "seed": 0, "device": "cpu",
}
SWEEP = dict(n_trace_facts=3, edit_tokens=["subject_last"])
CONFIG = DeletionChapterConfig(training=PARAMS, seed=0, device="cpu", graph_kinds=("ba",), seeds=(0,),
                               n_trace_facts=SWEEP["n_trace_facts"], edit_token="subject_last")
KEY = ["edit_token", "graph", "layers", "entity"]


@pytest.fixture(scope="module")
def cluster():
    """The address of a LocalCluster of two one-thread worker processes, which start
    importing the chapter-5 code (torch, transformers) while this process runs ``local_run``."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c, \
            distributed.Client(c) as client:
        for worker in client.scheduler_info()["workers"]:
            client.submit(_import_the_models_code, workers=[worker], pure=False)
        yield c.scheduler_address


def _import_the_models_code() -> None:
    """What a worker imports before its first job (about 5 s on this machine)."""
    import transformers.models.gpt2.modeling_gpt2  # noqa: F401

    import kedit_utils.kg.deletion.sweep  # noqa: F401


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The in-process run: (cache folder with the trained models only, the models' reports,
    the chapter-5 experiment)."""
    root = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KEDIT_CACHE", str(root / "models"))
        reports = {k: _outcome(tm) for k, tm in trained_models(PARAMS, progress=False).items()}
        shutil.copytree(root / "models", root / "sweep")
        mp.setenv("KEDIT_CACHE", str(root / "sweep"))
        exp = run_deletion_experiment(CONFIG, progress=False)
    return root / "models", reports, exp


def _outcome(tm) -> tuple:
    """A trained model's report, training log and epochs, without the timings."""
    def timeless(d: dict) -> dict:
        return {k: v for k, v in d.items() if not k.endswith("seconds")}

    return timeless(tm.report), [timeless(row) for row in tm.log], tm.epochs


def _with_models(local_models: Path, tmp_path: Path, monkeypatch) -> Path:
    """A fresh cache for one test holding the trained models only."""
    shutil.copytree(local_models, tmp_path / "cache")
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _sorted(entities: pd.DataFrame) -> pd.DataFrame:
    return entities.drop(columns="seconds").sort_values(KEY).reset_index(drop=True)


def test_training_grid_on_dask_equals_local(cluster, local_run, tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))  # nothing cached: the workers train
    models = trained_models(PARAMS, progress=False, executor="dask", scheduler=cluster)
    _, reports, _ = local_run
    assert {k: _outcome(tm) for k, tm in models.items()} == reports  # exactly: one torch thread each
    assert all(Path(tm.path) == trained_folder(PARAMS, *k) and cache.is_complete(tm.path) for k, tm in models.items())


def test_deletion_sweep_on_dask_equals_local(cluster, local_run, tmp_path, monkeypatch):
    local_models, _, local = local_run
    _with_models(local_models, tmp_path, monkeypatch)  # the sweeps (and traces, covariances) run on the workers
    exp = run_deletion_experiment(replace(CONFIG, executor="dask", scheduler=cluster), progress=False)
    assert len(exp.entities) == 2 * 10
    pd.testing.assert_frame_equal(_sorted(exp.entities), _sorted(local.entities), check_exact=False, atol=1e-9)
    pd.testing.assert_frame_equal(exp.layers_used, local.layers_used)
    assert np.allclose(exp.lens[("ba", 2)]["probs"], local.lens[("ba", 2)]["probs"], atol=1e-6)
    assert len(list((tmp_path / "cache" / SWEEPS).iterdir())) == 2


def sweeps_dying_once(job: dict) -> dict:
    """:func:`model_sweeps`, except that the first attempt of any job (the marker file does
    not exist yet) kills its worker process right after writing the first table of a cache
    entry, before the entry is complete. It dies once the other job's entry is complete, so
    that the other worker is free and takes the job again at once (the restarted worker
    would first import torch). Returns the sweeps and the pid that computed them."""
    marker = Path(job["die_marker"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        to_csv = pd.DataFrame.to_csv

        def write_then_die(self, *args, **kwargs):
            to_csv(self, *args, **kwargs)
            sweeps = cache.cache_root() / SWEEPS
            deadline = time.monotonic() + 30
            while not any(cache.is_complete(p) for p in sweeps.glob("[!.]*")) and time.monotonic() < deadline:
                time.sleep(0.05)
            os._exit(1)

        pd.DataFrame.to_csv = write_then_die
    return {**model_sweeps(job), "pid": os.getpid()}


def test_a_killed_workers_job_runs_again_elsewhere_and_leaves_no_corrupt_entry(cluster, local_run, tmp_path,
                                                                               monkeypatch):
    local_models, _, local = local_run
    root = _with_models(local_models, tmp_path, monkeypatch)
    models = {0: trained_models(PARAMS, progress=False)}
    marker = tmp_path / "died"
    grid = [{**job, "die_marker": str(marker)} for job in sweep_jobs(PARAMS, [0], models, SWEEP["edit_tokens"],
                                                                     n_trace_facts=SWEEP["n_trace_facts"])]
    outs = jobs.run_jobs(sweeps_dying_once, grid, executor="dask", scheduler=cluster, progress=False)
    died = int(marker.read_text())
    assert all(out["pid"] != died for out in outs)  # the killed job ran again in another process
    tables, used = sweep_tables(outs)
    pd.testing.assert_frame_equal(_sorted(tables["entities"]), _sorted(local.entities), check_exact=False, atol=1e-9)
    entries = [p for kind in root.iterdir() for p in kind.iterdir()]
    left = [p for p in entries if ".tmp-" in p.name]
    assert left and not any(cache.is_complete(p) for p in left)  # the killed build: never marked complete
    assert all(cache.is_complete(p) for p in entries if not p.name.startswith("."))
    assert len(list((root / SWEEPS).glob("[!.]*"))) == 2


def _worker_settings(_job) -> tuple:
    import dask

    return (os.environ.get(jobs.TRIM_VARIABLE), dask.config.get("distributed.worker.profile.enabled"),
            dask.config.get("distributed.admin.tick.interval"))


def test_the_local_clusters_workers_keep_glibcs_allocator_and_leave_the_gil_to_the_job():
    """A nanny's MALLOC_TRIM_THRESHOLD_ and the worker's profiler slowed chapter 5's jobs by
    up to 84 % (kedit_utils.core.jobs, **Allocator** and **GIL**)."""
    assert jobs.run_jobs(_worker_settings, [0, 1], executor="dask", workers=2, progress=False) == \
        [(None, False, "1s")] * 2


def test_a_wrong_scheduler_address_fails_within_seconds_naming_it(tmp_path, monkeypatch):
    assert jobs.CONNECT_TIMEOUT_S <= 10
    monkeypatch.setattr(jobs, "CONNECT_TIMEOUT_S", 1)  # the test's second, not the default's five
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(ParameterError, match=r"'scheduler' = 'tcp://127\.0\.0\.1:1'"):
        trained_models(PARAMS, progress=False, executor="dask", scheduler="tcp://127.0.0.1:1")
    assert time.perf_counter() - t0 < 1 + 3
    assert not (tmp_path / MODELS).exists()  # nothing trained
