"""One way to run a grid of independent jobs: in this process, in a local pool, or on Dask.

Issue 13 ("Sweeps scale out on Dask and on GPUs, from the same notebooks"): the book's
experiments are grids of independent jobs (chapter 2 trains graphs × depths, chapter 5
sweeps seeds × graphs × depths), and a researcher who outgrows one machine should point the
same notebook at a cluster and change nothing else. :func:`run_jobs` runs such a grid

* ``executor="local"``: in this process one job after the other (``workers=1``), or in a
  pool of ``workers`` spawned processes;
* ``executor="dask"``: as Dask ``distributed`` tasks, on the running cluster whose
  scheduler is at ``scheduler`` (``"tcp://host:8786"``), or on a ``LocalCluster`` of
  ``workers`` one-thread processes started for the run when ``scheduler`` is ``None``;

and returns the results in the order of the jobs, whichever executor ran them, so what a
notebook does with them does not depend on where they ran. Jobs share the artifact cache
(:mod:`kedit_utils.core.cache`, whose writes are atomic and safe when two workers build the same
entry): each job runs with this process's cache root, so on a cluster of several machines
``KEDIT_CACHE`` must name a shared file system mounted at the same path on every machine.
A worker that dies in the middle of a job leaves no complete-marked entry, and Dask runs
the job again on another worker.

**Progress.** :func:`run_jobs` draws one bar over the jobs in this process (``tqdm.auto``: a
widget in Jupyter, stderr in a terminal). The tqdm bars a job draws in a process of the local
pool are drawn here too, below it (:func:`spawned_pool`): each worker replaces ``tqdm.auto``'s
bar class with one that sends its state (description, count, total) to this process instead
of writing to the worker's stderr, which in JupyterLab is the server's terminal, not the
notebook. A bar class imported before the worker started (``from tqdm.auto import tqdm`` at
the top of a module the worker had already imported) keeps drawing on the worker's stderr;
the job functions' modules are imported after. On Dask only the bar over the jobs is drawn
(the dashboard shows each task).

**Allocator.** A Dask nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``
(``distributed.nanny.pre-spawn-environ``). Setting that variable turns off glibc's dynamic
mmap threshold, so every tensor over 128 KiB is a fresh ``mmap`` whose pages fault in again
at each allocation: a torch CPU job of matrix products ran 7-15 % slower in such a worker
than in the local pool (``bench/dask_overhead.py --micro``). The LocalCluster started here leaves the variable
out, and a job run in a worker that has it (a cluster started with ``dask worker``) raises
the two thresholds with ``mallopt`` while it runs and puts them back after.

**GIL.** A Dask worker runs a job in a thread beside its event loop, whose statistical
profiler samples every thread's stack every 10 ms and whose tick runs every 20 ms; each takes
the GIL from the job, which releases it at every torch call. With both (this and the
allocator) as Dask leaves them, a piece of chapter 5's paper-scale sweep ran 84 % slower
than in the local pool, and 7 % slower with the settings here (``bench/dask_overhead.py
--probe``): the LocalCluster started here turns the profiler off and ticks once a second. A cluster you start yourself can do the
same: ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False`` and
``DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL=1s`` in the workers' environment.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from tqdm.auto import tqdm

from kedit_utils.core.validation import ParameterError, check_choice, check_int

J = TypeVar("J")
R = TypeVar("R")

EXECUTORS = ("local", "dask")
CONNECT_TIMEOUT_S = 5  # a wrong scheduler address fails after this long
# A job that raises is tried this many more times on Dask; a job whose worker dies is
# rescheduled by Dask itself (up to its `distributed.scheduler.allowed-failures`).
RETRIES = 2
INSTALL_HINT = 'Dask is not installed: pip install -e ".[dask]"'
TRIM_VARIABLE = "MALLOC_TRIM_THRESHOLD_"  # what a Dask nanny sets (module docstring)
# The worker's own threads that take the GIL from a job's thread (module docstring, **GIL**):
# the statistical profiler (every 10 ms) off, the event loop's blocked-loop check every 1 s.
QUIET_WORKERS = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s"}
# glibc's mallopt parameters and the values a torch job runs with: heap memory is reused up
# to 32 MiB blocks (glibc's own dynamic maximum) and trimmed only past 128 MiB free.
RELAY_INTERVAL_S = 0.25  # a worker's bar sends its state at most this often (and when it ends)
RELAY_JOIN_S = 5.0  # after the pool is closed: time for the last states to be drawn
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
JOB_MMAP_THRESHOLD, JOB_TRIM_THRESHOLD = 32 * 2**20, 128 * 2**20


def check_executor(executor: str, workers: int, scheduler: str | None = None) -> None:
    """Validate the executor parameters before any work (``ParameterError`` names the bad one).

    executor: "local" or "dask"; workers: an int >= 1; scheduler: ``None`` or a Dask
    scheduler address (``"tcp://host:8786"``), only with ``executor="dask"``.
    """
    check_choice("executor", executor, EXECUTORS)
    check_int("workers", workers, minimum=1)
    if scheduler is None:
        return
    if executor != "dask":
        raise ParameterError("scheduler", scheduler, 'is only used with executor="dask" (else leave it None)')
    if not isinstance(scheduler, str) or "://" not in scheduler:
        raise ParameterError("scheduler", scheduler, "must be a Dask scheduler address such as 'tcp://host:8786'")


def run_jobs(fn: Callable[[J], R], jobs: Sequence[J], *, executor: str = "local", workers: int = 1,
             scheduler: str | None = None, desc: str = "jobs", progress: bool = True,
             threads_per_worker: int | None = None, cost: Callable[[J], float] | None = None,
             is_cached: Callable[[J], bool] | None = None) -> list[R]:
    """``[fn(job) for job in jobs]``, computed by ``executor`` (module docstring).

    fn: a module-level function (worker processes import it by name) of one job; jobs and
    results must pickle. Results come back in the order of ``jobs``; the first job that
    raises (after Dask's retries) stops the run and its exception is raised here.
    workers: processes of the local pool, or of the LocalCluster started when ``scheduler``
    is ``None``. desc / progress: the one tqdm bar over the jobs (stderr, a widget in Jupyter),
    and below it the bars the jobs draw in the local pool's processes (module docstring,
    **Progress**).
    threads_per_worker: torch threads of each job run in a worker process (the previous
    count is restored after it); ``None``: each worker of the local pool or of the
    LocalCluster gets ``cpu threads // workers`` (they share this machine), a running Dask
    cluster's workers keep their own (a nanny starts its workers with one OpenMP thread).
    Jobs run in this process keep this process's threads.
    cost: jobs with the largest cost are started first (e.g. the deepest models), so the
    longest job does not start last. is_cached: jobs for which it is true only read the
    artifact cache; they run in this process, and the others go to the workers. The local
    pool is not started for at most one job to compute (it runs here).
    """
    check_executor(executor, workers, scheduler)
    if threads_per_worker is not None:
        check_int("threads_per_worker", threads_per_worker, minimum=1)
    jobs = list(jobs)
    results: list[Any] = [None] * len(jobs)
    with tqdm(total=len(jobs), desc=desc, disable=not progress) as bar:
        if executor == "local" and workers == 1:
            _run_here(fn, jobs, range(len(jobs)), results, bar)
            return results
        cached = [is_cached is not None and bool(is_cached(job)) for job in jobs]
        pending = [i for i in range(len(jobs)) if not cached[i]]
        _run_here(fn, jobs, [i for i in range(len(jobs)) if cached[i]], results, bar)
        if not pending or (executor == "local" and len(pending) == 1):  # no pool, no cluster
            _run_here(fn, jobs, pending, results, bar)
            return results
        order = sorted(pending, key=lambda i: -cost(jobs[i])) if cost is not None else pending
        if threads_per_worker is None and scheduler is None:  # the workers share this machine
            threads_per_worker = _pool_threads(workers)
        if executor == "local":
            _run_pool(fn, jobs, order, results, bar, workers, threads_per_worker, progress)
        else:
            _run_dask(fn, jobs, order, results, bar, workers, scheduler, threads_per_worker, desc)
    return results


def _run_here(fn, jobs: list, indices, results: list, bar) -> None:
    for i in indices:
        results[i] = fn(jobs[i])
        bar.update()


def _pool_threads(workers: int) -> int:
    import torch

    return max(1, torch.get_num_threads() // workers)


def run_in_worker(fn: Callable[[J], R], job: J, threads: int | None, cache_root: str) -> R:
    """``fn(job)`` in a worker process, on ``threads`` torch threads (``None``: as they are)
    and with the submitting process's artifact cache (``KEDIT_CACHE=cache_root``); both are
    restored after, so a shared Dask worker is left as it was."""
    from kedit_utils.core.devices import torch_threads

    before = os.environ.get("KEDIT_CACHE")
    os.environ["KEDIT_CACHE"] = cache_root
    try:
        with torch_threads(threads), torch_allocator():
            return fn(job)
    finally:
        if before is None:
            os.environ.pop("KEDIT_CACHE", None)
        else:
            os.environ["KEDIT_CACHE"] = before


def _mallopt():
    """glibc's ``mallopt`` (None elsewhere: other C libraries keep their own allocator)."""
    try:
        return ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


