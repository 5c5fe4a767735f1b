"""Synthetic N-MNIST events: glyphs moved along the three ATIS saccades, events at moving edges.

The recording setup moved the ATIS sensor in three straight saccades of 105 ms each; the image
of the digit moves with it (the displacement TSSL-BP's ``stabilize.m`` subtracts)::

    0 .. 105 ms    (0, 0)     -> (3.5, 7) px   (x, y)
    105 .. 210 ms  (3.5, 7)   -> (7, 0)
    210 .. 315 ms  (7, 0)     -> (0, 0)

:func:`render_batch` samples the glyph's image every :data:`STEP_US` us (bilinear shifts of the
padded glyph, :mod:`.glyphs`), takes the change of each pixel between steps and turns it into
events: ON (``p = 1``) where the pixel brightens (the leading edge of a bright stroke), OFF
where it darkens (the trailing edge), a count proportional to the change (stochastic rounding,
scaled so each sample has about its drawn target of 3000-5000 events), times uniform within
the step. A little uniform noise (about 1.5% of the events) is added; each sample's events are
sorted by time (nondecreasing ``t``, us, 0 .. 315000).

>>> import numpy as np
>>> ev = render_batch(np.random.default_rng(0), np.array([3, 7]))
>>> len(ev), bool(np.all(np.diff(ev[0]["t"]) >= 0))
(2, True)
"""

from __future__ import annotations

import numpy as np

from eventpipe.datasets.nmnist.synth.glyphs import PAD, SIDE, draw_params, render_glyphs
from eventpipe.events import EVENT_DTYPE

#: saccade corners: times (us) and image displacement (x, y) in px
SACCADE_T_US = np.array([0, 105_000, 210_000, 315_000])
SACCADE_XY = np.array([[0.0, 0.0], [3.5, 7.0], [7.0, 0.0], [0.0, 0.0]])
#: time step of the rendering (us)
STEP_US = 5000
#: events per sample: mean, std and clip range of the per-sample target
EVENTS_MEAN, EVENTS_STD, EVENTS_RANGE = 4000.0, 600.0, (3000, 5000)
#: share of noise events
NOISE_SHARE = 0.015


def displacement(t_us: np.ndarray) -> np.ndarray:
    """Image displacement ``[n, 2]`` (x, y px) at times ``t_us`` (piecewise linear)."""
    t = np.asarray(t_us, dtype=np.float64)
    return np.stack([np.interp(t, SACCADE_T_US, SACCADE_XY[:, i]) for i in (0, 1)], axis=1)


def _window(glyphs: np.ndarray, row: int, col: int) -> np.ndarray:
    """The ``SIDE x SIDE`` window of every padded glyph starting at ``(row, col)``."""
    return glyphs[:, row : row + SIDE, col : col + SIDE]


def _frames(glyphs: np.ndarray) -> np.ndarray:
    """``[B, T + 1, SIDE, SIDE]`` float32 images at each step (bilinear shift of the glyphs)."""
    times = np.arange(0, SACCADE_T_US[-1] + 1, STEP_US)
    shift = displacement(times)
    out = np.empty((len(glyphs), len(times), SIDE, SIDE), np.float32)
    for k, (sx, sy) in enumerate(shift):
        ix, iy = int(np.floor(sx)), int(np.floor(sy))
        fx, fy = np.float32(sx - ix), np.float32(sy - iy)
        # pixel (x, y) of the shifted image reads the glyph at (x - sx, y - sy)
        w = [_window(glyphs, PAD - iy - dy, PAD - ix - dx) for dy in (0, 1) for dx in (0, 1)]
        top = (1 - fx) * w[0] + fx * w[1]
        low = (1 - fx) * w[2] + fx * w[3]
        out[:, k] = (1 - fy) * top + fy * low
    return out


def _edge_events(rng: np.random.Generator, change: np.ndarray) -> tuple[np.ndarray, ...]:
    """Event columns ``(b, x, y, t, p)`` from per-step pixel changes ``[B, T, H, W]``."""
    n = len(change)
    target = np.clip(rng.normal(EVENTS_MEAN, EVENTS_STD, n), *EVENTS_RANGE)
    total = np.abs(change).reshape(n, -1).sum(axis=1)
    scale = (target * (1 - NOISE_SHARE) / np.maximum(total, 1e-6)).astype(np.float32)
    nz = np.flatnonzero(change)
    b, k, y, x = np.unravel_index(nz, change.shape)
    d = change.reshape(-1)[nz]
    count = np.floor(np.abs(d) * scale[b] + rng.random(len(nz), dtype=np.float32)).astype(np.int64)
    b, k, y, x, d = (np.repeat(a, count) for a in (b, k, y, x, d))
    t = (k * STEP_US + rng.integers(0, STEP_US, len(k))).astype(np.int64)
    return b, x, y, t, (d > 0).astype(np.uint8)


def _noise(rng: np.random.Generator, n_samples: int) -> tuple[np.ndarray, ...]:
    """Uniform noise event columns ``(b, x, y, t, p)``."""
    counts = rng.poisson(EVENTS_MEAN * NOISE_SHARE, n_samples)
    b = np.repeat(np.arange(n_samples), counts)
    m = len(b)
    xy = rng.integers(0, SIDE, (2, m))
    t = rng.integers(0, SACCADE_T_US[-1], m)
    return b, xy[0], xy[1], t, rng.integers(0, 2, m).astype(np.uint8)


def render_batch(rng: np.random.Generator, digits: np.ndarray) -> list[np.ndarray]:
    """Events of one synthetic sample per entry of ``digits``.

    Args:
        rng: the batch's generator (the result is a pure function of its state and ``digits``).
        digits: int ``[B]`` classes.

    Returns:
        ``B`` :data:`~eventpipe.events.EVENT_DTYPE` arrays, each sorted by ``t`` (us).
    """
    digits = np.asarray(digits)
    params = draw_params(rng, len(digits))
    frames = _frames(render_glyphs(digits, params))
    change = np.diff(frames, axis=1)
    edge, noise = _edge_events(rng, change), _noise(rng, len(digits))
    b, x, y, t, p = (np.concatenate([e, n]) for e, n in zip(edge, noise, strict=True))
    order = np.argsort((b << 20) | t, kind="stable")
    ev = np.empty(len(order), EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x[order], y[order], t[order], p[order]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(b, minlength=len(digits)))])
    return [ev[bounds[i] : bounds[i + 1]] for i in range(len(digits))]


__all__ = ["SACCADE_T_US", "SACCADE_XY", "STEP_US", "displacement", "render_batch"]
