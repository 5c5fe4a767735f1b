"""Step 3 of the build, **run**: the executors that run recording tasks, and the ordered stream
of their results.

* ``workers == 1``: :class:`InProcess`, no dask or process overhead.
* default (``workers > 1``): ``processes`` (:class:`LocalProcesses`) -- a local process pool
  (fork), the machinery of dask's multiprocessing scheduler, driven with futures so results can
  stream; or ``distributed`` (:class:`Dask`) -- a ``dask.distributed.LocalCluster(n_workers=
  workers, threads_per_worker=1, processes=True)``.
* ``scheduler="tcp://host:8786"``: a ``dask.distributed.Client`` on an existing scheduler; its
  workers must see the raw files at the same paths and have eventpipe installed.

:func:`ordered_results` yields results in recording order through a small reorder buffer: at
most ``window`` recordings are submitted-but-not-written at any time, so the client holds at
most that many recordings' results and each worker one recording: peak memory is bounded by the
largest recordings, not by the dataset. The cache is identical (data and order) whatever the
worker count.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, Protocol

from eventpipe.build.plan import DEFAULT_EXECUTOR, EXECUTORS
from eventpipe.build.results import RecordingResult
from eventpipe.build.stages import TaskPlan, process_recording, warm_up
from eventpipe.datasets.base import Recording
from eventpipe.errors import EventpipeError
from eventpipe.runtime.platform import collector_paused


class Executor(Protocol):
    """What the build needs of an executor: submit a task, wait for some, close."""

    name: str

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start ``fn(*args)``; returns a future (``.result()``)."""
        ...

    def wait_any(self, futures: set) -> set:
        """Block until at least one of ``futures`` is done; returns the done ones."""
        ...

    def close(self) -> None:
        """Stop the workers (idempotent); pending tasks are cancelled."""
        ...


class InProcess:
    """Runs each task at submit time, in this process (``workers == 1``)."""

    name = "inprocess"

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # re-raised by .result()
            fut.set_exception(exc)
        return fut

    def wait_any(self, futures: set) -> set:
        return set(futures)

    def close(self) -> None:
        pass


def _noop(i: int) -> int:
    return i


class LocalProcesses:
    """A pool of ``workers`` forked processes with the kernels loaded before the fork."""

    name = "processes"

    def __init__(self, workers: int, task: TaskPlan) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # compile/load the kernels here, then fork: the workers inherit them ready to run.
        # The ~10**5 objects of the imports and the loaded kernels live as long as the build:
        # the cyclic garbage collector is kept from traversing them while they are created and
        # afterwards (gc.freeze), here and in the forked workers (where a traversal would also
        # write to their pages, copying them)
        self._frozen = True
        with collector_paused(freeze=True):
            warm_up(task)
        ctx = multiprocessing.get_context("fork")
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        # start every worker now, before any thread or open HDF5 file exists in this process
        list(self.pool.map(_noop, range(workers)))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self.pool.submit(fn, *args)

    def wait_any(self, futures: set) -> set:
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        return done

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)  # idempotent
        if self._frozen:
            self._frozen = False
            gc.unfreeze()


class Dask:
    """A dask.distributed client: on a local cluster of ``workers`` processes, or on an
    existing ``scheduler``; every worker loads the kernels first."""

    name = "distributed"

    def __init__(self, workers: int, task: TaskPlan, scheduler: str | None) -> None:
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="20s")
            except OSError as exc:
                raise EventpipeError(
                    f"cannot connect to dask scheduler {scheduler}: {exc}"
                ) from None
            self.name = f"distributed@{scheduler}"
        else:
            self.cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
            )
            self.client = Client(self.cluster)
        self.client.run(warm_up, task)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def wait_any(self, futures: set) -> set:
        from distributed import wait as dwait

        done, _ = dwait(list(futures), return_when="FIRST_COMPLETED")
        return set(done)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def make_executor(executor: str, workers: int, task: TaskPlan, scheduler: str | None) -> Executor:
    """The executor for ``executor`` (one of :data:`EXECUTORS`); a ``scheduler`` address
    always means :class:`Dask` on it. Kernels are loaded (:func:`warm_up`) in every worker
    process; the in-process executor leaves that to the caller.

    Raises:
        ValueError: unknown ``executor``. EventpipeError: the scheduler cannot be reached.
    """
    if scheduler:
        return Dask(workers, task, scheduler)
    if executor == "auto":
        executor = "inprocess" if workers <= 1 else DEFAULT_EXECUTOR
    if executor == "inprocess":
        return InProcess()
    if executor == "processes":
        return LocalProcesses(workers, task)
    if executor == "distributed":
        return Dask(workers, task, None)
    raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")


def ordered_results(
    ex: Executor, recs: Sequence[Recording], task: TaskPlan, window: int
) -> Iterator[RecordingResult]:
    """Run :func:`process_recording` for every recording; yield the results in input order,
    with at most ``window`` submitted but not yet yielded."""
    n = len(recs)
    next_submit = next_yield = 0
    in_flight: dict[Any, int] = {}
    ready: dict[int, RecordingResult] = {}
    while next_yield < n:
        while next_submit < n and next_submit - next_yield < window:
            fut = ex.submit(process_recording, recs[next_submit], task, next_submit)
            in_flight[fut] = next_submit
            next_submit += 1
        if next_yield not in ready:
            for fut in ex.wait_any(set(in_flight)):
                in_flight.pop(fut)
                res = fut.result()
                ready[res.order] = res
                del fut
        while next_yield in ready:
            yield ready.pop(next_yield)
            next_yield += 1


__all__ = [
    "Dask",
    "Executor",
    "InProcess",
    "LocalProcesses",
    "make_executor",
    "ordered_results",
]
