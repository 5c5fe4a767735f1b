"""Background-activity filter with tonic ``Denoise(filter_time)`` semantics, in one O(n) pass.

An event at pixel ``(x, y)`` and time ``t`` is kept when one of its 4 neighbours
``(x±1, y), (x, y±1)`` fired *earlier in the array* at ``t_nb`` with ``t - t_nb < filter_time``
(strict). Exactly as tonic (``tonic/functional/denoise.py``):

* every pixel's memory starts at time 0 (tonic initialises ``last + filter_time`` to
  ``filter_time``), so during the first ``filter_time`` us of the clock any event with an in-bounds
  neighbour that never fired is kept;
* the memory is updated by every event, kept or dropped; polarity is ignored; the pixel itself is
  not its own neighbour;
* tonic takes the neighbourhood bounds from the sample (``width = max(x) + 1``,
  ``height = max(y) + 1``), not from the sensor; ``bounds="events"`` (default) does the same,
  ``bounds="sensor"`` uses ``sensor_size`` (differs only for events on the sample's last row or
  column within the first ``filter_time`` us);
* order of equal timestamps matters (a neighbour counts only if it comes earlier in the array).

A fractional ``filter_time`` behaves as ``ceil(filter_time)`` on integer timestamps, as in tonic.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from eventpipe.kernels.common import check_bounds, compact, event_array, filter_time_ticks
from eventpipe.runtime.jit import jit


@jit
def denoise_mask_kernel(x, y, t, width, height, filter_time, keep):
    """Fill ``keep[i]`` per event; ``x, y, t`` 1-D, ``filter_time`` int us; memory W*H int64."""
    last = np.zeros(width * height, dtype=np.int64)
    for i in range(t.shape[0]):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        ti = t[i]
        k = yi * width + xi
        last[k] = ti
        ok = False
        if xi > 0 and ti - last[k - 1] < filter_time:
            ok = True
        elif xi < width - 1 and ti - last[k + 1] < filter_time:
            ok = True
        elif yi > 0 and ti - last[k - width] < filter_time:
            ok = True
        elif yi < height - 1 and ti - last[k + width] < filter_time:
            ok = True
        keep[i] = ok


def denoise_mask(x, y, t, width: int, height: int, filter_time_us) -> np.ndarray:
    """Boolean keep-mask of the tonic ``Denoise`` filter on 1-D field arrays.

    Args:
        x, y: int pixel coordinates, ``0 <= x < width``, ``0 <= y < height`` (not re-checked).
        t: int64 timestamps in us, in the order the events are processed.
        width, height: neighbourhood bounds (tonic: ``max(x) + 1``, ``max(y) + 1``).
        filter_time_us: the temporal neighbourhood in us.

    Returns:
        ``bool[n]``, True for events to keep.
    """
    t = np.asarray(t)
    keep = np.zeros(t.shape[0], dtype=np.bool_)
    if t.shape[0] == 0:
        return keep
    denoise_mask_kernel(
        np.asarray(x),
        np.asarray(y),
        t,
        int(width),
        int(height),
        filter_time_ticks(filter_time_us),
        keep,
    )
    return keep


def denoise(
    events: np.ndarray,
    sensor_size,
    filter_time_us,
    bounds: Literal["events", "sensor"] = "events",
) -> np.ndarray:
    """Drop events with no 4-neighbour activity in the last ``filter_time_us`` (tonic ``Denoise``).

    Args:
        events: structured events (``EVENT_DTYPE``), t in us.
        sensor_size: ``(W, H, P)``; coordinates are checked against it.
        filter_time_us: temporal neighbourhood in us (tonic ``filter_time``).
        bounds: ``"events"`` (tonic) or ``"sensor"`` neighbourhood bounds, see the module doc.

    Returns:
        The kept events (a new array, input order), a subset of ``events``.

    >>> from eventpipe.events import make_events
    >>> ev = make_events([0, 1, 5], [0, 0, 5], [20000, 25000, 26000], [0, 1, 0])
    >>> denoise(ev, (8, 8, 2), 10000)["t"].tolist()
    [25000]
    """
    events = event_array(events)
    if len(events) == 0:
        return events.copy()
    max_x, max_y = check_bounds(events, sensor_size, check_p=False)
    if bounds == "events":
        width, height = max_x + 1, max_y + 1
    elif bounds == "sensor":
        width, height = int(sensor_size[0]), int(sensor_size[1])
    else:
        raise ValueError(f"bounds must be 'events' or 'sensor', got {bounds!r}")
    keep = denoise_mask(events["x"], events["y"], events["t"], width, height, filter_time_us)
    return compact(events, keep)
