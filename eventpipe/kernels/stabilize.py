"""N-MNIST saccade stabilisation: every event moved back along the sensor's three saccades.

N-MNIST was recorded by an ATIS camera moving in three straight saccades in front of a still
digit, so the digit drifts across the 34x34 pixels. Orchard's ``stabilize.m`` (the preprocessing
of the published TSSL-BP N-MNIST converter) subtracts that motion. With ``X = x + 1`` and
``Y = y + 1`` (1-based, as MATLAB) and ``t`` the file timestamp (us, float64 arithmetic)::

    t <= 105 ms:          X -= 3.5 * t / 105e3          Y -= 7 * t / 105e3
    105 < t <= 210 ms:    X -= 3.5 + 3.5 * (t - 105e3) / 105e3
                          Y -= 7 - 7 * (t - 105e3) / 105e3
    t > 210 ms:           X -= 7 - 7 * (t - 210e3) / 105e3            (Y unchanged)
    X, Y = round(X), round(Y)               # MATLAB round: half away from zero
    drop X < 1 or Y < 1                     # stabilize.m's RemoveNulls
    drop X > 34 or Y > 34                   # the converter's out-of-bound test (W x H in general)

and the kept events return as ``x = X - 1``, ``y = Y - 1`` with t and p unchanged, in order.
The sensor size bounds the last test, so the output stays on the input's sensor.

``variant="tonic"`` is tonic's port (``tonic.datasets.nmnist.stabilize``, ``NMNIST(stabilize=
True)``) instead: the same shifts on 0-based coordinates plus a fixed offset of (+4, +2) pixels
("a small offset, fixed manually"), events dropped when the unrounded position is outside
``[0, W-1] x [0, H-1]``, and numpy's ``round`` (halves to even).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from eventpipe.kernels.common import event_array, sensor_dims
from eventpipe.runtime.jit import jit

#: the saccade length (us) of N-MNIST's recordings (``stabilize.m``)
SACCADE_US = 105_000.0


@jit(inline="always")
def _round_away(v):  # pragma: no cover - compiled
    """MATLAB ``round``: to the nearest integer, halves away from zero."""
    return np.floor(v + 0.5) if v >= 0 else -np.floor(-v + 0.5)


#: ``variant`` -> the kernel's ``tonic`` flag
VARIANTS = {"published": False, "tonic": True}


@jit
def stabilize_kernel(x, y, t, p, width, height, tonic, ox, oy, ot, op):
    """Write the stabilised events kept (see the module doc) to ``ox, oy, ot, op``.

    Args:
        x, y, t, p: 1-D input columns (t int64 us, the file's clock).
        width, height: the sensor; events moved off ``[0, W) x [0, H)`` are dropped.
        tonic: tonic's variant (offset, bounds before rounding, halves to even).
        ox, oy, ot, op: output columns with room for every event.

    Returns:
        The number of events written.
    """
    j = 0
    for i in range(t.shape[0]):
        ti = np.float64(t[i])
        if ti <= SACCADE_US:
            dx = 3.5 * ti / SACCADE_US
            dy = 7.0 * ti / SACCADE_US
        elif ti <= 2 * SACCADE_US:
            dx = 3.5 + 3.5 * (ti - SACCADE_US) / SACCADE_US
            dy = 7.0 - 7.0 * (ti - SACCADE_US) / SACCADE_US
        else:
            dx = 7.0 - 7.0 * (ti - 2 * SACCADE_US) / SACCADE_US
            dy = 0.0
        if tonic:
            xs = np.float64(x[i]) + 4.0 - dx
            ys = np.float64(y[i]) + 2.0 - dy
            if xs < 0 or ys < 0 or xs > width - 1 or ys > height - 1:
                continue
            xi, yi = np.int64(np.rint(xs)), np.int64(np.rint(ys))
        else:
            xs = _round_away(np.float64(x[i]) + 1.0 - dx)
            ys = _round_away(np.float64(y[i]) + 1.0 - dy)
            if xs < 1 or ys < 1 or xs > width or ys > height:
                continue
            xi, yi = np.int64(xs) - 1, np.int64(ys) - 1
        ox[j] = xi
        oy[j] = yi
        ot[j] = t[i]
        op[j] = p[i]
        j += 1
    return j


def stabilize_saccades(
    events: np.ndarray | Mapping[str, np.ndarray], sensor_size=(34, 34, 2), variant="published"
) -> dict[str, np.ndarray]:
    """N-MNIST's saccades undone (module doc) on one sample's events.

    Args:
        events: ``[n]`` EVENT_DTYPE or a mapping of the 1-D columns ``x, y, t, p`` (t in us,
            the file's clock: the saccades start at t = 0).
        sensor_size: ``(W, H, P)``; events moved off it are dropped.
        variant: ``"published"`` (TSSL-BP's ``stabilize.m``) or ``"tonic"`` (tonic's port).

    Returns:
        New columns ``{"x", "y", "t", "p"}`` (int16, int16, int64, uint8) of the kept events.
    """
    if not isinstance(events, Mapping):
        events = event_array(events)
    if variant not in VARIANTS:
        raise ValueError(f"unknown stabilize variant {variant!r}; expected one of {list(VARIANTS)}")
    w, h, _ = sensor_dims(sensor_size)
    n = len(events["t"])
    out = {
        "x": np.empty(n, np.int16),
        "y": np.empty(n, np.int16),
        "t": np.empty(n, np.int64),
        "p": np.empty(n, np.uint8),
    }
    m = stabilize_kernel(
        events["x"], events["y"], events["t"], events["p"], w, h, VARIANTS[variant],
        out["x"], out["y"], out["t"], out["p"],
    )  # fmt: skip
    return {k: v[:m] for k, v in out.items()}


__all__ = ["SACCADE_US", "VARIANTS", "stabilize_kernel", "stabilize_saccades"]
