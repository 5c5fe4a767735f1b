"""Time alignment and the published millisecond flooring.

Every function accepts either a structured event array (returns a copy with ``t`` replaced) or a
plain 1-D integer timestamp array (returns a new int64 array). Empty input gives empty output.

The published SL-Animals training code runs, per sample, on absolute timestamps::

    Downsample(time_factor=0.001)   # t_ms = trunc(t_us * 0.001)  (int64 field, float product)
    TimeAlignment()                 # t_ms -= min(t_ms)
    ToFrame(time_window=dt_ms)

``trunc(t * 0.001) == t // 1000`` for every ``0 <= t < 2**40`` (the double 0.001 is slightly above
1/1000 and the rounding error is far below 1/1000), so the first step is exact integer
flooring. Flooring happens **before** alignment, on the absolute clock:
``floor(t/1000) - floor(t0/1000)`` is not ``floor((t - t0)/1000)``. :func:`floor_ms_us`
reproduces it in microsecond units, also on re-zeroed timestamps when given the sample's absolute
start (``origin_us``); binning its output with ``dt_us = 1000 * dt_ms`` gives exactly the
published frames (tested against tonic).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from eventpipe.kernels.common import event_array
from eventpipe.runtime.jit import jit

#: time maps of :func:`map_time_kernel`
_SHIFT, _FLOOR_MS, _FLOOR_MS_US = 0, 1, 2


@jit
def map_time_kernel(x, y, t, p, mode, a, b, ox, oy, ot, op):
    """One pass: ``ot = f(t)`` and, when ``ox`` is non-empty, copy x, y, p too.

    ``mode`` 0: ``t - a``; 1: ``t // 1000``; 2: ``((t + a) // 1000) * 1000 - b`` (floor division).
    """
    copy_xyp = ox.shape[0] > 0
    for i in range(t.shape[0]):
        ti = t[i]
        if mode == 0:
            ot[i] = ti - a
        elif mode == 1:
            ot[i] = ti // 1000
        else:
            ot[i] = ((ti + a) // 1000) * 1000 - b
        if copy_xyp:
            ox[i] = x[i]
            oy[i] = y[i]
            op[i] = p[i]


def _map_time(data, mode: int, a: int = 0, b: int = 0):
    """Apply a time map to a structured event array (new events) or a 1-D time array (new int64)."""
    arr = np.asarray(data)
    if arr.dtype.names is not None:
        ev = event_array(arr)
        out = np.empty_like(ev)
        if len(ev):
            map_time_kernel(
                ev["x"],
                ev["y"],
                ev["t"],
                ev["p"],
                mode,
                a,
                b,
                out["x"],
                out["y"],
                out["t"],
                out["p"],
            )
        return out
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D timestamp array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"timestamps must be integers (microseconds), got dtype {arr.dtype}")
    t = arr.astype(np.int64, copy=False)
    out = np.empty(t.shape[0], dtype=np.int64)
    if t.shape[0]:
        e = np.empty(0, dtype=np.int16)
        map_time_kernel(e, e, t, e.astype(np.uint8), mode, a, b, e, e, out, e.astype(np.uint8))
    return out


def time_align(data, origin: Literal["min", "first"] = "min"):
    """Shift timestamps so that the sample starts at 0 (tonic ``TimeAlignment``).

    Args:
        data: structured events (``EVENT_DTYPE``-like) or a 1-D int timestamp array, in us.
        origin: ``"min"`` subtracts ``min(t)`` exactly like tonic; ``"first"`` subtracts ``t[0]``.
            Both agree for time-sorted input (the normal case).

    Returns:
        A copy of the events (or a new int64 array) with ``t - origin``, in us.

    >>> time_align(np.array([5, 7, 9])).tolist()
    [0, 2, 4]
    """
    if origin not in ("min", "first"):
        raise ValueError(f"origin must be 'min' or 'first', got {origin!r}")
    arr = np.asarray(data)
    if arr.dtype.names is not None:
        arr = event_array(arr)
    t = arr["t"] if arr.dtype.names is not None else arr
    t0 = 0
    if t.size:
        t0 = int(t.min()) if origin == "min" else int(t[0])
    return _map_time(arr, _SHIFT, t0)


def floor_to_ms(data):
    """Timestamps in whole milliseconds, ``t_ms = t_us // 1000`` (the published unit change).

    Equals tonic ``Downsample(time_factor=0.001)`` for ``0 <= t < 2**40`` (tonic truncates the
    float product, which is the same as flooring there). The returned ``t`` is in **ms**: bin it
    with a window in ms, or use :func:`floor_ms_us` to stay in microseconds.

    >>> floor_to_ms(np.array([999, 1000, 2999])).tolist()
    [0, 1, 2]
    """
    return _map_time(data, _FLOOR_MS)


def floor_ms_us(data, origin_us: int = 0):
    """Floor timestamps to whole milliseconds of the absolute clock, keeping microsecond units.

    For absolute timestamps (``origin_us=0``) this is ``(t // 1000) * 1000``. For timestamps that
    were re-zeroed at the sample's first event (``t = t_abs - origin_us``), pass that absolute
    start: the result is ``(t_abs // 1000) * 1000 - (origin_us // 1000) * 1000``, i.e. 1000 x what
    the published ``Downsample(time_factor=0.001)`` then ``TimeAlignment()`` produce. Binning it
    with ``dt_us = 1000 * dt_ms`` reproduces the published ``ToFrame(time_window=dt_ms)`` frames.

    Args:
        data: structured events or a 1-D int timestamp array, in us.
        origin_us: absolute time (us) the timestamps are relative to; 0 for absolute input.

    >>> floor_ms_us(np.array([0, 300, 1100]), origin_us=1700).tolist()
    [0, 1000, 1000]
    """
    origin = int(origin_us)
    return _map_time(data, _FLOOR_MS_US, origin, (origin // 1000) * 1000)
