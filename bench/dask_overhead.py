"""Benchmark: chapter 5's sweep on the local worker pool vs a Dask LocalCluster, side by side.

Issue 13 moves the book's grids onto :func:`kedit_utils.core.jobs.run_jobs`, whose ``"dask"``
executor should cost at most 10 % over the local pool on the same machine. This script runs
:func:`kedit_utils.kg.deletion.sweep.run_deletion_experiment` twice with the same
parameters and ``--workers`` processes: ``executor="local"`` (a spawned process pool) and
``executor="dask"`` with no scheduler (a ``LocalCluster`` started for the run, its start
included in the time). The models are trained first (untimed, into the artifact cache, or
loaded from it); each timed run starts from a cache holding only those models, so each
traces the edit sites, estimates the covariances and sweeps every model. It prints both
wall times and the overhead of Dask in %.

``--profile paper`` is the paper's sweep (200 entities × 2 graphs × 3 depths; about half an
hour per run on 2 CPU cores); ``--max-entities``, ``--layers``, ``--graphs`` and
``--editors`` shrink it for a quick check.
Usage: ``python bench/dask_overhead.py [--profile quick|paper] [--workers 2] [--seeds 0]
[--token subject_last] [--editors rome] [--max-entities 6] [--layers 6] [--graphs er ba]``.

``--micro`` instead times one torch job (matrix products with 8 MB temporaries, about 10 s)
per worker in the local pool, in a LocalCluster whose nannies keep Dask's default
``MALLOC_TRIM_THRESHOLD_=65536``, and through :func:`kedit_utils.core.jobs.run_jobs` (whose
LocalCluster leaves it out): the diagnosis of the allocator overhead (``kedit_utils.core.jobs``).

``--probe`` times a real piece of chapter 5: ROME deleting the facts of 12 entities on the
paper-scale 6-layer BA model, one such job per worker, ``--repeats`` times in turn in the
local pool, in a LocalCluster with Dask's defaults, and through ``run_jobs`` (the GIL and
allocator settings of ``kedit_utils.core.jobs``): mean seconds per job and the overhead.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from kedit_utils.book.profiles import PROFILES
from kedit_utils.kg.deletion.config import DeletionChapterConfig
from kedit_utils.kg.deletion.sweep import run_deletion_experiment
from kedit_utils.kg.trained_models import trained_models
from kedit_utils.kg.training import ARTIFACT_KIND


def sweep_params(profile: str, layers: list[int] | None, graphs: list[str]) -> dict:
    """Chapter 5's parameters of ``profile`` on the CPU, with other depths or graphs if given."""
    params = {**PROFILES["05_deletion_impact"][profile], "seed": 0, "device": "cpu", "graph_kinds": graphs}
    return {**params, "layers": layers} if layers else params


def models_only_cache(models: list[Path], folder: Path) -> Path:
    """``folder`` as an artifact cache holding links to the trained ``models`` only."""
    (folder / ARTIFACT_KIND).mkdir(parents=True)
    for source in models:
        (folder / ARTIFACT_KIND / source.name).symlink_to(source, target_is_directory=True)
    return folder


def timed_sweep(params: dict, args, executor: str, cache: Path) -> float:
    """Seconds of one chapter-5 sweep run by ``executor`` with ``cache`` as the artifact cache."""
    before = os.environ.get("KEDIT_CACHE")
    os.environ["KEDIT_CACHE"] = str(cache)
    try:
        t0 = time.perf_counter()
        config = DeletionChapterConfig(training=params, seed=params["seed"], device=params["device"],
                                       graph_kinds=tuple(params["graph_kinds"]), seeds=tuple(args.seeds),
                                       edit_token=args.token, n_trace_facts=params["n_trace_facts"],
                                       max_entities=args.max_entities, workers=args.workers, executor=executor,
                                       editors=tuple(args.editors), editor_max_entities=params["editor_max_entities"])
        run_deletion_experiment(config, progress=False)
        return time.perf_counter() - t0
    finally:
        os.environ.pop("KEDIT_CACHE") if before is None else os.environ.__setitem__("KEDIT_CACHE", before)


def torch_job(steps: int) -> float:
    """Seconds of ``steps`` MLP-sized products, each allocating fresh 2-8 MB tensors."""
    torch.manual_seed(0)
    w1, w2 = torch.randn(512, 2048), torch.randn(2048, 512)
    t0 = time.perf_counter()
    for _ in range(steps):
        (torch.relu(torch.randn(1024, 512) @ w1) @ w2).softmax(-1)
    return time.perf_counter() - t0


def report(title: str, times: dict[str, list[float]]) -> None:
    """Each executor's mean seconds per job and its overhead over the first one's (the local pool)."""
    from statistics import mean

    base = mean(next(iter(times.values())))
    print(title)
    for name, xs in times.items():
        print(f"  {name:<46} {mean(xs):6.2f} s  ({100 * (mean(xs) / base - 1):+5.1f} %)  runs: "
              + " ".join(f"{x:.1f}" for x in xs))


