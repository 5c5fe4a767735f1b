"""The per-sample events stage and views, as pure functions over numpy arrays.

:func:`events_stage` applies a profile's ``events`` section to one sample, in this order (all
times in microseconds)::

    1. time_align   t -= min(t)                      tonic TimeAlignment
    2. denoise      keep if a 4-neighbour fired < filter_time_us before   tonic Denoise
    3. refractory   drop if the pixel fired < period_us before            tonic RefractoryPeriod
    4. downsample   x = int(x * f), y = int(y * f)   tonic Downsample (spatial)
    5. floor_ms     t = floor(t_abs / 1000) * 1000 - floor(t0_abs / 1000) * 1000
                    (the published code's ms clock, see eventpipe.kernels.align.floor_ms_us)
    6. re-zero      t -= t[0] (the first *kept* event is at t = 0)

Step 6 is a shift by a whole number of ms when step 5 ran, so binning is unchanged by it (bins
start at the first event either way, tonic ``ToFrame`` semantics); it makes every stored sample
start at 0. :func:`view_frames` bins the stage output into one view (optional extra spatial
downsample, then :func:`eventpipe.kernels.binning.bin_sparse` with tonic ``ToFrame`` frame count).
:func:`process_recording` runs read -> slice -> stage -> views for one recording: it is the task
the build runs in parallel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from eventpipe.build.arena import Arena
from eventpipe.cache.schema import EVENT_FIELDS, SAMPLES_DTYPE, VIEW_FIELDS, VIEW_VALUE_DTYPES
from eventpipe.events import DVS128_SENSOR_SIZE, EVENT_DTYPE, as_events
from eventpipe.profile import Profile

if TYPE_CHECKING:
    from eventpipe.datasets.slanimals.layout import RecordingFiles
    from eventpipe.kernels.binning import SparseFrames

#: the large per-entry arrays of a view (the rest: offsets, n_bins)
VIEW_KEYS = ("bin", "p", "y", "x", "value")
#: frame-count rule of every view (``n_bins_rule`` attribute), see eventpipe.kernels.binning
N_BINS_RULE = "tonic"


def events_stage(
    events: np.ndarray,
    profile: Profile,
    sensor_size: tuple[int, int, int] = DVS128_SENSOR_SIZE,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Apply ``profile.events`` to one sample.

    Args:
        events: ``[n]`` EVENT_DTYPE of one sample, absolute timestamps (us), time-sorted.
        profile: the build profile.
        sensor_size: ``(W, H, P)`` of ``events``.

    Returns:
        ``(events', sensor_size')``: a new EVENT_DTYPE array with t re-zeroed at its first event
        (us), and the sensor size after ``events.downsample``.
    """
    from eventpipe.kernels import denoise, downsample, floor_ms_us, refractory, time_align

    st = profile.events
    ev = as_events(events)
    if _fused(profile):
        out = np.empty(len(ev), dtype=EVENT_DTYPE)
        n = stage_into(ev, profile, sensor_size, (out["x"], out["y"], out["t"], out["p"]))
        ev = out[:n] if 4 * n >= 3 * len(out) else out[:n].copy()
        return ev, tuple(int(s) for s in sensor_size)  # type: ignore[return-value]
    origin = int(ev["t"].min()) if len(ev) else 0
    if st.time_align:
        ev = time_align(ev)
    if st.denoise.enabled:
        ev = denoise(ev, sensor_size, st.denoise.filter_time_us)
    if st.refractory.enabled:
        ev = refractory(ev, sensor_size, st.refractory.period_us)
    if st.downsample.spatial_factor != 1.0:
        ev, sensor_size = downsample(ev, sensor_size, st.downsample.spatial_factor)
    if st.floor_ms:
        ev = floor_ms_us(ev, origin_us=origin if st.time_align else 0)
    if np.may_share_memory(ev, events):
        ev = ev.copy()  # every step disabled: do not modify the caller's array
    if len(ev) and ev["t"][0] != 0:
        ev["t"] -= ev["t"][0]
    return ev, tuple(int(s) for s in sensor_size)  # type: ignore[return-value]


def _fused(profile: Profile) -> bool:
    """Whether the profile's events stage is the fused kernel's (no refractory, no downsample)."""
    st = profile.events
    return not st.refractory.enabled and st.downsample.spatial_factor == 1.0


