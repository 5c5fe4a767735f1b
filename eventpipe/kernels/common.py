"""Checks and helpers shared by the kernel wrappers: event arrays, sensor sizes, coordinate
ranges, filter times, spatial factors, compaction.

The wrappers validate at the boundary so the Numba kernels can index without bounds checks.
Every kernel module takes its shared helpers from here (public names); a helper used by one
module only stays private to that module.
"""

from __future__ import annotations

import math

import numpy as np

from eventpipe.errors import FormatError
from eventpipe.events import as_events
from eventpipe.runtime.jit import jit


def event_array(events: np.ndarray, where: str = "events") -> np.ndarray:
    """Return ``events`` as a 1-D ``EVENT_DTYPE`` array (no copy if it already is one).

    Raises:
        FormatError: a field is missing or the array is not 1-D.
    """
    events = as_events(np.asarray(events), where=where)
    if events.ndim != 1:
        raise FormatError(f"{where}: expected a 1-D event array, got shape {events.shape}")
    return events


def sensor_dims(sensor_size) -> tuple[int, int, int]:
    """Validate a tonic-style ``(W, H, P)`` sensor size and return it as three positive ints."""
    try:
        w, h, p = (int(v) for v in sensor_size)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sensor_size must be (W, H, P), got {sensor_size!r}") from exc
    if w <= 0 or h <= 0 or p <= 0:
        raise ValueError(f"sensor_size must be positive (W, H, P), got {sensor_size!r}")
    return w, h, p


@jit
def scan_bounds(x, y, p, width, height, n_pol):
    """``(i, max_x, max_y)``: first event outside ``[0, W) x [0, H) x [0, P)`` (-1 if none) and
    the largest x and y seen before it."""
    mx = np.int64(-1)
    my = np.int64(-1)
    for i in range(x.shape[0]):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if xi < 0 or xi >= width or yi < 0 or yi >= height or p[i] >= n_pol:
            return i, mx, my
        if xi > mx:
            mx = xi
        if yi > my:
            my = yi
    return -1, mx, my


def off_sensor_error(events: np.ndarray, i: int, sensor_size, where: str = "events"):
    """The :class:`FormatError` for event ``i`` lying outside ``sensor_size``."""
    x, y, p = (int(events[k][i]) for k in ("x", "y", "p"))  # structured array or columns
    return FormatError(
        f"{where}: event {i} (x={x}, y={y}, p={p}) is outside "
        f"the sensor (W, H, P)={tuple(int(v) for v in sensor_size)}"
    )


def check_bounds(
    events: np.ndarray, sensor_size, where: str = "events", check_p: bool = True
) -> tuple[int, int]:
    """Raise :class:`FormatError` naming the first event whose x, y (or p) is off the sensor.

    Returns:
        ``(max_x, max_y)`` of the events (-1 when empty).
    """
    w, h, npol = sensor_dims(sensor_size)
    pmax = npol if check_p else 256
    i, mx, my = scan_bounds(events["x"], events["y"], events["p"], w, h, pmax)
    if i >= 0:
        raise off_sensor_error(events, i, (w, h, npol), where)
    return int(mx), int(my)


@jit
def compact_kernel(events, keep, out):
    """``out[:] = events[keep]`` for structured arrays (one pass; numpy's boolean take is ~2x
    slower on the packed 13-byte event dtype)."""
    j = 0
    for i in range(keep.shape[0]):
        if keep[i]:
            out[j] = events[i]
            j += 1


def compact(events: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The events where ``keep`` is True, in order, as a new array."""
    out = np.empty(int(np.count_nonzero(keep)), dtype=events.dtype)
    if len(out):
        compact_kernel(events, keep, out)
    return out


def filter_time_ticks(filter_time_us: float) -> int:
    """A tonic ``filter_time`` in us as the integer the kernels compare against.

    A fractional filter time behaves as ``ceil(filter_time)`` on integer timestamps (us), as in
    tonic's strict ``t - t_nb < filter_time``.

    Raises:
        ValueError: not finite.
    """
    ft = float(filter_time_us)
    if not math.isfinite(ft):
        raise ValueError(f"filter_time_us must be finite, got {filter_time_us!r}")
    return math.ceil(ft)


def spatial_factors(spatial_factor: float | tuple[float, float]) -> tuple[float, float]:
    """``(fx, fy)`` of a tonic ``Downsample`` spatial factor (one number or a pair), each in
    ``(0, 1]``.

    Raises:
        ValueError: not one number or a pair, or a factor outside ``(0, 1]``.
    """
    if isinstance(spatial_factor, tuple | list):
        if len(spatial_factor) != 2:
            raise ValueError(f"spatial_factor must be a number or (fx, fy), got {spatial_factor!r}")
        fx, fy = (float(f) for f in spatial_factor)
    else:
        fx = fy = float(spatial_factor)
    for f in (fx, fy):
        if not (0.0 < f <= 1.0):
            raise ValueError(f"spatial factors must be in (0, 1], got {spatial_factor!r}")
    return fx, fy


__all__ = [
    "check_bounds",
    "compact",
    "compact_kernel",
    "event_array",
    "filter_time_ticks",
    "off_sensor_error",
    "scan_bounds",
    "sensor_dims",
    "spatial_factors",
]
