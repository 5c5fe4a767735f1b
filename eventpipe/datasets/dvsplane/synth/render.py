"""Events of one synthetic airplane drop: a class outline falling through the 304 x 240 view.

A drop (all times in us, on a recording clock that starts at a random offset):

- a lead-in of sensor noise only (5-30 ms), then the airplane enters at the top edge and falls
  to below the bottom edge at a class-dependent speed (:data:`MOTION`), drifting sideways and
  turning at a class-dependent rate, then a noise-only tail (10-40 ms);
- edge events: points drawn uniformly along the outline at uniform times, kept with
  probability ``|n . v| / max`` (the normal component of the local velocity, so edges moving
  along themselves fire little), polarity from the sign of ``n . v`` (a dark airplane on a
  bright sky: the leading edge is OFF, the trailing edge ON; flipped for a bright airplane);
- noise events uniform in space, time and polarity.

Everything is vectorised numpy; the result is sorted by time (stable), as a sensor emits it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventpipe.datasets.dvsplane.synth.shapes import outline, perimeter, perimeter_points
from eventpipe.events import EVENT_DTYPE

WIDTH, HEIGHT = 304, 240

#: per class: (fall speed px/ms, turn rate rad/ms, span px) means; drawn +-20% per drop
MOTION: tuple[tuple[float, float, float], ...] = (
    (1.5, 0.004, 90.0),  # F117
    (1.9, -0.002, 80.0),  # Mig31
    (1.7, 0.0, 85.0),  # Su24
    (1.3, 0.006, 95.0),  # Su35
)


@dataclass(frozen=True)
class Scale:
    """Event budget of one drop: edge events per px of outline per px fallen, noise per ms."""

    edge_density: float
    noise_per_ms: float


SCALES: dict[str, Scale] = {
    "tiny": Scale(0.03, 3.0),
    "small": Scale(0.06, 5.0),
    "full": Scale(0.25, 20.0),
}


def _drop_params(rng: np.random.Generator, class_id: int) -> dict[str, float]:
    """The random parameters of one drop."""
    speed, turn, span = (v * rng.uniform(0.8, 1.2) for v in MOTION[class_id])
    return {
        "speed": speed / 1e3,  # px/us
        "turn": turn / 1e3,  # rad/us
        "span": span,
        "heading": rng.uniform(-np.pi, np.pi),
        "x0": rng.uniform(0.25, 0.75) * WIDTH,
        "drift": rng.uniform(-0.3, 0.3) * speed / 1e3,  # px/us
        "lead": rng.uniform(5e3, 30e3),
        "tail": rng.uniform(10e3, 40e3),
        "sign": rng.choice([-1.0, 1.0], p=[0.8, 0.2]),  # mostly dark airplanes
        "origin": float(rng.integers(0, 2_000_000)),
    }


def _edges(rng: np.random.Generator, class_id: int, d: dict[str, float], n: int):
    """``n`` candidate edge events thinned by ``|n . v|``: ``(x, y, t, p)`` float arrays."""
    poly = outline(class_id)
    cross = (HEIGHT + d["span"]) / d["speed"]
    t = rng.uniform(0.0, cross, n)
    local, normal = perimeter_points(poly, rng.uniform(0.0, 1.0, n))
    ang = d["heading"] + d["turn"] * t
    c, s = np.cos(ang), np.sin(ang)
    rx = d["span"] * (c * local[:, 0] - s * local[:, 1])
    ry = d["span"] * (s * local[:, 0] + c * local[:, 1])
    nx, ny = c * normal[:, 0] - s * normal[:, 1], s * normal[:, 0] + c * normal[:, 1]
    vx = d["drift"] - d["turn"] * ry  # translation + rotation, px/us
    vy = d["speed"] + d["turn"] * rx
    flux = nx * vx + ny * vy
    keep = rng.uniform(0.0, 1.0, n) * np.abs(flux).max() < np.abs(flux)
    x = d["x0"] + d["drift"] * t + rx + rng.normal(0.0, 0.6, n)
    y = -d["span"] / 2 + d["speed"] * t + ry + rng.normal(0.0, 0.6, n)
    p = (flux * d["sign"] < 0).astype(np.uint8)  # dark: the leading edge (flux > 0) is OFF
    return x[keep], y[keep], t[keep] + d["lead"], p[keep]


def render_drop(rng: np.random.Generator, class_id: int, scale: str = "small") -> np.ndarray:
    """One drop of class ``class_id`` as ``[n]`` EVENT_DTYPE events (0-based coordinates in
    304 x 240, ``t`` in us, sorted by time)."""
    sc = SCALES[scale]
    d = _drop_params(rng, class_id)
    poly_len = perimeter(outline(class_id)) * d["span"]
    n_edge = int(sc.edge_density * poly_len * (HEIGHT + d["span"]))
    ex, ey, et, ep = _edges(rng, class_id, d, n_edge)
    duration = d["lead"] + (HEIGHT + d["span"]) / d["speed"] + d["tail"]
    n_noise = int(sc.noise_per_ms * duration / 1e3)
    nx, ny = rng.uniform(0, WIDTH, n_noise), rng.uniform(0, HEIGHT, n_noise)
    nt, npol = rng.uniform(0, duration, n_noise), rng.integers(0, 2, n_noise).astype(np.uint8)
    x = np.floor(np.concatenate([ex, nx])).astype(np.int64)
    y = np.floor(np.concatenate([ey, ny])).astype(np.int64)
    t = np.floor(np.concatenate([et, nt]) + d["origin"]).astype(np.int64)
    p = np.concatenate([ep, npol])
    inside = (x >= 0) & (x < WIDTH) & (y >= 0) & (y < HEIGHT)
    order = np.argsort(t[inside], kind="stable")
    ev = np.empty(int(inside.sum()), dtype=EVENT_DTYPE)
    for name, col in (("x", x), ("y", y), ("t", t), ("p", p)):
        ev[name] = col[inside][order]
    return ev


__all__ = ["MOTION", "SCALES", "Scale", "render_drop"]
