"""What the build's steps hand each other: one recording task's output (:class:`RecordingResult`,
from the run step to the commit step) and the whole build's report (:class:`BuildResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eventpipe.cache.schema import EVENT_FIELDS


@dataclass
class RecordingResult:
    """What one recording task returns: its samples, stage output and views, all CSR.

    Attributes:
        stem: recording name. order: position of the recording in the build (the dataset's
            recording order).
        samples: ``[n]`` SAMPLES_DTYPE (event_offset local; n_events = stage output counts).
        events: the samples' stage outputs concatenated, as contiguous columns
            ``{"x": i2, "y": i2, "t": i8, "p": u1}`` (t in us, re-zeroed per sample).
        offsets: int64 ``[n + 1]``, local.
        views: name -> {"bin","p","y","x","value","offsets","n_bins"}.
        n_raw_events: events read from the recording file; seconds: task wall time.
        sensor_size: ``(W, H, P)`` of the stored events.
        timings: seconds of the task's steps: read, slice, stage, views, write_parquet.
        parquet_file: the Parquet file the task wrote, if it was asked to.
        arena: the buffer holding ``events`` and the views' entries (see
            :mod:`eventpipe.build.arena`); when it is in shared memory, pickling sends a
            reference instead of the arrays.
    """

    stem: str
    order: int
    samples: np.ndarray
    events: dict[str, np.ndarray]
    offsets: np.ndarray
    views: dict[str, dict[str, np.ndarray]]
    n_raw_events: int
    sensor_size: tuple[int, int, int]
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    parquet_file: str | None = None
    arena: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self.arena is not None and getattr(self.arena, "shared", False):
            # the large arrays travel as the arena (a file reference), the rest as is
            state["events"] = None
            state["views"] = {
                name: {k: a for k, a in v.items() if f"views/{name}/{k}" not in self.arena.arrays}
                for name, v in self.views.items()
            }
        else:
            state["arena"] = None  # the arrays themselves are pickled
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        arena = state.get("arena")
        if arena is None:
            return
        arrays = arena.used()
        self.events = {k: arrays[f"events/{k}"] for k in EVENT_FIELDS}
        for name, v in self.views.items():
            for key, a in arrays.items():
                if key.startswith(f"views/{name}/"):
                    v[key.rsplit("/", 1)[1]] = a

    def release(self) -> None:
        """Done with the arrays: a recyclable shared-memory buffer goes back for reuse by the
        next task (see :mod:`eventpipe.build.arena`); the arrays must not be read afterwards."""
        release = getattr(self.arena, "release", None)
        if release is not None:
            release()

    @property
    def n_events(self) -> int:
        """Stored (stage output) events of the recording."""
        return len(self.events["t"])

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (for memory accounting)."""
        n = sum(a.nbytes for a in self.events.values()) + self.offsets.nbytes + self.samples.nbytes
        return n + sum(a.nbytes for v in self.views.values() for a in v.values())


@dataclass
class BuildResult:
    """What :func:`eventpipe.build.build_cache` did.

    Attributes:
        status: ``"built"``, ``"up-to-date"`` (nothing written) or ``"parquet-exported"``
            (HDF5 up to date, Parquet re-written from it).
        out, parquet: the cache and Parquet paths (parquet None when disabled).
        synthetic: whether the inputs are synthetic (never mistake them for real data).
        notes: human-readable lines (stale temp files removed, why it rebuilt, ...).
        timings: seconds: setup (layout + digest), start (executor + kernels), write_hdf5,
            write_parquet_client, finish (close, fsync, rename) in this process; read, slice,
            stage, views, write_parquet summed over tasks.
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
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        """Raw events processed per second of build wall time."""
        return self.n_raw_events / self.seconds if self.seconds > 0 else 0.0

    @property
    def data_label(self) -> str:
        """``"SYNTHETIC"`` or ``"REAL"``, for every message that names the data."""
        return "SYNTHETIC" if self.synthetic else "REAL"


__all__ = ["BuildResult", "RecordingResult"]
