"""The build as a short sequence: **plan -> up to date? -> run (executors) -> commit**.

:func:`build_cache` wires the steps, each in its own module:

1. :mod:`eventpipe.build.plan` resolves the profile, asks the registry for its dataset, finds
   the recordings and fixes paths and executor (:class:`~eventpipe.build.plan.BuildPlan`);
2. :mod:`eventpipe.build.freshness` compares profile hash, source digest and format version with
   the cache on disk (a rerun with equal ones is a no-op, "cache up to date"; a stale Parquet
   copy is re-exported from the HDF5);
3. :mod:`eventpipe.build.executors` runs one task per recording
   (:func:`eventpipe.build.stages.process_recording`: read -> slice -> events stage -> views),
   in parallel, and streams the results back in recording order;
4. :mod:`eventpipe.build.commit` writes them under temporary names, fsyncs, renames into place.
"""

from __future__ import annotations

import os
import time

from eventpipe.build.arena import clean_owned, shm_dir
from eventpipe.build.commit import (
    BackgroundSync,
    CacheCommit,
    export_parquet_atomic,
    prepare_target,
)
from eventpipe.build.executors import Executor, make_executor, ordered_results
from eventpipe.build.freshness import check_freshness, parquet_current
from eventpipe.build.plan import BuildPlan, make_plan
from eventpipe.build.progress import make_console, progress_bar
from eventpipe.build.results import BuildResult
from eventpipe.build.stages import warm_up
from eventpipe.profile import Profile

#: test hook: seconds to sleep after writing each recording (used to interrupt a build mid-way)
SLOW_ENV = "EVENTPIPE_BUILD_SLOW_S"
#: the timings every build reports (seconds), summed over recordings
_TASK_TIMINGS = ("read", "slice", "stage", "views", "write_parquet", "write_hdf5")


def build_cache(
    profile: Profile | str | os.PathLike,
    raw_dir: str | os.PathLike = "data/raw",
    out: str | os.PathLike = "data/cache.h5",
    parquet: bool | str | os.PathLike | None = True,
    workers: int | None = None,
    scheduler: str | None = None,
    subset: str = "full",
    force: bool = False,
    allow_missing: bool = False,
    overrides: tuple[str, ...] | list[str] = (),
    executor: str = "auto",
    progress: bool = True,
    console: object = None,
) -> BuildResult:
    """Build (or confirm up to date) the cache of ``raw_dir`` with ``profile``.

    The dataset is the profile's (``profile.dataset``, found in :mod:`eventpipe.datasets`).

    Args:
        profile: a :class:`Profile`, a shipped profile name or a YAML path.
        raw_dir: the raw recordings, in the dataset's official layout.
        out: the HDF5 cache to write.
        parquet: True = ``out`` with suffix ``.parquet``; a path; False/None = no Parquet.
        workers: parallel recordings (default: CPU count); 1 runs in-process.
        scheduler: address of an existing dask.distributed scheduler (overrides ``executor``).
        subset: one of the dataset's subsets (SL-Animals: ``"full"``, 59 recordings, or
            ``"reduced"``, 42, without S3).
        force: rebuild even if the cache is up to date.
        allow_missing: build from the complete recordings present, warning (in ``notes``)
            about missing recordings or unpaired files, instead of failing.
        overrides: ``KEY=VALUE`` profile overrides (when ``profile`` is a name/path).
        executor: ``auto | inprocess | processes | distributed`` (see
            :mod:`eventpipe.build.executors`).
        progress: show a rich progress bar (on ``console``, default stderr).

    Returns:
        :class:`BuildResult`.

    Raises:
        LayoutError, FormatError, TagError, ProfileError, CacheError: bad inputs (no traceback
            in the CLI); the previous cache is left as it was.
    """
    t0 = time.perf_counter()
    plan = make_plan(profile, raw_dir, out, parquet, workers, scheduler, subset, force,
                     allow_missing, overrides, executor)  # fmt: skip
    console = make_console(progress, console)
    notes = [*plan.notes, *prepare_target(plan)]
    fresh = check_freshness(plan)
    result = BuildResult(
        status="up-to-date",
        out=plan.out,
        parquet=plan.parquet,
        profile_name=plan.profile.name,
        profile_hash=plan.profile.hash,
        synthetic=plan.synthetic,
        n_recordings=len(plan.recordings),
        workers=plan.workers,
        notes=notes,
    )
    result.timings["setup"] = time.perf_counter() - t0
    if fresh.previous is not None and fresh.up_to_date:
        _confirm(plan, fresh.previous, result)
    else:
        if fresh.previous is not None:
            result.notes.append(f"rebuilding: {fresh.reason}")
        _build(plan, fresh.digest, result, console, progress)
    result.seconds = time.perf_counter() - t0
    return result


