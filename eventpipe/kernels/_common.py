"""Checks shared by the kernel wrappers: event arrays, sensor sizes, coordinate ranges.

The wrappers validate at the boundary so the Numba kernels can index without bounds checks.
"""

from __future__ import annotations

import numpy as np

from eventpipe.errors import FormatError
from eventpipe.events import as_events
from eventpipe.kernels._jit import jit


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
def first_out_of_bounds(x, y, p, width, height, n_pol):
    """Index of the first event outside ``[0, W) x [0, H) x [0, P)``, or -1 if all are inside."""
    for i in range(x.shape[0]):
        if x[i] < 0 or x[i] >= width or y[i] < 0 or y[i] >= height or p[i] >= n_pol:
            return i
    return -1


def check_bounds(events: np.ndarray, sensor_size, where: str = "events", check_p: bool = True):
    """Raise :class:`FormatError` naming the first event whose x, y (or p) is off the sensor."""
    w, h, npol = sensor_dims(sensor_size)
    pmax = npol if check_p else 256
    i = first_out_of_bounds(events["x"], events["y"], events["p"], w, h, pmax)
    if i >= 0:
        e = events[i]
        raise FormatError(
            f"{where}: event {i} (x={int(e['x'])}, y={int(e['y'])}, p={int(e['p'])}) is outside "
            f"the sensor (W, H, P)={(w, h, npol)}"
        )