@contextmanager
def torch_allocator() -> Iterator[None]:
    """In a worker started with ``MALLOC_TRIM_THRESHOLD_`` set (a Dask nanny's default), glibc's
    mmap and trim thresholds raised for the job (module docstring, **Allocator**) and set back
    to the variable's value and glibc's 128 KiB mmap default after; elsewhere nothing."""
    mallopt = _mallopt() if TRIM_VARIABLE in os.environ else None
    if mallopt is None:
        yield
        return
    mallopt(M_MMAP_THRESHOLD, JOB_MMAP_THRESHOLD)
    mallopt(M_TRIM_THRESHOLD, JOB_TRIM_THRESHOLD)
    try:
        yield
    finally:
        mallopt(M_TRIM_THRESHOLD, int(os.environ[TRIM_VARIABLE]))
        mallopt(M_MMAP_THRESHOLD, 128 * 2**10)


def _cache_root() -> str:
    from kedit_utils.core.cache import cache_root

    return str(cache_root())


# --------------------------------------------------------------------------- progress of the pool's workers
class _Discard:
    """Where a relayed bar 'writes': nowhere (its state goes to the parent instead)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _relayed_bar_class(queue):
    """tqdm.auto's bar class for a worker process: each bar puts ``(pid, bar id, desc, n,
    total, unit, closed)`` on ``queue`` when tqdm would redraw it (at most every
    ``RELAY_INTERVAL_S``, and always at its end) and draws nothing itself."""
    from tqdm.asyncio import tqdm_asyncio

    class RelayedBar(tqdm_asyncio):
        def __init__(self, *args, **kwargs):
            kwargs["file"] = _Discard()
            self._relayed_at = 0.0
            super().__init__(*args, **kwargs)

        def _relay(self, closed: bool) -> None:
            now = time.monotonic()
            done = self.total is not None and self.n >= self.total
            if closed or done or now - self._relayed_at >= RELAY_INTERVAL_S:
                self._relayed_at = now
                queue.put((os.getpid(), id(self), self.desc, self.n, self.total, self.unit, closed))

        def display(self, msg=None, pos=None) -> bool:
            self._relay(closed=False)
            return True

        def close(self) -> None:
            was_open = not self.disable
            super().close()
            if was_open:
                self._relay(closed=True)

    return RelayedBar


def relay_worker_bars(queue) -> None:
    """Initializer of a worker process (:func:`spawned_pool`): the bars that ``tqdm.auto``
    (and ``tqdm.autonotebook``, ``tqdm.tqdm``) make from now on in this process send their
    state to ``queue`` (module docstring, **Progress**)."""
    import tqdm as tqdm_package
    import tqdm.auto
    import tqdm.autonotebook

    bar_class = _relayed_bar_class(queue)
    tqdm.auto.tqdm = tqdm.autonotebook.tqdm = tqdm_package.tqdm = bar_class


class WorkerBars:
    """This process's side: a thread that draws each worker bar it is sent as a ``tqdm.auto``
    bar here, named ``worker <k>: <desc>`` (workers numbered as they first report), and
    removes it when the worker's bar closes (``leave=False``: in a notebook the bar is hidden,
    so an executed page, and the book, keeps only the bar over the jobs in sight)."""

    def __init__(self, queue):
        self.queue = queue
        self.bars: dict[tuple[int, int], Any] = {}
        self.workers: dict[int, int] = {}
        self._failed = False
        self._thread = threading.Thread(target=self._run, name="kedit-worker-bars", daemon=True)

    def __enter__(self) -> WorkerBars:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.queue.put(None)
        self._thread.join(RELAY_JOIN_S)
        for bar in list(self.bars.values()):
            _close_out_of_sight(bar)
        self.bars.clear()

    def _run(self) -> None:
        while (state := self.queue.get()) is not None:
            if self._failed:
                continue  # keep draining, so that the workers never block on a full pipe
            try:
                self.show(state)
            except Exception:  # a display that fails must not fail the jobs: stop drawing
                self._failed = True

    def show(self, state: tuple) -> None:
        """Draw one state a worker's bar sent."""
        pid, bar_id, desc, n, total, unit, closed = state
        worker = self.workers.setdefault(pid, len(self.workers) + 1)
        key = (pid, bar_id)
        bar = self.bars.get(key)
        if bar is None:
            if closed:
                return
            label = f"worker {worker}: {desc}" if desc else f"worker {worker}"
            bar = self.bars[key] = tqdm(total=total, initial=n, desc=label, unit=unit, leave=False)
        elif total != bar.total or n < bar.n:
            bar.reset(total=total)
            bar.update(n)
        else:
            bar.update(n - bar.n)
        if closed:
            if bar.total and bar.n < bar.total:
                # the worker's bar ended early (training stopped early): not a failure (a failed job
                # raises), so close it as finished, which a notebook bar with leave=False hides
                bar.total = bar.n
            _close_out_of_sight(bar)
            del self.bars[key]


