"""Run step, the work itself: one recording task (read -> slice -> events stage -> views) as
pure functions over numpy arrays, and the frozen plans a task receives.

A build decides everything a task needs once, from the profile and the dataset's sensor size
(:meth:`TaskPlan.from_profile`): the events stage (:class:`eventpipe.kernels.stage.StagePlan`,
steps and units in its docstring), each view (:class:`ViewPlan`), the dataset's registry name
and how results travel back. :func:`process_recording` is the task the executors run in
parallel: it asks the dataset (``eventpipe.datasets.get(task.dataset)``) to read and slice the
recording, then runs the stage and the views into one :class:`~eventpipe.build.arena.Arena`.

The stored events start at t = 0 (us) per sample; :func:`view_frames` bins them into one view
(optional extra spatial downsample, then :func:`eventpipe.kernels.binning.bin_sparse` with the
tonic ``ToFrame`` frame count).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from eventpipe import datasets
from eventpipe.build.arena import Arena
from eventpipe.build.results import RecordingResult
from eventpipe.cache.schema import EVENT_FIELDS, SAMPLES_DTYPE, VIEW_FIELDS, VIEW_VALUE_DTYPES
from eventpipe.events import EVENT_DTYPE
from eventpipe.kernels.stage import StagePlan, stage_into
from eventpipe.profile import Profile

if TYPE_CHECKING:
    from eventpipe.datasets.base import Recording
    from eventpipe.kernels.binning import SparseFrames

#: the large per-entry arrays of a view (the rest: offsets, n_bins)
VIEW_KEYS = ("bin", "p", "y", "x", "value")
#: frame-count rule of a ``tonic_frames`` view (``n_bins_rule`` attribute), see
#: eventpipe.kernels.binning
N_BINS_RULE = "tonic"
#: ``n_bins_rule`` attribute of a view, by the view's binning rule
VIEW_N_BINS_RULES = {
    "tonic_frames": N_BINS_RULE,
    "floor_all": "all",
    "floor_zero": "zero",
    "ceil": "ceil",
    "slayer_td": "slayer_td",
}


def value_scale(rule: str, dt_us: int) -> float:
    """What the published code stores where a view stores 1: ``1/Ts`` (``Ts`` in ms) for
    ``slayer_td`` (slayerPytorch's ``toSpikeTensor`` writes ``1/samplingTime``), else 1."""
    return 1000.0 / dt_us if rule == "slayer_td" else 1.0


def stage_plan(profile: Profile, sensor_size: tuple[int, int, int]) -> StagePlan:
    """The events stage of ``profile.events`` for raw events of ``sensor_size`` ``(W, H, P)``:
    the one place the profile's flags become the stage's fields."""
    st = profile.events
    return StagePlan(
        sensor_size=sensor_size,
        time_align=st.time_align,
        denoise_us=st.denoise.filter_time_us if st.denoise.enabled else None,
        refractory_us=st.refractory.period_us if st.refractory.enabled else None,
        spatial_factor=st.downsample.spatial_factor,
        floor_ms=st.floor_ms,
        stabilize=st.stabilize,
        clip=st.clip,
        window_us=st.window_us,
        rezero=st.rezero,
    )


@dataclass(frozen=True)
class ViewPlan:
    """One view of a build: binned sparse frames of the stage output.

    Attributes:
        name: the view's name (``/views/<name>`` in the cache).
        dt_us: bin width (us). binning: ``OR``, ``SUM`` or ``SUM_NORM``.
        spatial_factor: extra downsample of the view, in ``(0, 1]``.
        sensor_size: ``(W, H, P)`` of the events it bins (the stage output's).
        rule: ``tonic_frames`` or ``slayer_td`` (see :mod:`eventpipe.kernels.binning`).
    """

    name: str
    dt_us: int
    binning: str
    spatial_factor: float
    sensor_size: tuple[int, int, int]
    rule: str = "tonic_frames"


def view_plans(profile: Profile, sensor_size: tuple[int, int, int]) -> tuple[ViewPlan, ...]:
    """The views of ``profile``, in profile order, binning events of ``sensor_size``."""
    size = tuple(int(s) for s in sensor_size)
    return tuple(
        ViewPlan(name, v.dt_us, v.binning, v.spatial_factor, size, v.rule)  # type: ignore[arg-type]
        for name, v in profile.views.items()
    )


@dataclass(frozen=True)
class TaskPlan:
    """Everything a recording task needs, decided once per build (picklable, small).

    Attributes:
        dataset: registry name of the dataset (the task asks the registry for its reader).
        orientation: address decoding passed to the dataset's reader (``published``/``jaer``).
        stage: the events stage. views: the views, in profile order.
        parquet_root: if set, each task writes its recording's Parquet events file there
            (``events/recording=<stem>/part-0.parquet``).
        transfer_dir: if set (a tmpfs, see :mod:`eventpipe.build.arena`), results live in a
            shared-memory file there, named for process ``owner``, that the receiving process
            maps (no copy through the pipe).
        recycle: reuse a file released by an earlier result of ``owner`` (its pages exist
            already), and have the receiver keep this one until
            :meth:`RecordingResult.release`.
        clock: ``unwrap`` (the reader's clock) or ``wrap32`` (each recording's timestamps
            taken mod 2**32 before slicing, the published clock; ``events.clock``).
        drop_classes: 0-based class ids whose samples the task leaves out (the profile's
            ``drop_classes``).
    """

    dataset: str
    orientation: str
    stage: StagePlan
    views: tuple[ViewPlan, ...]
    parquet_root: str | None = None
    transfer_dir: str | None = None
    owner: int | None = None
    recycle: bool = False
    clock: str = "unwrap"
    drop_classes: tuple[int, ...] = ()

    @classmethod
    def from_profile(
        cls, profile: Profile, sensor_size: tuple[int, int, int] | None = None, **transport: Any
    ) -> TaskPlan:
        """The plan of ``profile``'s tasks; ``sensor_size`` defaults to the profile's dataset's;
        ``transport``: ``parquet_root``, ``transfer_dir``, ``owner``, ``recycle``."""
        spec = datasets.get(profile.dataset)
        if sensor_size is None:
            sensor_size = spec.sensor_size
        stage = stage_plan(profile, sensor_size)
        views = view_plans(profile, stage.out_sensor_size)
        transport.setdefault("clock", profile.events.clock)
        transport.setdefault(
            "drop_classes", tuple(spec.classes.index(c) for c in profile.drop_classes)
        )
        return cls(profile.dataset, profile.orientation, stage, views, **transport)


def view_frames(
    events: np.ndarray | Mapping[str, np.ndarray],
    view: ViewPlan,
    out: tuple[np.ndarray, ...] | None = None,
) -> SparseFrames:
    """Bin stage output into one view (sparse frames sorted by (bin, p, y, x)).

    Args:
        events: stage output of one sample (t from 0, us), structured or as a mapping of
            columns ``x, y, t, p``, in ``view.sensor_size``.
        view: the view.
        out: optional output arrays, see :func:`eventpipe.kernels.binning.bin_sparse`.
    """
    from eventpipe.kernels import bin_sparse

    return bin_sparse(
        events,
        view.sensor_size,
        view.dt_us,
        view.binning,
        n_bins_rule=N_BINS_RULE,
        out=out,
        spatial_factor=view.spatial_factor,
        rule=view.rule,  # type: ignore[arg-type]
    )


def _arena(samples: Sequence[Mapping[str, np.ndarray]], task: TaskPlan) -> Arena:
    """One buffer for every large output column of a recording: events and each view's
    entries (at most one per event). Capacity = the samples' raw events (the stage only drops),
    of which the pages never written cost no memory. The kernels write into it; nothing is
    concatenated or copied afterwards."""
    cap = sum(len(ev["t"]) for ev in samples)
    columns: dict[str, tuple[Any, int]] = {
        f"events/{k}": (dt, cap) for k, dt in EVENT_FIELDS.items()
    }
    for v in task.views:
        dtypes = {**VIEW_FIELDS, "value": VIEW_VALUE_DTYPES[v.binning]}
        columns.update({f"views/{v.name}/{k}": (dt, cap) for k, dt in dtypes.items()})
    return Arena(columns, task.transfer_dir, task.owner, recycle=task.recycle)


def _stage_samples(
    samples: Sequence[Mapping[str, np.ndarray]], stage: StagePlan, arena: Arena
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The events stage of every sample into the arena: ``(columns, offsets [n + 1])``."""
    ev_cols = [arena[f"events/{k}"] for k in EVENT_FIELDS]
    offsets = np.zeros(len(samples) + 1, dtype=np.int64)
    pos = 0
    for i, ev in enumerate(samples):
        if stage.identity:  # nothing to do: a copy, without a kernel call per sample
            n = len(ev["t"])
            for c, k in zip(ev_cols, EVENT_FIELDS, strict=True):
                c[pos : pos + n] = ev[k]
            pos += n
        else:
            pos += stage_into(ev, stage, tuple(c[pos:] for c in ev_cols))
        offsets[i + 1] = pos
    return {k: arena.trim(f"events/{k}", pos) for k in EVENT_FIELDS}, offsets


def _bin_views(
    events: dict[str, np.ndarray], offsets: np.ndarray, views: tuple[ViewPlan, ...], arena: Arena
) -> dict[str, dict[str, np.ndarray]]:
    """Every view of every sample into the arena (CSR with ``offsets`` and ``n_bins``).

    Each view first tries all samples in one kernel call
    (:func:`eventpipe.kernels.binning_csr.bin_csr`); the views it does not cover are binned
    sample by sample (:func:`_bin_views_per_sample`)."""
    from eventpipe.kernels.binning_csr import bin_csr

    result: dict[str, dict[str, np.ndarray]] = {}
    rest = []
    for v in views:
        cols = tuple(arena[f"views/{v.name}/{k}"] for k in VIEW_KEYS)
        done = bin_csr(events, offsets, v.sensor_size, v.dt_us, v.binning, v.rule,
                       v.spatial_factor, out=cols)  # fmt: skip
        if done is None:
            rest.append(v)
            continue
        voff, n_bins = done
        result[v.name] = {k: arena.trim(f"views/{v.name}/{k}", int(voff[-1])) for k in VIEW_KEYS}
        result[v.name].update(offsets=voff, n_bins=n_bins)
    if rest:
        result.update(_bin_views_per_sample(events, offsets, tuple(rest), arena))
    return result


def _bin_views_per_sample(
    events: dict[str, np.ndarray], offsets: np.ndarray, views: tuple[ViewPlan, ...], arena: Arena
) -> dict[str, dict[str, np.ndarray]]:
    """:func:`_bin_views` one sample at a time (every rule; raises the precise errors)."""
    n = len(offsets) - 1
    cols = {v.name: [arena[f"views/{v.name}/{k}"] for k in VIEW_KEYS] for v in views}
    voff = {v.name: np.zeros(n + 1, dtype=np.int64) for v in views}
    n_bins = {v.name: np.zeros(n, dtype=np.int32) for v in views}
    pos = {v.name: 0 for v in views}
    for i in range(n):
        a, b = int(offsets[i]), int(offsets[i + 1])
        e = {k: col[a:b] for k, col in events.items()}
        for v in views:  # every view of a sample while its events are in cache
            out = tuple(c[pos[v.name] :] for c in cols[v.name])
            sf = view_frames(e, v, out=out)
            pos[v.name] += len(sf)
            voff[v.name][i + 1] = pos[v.name]
            n_bins[v.name][i] = sf.n_bins
    result: dict[str, dict[str, np.ndarray]] = {}
    for v in views:
        result[v.name] = {k: arena.trim(f"views/{v.name}/{k}", pos[v.name]) for k in VIEW_KEYS}
        result[v.name]["offsets"] = voff[v.name]
        result[v.name]["n_bins"] = n_bins[v.name]
    return result


def stage_and_views(
    samples: Sequence[Mapping[str, np.ndarray]],
    task: TaskPlan,
    timings: dict[str, float] | None = None,
) -> tuple[Arena, dict[str, np.ndarray], np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """Events stage and every view of one recording's samples, into one :class:`Arena`.

    Args:
        samples: the recording's samples (EVENT_DTYPE, absolute us, or mappings of columns
            ``x, y, t, p``), in sample order.
        task: the stage, the views and where the arena lives.
        timings: if given, receives the seconds of the events stage ("stage") and of the views
            ("views").

    Returns:
        ``(arena, events, offsets, views)``: the stage output as columns ``{"x", "y", "t",
        "p"}`` (CSR with int64 ``offsets [n + 1]``) and each view's entries, ``offsets`` and
        ``n_bins``; the events are in ``task.stage.out_sensor_size``.
    """
    t0 = time.perf_counter()
    arena = _arena(samples, task)
    events, offsets = _stage_samples(samples, task.stage, arena)
    t1 = time.perf_counter()
    views = _bin_views(events, offsets, task.views, arena)
    if timings is not None:
        timings["stage"] = t1 - t0
        timings["views"] = time.perf_counter() - t1
    return arena, events, offsets, views


#: see :func:`process_recording` (``task.recycle``): the columns x, y, t, p every recording of
#: this worker process is decoded into
_DECODE_COLUMNS: dict[str, np.ndarray] | None = None


def _decode_columns(n: int) -> dict[str, np.ndarray]:
    """Empty columns ``x, y, t, p`` (EVENT_DTYPE's field dtypes) for ``n`` events."""
    return {k: np.empty(n, dtype=EVENT_DTYPE[k]) for k in EVENT_DTYPE.names}


def _columns(events: np.ndarray) -> dict[str, np.ndarray]:
    """Contiguous copies of the fields ``x, y, t, p`` of a structured event array."""
    return {k: np.ascontiguousarray(events[k]) for k in EVENT_DTYPE.names}


def _read(rec: Recording, spec: datasets.DatasetSpec, task: TaskPlan) -> dict[str, np.ndarray]:
    """The recording's events as columns x, y, t, p (t in us, file order).

    Decoded into columns (the events stage reads contiguous columns ~15% faster than the
    fields of a structured array); with ``task.recycle`` one set per worker process, reused by
    each recording: new pages for every recording (~30 MB at full scale) cost a fault and
    zeroing per page, and on the CI VM a host-side first touch when the pages are cold.
    """
    global _DECODE_COLUMNS
    need = spec.max_events(rec)
    if not task.recycle:
        columns = _decode_columns(need)
    else:
        if _DECODE_COLUMNS is None or len(_DECODE_COLUMNS["t"]) < need:
            _DECODE_COLUMNS = _decode_columns(need + need // 4)
        columns = _DECODE_COLUMNS
    raw = spec.read_recording(rec, task.orientation, columns)
    return raw if isinstance(raw, dict) else _columns(raw)  # a reader without buffer support


def _sample_rows(sliced: Sequence[tuple[Any, Any]]) -> np.ndarray:
    """``[n]`` SAMPLES_DTYPE rows from the samples' metadata (event_offset left 0)."""
    rows = np.zeros(len(sliced), dtype=SAMPLES_DTYPE)
    for i, (meta, _ev) in enumerate(sliced):
        for name in SAMPLES_DTYPE.names:
            if name != "event_offset":
                rows[name][i] = getattr(meta, name)
    return rows


def process_recording(rec: Recording, task: TaskPlan, order: int = 0) -> RecordingResult:
    """read -> slice -> events stage -> views for one recording (one build task).

    Args:
        rec: one recording of ``task.dataset`` (as its ``find_recordings`` returns it).
        task: the build's task plan.
        order: position of the recording in the build, echoed in the result.
    """
    spec = datasets.get(task.dataset)
    t_start = time.perf_counter()
    raw = _read(rec, spec, task)
    if task.clock == "wrap32":
        from eventpipe.io.aedat2 import wrap32_timestamps

        wrap32_timestamps(raw["t"], out=raw["t"])
    t_read = time.perf_counter()
    sliced = spec.samples(rec, raw)
    if task.drop_classes:
        sliced = [s for s in sliced if s[0].class_id not in task.drop_classes]
    t_slice = time.perf_counter()
    rows = _sample_rows(sliced)
    n_raw = len(raw["t"])
    tm: dict[str, float] = {}
    arena, events, offsets, views = stage_and_views([ev for _, ev in sliced], task, tm)
    del sliced, raw
    rows["n_events"] = np.diff(offsets)
    rows["event_offset"] = offsets[:-1]
    t_done = time.perf_counter()
    parquet_file = None
    if task.parquet_root is not None:
        from eventpipe.cache.parquet import write_recording_events

        parquet_file = str(
            write_recording_events(task.parquet_root, rec.stem, rows["sample_id"], events, offsets)
        )
    end = time.perf_counter()
    tm.update(read=t_read - t_start, slice=t_slice - t_read, write_parquet=end - t_done)
    return RecordingResult(
        stem=rec.stem,
        order=order,
        samples=rows,
        events=events,
        offsets=offsets,
        views=views,
        n_raw_events=n_raw,
        sensor_size=task.stage.out_sensor_size,
        seconds=end - t_start,
        timings={k: tm[k] for k in ("read", "slice", "stage", "views", "write_parquet")},
        parquet_file=parquet_file,
        arena=arena,
    )


def warm_up(plan: TaskPlan | Profile) -> float:
    """Compile (or load from the Numba cache) every kernel a build task
    (:func:`process_recording`) runs for the plan (or a profile's plan), with a task's
    argument types; returns seconds.

    Only those: the stage and :func:`view_frames` on structured arrays would load other
    specialisations (strided fields) that no task uses, ~25 ms each from the cache.
    """
    from eventpipe.events import make_events
    from eventpipe.io.aedat2 import RECORD_DTYPE
    from eventpipe.kernels.aedat import decode_aedat2_kernel

    task = plan if isinstance(plan, TaskPlan) else TaskPlan.from_profile(plan)
    t = time.perf_counter()
    ev = make_events([1, 2, 2, 3], [1, 1, 2, 2], [0, 1500, 2500, 40_000], [0, 1, 0, 1])
    ev["t"] += 123_456
    w, h, npol = task.stage.sensor_size  # a 1-D sensor (W, 1, 1) has y = p = 0 only
    ev["x"] %= w
    ev["y"] %= h
    ev["p"] %= npol
    # the argument types of a build task: read-only mapped records, buffer columns
    raw = np.zeros(2, dtype=RECORD_DTYPE).view(np.uint8)
    raw.flags.writeable = False
    dec = _decode_columns(2)
    decode_aedat2_kernel(raw, True, dec["x"], dec["y"], dec["t"], dec["p"])
    # events in the sensor's corner only: the fused stage's one pass declines (its decisions
    # depend on the sample's bounds), so the two-pass kernels load here too, not in a worker
    corner = make_events([0, 0], [0, 0], [123_456, 123_457], [0, 0])
    local = TaskPlan(task.dataset, task.orientation, task.stage, task.views)  # process memory
    stage_and_views([_columns(e) for e in (ev, corner)], local)
    return time.perf_counter() - t


__all__ = [
    "N_BINS_RULE",
    "VIEW_KEYS",
    "VIEW_N_BINS_RULES",
    "TaskPlan",
    "ViewPlan",
    "process_recording",
    "stage_and_views",
    "stage_plan",
    "value_scale",
    "view_frames",
    "view_plans",
    "warm_up",
]
