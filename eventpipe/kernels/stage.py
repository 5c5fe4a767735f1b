"""The events stage: one :class:`StagePlan` (decided once per build) and its wrappers.

:func:`stage_events` and :func:`stage_into` apply a :class:`StagePlan` to one sample. Without a
refractory filter or a downsample (every shipped profile) the stage's time alignment, denoise
and ms flooring run fused, in at most two passes: the fused path computes exactly what these
kernels do one after the other (each a pass over the events, plus a compaction and two
copies)::

    time_align(events)                          # t -= min(t)                  tonic TimeAlignment
    denoise(events, sensor_size, filter_time)   # 4-neighbour filter           tonic Denoise
    floor_ms_us(events, origin_us=min(t))       # the published ms clock
    t -= t[0]                                   # the first kept event at t = 0

Exactly, that takes two passes. Pass 1 (:func:`stage_scan_kernel`) finds ``min(t)``, the largest
x and y (tonic's ``Denoise`` takes its neighbourhood bounds from the sample) and the first event
off the sensor. Pass 2 (:func:`stage_kernel`) runs the denoise filter on the aligned times and
writes each kept event, with its final timestamp, straight into separate output columns (e.g. a
recording's output buffer), so nothing is compacted or copied afterwards.

The fused path first tries one pass (:func:`stage_single_kernel`) that assumes what is true
for almost every sample: ``min(t) = t[0]`` (time-sorted input) and that the sample's bounds
change no decision. The bounds matter only through the pixels right of the sample's largest x
and below its largest y: no event fires there, so with the sensor's bounds their memory stays 0
and counts as recent while the aligned time is below ``filter_time``; with the sample's bounds
they do not exist. The one pass records every event whose decision could hinge on such a pixel
(aligned time below ``filter_time``, neither the left nor the upper neighbour recent) and, when
one of them sits on the largest x or y (below the sensor's edge), or ``t`` is not sorted, the
two passes run instead. The output is the same either way.

Times are in microseconds. With ``floor_ms`` the output time of a kept event at absolute time
``t`` is ``(t // 1000) * 1000 - (t_k // 1000) * 1000`` where ``t_k`` is the first kept event
(see :mod:`eventpipe.kernels.align` for why flooring happens on the absolute clock); without it,
``t - t_k``. Time alignment changes what denoise sees (its pixel memory starts at time 0), so
``StagePlan(time_align=False)`` denoises the absolute times, as the unfused chain does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from eventpipe.events import EVENT_DTYPE, as_events
from eventpipe.kernels.align import floor_ms_us, time_align
from eventpipe.kernels.common import event_array, filter_time_ticks, off_sensor_error, sensor_dims
from eventpipe.kernels.denoise import denoise
from eventpipe.kernels.downsample import downsample, downsampled_size
from eventpipe.kernels.refractory import refractory
from eventpipe.runtime.jit import jit

#: ``StagePlan.stabilize`` -> :func:`eventpipe.kernels.stabilize.stabilize_saccades` variant
STABILIZE_VARIANTS = {"nmnist_saccades": "published", "nmnist_saccades_tonic": "tonic"}
#: the output columns ``(x, y, t, p)`` of :func:`stage_into`
OUT_DTYPES = (np.dtype(np.int16), np.dtype(np.int16), np.dtype(np.int64), np.dtype(np.uint8))


@dataclass(frozen=True)
class StagePlan:
    """The events stage, decided once (from a build profile's ``events`` section and the
    dataset's sensor size) and handed as one value to :func:`stage_into` / :func:`stage_events`.

    Steps, in this order (all times in microseconds)::

        0. stabilize    nmnist_saccades[_tonic]: undo N-MNIST's saccades   kernels.stabilize
        0a. clip        dvsplane_activity: the high-activity segment       kernels.clip
        0b. window      keep t - min(t) < window_us                  first-spike coding's 1.2 s
        1. time_align   t -= min(t)                                       tonic TimeAlignment
        2. denoise      keep if a 4-neighbour fired < denoise_us before   tonic Denoise
        3. refractory   drop if the pixel fired < refractory_us before    tonic RefractoryPeriod
        4. downsample   x = int(x * f), y = int(y * f)                    tonic Downsample
        5. floor_ms     t = floor(t_abs / 1000) * 1000 - floor(t0_abs / 1000) * 1000
                        (the published code's ms clock, see eventpipe.kernels.align.floor_ms_us)
        6. re-zero      t -= t[0] (the first *kept* event is at t = 0); off with rezero=False

    Attributes:
        sensor_size: ``(W, H, P)`` of the input events.
        time_align: step 1.
        denoise_us: step 2's ``filter_time`` (us); None = no denoise.
        refractory_us: step 3's period (us); None = no refractory filter.
        spatial_factor: step 4's factor in ``(0, 1]``; 1.0 = no downsample.
        floor_ms: step 5.
        stabilize: step 0, ``"none"``, ``"nmnist_saccades"`` or ``"nmnist_saccades_tonic"``
            (:data:`STABILIZE_VARIANTS`; on the input's clock).
        clip: step 0a, ``"none"`` or ``"dvsplane_activity"`` (first-spike coding's DVSPlane
            trim, :func:`eventpipe.kernels.clip.activity_clip_bounds`).
        window_us: step 0b; None keeps every event.
        rezero: step 6.

    Only the wrappers of this module read the fields: the Numba kernels get plain scalars.

    >>> plan = StagePlan((128, 128, 2), denoise_us=10_000, floor_ms=True)
    >>> plan.fused, plan.out_sensor_size
    (True, (128, 128, 2))
    >>> StagePlan((128, 128, 2), spatial_factor=0.25).out_sensor_size
    (32, 32, 2)
    """

    sensor_size: tuple[int, int, int]
    time_align: bool = True
    denoise_us: int | None = None
    refractory_us: int | None = None
    spatial_factor: float = 1.0
    floor_ms: bool = False
    stabilize: str = "none"
    window_us: int | None = None
    rezero: bool = True
    clip: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sensor_size", sensor_dims(self.sensor_size))

    @property
    def fused(self) -> bool:
        """Whether the fused kernels run the stage: no refractory filter, no downsample, and
        re-zeroed or not time-aligned (the fused kernels align through the re-zeroing). The
        stabilisation and the window run before either path."""
        return (
            self.refractory_us is None
            and self.spatial_factor == 1.0
            and (self.rezero or not self.time_align)
        )

    @property
    def identity(self) -> bool:
        """Whether the stage returns its input unchanged (every step off, no re-zeroing: SHD's
        file clock), so a caller may copy the events instead of running it."""
        return (
            self.stabilize == "none"
            and self.clip == "none"
            and self.window_us is None
            and not self.time_align
            and self.denoise_us is None
            and self.refractory_us is None
            and self.spatial_factor == 1.0
            and not self.floor_ms
            and not self.rezero
        )

    @property
    def out_sensor_size(self) -> tuple[int, int, int]:
        """``(W, H, P)`` of the stage output (after the downsample)."""
        if self.spatial_factor == 1.0:
            return self.sensor_size
        return downsampled_size(self.sensor_size, self.spatial_factor)


@jit
def stage_scan_kernel(x, y, t, width, height):
    """``(i_off, max_x, max_y, t_min)`` of 1-D ``x, y, t`` (t int64 us).

    ``i_off`` is the first event with x or y outside ``[0, width) x [0, height)`` (-1 if none);
    ``max_x`` and ``max_y`` are taken over the events before it, ``t_min`` over all events.
    """
    n = t.shape[0]
    mx = np.int64(-1)
    my = np.int64(-1)
    lo = np.int64(0)
    tmin = t[0]
    for i in range(n):  # branch-free: extremes only
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        mx = max(mx, xi)
        my = max(my, yi)
        lo = min(lo, min(xi, yi))
        tmin = min(tmin, t[i])
    if lo >= 0 and mx < width and my < height:
        return np.int64(-1), mx, my, tmin
    mx = np.int64(-1)  # something is off the sensor: find the first such event
    my = np.int64(-1)
    for i in range(n):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if xi < 0 or xi >= width or yi < 0 or yi >= height:
            return np.int64(i), mx, my, tmin
        mx = max(mx, xi)
        my = max(my, yi)
    return np.int64(-1), mx, my, tmin


#: memory of the pixels around the sample's bounds: never counts as a recent neighbour
_NEVER = -(1 << 62)


@jit
def _pixel_memory(width, height, denoise_on):
    """Denoise pixel memory ``[(height + 2) * (width + 2)]`` int64, row-major with a one-pixel
    border: 0 inside (tonic's initial memory: "recent" while the aligned time is below
    ``filter_time``), ``_NEVER`` on the border (so the four neighbour tests need no bounds
    checks). Empty without denoise."""
    w2 = width + 2
    last = np.zeros((height + 2) * w2 if denoise_on else 0, dtype=np.int64)
    if denoise_on:
        for c in range(w2):
            last[c] = _NEVER
            last[(height + 1) * w2 + c] = _NEVER
        for r in range(height + 2):
            last[r * w2] = _NEVER
            last[r * w2 + width + 1] = _NEVER
    return last


@jit(inline="always")
def _emit(j, first, ok, xi, yi, ta, pi, floor_on, rezero, ox, oy, ot, op):  # pragma: no cover
    """Write one event at output position ``j`` of the stage kernels; returns ``(j, first)``.

    The event is always written; ``j`` advances only when it is kept (``ok``), so there is no
    unpredictable branch per event. Its time is ``v - first`` with ``v = floor_ms(ta)`` (or
    ``ta``) and ``first`` the ``v`` of the first kept event (set when ``j == 0``), or 0
    without ``rezero``.
    """
    v = (ta // 1000) * 1000 if floor_on else ta
    if j == 0 and rezero:
        first = v
    ox[j] = xi
    oy[j] = yi
    ot[j] = v - first
    op[j] = pi
    return j + np.int64(ok), first


@jit
def stage_kernel(
    x, y, t, p, shift, denoise_on, width, height, filter_time, floor_on, ox, oy, ot, op,
    rezero=True,
):  # fmt: skip
    """Denoise (optional) and write the kept events with their stage output time.

    Args:
        x, y, t, p: 1-D input fields (t int64 us, absolute), x < width, y < height.
        shift: subtracted from t before denoising (``min(t)`` for time alignment, else 0).
        denoise_on: apply the tonic ``Denoise`` filter (memory ``width * height``, initialised
            to 0; keep if a 4-neighbour fired earlier with ``t - t_nb < filter_time``).
        floor_on: output ``(t // 1000) * 1000 - (t_k // 1000) * 1000`` (t_k: first kept event);
            else ``t - t_k``.
        ox, oy, ot, op: output columns with room for every event (int16, int16, int64, uint8).
        rezero: subtract the first kept event's output time (else the times stay on the
            input's clock, floored with ``floor_on``).

    Returns:
        The number of events written.

    The pixel memory is ``(height + 2) x (width + 2)`` with a border that never fired, so the
    four neighbour tests need no bounds checks; every event is written at the next output
    position, which advances only when it is kept (no unpredictable branch per event).
    """
    n = t.shape[0]
    w2 = width + 2
    last = _pixel_memory(width, height, denoise_on)
    j = 0
    first = np.int64(0)
    for i in range(n):
        ta = t[i]
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        ok = True
        if denoise_on:
            ti = ta - shift
            k = (yi + 1) * w2 + xi + 1
            last[k] = ti
            ok = (
                (ti - last[k - 1] < filter_time)
                | (ti - last[k + 1] < filter_time)
                | (ti - last[k - w2] < filter_time)
                | (ti - last[k + w2] < filter_time)
            )
        j, first = _emit(j, first, ok, xi, yi, ta, p[i], floor_on, rezero, ox, oy, ot, op)
    return j


@jit
def stage_single_kernel(
    x, y, t, p, time_align, denoise_on, width, height, filter_time, floor_on, ox, oy, ot, op,
    rezero=True,
):  # fmt: skip
    """:func:`stage_kernel` in one pass, without the scan: optimistic, then verified.

    Args:
        x, y, t, p: 1-D input fields (t int64 us, absolute), ``n >= 1``.
        time_align: denoise ``t - t[0]`` (``t[0]`` taken for ``min(t)``), else ``t``.
        denoise_on, filter_time, floor_on, ox, oy, ot, op, rezero: as for
            :func:`stage_kernel`.
        width, height: the sensor; with denoise the pixel memory spans it (instead of the
            sample's bounds) and every event is checked against it.

    Returns:
        ``(n_written, status, index)``. ``status`` 0: done, the output equals
        :func:`stage_kernel`'s with the sample's bounds and ``shift = min(t)``; 1: not usable
        (``t`` is not time-sorted and denoise is on, or an event's decision may depend on the
        sample's bounds, see the module doc): run the scan and :func:`stage_kernel`; 2: event
        ``index`` is off the sensor (denoise only).
    """
    n = t.shape[0]
    shift = t[0] if time_align else np.int64(0)
    w2 = width + 2
    last = _pixel_memory(width, height, denoise_on)
    j = 0
    first = np.int64(0)
    tmin = t[0]
    mx = np.int64(-1)  # largest x and y of the sample
    my = np.int64(-1)
    rx = np.int64(-1)  # largest x and y of the events whose decision may hinge on the bounds
    ry = np.int64(-1)
    for i in range(n):
        ta = t[i]
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        ok = True
        if denoise_on:
            if xi < 0 or xi >= width or yi < 0 or yi >= height:
                return j, 2, i
            tmin = min(tmin, ta)
            mx = max(mx, xi)
            my = max(my, yi)
            ti = ta - shift
            k = (yi + 1) * w2 + xi + 1
            last[k] = ti
            near = (ti - last[k - 1] < filter_time) | (ti - last[k - w2] < filter_time)
            ok = near | (ti - last[k + 1] < filter_time) | (ti - last[k + w2] < filter_time)
            if ti < filter_time and not near:
                rx = max(rx, xi)
                ry = max(ry, yi)
        j, first = _emit(j, first, ok, xi, yi, ta, p[i], floor_on, rezero, ox, oy, ot, op)
    if denoise_on:
        if time_align and tmin < t[0]:
            return j, 1, -1
        if (rx >= mx and mx + 1 < width) or (ry >= my and my + 1 < height):
            return j, 1, -1
    return j, 0, -1


def stage_events(events: np.ndarray, plan: StagePlan) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Apply the events stage to one sample (see :class:`StagePlan` for the steps).

    Args:
        events: ``[n]`` EVENT_DTYPE of one sample, absolute timestamps (us), time-sorted, or a
            mapping of its 1-D columns ``x, y, t, p``.
        plan: the stage.

    Returns:
        ``(events', sensor_size')``: a new EVENT_DTYPE array with t re-zeroed at its first kept
        event (us; on the stage clock without ``rezero``), and
        :attr:`StagePlan.out_sensor_size`.
    """
    ev = as_events(_pre_stage(events, plan))
    if plan.fused:
        out = np.empty(len(ev), dtype=EVENT_DTYPE)
        n = _fused_into(ev, plan, (out["x"], out["y"], out["t"], out["p"]))
        ev = out[:n] if 4 * n >= 3 * len(out) else out[:n].copy()
        return ev, plan.sensor_size
    size = plan.sensor_size
    origin = int(ev["t"].min()) if len(ev) else 0
    if plan.time_align:
        ev = time_align(ev)
    if plan.denoise_us is not None:
        ev = denoise(ev, size, plan.denoise_us)
    if plan.refractory_us is not None:
        ev = refractory(ev, size, plan.refractory_us)
    if plan.spatial_factor != 1.0:
        ev, size = downsample(ev, size, plan.spatial_factor)
    if plan.floor_ms:
        ev = floor_ms_us(ev, origin_us=origin if plan.time_align else 0)
    if np.may_share_memory(ev, events):
        ev = ev.copy()  # every step disabled: do not modify the caller's array
    if plan.rezero and len(ev) and ev["t"][0] != 0:
        ev["t"] -= ev["t"][0]
    return ev, tuple(int(s) for s in size)  # type: ignore[return-value]


def stage_into(
    events: np.ndarray | Mapping[str, np.ndarray],
    plan: StagePlan,
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> int:
    """:func:`stage_events` writing its output into columns; returns the number of events.

    With :attr:`StagePlan.fused` the fused kernels write straight into ``out`` (see the module
    doc); otherwise the kernels run one after the other and the result is copied into ``out``.

    Args:
        events: ``[n]`` EVENT_DTYPE of one sample, absolute timestamps (us), or a mapping of its
            1-D columns ``x, y, t, p``.
        plan: the stage.
        out: ``(x int16, y int16, t int64, p uint8)`` 1-D writable arrays with room for ``n``
            events (e.g. a recording's output buffer); the kept events are written to their
            first elements, t re-zeroed at the first kept event (us), in
            :attr:`StagePlan.out_sensor_size`.

    Raises:
        FormatError: with denoise, an event off the sensor (as :func:`eventpipe.kernels.denoise`).
        ValueError: ``out`` has the wrong dtypes or too little room (fused stage).
    """
    if plan.fused and _stabilize_only(plan):
        return _stabilize_into(events, plan, out)
    if plan.fused:
        return _fused_into(_pre_stage(events, plan), plan, out)
    ev, _ = stage_events(events, plan)
    for col, k in zip(out, ("x", "y", "t", "p"), strict=True):
        col[: len(ev)] = ev[k]
    return len(ev)


def _stabilize_only(plan: StagePlan) -> bool:
    """Whether the stage is the stabilisation alone (N-MNIST for TSSL-BP: the file clock,
    nothing aligned, filtered or re-zeroed)."""
    return (
        plan.stabilize in STABILIZE_VARIANTS
        and plan.clip == "none"
        and plan.window_us is None
        and not plan.time_align
        and plan.denoise_us is None
        and not plan.floor_ms
        and not plan.rezero
    )


def _stabilize_into(events, plan: StagePlan, out) -> int:
    """:func:`stage_into` for a stabilisation-only plan: the kernel writes the kept events
    straight into ``out`` (the general path stabilises into new arrays, then copies them)."""
    from eventpipe.kernels.stabilize import VARIANTS, stabilize_kernel

    if not isinstance(events, Mapping):
        events = event_array(events)
    _check_out(out, len(events["t"]))
    w, h, _ = plan.sensor_size
    tonic = VARIANTS[STABILIZE_VARIANTS[plan.stabilize]]
    x, y, t, p = events["x"], events["y"], events["t"], events["p"]
    return int(stabilize_kernel(x, y, t, p, w, h, tonic, *out))


def _check_out(out, n: int) -> None:
    """Raise ValueError unless ``out`` is four writable 1-D columns of OUT_DTYPES with room
    for ``n`` events."""
    for a, d in zip(out, OUT_DTYPES, strict=True):
        if a.dtype != d or a.ndim != 1 or len(a) < n or not a.flags.writeable:
            raise ValueError("out must be writable 1-D (int16, int16, int64, uint8) arrays of >= n")


def _pre_stage(events, plan: StagePlan):
    """Steps 0, 0a and 0b (stabilisation, clip, window) of one sample; the input when all
    are off."""
    if plan.stabilize in STABILIZE_VARIANTS:
        from eventpipe.kernels.stabilize import stabilize_saccades

        variant = STABILIZE_VARIANTS[plan.stabilize]
        events = stabilize_saccades(events, plan.sensor_size, variant)
    elif plan.stabilize != "none":
        expected = ", ".join(STABILIZE_VARIANTS)
        raise ValueError(f"unknown stabilize {plan.stabilize!r}; expected none or {expected}")
    events = _clip(events, plan.clip)
    if plan.window_us is None or len(events["t"]) == 0:
        return events
    t = events["t"]
    keep = t < t.min() + plan.window_us
    if keep.all():
        return events
    if not isinstance(events, Mapping):
        return events[keep]
    return {k: np.ascontiguousarray(events[k][keep]) for k in ("x", "y", "t", "p")}


def _clip(events, clip: str):
    """Step 0a: the events ``[start, stop)`` of :func:`~eventpipe.kernels.clip.
    activity_clip_bounds` (a view, no copy); the input for ``clip="none"``."""
    if clip == "none":
        return events
    if clip != "dvsplane_activity":
        raise ValueError(f"unknown clip {clip!r}; expected none or dvsplane_activity")
    from eventpipe.kernels.clip import activity_clip_bounds

    start, stop = activity_clip_bounds(events["t"])
    if (start, stop) == (0, len(events["t"])):
        return events
    if not isinstance(events, Mapping):
        return events[start:stop]
    return {k: events[k][start:stop] for k in ("x", "y", "t", "p")}


def _fused_into(events, plan: StagePlan, out) -> int:
    """The fused stage (align, denoise, floor, re-zero) into ``out``: the one place a
    :class:`StagePlan` becomes the kernels' scalar arguments."""
    if not isinstance(events, Mapping):
        events = event_array(events)
    n = len(events["t"])
    ox, oy, ot, op = out
    _check_out(out, n)
    if n == 0:
        return 0
    w, h, npol = plan.sensor_size
    x, y, t, p = events["x"], events["y"], events["t"], events["p"]
    align, floor = plan.time_align, plan.floor_ms
    denoise_on = plan.denoise_us is not None
    ft = filter_time_ticks(plan.denoise_us) if denoise_on else 0
    j, status, bad = stage_single_kernel(
        x, y, t, p, align, denoise_on, w, h, ft, floor, ox, oy, ot, op, plan.rezero
    )
    if status == 0:
        return int(j)
    if status == 2:
        raise off_sensor_error(events, int(bad), (w, h, npol))
    bad, mx, my, tmin = stage_scan_kernel(x, y, t, w, h)
    shift = int(tmin) if align else 0
    w2, h2 = int(mx) + 1, int(my) + 1  # the sample's bounds
    j = stage_kernel(x, y, t, p, shift, denoise_on, w2, h2, ft, floor, ox, oy, ot, op, plan.rezero)
    return int(j)


__all__ = [
    "OUT_DTYPES",
    "StagePlan",
    "stage_events",
    "stage_into",
    "stage_kernel",
    "stage_scan_kernel",
    "stage_single_kernel",
]