def _close_out_of_sight(bar) -> None:
    """Close a worker's bar here; a notebook bar (``tqdm.notebook``, whose widget is
    ``bar.container``) also takes no room after: tqdm hides a closed ``leave=False`` bar with
    ``visibility: hidden``, which keeps its line blank on the executed page."""
    bar.close()
    container = getattr(bar, "container", None)
    if container is not None:
        container.layout.display = "none"


@contextmanager
def spawned_pool(workers: int, progress: bool = True) -> Iterator[Any]:
    """A ``ProcessPoolExecutor`` of ``workers`` spawned processes (spawn: no forked torch
    state) whose tqdm bars are drawn in this process, where a notebook shows them (module
    docstring, **Progress**); ``progress=False``: a plain pool."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    check_int("workers", workers, minimum=1)
    context = get_context("spawn")
    if not progress:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            yield pool
        return
    queue = context.Queue()
    try:
        # the bars' thread outlives the pool: its processes have exited, their last states are in the queue
        with WorkerBars(queue), ProcessPoolExecutor(workers, mp_context=context, initializer=relay_worker_bars,
                                                    initargs=(queue,)) as pool:
            yield pool
    finally:
        queue.close()  # its feeder thread ends once it has passed on the stop signal
        queue.cancel_join_thread()  # never wait for it: a stuck display must not hang the notebook


def _run_pool(fn, jobs: list, order: list[int], results: list, bar, workers: int, threads: int,
              progress: bool = True) -> None:
    """``order``'s jobs in a pool of ``workers`` spawned processes (:func:`spawned_pool`)."""
    from concurrent.futures import as_completed

    root = _cache_root()
    with spawned_pool(workers, progress) as pool:
        futures = {pool.submit(run_in_worker, fn, jobs[i], threads, root): i for i in order}
        try:
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.update()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _run_dask(fn, jobs: list, order: list[int], results: list, bar, workers: int, scheduler: str | None,
              threads: int | None, desc: str) -> None:
    """``order``'s jobs as Dask tasks (one each, retried on error, rescheduled when a worker
    dies), the first of ``order`` with the highest priority."""
    distributed = _import_distributed()
    root, run = _cache_root(), uuid.uuid4().hex[:8]
    with dask_client(workers, scheduler) as client:
        futures = {client.submit(run_in_worker, fn, jobs[i], threads, root, key=f"{desc}-{i}-{run}",
                                 pure=False, retries=RETRIES, priority=len(order) - rank): i
                   for rank, i in enumerate(order)}
        try:
            for fut in distributed.as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.update()
        except BaseException:
            client.cancel(list(futures))
            raise