def stage_into(
    events: np.ndarray,
    profile: Profile,
    sensor_size: tuple[int, int, int],
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> int:
    """:func:`events_stage` writing its output into columns; returns the number of events.

    Args:
        events: ``[n]`` EVENT_DTYPE of one sample, absolute timestamps (us), time-sorted, or a
            mapping of its columns ``x, y, t, p``.
        profile: the build profile; sensor_size: ``(W, H, P)`` of ``events``.
        out: ``(x int16, y int16, t int64, p uint8)`` 1-D arrays with room for ``n`` events
            (e.g. a recording's output buffer); the output sensor size is
            ``profile.events_sensor_size(sensor_size)``.
    """
    if not _fused(profile):
        ev, _ = events_stage(events, profile, sensor_size)
        for col, k in zip(out, EVENT_FIELDS, strict=True):
            col[: len(ev)] = ev[k]
        return len(ev)
    from eventpipe.kernels.stage import stage_columns

    st = profile.events
    return stage_columns(
        events,
        sensor_size,
        out,
        time_align=st.time_align,
        denoise_filter_time_us=st.denoise.filter_time_us if st.denoise.enabled else None,
        floor_ms=st.floor_ms,
    )


def view_frames(
    events: np.ndarray,
    profile: Profile,
    view: str,
    sensor_size: tuple[int, int, int],
    out: tuple[np.ndarray, ...] | None = None,
) -> SparseFrames:
    """Bin stage output into view ``view`` (sparse frames sorted by (bin, p, y, x)).

    Args:
        events: output of :func:`events_stage` (t from 0, us), structured or as a mapping of
            columns ``x, y, t, p``.
        profile: the build profile; view: a key of ``profile.views``.
        sensor_size: ``(W, H, P)`` of ``events`` (after ``events.downsample``).
        out: optional output arrays, see :func:`eventpipe.kernels.binning.bin_sparse`.
    """
    from eventpipe.kernels import bin_sparse

    v = profile.views[view]
    return bin_sparse(
        events,
        sensor_size,
        v.dt_us,
        v.binning,
        n_bins_rule=N_BINS_RULE,
        out=out,
        spatial_factor=v.spatial_factor,
    )


@dataclass
class RecordingResult:
    """What one recording task returns: its samples, stage output and views, all CSR.

    Attributes:
        stem: recording name. order: position of the recording in the build (STEMS order).
        samples: ``[n]`` SAMPLES_DTYPE (event_offset local; n_events = stage output counts).
        events: the samples' stage outputs concatenated, as contiguous columns
            ``{"x": i2, "y": i2, "t": i8, "p": u1}``.
        offsets: int64 ``[n + 1]``, local.
        views: name -> {"bin","p","y","x","value","offsets","n_bins"}.
        n_raw_events: events read from the recording file; seconds: task wall time.
        sensor_size: ``(W, H, P)`` of the stored events.
        parquet_file: the Parquet file the task wrote, if it was asked to.
        arena: the buffer holding ``events`` and the views' entries (see eventpipe.build.arena); when
            it is in shared memory, pickling sends a reference instead of the arrays.
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


def stage_and_views(
    samples: list[np.ndarray] | list[dict[str, np.ndarray]],
    profile: Profile,
    sensor_size: tuple[int, int, int] = DVS128_SENSOR_SIZE,
    transfer_dir: str | None = None,
    owner: int | None = None,
    timings: dict[str, float] | None = None,
    recycle: bool = False,
) -> tuple[Arena, dict[str, np.ndarray], np.ndarray, dict[str, dict[str, np.ndarray]], tuple]:
    """Events stage and every view of one recording's samples, into one :class:`Arena`.

    Args:
        samples: the recording's samples (EVENT_DTYPE, absolute us, or mappings of columns
            ``x, y, t, p``), in sample order.
        profile, sensor_size: as for :func:`process_recording`; transfer_dir, owner, recycle:
            the arena's (see :class:`eventpipe.build.arena.Arena`).
        timings: if given, receives the seconds of the events stage ("stage") and of the views
            ("views").

    Returns:
        ``(arena, events, offsets, views, out_size)``: the stage output as columns
        ``{"x", "y", "t", "p"}`` (CSR with int64 ``offsets [n + 1]``), each view's entries,
        ``offsets`` and ``n_bins``, and the sensor size of the stored events.
    """
    t0 = time.perf_counter()
    n = len(samples)
    out_size = profile.events_sensor_size(sensor_size)
    # one buffer for every large output column: events and each view's entries (at most one
    # per event); capacity = the samples' raw events (denoise only drops), of which the pages
    # never written cost no memory. The kernels write into it, nothing is concatenated or
    # copied afterwards.
    cap = sum(len(ev["t"]) for ev in samples)
    columns: dict[str, tuple[Any, int]] = {
        f"events/{k}": (dt, cap) for k, dt in EVENT_FIELDS.items()
    }
    for name, v in profile.views.items():
        dtypes = {**VIEW_FIELDS, "value": VIEW_VALUE_DTYPES[v.binning]}
        columns.update({f"views/{name}/{k}": (dt, cap) for k, dt in dtypes.items()})
    arena = Arena(columns, transfer_dir, owner, recycle=recycle)
    ev_cols = [arena[f"events/{k}"] for k in EVENT_FIELDS]
    offsets = np.zeros(n + 1, dtype=np.int64)
    pos_ev = 0
    for i, ev in enumerate(samples):
        pos_ev += stage_into(ev, profile, sensor_size, tuple(c[pos_ev:] for c in ev_cols))
        offsets[i + 1] = pos_ev
    events = {k: arena.trim(f"events/{k}", pos_ev) for k in EVENT_FIELDS}
    t1 = time.perf_counter()
    names = list(profile.views)
    cols = {name: [arena[f"views/{name}/{k}"] for k in VIEW_KEYS] for name in names}
    voff = {name: np.zeros(n + 1, dtype=np.int64) for name in names}
    n_bins = {name: np.zeros(n, dtype=np.int32) for name in names}
    pos = dict.fromkeys(names, 0)
    for i in range(n):
        a, b = int(offsets[i]), int(offsets[i + 1])
        e = {k: col[a:b] for k, col in events.items()}
        for name in names:  # every view of a sample while its events are in cache
            out = tuple(c[pos[name] :] for c in cols[name])
            sf = view_frames(e, profile, name, out_size, out=out)
            pos[name] += len(sf)
            voff[name][i + 1] = pos[name]
            n_bins[name][i] = sf.n_bins
    views: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        views[name] = {k: arena.trim(f"views/{name}/{k}", pos[name]) for k in VIEW_KEYS}
        views[name]["offsets"] = voff[name]
        views[name]["n_bins"] = n_bins[name]
    if timings is not None:
        timings["stage"] = t1 - t0
        timings["views"] = time.perf_counter() - t1
    return arena, events, offsets, views, out_size


#: see :func:`process_recording` (recycle=True): the columns x, y, t, p every recording of
#: this worker process is decoded into
_DECODE_COLUMNS: dict[str, np.ndarray] | None = None


def _decode_columns(n: int) -> dict[str, np.ndarray]:
    """Empty columns ``x, y, t, p`` (EVENT_DTYPE's field dtypes) for ``n`` events."""
    return {k: np.empty(n, dtype=EVENT_DTYPE[k]) for k in EVENT_DTYPE.names}


def _columns(events: np.ndarray) -> dict[str, np.ndarray]:
    """Contiguous copies of the fields ``x, y, t, p`` of a structured event array."""
    return {k: np.ascontiguousarray(events[k]) for k in EVENT_DTYPE.names}


def process_recording(
    rec: RecordingFiles,
    profile: Profile,
    order: int = 0,
    sensor_size: tuple[int, int, int] = DVS128_SENSOR_SIZE,
    parquet_root: str | None = None,
    transfer_dir: str | None = None,
    owner: int | None = None,
    recycle: bool = False,
) -> RecordingResult:
    """read -> slice -> events stage -> views for one recording (one build task).

    Args:
        rec: the recording and its tag file.
        profile: the build profile (its ``orientation`` is used to decode addresses).
        order: position of the recording in the build, echoed in the result.
        sensor_size: ``(W, H, P)`` of the raw events.
        parquet_root: if given, the recording's Parquet events file is written there by this
            task (``events/recording=<stem>/part-0.parquet``) and its path returned.
        transfer_dir: if given (a tmpfs, see :mod:`eventpipe.build.arena`), the result's arrays live in
            a shared-memory file there, named for process ``owner``, that the process receiving
            the pickled result maps and unlinks (no copy through the pipe).
        recycle: reuse a file released by an earlier result of ``owner`` (its pages exist
            already), and have the receiver keep this one until :meth:`RecordingResult.release`.
    """
    from eventpipe.io import read_events
    from eventpipe.datasets.slanimals.slicing import slice_recording

    global _DECODE_COLUMNS
    t_start = time.perf_counter()
    # AEDAT 2.0 is decoded into columns x, y, t, p (the events stage reads contiguous columns
    # ~15% faster than the fields of a structured array). One set per worker process, reused by
    # each recording: new pages for every recording (~30 MB at full scale) cost a fault and
    # zeroing per page, and on the CI VM a host-side first touch when the pages are cold
    need = rec.aedat.stat().st_size // 8  # AEDAT 2.0 records are 8 bytes: an upper bound
    if not recycle:
        columns = _decode_columns(need)
    else:
        if _DECODE_COLUMNS is None or len(_DECODE_COLUMNS["t"]) < need:
            _DECODE_COLUMNS = _decode_columns(need + need // 4)
        columns = _DECODE_COLUMNS
    raw = read_events(rec.aedat, orientation=profile.orientation, buffer=columns)
    if not isinstance(raw, dict):  # AEDAT 3.1: a structured array
        raw = _columns(raw)
    t_read = time.perf_counter()
    sliced = slice_recording(rec, events=raw)
    t_slice = time.perf_counter()
    n = len(sliced)
    rows = np.zeros(n, dtype=SAMPLES_DTYPE)
    for i, (meta, _ev) in enumerate(sliced):
        for name in SAMPLES_DTYPE.names:
            if name in ("event_offset",):
                continue
            rows[name][i] = getattr(meta, name)
    n_raw = len(raw["t"])
    tm: dict[str, float] = {}
    arena, events, offsets, views, out_size = stage_and_views(
        [ev for _, ev in sliced], profile, sensor_size, transfer_dir, owner, tm, recycle
    )
    del sliced, raw
    rows["n_events"] = np.diff(offsets)
    rows["event_offset"] = offsets[:-1]
    t_done = time.perf_counter()
    parquet_file = None
    if parquet_root is not None:
        from eventpipe.cache.parquet import write_recording_events

        parquet_file = str(
            write_recording_events(parquet_root, rec.stem, rows["sample_id"], events, offsets)
        )
    end = time.perf_counter()
    return RecordingResult(
        stem=rec.stem,
        order=order,
        samples=rows,
        events=events,
        offsets=offsets,
        views=views,
        n_raw_events=n_raw,
        sensor_size=tuple(int(s) for s in out_size),  # type: ignore[arg-type]
        seconds=end - t_start,
        timings={
            "read": t_read - t_start,
            "slice": t_slice - t_read,
            "stage": tm["stage"],
            "views": tm["views"],
            "write_parquet": end - t_done,
        },
        parquet_file=parquet_file,
        arena=arena,
    )


def warm_up(profile: Profile) -> float:
    """Compile (or load from the Numba cache) every kernel a build task
    (:func:`process_recording`) runs for the profile, with a task's argument types; returns
    seconds.

    Only those: :func:`events_stage` and :func:`view_frames` on structured arrays would load
    other specialisations (strided fields) that no task uses, ~25 ms each from the cache.
    """
    from eventpipe.events import make_events
    from eventpipe.io.aedat2 import RECORD_DTYPE
    from eventpipe.kernels.aedat import decode_aedat2_kernel

    t = time.perf_counter()
    ev = make_events([1, 2, 2, 3], [1, 1, 2, 2], [0, 1500, 2500, 40_000], [0, 1, 0, 1])
    ev["t"] += 123_456
    # the argument types of a build task: read-only mapped records, buffer columns
    raw = np.zeros(2, dtype=RECORD_DTYPE).view(np.uint8)
    raw.flags.writeable = False
    dec = _decode_columns(2)
    decode_aedat2_kernel(raw, True, dec["x"], dec["y"], dec["t"], dec["p"])
    # events in the sensor's corner only: the fused stage's one pass declines (its decisions
    # depend on the sample's bounds), so the two-pass kernels load here too, not in a worker
    corner = make_events([0, 0], [0, 0], [123_456, 123_457], [0, 0])
    samples = [_columns(e) for e in (ev, corner)]
    stage_and_views(samples, profile)
    return time.perf_counter() - t


__all__ = [
    "N_BINS_RULE",
    "RecordingResult",
    "events_stage",
    "process_recording",
    "stage_and_views",
    "view_frames",
    "warm_up",
]
