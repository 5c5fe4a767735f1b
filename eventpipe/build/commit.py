"""Step 4 of the build, **commit**: write the results under temporary names, make them durable,
rename them into place.

1. The HDF5 is written to ``<out>.tmp-<pid>`` and the Parquet dataset to
   ``<parquet>.tmp-<pid>/`` (:class:`CacheCommit`); both are fsynced, mostly while the build
   still computes (:class:`BackgroundSync`).
2. ``os.replace(tmp, out)`` + fsync of the directory: **the commit point**. A build killed before
   it leaves the previous cache untouched; the next run deletes temporary files whose pid is
   dead (:func:`clean_stale_temps`).
3. Then the Parquet directory is swapped in (:func:`swap_dir`: ``out.parquet -> .old-<pid>``,
   ``.tmp -> out.parquet``, delete ``.old``). If a crash lands between 2 and 3, the Parquet copy
   is missing or stale and the next run re-exports it from the committed HDF5
   (:func:`export_parquet_atomic`) without rebuilding.

Every fsync goes through :mod:`eventpipe.runtime.durable`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from eventpipe import __version__
from eventpipe.build.arena import clean_stale, pid_alive
from eventpipe.build.plan import BuildPlan
from eventpipe.build.results import RecordingResult
from eventpipe.build.stages import VIEW_N_BINS_RULES, value_scale
from eventpipe.cache.digest import digest_to_json
from eventpipe.cache.hdf5 import CacheWriter
from eventpipe.cache.schema import FORMAT, FORMAT_VERSION, LAYOUT
from eventpipe.errors import CacheError
from eventpipe.profile import Profile
from eventpipe.runtime.durable import fsync_fd, fsync_path


def temp_path(target: Path, kind: str = "tmp") -> Path:
    """``<target>.<kind>-<pid>``: this process's temporary (``tmp``) or old (``old``) name."""
    return target.with_name(f"{target.name}.{kind}-{os.getpid()}")


def clean_stale_temps(*targets: Path | None) -> list[Path]:
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


def prepare_target(plan: BuildPlan) -> list[str]:
    """Create the output folder and remove what killed builds left there (temporary files,
    shared-memory results); returns notes naming the files removed.

    Raises:
        CacheError: the output folder cannot be created.
    """
    out = plan.out
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"{out}: cannot create the directory {out.parent}: {exc}") from None
    stale = clean_stale_temps(out, plan.parquet or out.with_suffix(".parquet"))
    clean_stale()  # shared-memory results of builds that were killed
    return [f"removed stale temporary {p}" for p in stale]


def swap_dir(tmp: Path, final: Path) -> None:
    """Replace directory ``final`` by ``tmp`` (rename old away, rename new in, fsync the
    parent, delete old)."""
    old = temp_path(final, "old")
    if final.exists():
        os.rename(final, old)
    os.rename(tmp, final)
    fsync_path(final.parent)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def export_parquet_atomic(out: Path, parquet: Path) -> None:
    """Re-export the Parquet dataset of the committed cache ``out`` into ``parquet``
    (written under a temporary name, fsynced, swapped in)."""
    tmp = temp_path(parquet)
    try:
        from eventpipe.cache.parquet import export_parquet

        export_parquet(out, tmp)
        swap_dir(tmp, parquet)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class BackgroundSync:
    """fsync the growing cache (and each finished Parquet file, once) from a thread.

    The fsyncs before the commit then have little left to write: the disk writes overlap the
    computation instead of following it (a full-scale cache is ~2 GB; at ~180 MB/s that is ~12 s
    of disk time), and no worker ever waits for the disk.

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

    def __enter__(self) -> BackgroundSync:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sync_files()  # whatever was queued after the last round


def _read_manifest(raw_dir: Path) -> dict[str, Any] | None:
    """``raw_dir/manifest.json`` (written by the synthetic generators), or None."""
    try:
        data = json.loads((raw_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cache_attrs(
    plan: BuildPlan, digest: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``(root attributes, view name -> attributes)`` of the cache the plan writes (the crop
    lengths are added by :meth:`CacheCommit.finish`, once ``auto`` crops are resolved)."""
    profile = plan.profile
    manifest = _read_manifest(plan.raw_dir) if plan.synthetic else None
    attrs: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "profile": profile.canonical_json(),
        "profile_hash": profile.hash,
        "profile_name": profile.name,
        "dataset": profile.dataset,
        "sensor_size": list(plan.events_sensor_size),
        "layout": LAYOUT,
        "created_by": f"eventpipe {__version__}",
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": digest_to_json(digest),
        "synthetic": plan.synthetic,
        "synthetic_manifest": json.dumps(manifest, sort_keys=True) if manifest else "",
        "raw_dir": str(plan.raw_dir.resolve()),
        "subset": plan.subset,
        "orientation": profile.orientation,
        "n_recordings": len(plan.recordings),
    }
    view_attrs = {
        name: {
            "dt_us": v.dt_us,
            "binning": v.binning,
            "spatial_factor": v.spatial_factor,
            "sensor_size": list(profile.view_sensor_size(name, plan.spec.sensor_size)),
            "layout": LAYOUT,
            "time_floor_ms": profile.events.floor_ms,
            "n_bins_rule": VIEW_N_BINS_RULES[v.rule],
            "rule": v.rule,
            "value_scale": value_scale(v.rule, v.dt_us),
        }
        for name, v in profile.views.items()
    }
    return attrs, view_attrs