def _import_distributed():
    try:
        import distributed
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return distributed


@contextmanager
def dask_client(workers: int, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: connected to ``scheduler``, or to a ``LocalCluster`` of
    ``workers`` one-thread processes started here and closed on exit. Prints the dashboard
    link (stderr). A scheduler that does not answer within ``CONNECT_TIMEOUT_S`` seconds
    raises ``ParameterError`` naming ``scheduler`` and its value."""
    distributed = _import_distributed()
    if scheduler is None:
        import dask

        environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()
                   if k != TRIM_VARIABLE}  # glibc's own thresholds (module docstring, **Allocator**)
        # a cluster started earlier in this process with Dask's defaults left the variable in
        # os.environ (a nanny sets it there before spawning), and spawned workers inherit it
        inherited = os.environ.pop(TRIM_VARIABLE, None)
        try:
            with dask.config.set({"distributed.nanny.pre-spawn-environ": environ, **QUIET_WORKERS}), \
                    distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster, \
                    distributed.Client(cluster) as client:
                print(f"Dask dashboard (local cluster, {workers} workers): {client.dashboard_link}", file=sys.stderr)
                yield client
        finally:
            if inherited is not None:
                os.environ[TRIM_VARIABLE] = inherited
        return
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, ValueError, TimeoutError) as err:
        raise ParameterError("scheduler", scheduler, f"no Dask scheduler answered there within "
                             f"{CONNECT_TIMEOUT_S} s ({err}); start one with `dask scheduler` and give "
                             "the address it prints, or None for a local cluster") from None
    with client:
        print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
        yield client