def _confirm(plan: BuildPlan, previous: dict, result: BuildResult) -> None:
    """Up to date: report what the cache says; re-export a missing or stale Parquet copy."""
    result.synthetic = bool(previous.get("synthetic", plan.synthetic))  # what the cache says
    result.n_samples = int(previous.get("n_samples", 0))
    result.n_events = int(previous.get("n_events", 0))
    if plan.parquet is not None and not parquet_current(plan.parquet, previous):
        export_parquet_atomic(plan.out, plan.parquet)
        result.status = "parquet-exported"
        result.notes.append(
            f"Parquet copy missing or stale: re-exported {plan.parquet} from {plan.out}"
        )


def _build(
    plan: BuildPlan, digest: dict, result: BuildResult, console: object, progress: bool
) -> None:
    """Run every recording and commit the cache; fills ``result``.

    On any error the temporaries are removed and the previous cache stays; an OSError (disk
    full, permission denied) becomes a :class:`~eventpipe.errors.CacheError` saying so.
    """
    tm = result.timings
    t_start = time.perf_counter()
    ex = make_executor(plan.executor, plan.workers, plan.task(), plan.scheduler)
    if ex.name == "inprocess":
        warm_up(plan.task())
    result.compile_seconds = tm["start"] = time.perf_counter() - t_start
    tm.update(dict.fromkeys(_TASK_TIMINGS, 0.0))
    result.executor = ex.name
    commit = CacheCommit(plan, digest)
    try:
        commit.open()
        _stream(plan, ex, commit, tm, console, progress)
        t_finish = time.perf_counter()
        commit.finish()
        tm["finish"] = time.perf_counter() - t_finish
    except BaseException as exc:
        ex.close()  # first: no task may still write into the temporary Parquet directory
        commit.abort()
        if isinstance(exc, OSError):  # disk full, permission denied, ...: no traceback
            raise commit.failure(exc) from exc
        raise
    finally:
        ex.close()
        clean_owned()  # results of cancelled tasks that were never received
    result.status = "built"
    result.n_samples = commit.n_samples
    result.n_events = commit.n_events
    result.n_raw_events = commit.n_raw_events
    result.views = commit.views


def _stream(
    plan: BuildPlan,
    ex: Executor,
    commit: CacheCommit,
    timings: dict[str, float],
    console: object,
    progress: bool,
) -> None:
    """Submit the recordings, write each result as it comes (in order), show progress."""
    slow = float(os.environ.get(SLOW_ENV, "0") or 0)
    # local workers write their recording's Parquet file themselves (in parallel); with a
    # remote scheduler the client writes it
    pq_tmp = commit.parquet_tmp
    worker_pq = str(pq_tmp) if pq_tmp is not None and not plan.scheduler else None
    # forked local workers hand their results over in shared memory (eventpipe.build.arena)
    transfer = shm_dir() if ex.name == "processes" else None
    task = plan.task(parquet_root=worker_pq, transfer_dir=transfer, owner=os.getpid(),
                     recycle=transfer is not None)  # fmt: skip
    label = "SYNTHETIC " if plan.synthetic else ""
    with progress_bar(console, progress) as bar, BackgroundSync(commit.tmp) as syncer:
        bar_task = bar.add_task(
            f"build {label}{plan.profile.name}", total=len(plan.recordings), rate=""
        )
        t_run = time.perf_counter()
        for res in ordered_results(ex, plan.recordings, task, plan.window):
            commit.write(res, syncer, timings)
            rate = commit.n_raw_events / max(time.perf_counter() - t_run, 1e-9)
            bar.update(bar_task, advance=1, rate=f"{rate / 1e6:.1f} M ev/s")
            res.release()  # written: its buffer may be reused by the next task
            del res
            if slow:
                time.sleep(slow)


__all__ = ["SLOW_ENV", "build_cache"]
