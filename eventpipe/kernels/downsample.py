"""Spatial (and temporal) downsampling with tonic ``Downsample`` semantics.

tonic multiplies the integer fields by float64 factors and stores the product back into the
integer field, i.e. truncates toward zero: ``x' = int(x * fx)``, ``y' = int(y * fy)``,
``t' = int(t * time_factor)`` (``tonic/transforms.py`` ``Downsample`` and
``tonic/functional/time_skew.py``). No event is dropped or merged; the product is computed in
float64 exactly as numpy does, so results match tonic bit for bit, including products such as
``10 * 0.3`` that land a hair off an integer. A factor of exactly 1 leaves the field untouched.

tonic does not return a sensor size; ours is ``(int((W - 1) * fx) + 1, int((H - 1) * fy) + 1, P)``,
the smallest sensor holding every mapped coordinate (``(128, 128, 2)`` at 0.5 -> ``(64, 64, 2)``).
"""

from __future__ import annotations

import numpy as np

from eventpipe.kernels.common import check_bounds, event_array, sensor_dims, spatial_factors
from eventpipe.runtime.jit import jit


@jit
def downsample_kernel(x, y, t, p, fx, fy, tf, ox, oy, ot, op):
    """One pass: ``o = int(field * factor)`` (truncation, float64 product); factor 1 copies."""
    for i in range(t.shape[0]):
        ox[i] = x[i] if fx == 1.0 else np.int16(np.int64(np.float64(x[i]) * fx))
        oy[i] = y[i] if fy == 1.0 else np.int16(np.int64(np.float64(y[i]) * fy))
        ot[i] = t[i] if tf == 1.0 else np.int64(np.float64(t[i]) * tf)
        op[i] = p[i]


def downsampled_size(sensor_size, spatial_factor) -> tuple[int, int, int]:
    """The ``(W', H', P)`` holding every coordinate mapped by ``spatial_factor``."""
    w, h, p = sensor_dims(sensor_size)
    fx, fy = spatial_factors(spatial_factor)
    return int((w - 1) * fx) + 1, int((h - 1) * fy) + 1, p


def downsample(
    events: np.ndarray,
    sensor_size,
    spatial_factor: float | tuple[float, float] = 1.0,
    time_factor: float = 1.0,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Scale pixel coordinates (and optionally timestamps) with tonic ``Downsample`` truncation.

    Args:
        events: structured events (``EVENT_DTYPE``), t in us, inside ``sensor_size``.
        sensor_size: ``(W, H, P)`` of the input.
        spatial_factor: ``f`` or ``(fx, fy)`` in (0, 1]; ``x' = trunc(x * fx)``.
        time_factor: ``t' = trunc(t * time_factor)`` (positive; 1 keeps t; 0.001 gives ms).

    Returns:
        ``(events', (W', H', P))``: a new event array (same order and length) and its sensor size.

    >>> from eventpipe.events import make_events
    >>> ev, size = downsample(make_events([0, 1, 127], [5, 64, 127], [7, 8, 9], [0, 1, 1]),
    ...                       (128, 128, 2), 0.5)
    >>> ev["x"].tolist(), ev["y"].tolist(), size
    ([0, 0, 63], [2, 32, 63], (64, 64, 2))
    """
    events = event_array(events)
    new_size = downsampled_size(sensor_size, spatial_factor)
    fx, fy = spatial_factors(spatial_factor)
    tf = float(time_factor)
    if not (tf > 0.0 and np.isfinite(tf)):
        raise ValueError(f"time_factor must be positive and finite, got {time_factor!r}")
    out = np.empty_like(events)
    if len(events) == 0:
        return out, new_size
    check_bounds(events, sensor_size, check_p=False)
    downsample_kernel(
        events["x"],
        events["y"],
        events["t"],
        events["p"],
        fx,
        fy,
        tf,
        out["x"],
        out["y"],
        out["t"],
        out["p"],
    )
    return out, new_size