class CacheCommit:
    """The HDF5 cache and the Parquet dataset of one build, written under temporary names and
    committed (or aborted) as a whole.

    Use: :meth:`open`, :meth:`write` each recording result in order, :meth:`finish` (the
    commit); on any error :meth:`abort`. Tallies (samples, events, view entries, crop lengths)
    are kept for the build's report.
    """

    def __init__(self, plan: BuildPlan, digest: dict[str, Any]) -> None:
        self.plan = plan
        self.attrs, self.view_attrs = cache_attrs(plan, digest)
        self.tmp = temp_path(plan.out)
        self.parquet_tmp = temp_path(plan.parquet) if plan.parquet is not None else None
        self.writer: CacheWriter | None = None
        self.parquet_writer: Any = None
        self.committed = False
        self.durations: list[np.ndarray] = []
        self.n_raw_events = 0
        self.n_events = 0
        self.views: dict[str, dict[str, Any]] = {}

    @property
    def n_samples(self) -> int:
        """Samples written so far."""
        return int(sum(len(d) for d in self.durations))

    def open(self) -> None:
        """Create the temporary HDF5 file (and Parquet directory)."""
        self.writer = CacheWriter(self.tmp, self.attrs, self.view_attrs)
        if self.parquet_tmp is not None:  # pyarrow only when Parquet is written (~0.07 CPU-s)
            from eventpipe.cache.parquet import ParquetWriter

            self.parquet_writer = ParquetWriter(self.parquet_tmp, self.attrs)

    def write(
        self, res: RecordingResult, syncer: BackgroundSync, timings: dict[str, float]
    ) -> None:
        """Append one recording's result (the next in order); adds its seconds to ``timings``.

        Raises:
            CacheError: the stage produced another sensor size than planned.
        """
        expected = self.plan.events_sensor_size
        if tuple(res.sensor_size) != tuple(expected):
            raise CacheError(
                f"{res.stem}: stage produced sensor {res.sensor_size}, expected {expected}"
            )
        assert self.writer is not None
        a = time.perf_counter()
        self.writer.append(res.samples, res.events, res.offsets, res.views)
        b = time.perf_counter()
        self._write_parquet(res)
        if res.parquet_file:
            syncer.add(Path(res.parquet_file))
        timings["write_hdf5"] += b - a
        timings["write_parquet_client"] = timings.get("write_parquet_client", 0.0) + (
            time.perf_counter() - b
        )
        for key, value in res.timings.items():
            timings[key] = timings.get(key, 0.0) + value
        self.durations.append(res.samples["t_end_us"] - res.samples["t_start_us"])
        self.n_raw_events += res.n_raw_events
        self.n_events += res.n_events
        for name, v in res.views.items():
            self.views.setdefault(name, {"nonzero": 0})["nonzero"] += int(v["offsets"][-1])

    def _write_parquet(self, res: RecordingResult) -> None:
        """Register the Parquet file a worker wrote, or write it here (remote workers)."""
        pqw = self.parquet_writer
        if pqw is not None and res.parquet_file:
            pqw.add_written(Path(res.parquet_file), res.samples, res.offsets)
        elif pqw is not None:
            res.parquet_file = str(
                pqw.add_recording(res.stem, res.samples, res.events, res.offsets)
            )

    def _resolve_crops(self) -> Profile:
        """The profile with ``auto`` crops resolved from the samples' durations; sets each
        view's crop attributes."""
        profile = self.plan.profile
        durations = np.concatenate(self.durations) if self.durations else np.zeros(0, np.int64)
        resolved = profile.resolve_crops(durations) if profile.has_auto_crops() else profile
        assert self.writer is not None
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
            self.writer.set_view_attrs(name, **crop_attrs)
            self.views.setdefault(name, {"nonzero": 0}).update(crop_attrs)
        return resolved

    def finish(self) -> None:
        """Finalise and fsync both temporaries, rename the HDF5 into place (the commit point),
        fsync its folder, swap the Parquet directory in."""
        assert self.writer is not None
        resolved = self._resolve_crops().canonical_json()
        self.writer.set_attrs(profile_resolved=resolved, n_raw_events=self.n_raw_events)
        self.writer.close()
        if self.parquet_writer is not None:
            self.parquet_writer.close(
                profile_resolved=resolved,
                n_samples=self.n_samples,
                n_events=self.n_events,
                n_raw_events=self.n_raw_events,
            )
        os.replace(self.tmp, self.plan.out)  # the commit point
        self.committed = True
        fsync_path(self.plan.out.parent)
        if self.parquet_tmp is not None and self.plan.parquet is not None:
            swap_dir(self.parquet_tmp, self.plan.parquet)

    def abort(self) -> None:
        """Close without finalising and delete the temporaries (the executor must be closed
        first: no task may still write into the temporary Parquet directory)."""
        if self.writer is not None:
            self.writer.abort()
        self.tmp.unlink(missing_ok=True)
        if self.parquet_tmp is not None:
            shutil.rmtree(self.parquet_tmp, ignore_errors=True)

    def failure(self, exc: OSError) -> CacheError:
        """The CLI-ready error for an OSError (disk full, permission denied, ...) during the
        build, saying what state the cache is in."""
        state = (
            "the new HDF5 cache is committed; the next run re-exports the Parquet copy"
            if self.committed
            else "the previous cache is unchanged"
        )
        return CacheError(
            f"{self.plan.out}: build failed: {exc} ({state}; temporary files removed)"
        )


__all__ = [
    "BackgroundSync",
    "CacheCommit",
    "cache_attrs",
    "clean_stale_temps",
    "export_parquet_atomic",
    "prepare_target",
    "swap_dir",
    "temp_path",
]
