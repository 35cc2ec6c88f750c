"""kedit_utils.core.jobs without a cluster: validation, order, cached jobs, the worker wrapper,
and the progress a local pool of two processes shows in this process (the bar over the jobs
and the workers' own bars). (Chapter 5's jobs in the local pool run in
tests/integration/test_deletion_workers.py, Dask in test_dask.py.)"""
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


def _count_in_worker(n):
    """A job that draws its own tqdm bar, as the library's jobs do (tqdm.auto, imported when it runs)."""
    import time

    from tqdm.auto import tqdm

    for _ in tqdm(range(n), desc=f"count to {n}", unit="step"):
        time.sleep(0.02)
    return n, os.getpid()


def test_a_local_pool_draws_the_jobs_and_the_workers_bars_in_this_process(monkeypatch):
    """workers=2 (two spawned processes): the bar over the jobs and, below it, each worker's
    own bar are drawn by this process (where a notebook shows them), and end complete."""
    import io
    import threading

    from tqdm import std

    drawn = []
    lock = threading.Lock()

    class RecordedBar(std.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "file": io.StringIO()})
            with lock:
                drawn.append(self)

        def close(self):
            self.closed_with = (self.n, self.total)
            super().close()

    monkeypatch.setattr(jobs, "tqdm", RecordedBar)
    out = jobs.run_jobs(_count_in_worker, [5, 8, 6], workers=2, desc="counting", threads_per_worker=1)
    assert [n for n, _ in out] == [5, 8, 6] and os.getpid() not in {pid for _, pid in out}
    over_jobs = [b for b in drawn if b.desc == "counting"]
    assert len(over_jobs) == 1 and over_jobs[0].closed_with == (3, 3)
    worker_bars = [b for b in drawn if b.desc != "counting"]
    labels = [b.desc.split(": ", 1) for b in worker_bars]  # "worker <k>: <the job's own desc>"
    assert sorted(desc for _, desc in labels) == ["count to 5", "count to 6", "count to 8"]
    assert {worker for worker, _ in labels} <= {"worker 1", "worker 2"}
    assert sorted(b.closed_with for b in worker_bars) == [(5, 5), (6, 6), (8, 8)]
    assert all(b.unit == "step" for b in worker_bars)


def test_worker_bar_states_draw_one_bar_per_worker_bar():
    """The parent's side alone: states of two workers' bars (out of order across bars, a reset
    to another total) make one bar each here, updated and closed as the worker's."""
    import queue as queues

    from tqdm import std

    bars = jobs.WorkerBars(queues.Queue())
    states = [(11, 1, "train 2L", 0, 10, "it", False), (22, 7, "train 4L", 0, 10, "it", False),
              (11, 1, "train 2L", 4, 10, "it", False), (22, 7, "train 4L", 10, 10, "it", True),
              (11, 1, "train 2L", 2, 20, "it", False), (11, 1, "train 2L", 20, 20, "it", True)]
    import io

    created = []

    class Quiet(std.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "file": io.StringIO()})
            created.append(self)

    original, jobs.tqdm = jobs.tqdm, Quiet
    try:
        for state in states[:3]:
            bars.show(state)
        assert {b.desc: (b.n, b.total) for b in bars.bars.values()} == {"worker 1: train 2L": (4, 10),
                                                                        "worker 2: train 4L": (0, 10)}
        for state in states[3:]:
            bars.show(state)
    finally:
        jobs.tqdm = original
    assert bars.bars == {} and [(b.desc, b.n, b.total, b.disable) for b in created] == [
        ("worker 1: train 2L", 20, 20, True), ("worker 2: train 4L", 10, 10, True)]
