"""``build_cache``: raw recordings -> versioned HDF5 cache (+ Parquet dataset), in parallel.

Flow per recording (one task, :func:`eventpipe.build.stages.process_recording`)::

    read (AEDAT) -> slice by tags (19 samples) -> events stage (profile.events) -> views

Recordings run in parallel worker processes; the client streams results into the cache as they
arrive. Results are written in ``sample_id`` order through a small reorder buffer: at most
``window = 2 * workers`` recordings are submitted-but-not-written at any time, so the client holds
at most that many recordings' results and each worker one recording: peak memory is bounded by
the largest recordings, not by the dataset. The file is identical (data and order) whatever the
worker count.

Executors:

* ``workers == 1``: in-process, no dask or process overhead.
* default (``workers > 1``): ``processes`` -- a local process pool (fork), the machinery of dask's
  multiprocessing scheduler, driven with futures so results can stream; or ``distributed`` -- a
  ``dask.distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)``.
  README "build" has the measurement behind the default.
* ``scheduler="tcp://host:8786"``: a ``dask.distributed.Client`` on an existing scheduler; its
  workers must see the raw files at the same paths and have eventpipe installed.

Atomicity and incrementality (README "cache"):

1. The HDF5 is written to ``<out>.tmp-<pid>`` and the Parquet dataset to
   ``<parquet>.tmp-<pid>/``; both are fsynced.
2. ``os.replace(tmp, out)`` + fsync of the directory: **the commit point**. A build killed before
   it leaves the previous cache untouched; the next run deletes temporary files whose pid is dead.
3. Then the Parquet directory is swapped in (``out.parquet -> .old-<pid>``, ``.tmp -> out.parquet``,
   delete ``.old``). If a crash lands between 2 and 3, the Parquet copy is missing or stale
   (its ``_eventpipe.json`` names another profile hash / source digest) and the next run
   re-exports it from the committed HDF5 without rebuilding.

A rerun whose resolved profile hash, source digest (names, sizes, sha256 of every input file)
and major format version equal the existing cache's is a no-op ("cache up to date").
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from eventpipe import __version__
from eventpipe.build.arena import clean_owned, clean_stale, pid_alive, shm_dir
from eventpipe.cache.digest import digest_to_json, source_digest
from eventpipe.cache.hdf5 import CacheWriter, fsync_fd, fsync_path, read_attrs
from eventpipe.cache.schema import FORMAT, FORMAT_VERSION, LAYOUT
from eventpipe.errors import CacheError, EventpipeError
from eventpipe.events import DVS128_SENSOR_SIZE
from eventpipe.profile import Profile, load_profile
from eventpipe.runtime.platform import collector_paused
from eventpipe.build.stages import N_BINS_RULE, RecordingResult, process_recording, warm_up

EXECUTORS = ("auto", "inprocess", "processes", "distributed")
#: executor used for ``workers > 1`` without a scheduler address (see README "build")
DEFAULT_EXECUTOR = "processes"
#: test hook: seconds to sleep after writing each recording (used to interrupt a build mid-way)
_SLOW_ENV = "EVENTPIPE_BUILD_SLOW_S"


@dataclass
class BuildResult:
    """What :func:`build_cache` did.

    Attributes:
        status: ``"built"``, ``"up-to-date"`` (nothing written) or ``"parquet-exported"``
            (HDF5 up to date, Parquet re-written from it).
        out, parquet: the cache and Parquet paths (parquet None when disabled).
        synthetic: whether the inputs are synthetic (never mistake them for real data).
        notes: human-readable lines (stale temp files removed, why it rebuilt, ...).
    """

    status: str
    out: Path
    parquet: Path | None
    profile_name: str
    profile_hash: str
    synthetic: bool
    n_recordings: int = 0
    n_samples: int = 0
    n_events: int = 0
    n_raw_events: int = 0
    seconds: float = 0.0
    workers: int = 1
    executor: str = "inprocess"
    compile_seconds: float = 0.0
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: seconds: setup (layout + digest), start (executor + kernels), write_hdf5, write_parquet,
    #: finish (close, fsync, rename) in this process; read, slice, stage, views summed over tasks
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        """Raw events processed per second of build wall time."""
        return self.n_raw_events / self.seconds if self.seconds > 0 else 0.0

    @property
    def data_label(self) -> str:
        return "SYNTHETIC" if self.synthetic else "REAL"


# --- helpers --------------------------------------------------------------------------------


def clean_stale_temps(*targets: Path) -> list[Path]:
    """Delete ``<target>.tmp-<pid>`` / ``<target>.old-<pid>`` left by dead builds.

    Temporaries of a process that is still alive (a concurrent build) are left alone.
    Returns the paths removed.
    """
    removed = []
    for target in targets:
        if target is None:
            continue
        parent = target.parent
        if not parent.is_dir():
            continue
        for kind in ("tmp", "old"):
            for p in parent.glob(f"{target.name}.{kind}-*"):
                suffix = p.name.rsplit("-", 1)[-1]
                if not suffix.isdigit() or pid_alive(int(suffix)):
                    continue
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def _read_manifest(raw_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((raw_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_synthetic_raw(raw_dir: Path) -> bool:
    """Whether ``raw_dir`` holds synthetic recordings (eventpipe.datasets.slanimals.synth's manifest.json)."""
    try:
        from eventpipe.datasets.slanimals.synth import is_synthetic
    except ImportError:
        manifest = _read_manifest(raw_dir)
        return bool(manifest and manifest.get("synthetic"))
    return bool(is_synthetic(raw_dir))


def _up_to_date_reason(prev: dict[str, Any] | None, profile: Profile, digest: dict) -> str | None:
    """None when ``prev`` (root attrs of the existing cache) matches; else why it does not."""
    if prev is None:
        return "no readable cache yet"
    if prev.get("format") != FORMAT:
        return "existing file is not an eventpipe cache"
    if str(prev.get("format_version", "")).split(".")[0] != FORMAT_VERSION.split(".")[0]:
        return f"format version {prev.get('format_version')} -> {FORMAT_VERSION}"
    if prev.get("profile_hash") != profile.hash:
        old = str(prev.get("profile_hash", ""))[:16]
        return f"profile changed (hash {old} -> {profile.short_hash})"
    try:
        old_digest = json.loads(prev.get("source") or "{}").get("digest")
    except ValueError:
        old_digest = None
    if old_digest != digest["digest"]:
        return "input files changed"
    return None


def _parquet_current(parquet: Path, attrs: dict[str, Any]) -> bool:
    from eventpipe.cache.parquet import read_meta

    meta = read_meta(parquet)
    if meta is None:
        return False
    src = json.loads(attrs.get("source") or "{}")
    return (
        meta.get("profile_hash") == attrs.get("profile_hash")
        and (meta.get("source") or {}).get("digest") == src.get("digest")
        and meta.get("format_version") == attrs.get("format_version")
    )


def _swap_dir(tmp: Path, final: Path) -> None:
    """Replace directory ``final`` by ``tmp`` (rename old away, rename new in, delete old)."""
    old = final.with_name(f"{final.name}.old-{os.getpid()}")
    if final.exists():
        os.rename(final, old)
    os.rename(tmp, final)
    fsync_path(final.parent)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def _export_parquet_atomic(out: Path, parquet: Path) -> None:
    tmp = parquet.with_name(f"{parquet.name}.tmp-{os.getpid()}")
    try:
        from eventpipe.cache.parquet import export_parquet

        export_parquet(out, tmp)
        _swap_dir(tmp, parquet)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class _BackgroundSync:
    """fsync the growing cache (and each finished Parquet file, once) from a thread.

    The fsyncs before the commit then have little left to write: the disk writes overlap the
    computation instead of following it (a full-scale cache is ~2 GB; at ~180 MB/s that is ~12 s
    of disk time, see README "build"), and no worker ever waits for the disk.

    Drop-behind: after each fsync the file's page-cache pages, now clean, are dropped
    (``POSIX_FADV_DONTNEED``), so the next seconds of writes reuse the same physical pages
    instead of taking ~2 GB of new ones. On the CI VM a page the guest has not touched lately is
    expensive to touch (the host backs it on first use: ~1 s of kernel time per 512 MiB, vs
    ~0.07 s for a page just freed): writing 1.5 GB through h5py cost 2.8-3.7 s of kernel time
    with the pages kept, 0.66-0.83 s with drop-behind. The price: after a build, most of the cache
    file is on disk only, not in the page cache.
    """

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._files: list[Path] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eventpipe-fsync", daemon=True)

    def add(self, path: Path) -> None:
        """Queue a finished file for one fsync."""
        with self._lock:
            self._files.append(path)

    def _sync_files(self) -> None:
        with self._lock:
            files, self._files = self._files, []
        for f in files:
            with contextlib.suppress(OSError):
                fsync_path(f, drop=True)

    def _run(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            while not self._stop.wait(self.interval):
                with contextlib.suppress(OSError):
                    fsync_fd(fd, drop=True)
                self._sync_files()
        finally:
            os.close(fd)

    def __enter__(self) -> _BackgroundSync:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sync_files()  # whatever was queued after the last round


# --- executors --------------------------------------------------------------------------------


class _InProcess:
    name = "inprocess"

    def submit(self, fn: Callable, *args) -> Future:
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


class _ProcessPool:
    name = "processes"

    def __init__(self, workers: int, profile: Profile) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # compile/load the kernels here, then fork: the workers inherit them ready to run.
        # The ~10**5 objects of the imports and the loaded kernels live as long as the build:
        # the cyclic garbage collector is kept from traversing them while they are created and
        # afterwards (gc.freeze), here and in the forked workers (where a traversal would also
        # write to their pages, copying them)
        self._frozen = True
        with collector_paused(freeze=True):
            warm_up(profile)
        ctx = multiprocessing.get_context("fork")
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        # start every worker now, before any thread or open HDF5 file exists in this process
        list(self.pool.map(_noop, range(workers)))

    def submit(self, fn: Callable, *args) -> Future:
        return self.pool.submit(fn, *args)

    def wait_any(self, futures: set) -> set:
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        return done

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)  # idempotent
        if self._frozen:
            self._frozen = False
            gc.unfreeze()


class _Dask:
    name = "distributed"

    def __init__(self, workers: int, profile: Profile, scheduler: str | None) -> None:
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
        self.client.run(warm_up, profile)

    def submit(self, fn: Callable, *args) -> Future:
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


def _make_executor(executor: str, workers: int, profile: Profile, scheduler: str | None):
    if scheduler:
        return _Dask(workers, profile, scheduler)
    if executor == "auto":
        executor = "inprocess" if workers <= 1 else DEFAULT_EXECUTOR
    if executor == "inprocess":
        return _InProcess()
    if executor == "processes":
        return _ProcessPool(workers, profile)
    if executor == "distributed":
        return _Dask(workers, profile, None)
    raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")


def _ordered_results(
    ex,
    recs: list,
    profile: Profile,
    window: int,
    parquet_root: str | None = None,
    transfer_dir: str | None = None,
) -> Iterator[RecordingResult]:
    """Yield recording results in input order, with at most ``window`` outstanding at once."""
    n = len(recs)
    next_submit = next_yield = 0
    in_flight: dict[Any, int] = {}
    ready: dict[int, RecordingResult] = {}
    while next_yield < n:
        while next_submit < n and next_submit - next_yield < window:
            fut = ex.submit(
                process_recording,
                recs[next_submit],
                profile,
                next_submit,
                DVS128_SENSOR_SIZE,
                parquet_root,
                transfer_dir,
                os.getpid(),
                transfer_dir is not None,  # recycle the shared-memory buffers
            )
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


# --- the build --------------------------------------------------------------------------------


class _NoProgress:
    """What ``_progress`` gives without a bar: rich is not even imported (~0.05 CPU-s)."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        pass


def _progress(console, enabled: bool):
    if not enabled:
        return _NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("recordings"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


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
    console=None,
) -> BuildResult:
    """Build (or confirm up to date) the cache of ``raw_dir`` with ``profile``.

    Args:
        profile: a :class:`Profile`, a shipped profile name or a YAML path.
        raw_dir: the raw recordings (release or published layout, see eventpipe.datasets.slanimals.layout).
        out: the HDF5 cache to write.
        parquet: True = ``out`` with suffix ``.parquet``; a path; False/None = no Parquet.
        workers: parallel recordings (default: CPU count); 1 runs in-process.
        scheduler: address of an existing dask.distributed scheduler (overrides ``executor``).
        subset: ``"full"`` (59 recordings) or ``"reduced"`` (42, without S3).
        force: rebuild even if the cache is up to date.
        allow_missing: build from the complete recording/tag pairs present, warning (in
            ``notes``) about missing recordings or unpaired files, instead of failing.
        overrides: ``KEY=VALUE`` profile overrides (when ``profile`` is a name/path).
        executor: ``auto | inprocess | processes | distributed`` (see module docstring).
        progress: show a rich progress bar (on ``console``, default stderr).

    Returns:
        :class:`BuildResult`.

    Raises:
        LayoutError, FormatError, TagError, ProfileError, CacheError: bad inputs (no traceback
            in the CLI); the previous cache is left as it was.
    """
    from eventpipe.datasets.slanimals.layout import discover

    t0 = time.perf_counter()
    if not isinstance(profile, Profile):
        profile = load_profile(profile, overrides)
    elif overrides:
        raise ValueError("overrides apply to a profile name or path, not a Profile object")
    raw_dir = Path(raw_dir)
    out = Path(out)
    if parquet is True:
        pq_path: Path | None = out.with_suffix(".parquet")
    elif parquet in (False, None):
        pq_path = None
    else:
        pq_path = Path(parquet)  # type: ignore[arg-type]
    if pq_path is not None and pq_path.resolve() == out.resolve():
        raise CacheError(f"{out}: the Parquet directory must differ from the HDF5 file")
    if out.exists() and out.is_dir():
        raise CacheError(f"{out}: is a directory; --out names the HDF5 file to write")
    workers = max(1, int(workers or os.cpu_count() or 1))
    if progress and console is None:
        from rich.console import Console

        console = Console(stderr=True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = discover(raw_dir, subset=subset, strict=not allow_missing)
    notes = [f"warning: {w.message}" for w in caught]
    synthetic = is_synthetic_raw(raw_dir)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"{out}: cannot create the directory {out.parent}: {exc}") from None
    stale = clean_stale_temps(out, pq_path or out.with_suffix(".parquet"))
    notes += [f"removed stale temporary {p}" for p in stale]
    clean_stale()  # shared-memory results of builds that were killed

    prev = read_attrs(out) if out.exists() else None
    prev_source = None
    if prev:
        with contextlib.suppress(ValueError):
            prev_source = json.loads(prev.get("source") or "{}")
    inputs = [p for r in recs for p in (r.aedat, r.tags)]
    digest = source_digest(inputs, raw_dir, previous=prev_source)
    result = BuildResult(
        status="up-to-date",
        out=out,
        parquet=pq_path,
        profile_name=profile.name,
        profile_hash=profile.hash,
        synthetic=synthetic,
        n_recordings=len(recs),
        workers=workers,
        notes=notes,
    )

    tm = result.timings
    tm["setup"] = time.perf_counter() - t0
    reason = "--force" if force else _up_to_date_reason(prev, profile, digest)
    if reason is None:
        assert prev is not None
        result.synthetic = bool(prev.get("synthetic", synthetic))  # what the cache says
        result.n_samples = int(prev.get("n_samples", 0))
        result.n_events = int(prev.get("n_events", 0))
        if pq_path is not None and not _parquet_current(pq_path, prev):
            _export_parquet_atomic(out, pq_path)
            result.status = "parquet-exported"
            result.notes.append(f"Parquet copy missing or stale: re-exported {pq_path} from {out}")
        result.seconds = time.perf_counter() - t0
        return result
    if prev is not None:
        result.notes.append(f"rebuilding: {reason}")

    manifest = _read_manifest(raw_dir) if synthetic else None
    created_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ev_size = profile.events_sensor_size(DVS128_SENSOR_SIZE)
    attrs: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "profile": profile.canonical_json(),
        "profile_hash": profile.hash,
        "profile_name": profile.name,
        "sensor_size": list(ev_size),
        "layout": LAYOUT,
        "created_by": f"eventpipe {__version__}",
        "created_at": created_at,
        "source": digest_to_json(digest),
        "synthetic": synthetic,
        "synthetic_manifest": json.dumps(manifest, sort_keys=True) if manifest else "",
        "raw_dir": str(raw_dir.resolve()),
        "subset": subset,
        "orientation": profile.orientation,
        "n_recordings": len(recs),
    }
    view_attrs = {
        name: {
            "dt_us": v.dt_us,
            "binning": v.binning,
            "spatial_factor": v.spatial_factor,
            "sensor_size": list(profile.view_sensor_size(name)),
            "layout": LAYOUT,
            "time_floor_ms": profile.events.floor_ms,
            "n_bins_rule": N_BINS_RULE,
        }
        for name, v in profile.views.items()
    }

    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    pq_tmp = pq_path.with_name(f"{pq_path.name}.tmp-{os.getpid()}") if pq_path else None
    slow = float(os.environ.get(_SLOW_ENV, "0") or 0)
    window = 1 if workers == 1 and not scheduler else 2 * workers
    t_compile = time.perf_counter()
    ex = _make_executor(executor, workers, profile, scheduler)
    if ex.name == "inprocess":
        warm_up(profile)
    result.compile_seconds = tm["start"] = time.perf_counter() - t_compile
    for key in ("read", "slice", "stage", "views", "write_parquet", "write_hdf5"):
        tm[key] = 0.0
    result.executor = ex.name
    writer = None
    committed = False
    try:
        writer = CacheWriter(tmp, attrs, view_attrs)
        pqw = None
        if pq_tmp is not None:  # pyarrow is imported only when Parquet is written (~0.07 CPU-s)
            from eventpipe.cache.parquet import ParquetWriter

            pqw = ParquetWriter(pq_tmp, attrs)
        durations: list[np.ndarray] = []
        n_raw = n_events = 0
        with _progress(console, progress) as bar, _BackgroundSync(tmp) as syncer:
            label = "SYNTHETIC " if synthetic else ""
            task = bar.add_task(f"build {label}{profile.name}", total=len(recs), rate="")
            t_run = time.perf_counter()
            # local workers write their recording's Parquet file themselves (in parallel);
            # with a remote scheduler the client writes it
            worker_pq = str(pq_tmp) if pq_tmp is not None and not scheduler else None
            # forked local workers hand their results over in shared memory (eventpipe.build.arena)
            transfer = shm_dir() if ex.name == "processes" else None
            for res in _ordered_results(ex, recs, profile, window, worker_pq, transfer):
                if tuple(res.sensor_size) != tuple(ev_size):
                    raise CacheError(
                        f"{res.stem}: stage produced sensor {res.sensor_size}, expected {ev_size}"
                    )
                a = time.perf_counter()
                writer.append(res.samples, res.events, res.offsets, res.views)
                b = time.perf_counter()
                if pqw is not None and res.parquet_file:
                    pqw.add_written(Path(res.parquet_file), res.samples, res.offsets)
                elif pqw is not None:
                    res.parquet_file = str(
                        pqw.add_recording(res.stem, res.samples, res.events, res.offsets)
                    )
                if res.parquet_file:
                    syncer.add(Path(res.parquet_file))
                tm["write_hdf5"] += b - a
                tm["write_parquet_client"] = tm.get("write_parquet_client", 0.0) + (
                    time.perf_counter() - b
                )
                for key, value in res.timings.items():
                    tm[key] = tm.get(key, 0.0) + value
                durations.append(res.samples["t_end_us"] - res.samples["t_start_us"])
                n_raw += res.n_raw_events
                n_events += res.n_events
                for name, v in res.views.items():
                    result.views.setdefault(name, {"nonzero": 0})["nonzero"] += int(
                        v["offsets"][-1]
                    )
                rate = n_raw / max(time.perf_counter() - t_run, 1e-9)
                bar.update(task, advance=1, rate=f"{rate / 1e6:.1f} M ev/s")
                res.release()  # written: its buffer may be reused by the next task
                del res
                if slow:
                    time.sleep(slow)
        all_durations = np.concatenate(durations) if durations else np.zeros(0, np.int64)
        resolved = profile.resolve_crops(all_durations) if profile.has_auto_crops() else profile
        for name, v in resolved.views.items():
            req = profile.views[name]
            crop_attrs = {
                "train_crop": int(v.train_crop.bins),
                "train_crop_mode": v.train_crop.mode,
                "train_crop_auto": req.train_crop.bins == "auto",
                "test_crop": int(v.test_crop.bins),
                "test_crop_mode": v.test_crop.mode,
                "test_crop_auto": req.test_crop.bins == "auto",
            }
            writer.set_view_attrs(name, **crop_attrs)
            result.views.setdefault(name, {"nonzero": 0}).update(crop_attrs)
        t_finish = time.perf_counter()
        writer.set_attrs(profile_resolved=resolved.canonical_json(), n_raw_events=n_raw)
        writer.close()
        if pqw is not None:
            pqw.close(
                profile_resolved=resolved.canonical_json(),
                n_samples=int(sum(len(d) for d in durations)),
                n_events=n_events,
                n_raw_events=n_raw,
            )
        os.replace(tmp, out)  # the commit point
        committed = True
        fsync_path(out.parent)
        if pq_tmp is not None and pq_path is not None:
            _swap_dir(pq_tmp, pq_path)
        tm["finish"] = time.perf_counter() - t_finish
    except BaseException as exc:
        ex.close()  # first: no task may still write into the temporary Parquet directory
        if writer is not None:
            writer.abort()
        tmp.unlink(missing_ok=True)
        if pq_tmp is not None:
            shutil.rmtree(pq_tmp, ignore_errors=True)
        if isinstance(exc, OSError):  # disk full, permission denied, ...: no traceback
            state = (
                "the new HDF5 cache is committed; the next run re-exports the Parquet copy"
                if committed
                else "the previous cache is unchanged"
            )
            raise CacheError(
                f"{out}: build failed: {exc} ({state}; temporary files removed)"
            ) from exc
        raise
    finally:
        ex.close()
        clean_owned()  # results of cancelled tasks that were never received
    result.status = "built"
    result.n_samples = int(sum(len(d) for d in durations))
    result.n_events = n_events
    result.n_raw_events = n_raw
    result.seconds = time.perf_counter() - t0
    return result


__all__ = [
    "DEFAULT_EXECUTOR",
    "EXECUTORS",
    "BuildResult",
    "build_cache",
    "clean_stale_temps",
    "is_synthetic_raw",
]
