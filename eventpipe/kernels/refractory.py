"""Per-pixel refractory period with tonic ``RefractoryPeriod(delta)`` semantics, one O(n) pass.

Exactly as tonic (``tonic/functional/refractory_period.py``): an event at pixel ``(x, y)`` is kept
when ``t - t_prev > refractory_period`` (strict), where ``t_prev`` is the time of the previous
event at the same pixel, **kept or dropped** (every event restarts the dead time), polarity
ignored. Each pixel's memory starts at ``-refractory_period``, so a pixel's first event is kept iff
``t > 0``: after :func:`~eventpipe.kernels.align.time_align` the sample's first event (t = 0) is
always dropped. With ``refractory_period = 0`` only repeated timestamps at a pixel are dropped.

A fractional period behaves as ``floor(period)`` on integer timestamps, as in tonic.
"""

from __future__ import annotations

import math

import numpy as np

from eventpipe.kernels.common import check_bounds, compact, event_array, sensor_dims
from eventpipe.runtime.jit import jit


@jit
def refractory_mask_kernel(x, y, t, width, height, period, keep):
    """Fill ``keep[i]``; per-pixel memory of the last timestamp starts at ``-period``."""
    last = np.full(width * height, -period, dtype=np.int64)
    for i in range(t.shape[0]):
        k = np.int64(y[i]) * width + np.int64(x[i])
        ti = t[i]
        keep[i] = ti - last[k] > period
        last[k] = ti


def _period(refractory_period_us) -> int:
    rp = float(refractory_period_us)
    if not math.isfinite(rp):
        raise ValueError(f"refractory_period_us must be finite, got {refractory_period_us!r}")
    return math.floor(rp)


def refractory_mask(x, y, t, width: int, height: int, refractory_period_us) -> np.ndarray:
    """Boolean keep-mask of tonic ``RefractoryPeriod`` on 1-D field arrays.

    Args:
        x, y: int pixel coordinates inside ``width x height`` (not re-checked).
        t: int64 timestamps in us, in processing order.
        width, height: pixel grid of the per-pixel memory.
        refractory_period_us: dead time in us.

    Returns:
        ``bool[n]``, True for events to keep.
    """
    t = np.asarray(t)
    keep = np.zeros(t.shape[0], dtype=np.bool_)
    if t.shape[0] == 0:
        return keep
    refractory_mask_kernel(
        np.asarray(x),
        np.asarray(y),
        t,
        int(width),
        int(height),
        _period(refractory_period_us),
        keep,
    )
    return keep


def refractory(events: np.ndarray, sensor_size, refractory_period_us) -> np.ndarray:
    """Drop events closer than ``refractory_period_us`` to the previous event at their pixel.

    Args:
        events: structured events (``EVENT_DTYPE``), t in us.
        sensor_size: ``(W, H, P)``; coordinates are checked against it.
        refractory_period_us: dead time in us (tonic ``delta``; a fixed value, not a range).

    Returns:
        The kept events (new array, input order).

    >>> from eventpipe.events import make_events
    >>> ev = make_events([3, 3, 3, 3], [1, 1, 1, 1], [0, 10, 500, 1700], [1, 0, 1, 1])
    >>> refractory(ev, (8, 8, 2), 1000)["t"].tolist()
    [1700]
    """
    events = event_array(events)
    if len(events) == 0:
        return events.copy()
    check_bounds(events, sensor_size, check_p=False)
    w, h, _ = sensor_dims(sensor_size)
    keep = refractory_mask(events["x"], events["y"], events["t"], w, h, refractory_period_us)
    return compact(events, keep)
