"""Turn a :class:`~eventpipe.datasets.dvsgesture.synth.design.RecordingDesign` into events.

Moving edges: a blob edge point with outward normal ``n`` moving at velocity ``v`` emits events
as a Poisson process of intensity ``gain * |v . n|`` per px of edge (``gain``: events per px of
edge per px moved). Sampled by thinning, vectorised over a 1 ms grid: per blob and step,
``Poisson(gain * 2 pi r * |v| * dt)`` candidates at uniform edge angles, each kept with
probability ``|cos(angle - direction of v)|``. The leading edge (``v . n > 0``) gives ON events
for a bright hand and OFF for a dark one; 5 % of the polarities are flipped (sensor noise).
Positions get a 0.4 px Gaussian jitter and are rounded to pixels; events off the sensor are
dropped.

Sensor noise: uniform background activity (per pixel, scaled by the lighting) and three hot
pixels. All events are sorted by time (stable), so the file is time-ordered as cAER writes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventpipe.datasets.dvsgesture.synth.design import RecordingDesign, stream
from eventpipe.datasets.dvsgesture.synth.motion import GESTURES, Track, body, rest
from eventpipe.events import EVENT_DTYPE

SENSOR = 128
STEP_S = 1e-3
#: background-activity multiplier per lighting (natural light: the most noise)
LIGHTING_NOISE = {"fluorescent": 1.0, "fluorescent_led": 1.3, "lab": 0.8, "led": 1.1,
                  "natural": 2.0}  # fmt: skip


@dataclass(frozen=True)
class Scale:
    """Event-rate settings of one scale (shapes and timing do not depend on it).

    Attributes:
        name: ``tiny`` | ``small`` | ``full``.
        edge_gain: events per px of edge per px moved.
        background_hz: background activity per pixel (Hz), before the lighting factor.
        hot_hz: rate of each of the three hot pixels (Hz).
    """

    name: str
    edge_gain: float
    background_hz: float
    hot_hz: float


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 0.2, 0.01, 2.0),
    "small": Scale("small", 0.5, 0.03, 5.0),
    "full": Scale("full", 2.0, 0.1, 20.0),
}


def edge_events(
    rng: np.random.Generator, tracks: list[Track], t0: float, gain: float, dark: bool
) -> tuple[np.ndarray, ...]:
    """Events of moving blobs whose tracks are sampled every :data:`STEP_S` from ``t0`` (s).

    Args:
        tracks: ``[(cx, cy, r)]`` with ``cx, cy`` of shape ``[n + 1]`` (px), ``r`` a radius.

    Returns:
        ``t`` (s, float64, unsorted), ``x``, ``y`` (float64 px), ``p`` (uint8).
    """
    out: list[list[np.ndarray]] = [[], [], [], []]
    for cx, cy, r in tracks:
        vx, vy = np.diff(cx) / STEP_S, np.diff(cy) / STEP_S
        speed = np.hypot(vx, vy)
        m = rng.poisson(gain * TWO_PI * r * speed * STEP_S)
        k = np.repeat(np.arange(len(m)), m)
        theta = rng.uniform(0, TWO_PI, len(k))
        c, s = np.cos(theta), np.sin(theta)
        cos_dir = (c * vx[k] + s * vy[k]) / np.maximum(speed[k], 1e-9)
        keep = rng.random(len(k)) < np.abs(cos_dir)
        k, c, s, cos_dir = k[keep], c[keep], s[keep], cos_dir[keep]
        frac = rng.random(len(k))
        out[0].append(t0 + (k + frac) * STEP_S)
        out[1].append(cx[k] + frac * (cx[k + 1] - cx[k]) + r * c + rng.normal(0, 0.4, len(k)))
        out[2].append(cy[k] + frac * (cy[k + 1] - cy[k]) + r * s + rng.normal(0, 0.4, len(k)))
        on = (cos_dir > 0) ^ dark ^ (rng.random(len(k)) < 0.05)
        out[3].append(on.astype(np.uint8))
    return tuple(np.concatenate(parts) for parts in out)


def noise_events(
    rng: np.random.Generator, duration_s: float, rate_hz: float, hot_hz: float
) -> tuple[np.ndarray, ...]:
    """Background activity (``rate_hz`` per pixel) and three hot pixels over ``[0, duration_s)``.

    Returns:
        ``t`` (s), ``x``, ``y`` (float64 px), ``p`` (uint8), unsorted.
    """
    n = rng.poisson(rate_hz * SENSOR * SENSOR * duration_s)
    hot_xy = rng.integers(0, SENSOR, (3, 2))
    n_hot = rng.poisson(hot_hz * duration_s, 3)
    which = np.repeat(np.arange(3), n_hot)
    x = np.concatenate([rng.integers(0, SENSOR, n), hot_xy[which, 0]]).astype(np.float64)
    y = np.concatenate([rng.integers(0, SENSOR, n), hot_xy[which, 1]]).astype(np.float64)
    t = rng.uniform(0, duration_s, len(x))
    return t, x, y, rng.integers(0, 2, len(x)).astype(np.uint8)


def _segments(design: RecordingDesign) -> list[tuple[int, float, float]]:
    """``(class or -1 for rest, start_s, end_s)`` covering the whole recording."""
    out, t = [], 0.0
    for cls, s, e in design.windows:
        out += [(-1, t, s), (cls, s, e)]
        t = e
    return [*out, (-1, t, design.duration_s)]


def motion_events(design: RecordingDesign, gain: float) -> tuple[np.ndarray, ...]:
    """Edge events of the hands (gesture by gesture, resting between) and the body."""
    rng = stream(design.seed, design.stem, 1)
    st = design.style
    parts = []
    for cls, s, e in _segments(design):
        tau = np.arange(int(np.ceil((e - s) / STEP_S)) + 1) * STEP_S
        ph = float(rng.uniform(0, TWO_PI))
        tracks = GESTURES[cls](tau, st, ph, rng) if cls >= 0 else rest(tau, st, ph)
        ev = edge_events(rng, tracks, s, gain, st.dark)
        inside = ev[0] < e
        parts.append(tuple(a[inside] for a in ev))
    tau = np.arange(int(np.ceil(design.duration_s / STEP_S)) + 1) * STEP_S
    parts.append(edge_events(rng, body(tau, st), 0.0, gain, st.dark))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))


def render_recording(design: RecordingDesign, scale: Scale) -> np.ndarray:
    """The recording's events: ``[n]`` EVENT_DTYPE, time-ordered, ``t`` in us on its clock
    (``design.offset_us`` + recording time)."""
    t, x, y, p = motion_events(design, scale.edge_gain)
    rate = scale.background_hz * LIGHTING_NOISE[design.lighting]
    noise = noise_events(stream(design.seed, design.stem, 2), design.duration_s, rate, scale.hot_hz)
    t, x, y, p = (np.concatenate([a, b]) for a, b in zip((t, x, y, p), noise))
    xi, yi = np.rint(x), np.rint(y)
    on = (xi >= 0) & (xi < SENSOR) & (yi >= 0) & (yi < SENSOR) & (t < design.duration_s)
    t_us = design.offset_us + (t[on] * 1e6).astype(np.int64)
    order = np.argsort(t_us, kind="stable")
    ev = np.empty(len(order), dtype=EVENT_DTYPE)
    ev["t"] = t_us[order]
    ev["x"], ev["y"], ev["p"] = xi[on][order], yi[on][order], p[on][order]
    return ev


TWO_PI = 2 * np.pi

__all__ = ["SCALES", "Scale", "edge_events", "noise_events", "render_recording"]