def micro(workers: int, steps: int = 150) -> None:
    """The allocator diagnosis (module docstring, ``--micro``): mean seconds of a job."""
    import distributed

    from kedit_utils.core.jobs import run_in_worker, run_jobs

    local = run_jobs(torch_job, [steps] * workers, workers=workers, progress=False)
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:  # Dask's defaults: the nanny sets MALLOC_TRIM_THRESHOLD_
        raw = client.gather([client.submit(torch_job, steps, pure=False) for _ in range(workers)])
        kept = client.gather([client.submit(run_in_worker, torch_job, steps, 1, "", pure=False)
                              for _ in range(workers)])
    fixed = run_jobs(torch_job, [steps] * workers, executor="dask", workers=workers, progress=False)
    report(f"one torch job ({steps} steps), mean of {workers} workers:", {
        "local pool": local, "Dask defaults (MALLOC_TRIM_THRESHOLD_=65536)": raw,
        "same workers, job in run_in_worker (mallopt)": kept, "run_jobs' LocalCluster (variable left out)": fixed})


def probe_job(n_entities: int) -> float:
    """Seconds of ROME deleting the facts of ``n_entities`` entities on the paper-scale 6-layer
    BA model (trained or loaded from the cache), scoring all knowledge after each."""
    from kedit_utils.kg.alias_accuracy import score_prompts
    from kedit_utils.kg.deletion import impact as deletion
    from kedit_utils.kg.deletion.sweep import _deletion_fn
    from kedit_utils.kg.trained_models import trained_model

    torch.set_num_threads(1)
    tm = trained_model(sweep_params("paper", [6], ["ba"]), "ba", 6, progress=False)
    fn, c = _deletion_fn(tm, 0, "subject_last"), tm.corpus
    base = score_prompts(tm.model, c.prompts, c.prompt_object, c.vocab)
    t0 = time.perf_counter()
    for e in range(n_entities):
        deletion.delete_and_measure(tm.model, c, e, fn, base)
    return time.perf_counter() - t0


def probe(workers: int, repeats: int, n_entities: int = 12) -> None:
    """The GIL diagnosis (module docstring, ``--probe``)."""
    import distributed

    from kedit_utils.core.jobs import run_jobs

    times: dict[str, list[float]] = {"local pool": [], "Dask defaults": [], "run_jobs' LocalCluster": []}
    for _ in range(repeats):
        times["local pool"] += run_jobs(probe_job, [n_entities] * workers, workers=workers, progress=False)
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0") as cluster, \
                distributed.Client(cluster) as client:
            times["Dask defaults"] += client.gather([client.submit(probe_job, n_entities, pure=False)
                                                     for _ in range(workers)])
        times["run_jobs' LocalCluster"] += run_jobs(probe_job, [n_entities] * workers, executor="dask",
                                                    workers=workers, progress=False)
    report(f"ROME deleting {n_entities} entities' facts (paper BA 6 layers), mean of {repeats} x {workers} jobs:",
           times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=["quick", "paper"], default="quick")
    ap.add_argument("--workers", type=int, default=2, help="processes of the pool and of the LocalCluster")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--token", choices=["subject_last", "last"], default="subject_last")
    ap.add_argument("--editors", nargs="+", default=["rome"], help="deleting methods (ROME always runs)")
    ap.add_argument("--max-entities", type=int, default=None, help="entities per model (default: all)")
    ap.add_argument("--layers", type=int, nargs="+", default=None, help="depths (default: the profile's)")
    ap.add_argument("--graphs", nargs="+", default=["er", "ba"], choices=["er", "ba"])
    ap.add_argument("--micro", action="store_true", help="only the allocator diagnosis (docstring)")
    ap.add_argument("--probe", action="store_true", help="only the GIL diagnosis on a piece of chapter 5 (docstring)")
    ap.add_argument("--repeats", type=int, default=3, help="--probe: rounds of the three executors")
    args = ap.parse_args()
    torch.set_num_threads(1)  # this process only loads models and reads the tables
    if args.micro:
        micro(args.workers)
        return
    if args.probe:
        probe(args.workers, args.repeats)
        return
    params = sweep_params(args.profile, args.layers, args.graphs)
    models = [tm.path for s in args.seeds  # untimed: every model trained (or found) in the project's cache
              for tm in trained_models({**params, "seed": s}, progress=False).values()]
    n_models = len(args.seeds) * len(args.graphs) * len(params["layers"])
    print(f"chapter-5 sweep, profile {args.profile}: {n_models} models ({len(args.seeds)} seed(s) x "
          f"{'/'.join(g.upper() for g in args.graphs)} x depths {params['layers']}), token {args.token}, "
          f"editors {args.editors}, entities per model: {args.max_entities or 'all'}, {args.workers} workers")
    seconds = {}
    for executor in ("local", "dask"):
        with tempfile.TemporaryDirectory(prefix="kedit-bench-") as tmp:
            seconds[executor] = timed_sweep(params, args, executor, models_only_cache(models, Path(tmp)))
        print(f"{executor:>6}: {seconds[executor]:8.1f} s", flush=True)
    print(f"overhead of Dask over the local pool: {100 * (seconds['dask'] / seconds['local'] - 1):+.1f} %")


if __name__ == "__main__":
    main()
