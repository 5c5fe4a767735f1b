"""Top-view outlines of the four synthetic airplanes and points on them.

Each outline is a closed polygon in units of the wingspan (about 1 wide), nose towards +x,
symmetric about the x axis; the four differ in what a small network can see at 76 x 60: the
F117's wide faceted delta with its W-shaped tail, the Mig31's narrow trapezoid wings and long
body, the Su24's swept wings set far back with a pointed nose, the Su35's large wing with
canards and tailplanes. These are invented shapes, not the real models' plans.
"""

from __future__ import annotations

import numpy as np

#: half outlines (nose to tail, y >= 0), mirrored into closed polygons; one per class
_HALVES: tuple[tuple[tuple[float, float], ...], ...] = (
    # F117: faceted delta, W tail
    ((0.55, 0.0), (-0.15, 0.5), (-0.3, 0.5), (-0.2, 0.28), (-0.45, 0.2), (-0.3, 0.0)),
    # Mig31: long body, short trapezoid wings mid-body, small tail
    ((0.75, 0.0), (0.5, 0.06), (0.1, 0.07), (-0.05, 0.42), (-0.2, 0.42), (-0.2, 0.08),
     (-0.5, 0.07), (-0.6, 0.22), (-0.7, 0.22), (-0.7, 0.0)),
    # Su24: pointed nose, swept wings set back, wide tailplane
    ((0.8, 0.0), (0.3, 0.08), (-0.1, 0.1), (-0.35, 0.5), (-0.45, 0.48), (-0.35, 0.1),
     (-0.55, 0.1), (-0.7, 0.3), (-0.78, 0.28), (-0.72, 0.0)),
    # Su35: canards, large wing, tailplanes
    ((0.7, 0.0), (0.4, 0.07), (0.3, 0.2), (0.22, 0.2), (0.2, 0.1), (0.0, 0.12), (-0.3, 0.5),
     (-0.38, 0.5), (-0.4, 0.14), (-0.5, 0.3), (-0.62, 0.3), (-0.6, 0.0)),
)  # fmt: skip


def outline(class_id: int) -> np.ndarray:
    """The closed outline of class ``class_id``: ``[k, 2]`` float64 vertices, counter-clockwise
    is not guaranteed; :func:`perimeter_points` orients its normals outwards."""
    half = np.asarray(_HALVES[class_id], dtype=np.float64)
    lower = half[::-1] * np.array([1.0, -1.0])
    poly = (
        np.concatenate([half, lower[1:-1]]) if half[-1, 1] == 0 else np.concatenate([half, lower])
    )
    return poly


def perimeter(poly: np.ndarray) -> float:
    """Length of the closed polygon ``[k, 2]``."""
    return float(np.linalg.norm(np.roll(poly, -1, axis=0) - poly, axis=1).sum())


def perimeter_points(poly: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points at arc-length fractions ``u`` (``[n]`` in [0, 1)) of the closed polygon and
    their outward unit normals: two ``[n, 2]`` arrays."""
    nxt = np.roll(poly, -1, axis=0)
    seg = nxt - poly
    lengths = np.linalg.norm(seg, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(lengths)])
    s = u * cum[-1]
    i = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(poly) - 1)
    f = (s - cum[i]) / lengths[i]
    pts = poly[i] + f[:, None] * seg[i]
    normal = np.stack([seg[i, 1], -seg[i, 0]], axis=1) / lengths[i, None]
    area2 = float(np.sum(poly[:, 0] * nxt[:, 1] - nxt[:, 0] * poly[:, 1]))
    return pts, normal if area2 > 0 else -normal


__all__ = ["outline", "perimeter", "perimeter_points"]
