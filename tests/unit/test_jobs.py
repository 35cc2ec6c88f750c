"""kedit_utils.core.jobs without a cluster: validation, order, cached jobs, the worker wrapper.
(The local pool runs in tests/integration/test_deletion_workers.py, Dask in test_dask.py.)"""
import os
import sys

import pytest

from kedit_utils.core import jobs
from kedit_utils.core.validation import ParameterError


def _square(x):
    return x * x


@pytest.mark.parametrize("kwargs, name", [
    (dict(executor="spark"), "executor"),
    (dict(workers=0), "workers"),
    (dict(workers=1.5), "workers"),
    (dict(scheduler="tcp://host:8786"), "scheduler"),  # a scheduler without executor="dask"
    (dict(executor="dask", scheduler="host:8786"), "scheduler"),
    (dict(threads_per_worker=0), "threads_per_worker"),
])
def test_bad_parameters_are_named_before_any_job_runs(kwargs, name):
    ran = []
    with pytest.raises(ParameterError, match=name):
        jobs.run_jobs(ran.append, [1, 2], **kwargs)
    assert ran == []


def test_in_process_results_in_job_order():
    assert jobs.run_jobs(_square, [3, 1, 2], progress=False) == [9, 1, 4]


def test_cached_jobs_and_a_single_remaining_job_run_here_without_a_pool():
    """workers=2 but one job to compute: no pool is started (the results carry this pid)."""
    out = jobs.run_jobs(lambda j: (j, os.getpid()), [1, 2, 3], workers=2, progress=False,
                        is_cached=lambda j: j != 2, cost=lambda j: j)
    assert out == [(1, os.getpid()), (2, os.getpid()), (3, os.getpid())]


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ImportError, match=r'pip install -e "\.\[dask\]"'):
        jobs.run_jobs(_square, [1], executor="dask", progress=False)


def test_a_job_in_a_worker_uses_the_submitters_cache_and_threads(monkeypatch):
    import torch

    monkeypatch.setenv("KEDIT_CACHE", "/elsewhere")
    before = torch.get_num_threads()
    seen = jobs.run_in_worker(lambda j: (os.environ["KEDIT_CACHE"], torch.get_num_threads(), j), 7, 2, "/shared")
    assert seen == ("/shared", 2, 7)
    assert os.environ["KEDIT_CACHE"] == "/elsewhere" and torch.get_num_threads() == before


def test_dask_starts_nothing_when_every_job_is_cached(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # a cluster would need it
    assert jobs.run_jobs(_square, [2, 3], executor="dask", progress=False, is_cached=lambda j: True) == [4, 9]


def test_a_job_in_a_nanny_started_worker_runs_with_glibcs_thresholds_raised_and_restored(monkeypatch):
    calls = []
    monkeypatch.setattr(jobs, "_mallopt", lambda: lambda param, value: calls.append((param, value)))
    monkeypatch.setenv(jobs.TRIM_VARIABLE, "65536")  # what a Dask nanny sets
    assert jobs.run_in_worker(lambda j: list(calls), 0, None, "/shared") == [
        (jobs.M_MMAP_THRESHOLD, jobs.JOB_MMAP_THRESHOLD), (jobs.M_TRIM_THRESHOLD, jobs.JOB_TRIM_THRESHOLD)]
    assert calls[2:] == [(jobs.M_TRIM_THRESHOLD, 65536), (jobs.M_MMAP_THRESHOLD, 128 * 2**10)]
    calls.clear()
    monkeypatch.delenv(jobs.TRIM_VARIABLE)  # a worker of our local pool or LocalCluster
    jobs.run_in_worker(lambda j: j, 0, None, "/shared")
    assert calls == []
