"""Hand shapes and the 19 synthetic signs.

Scene coordinates are those of the camera as jAER shows it: ``X`` to the right, ``Y`` up, in
pixels of the 128x128 sensor; the signer faces the camera, head near the top, hands at rest below
the bottom edge. (The generator converts to the published address orientation at the end.)

A *part* is a rigid set of contrast edges (line segments with an outward normal and a contrast
weight) in a local frame: ``u`` along the pointing direction, ``v`` to its left. A part's pose at
time ``t`` is ``(cx, cy, angle, scale)``; a local point ``q`` is at
``c + scale * R(angle) @ q`` and its edge normal at ``R(angle) @ n``.

Each sign is a function of the phase ``s`` in ``[0, 1]`` of the sign stroke returning, per hand,
the wrist position relative to the body centre and a wrist bend (radians). The dominant hand is
on the right (``+X``) side; left-handed signers are mirrored by the renderer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from eventpipe.datasets.slanimals.facts import CLASS_NAMES

TAU = 2.0 * np.pi


@dataclass(frozen=True)
class Part:
    """Rigid contrast edges in a local frame.

    Attributes:
        p0, p1: float64 [E, 2] segment end points ``(u, v)`` in px at scale 1.
        normal: float64 [E, 2] unit outward normals.
        contrast: float64 [E] relative edge contrast (events per px of edge per px moved, times
            the scale's edge gain).
        vertices: float64 [V, 2] convex hull of the edges: under rigid motion (plus scaling)
            speed is a convex function of position, so its maximum over the part is at one
            of these.
    """

    p0: np.ndarray
    p1: np.ndarray
    normal: np.ndarray
    contrast: np.ndarray
    vertices: np.ndarray

    @cached_property
    def weights(self) -> np.ndarray:
        """Length x contrast of each edge (the sampling weight)."""
        return np.hypot(*(self.p1 - self.p0).T) * self.contrast

    @cached_property
    def cum_weights(self) -> np.ndarray:
        """Cumulative :attr:`weights` (for sampling an edge point uniformly by weight)."""
        return np.cumsum(self.weights)

    def mirrored(self) -> Part:
        """The same part reflected across the ``u`` axis (``v -> -v``)."""
        flip = np.array([1.0, -1.0])
        return Part(self.p0 * flip, self.p1 * flip, self.normal * flip, self.contrast,
                    self.vertices * flip)  # fmt: skip


def _polyline(points, contrast: float = 1.0, closed: bool = False, ccw: bool = True) -> tuple:
    """Edges along a polyline; normals point to the right of travel for a ccw outline."""
    pts = np.asarray(points, dtype=np.float64)
    a = pts if closed else pts[:-1]
    b = np.roll(pts, -1, axis=0) if closed else pts[1:]
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])
    keep = length > 1e-9
    a, b, d, length = a[keep], b[keep], d[keep], length[keep]
    n = np.stack([d[:, 1], -d[:, 0]], axis=1) / length[:, None]
    if not ccw:
        n = -n
    return a, b, n, np.full(len(a), contrast)


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Vertices of the convex hull of 2-D points (Andrew's monotone chain), counter-clockwise."""
    pts = sorted(set(map(tuple, np.asarray(points, dtype=np.float64).tolist())))
    if len(pts) <= 2:
        return np.asarray(pts)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    upper: list = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.asarray(lower[:-1] + upper[:-1])


def _part(*pieces) -> Part:
    p0 = np.concatenate([p[0] for p in pieces])
    p1 = np.concatenate([p[1] for p in pieces])
    normal = np.concatenate([p[2] for p in pieces])
    contrast = np.concatenate([p[3] for p in pieces])
    return Part(p0, p1, normal, contrast, convex_hull(np.concatenate([p0, p1])))


def _hand_outline() -> np.ndarray:
    """Open hand, counter-clockwise, wrist at u=0; thumb on +v; fingers toward +u."""
    pts = [(0.0, -8.0), (15.0, -9.0)]
    # four fingers from the -v side (little finger) to the +v side (index)
    lengths = (10.0, 13.0, 14.5, 13.0)
    v0, w, gap = -9.0, 4.0, 0.6
    for i, length in enumerate(lengths):
        lo = v0 + i * (w + gap)
        hi = lo + w
        tip = 18.0 + length
        pts += [(tip - 1.5, lo), (tip, lo + 1.0), (tip, hi - 1.0), (tip - 1.5, hi)]
        if i < len(lengths) - 1:
            pts += [(19.0, hi + gap / 2)]
    # thumb, sticking out on the +v side
    pts += [(16.0, 9.4), (20.0, 14.5), (19.0, 17.0), (16.5, 16.5), (8.0, 10.0), (0.0, 8.0)]
    return np.asarray(pts, dtype=np.float64)


def make_hand() -> Part:
    """Palm, four fingers and a thumb; the wrist line (u=0) is not an edge (the arm continues)."""
    outline = _hand_outline()
    # the outline runs counter-clockwise in (u, v): outward normals are to the right of travel
    edges = _polyline(outline, 1.0, closed=False, ccw=True)
    # knuckle crease and the finger gaps are weaker interior edges
    crease = _polyline([(14.0, -8.0), (16.0, 8.0)], 0.25)
    return _part(edges, crease)


def make_forearm(length: float = 75.0) -> Part:
    """Forearm from the elbow (u=-length) to the wrist (u=0), with a sleeve cuff edge."""
    side_a = _polyline([(-length, -7.5), (0.0, -8.0)], 1.0, ccw=True)
    side_b = _polyline([(-length, 7.5), (0.0, 8.0)], 1.0, ccw=False)
    cuff = _polyline([(-30.0, -9.5), (-30.0, 9.5)], 0.6)
    sleeve_a = _polyline([(-length, -9.5), (-30.0, -9.5)], 0.8, ccw=True)
    sleeve_b = _polyline([(-length, 9.5), (-30.0, 9.5)], 0.8, ccw=False)
    return _part(side_a, side_b, cuff, sleeve_a, sleeve_b)


def make_body() -> Part:
    """Head, neck and shoulders (local u = scene Y, v = -scene X: the part points up)."""
    # head outline as a circle of radius 13 centred 28 px above the local origin (neck base)
    ang = np.linspace(0.0, TAU, 33)
    head = np.stack([28.0 + 13.0 * np.sin(ang), 11.0 * np.cos(ang)], axis=1)
    head_edges = _polyline(head, 0.7, closed=False, ccw=False)  # clockwise
    shoulders = []
    for side in (-1.0, 1.0):
        pts = [(15.0, 6.0 * side), (8.0, 9.0 * side), (2.0, 30.0 * side), (-10.0, 40.0 * side),
               (-70.0, 44.0 * side)]  # fmt: skip
        shoulders.append(_polyline(pts, 0.5, ccw=side > 0))
    return _part(head_edges, *shoulders)


HAND = make_hand()
FOREARM = make_forearm()
BODY = make_body()


# ---------------------------------------------------------------- signs


def _ease(s):
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(s, 0.0, 1.0))


def _osc(s, cycles, phase=0.0):
    return np.sin(TAU * cycles * s + phase)


def _bump(s, cycles):
    """0 at every cycle boundary, 1 at mid-cycle (smooth)."""
    return 0.5 - 0.5 * np.cos(TAU * cycles * s)


def _tri(s, cycles):
    """Triangle wave in [-1, 1]."""
    f = (cycles * s) % 1.0
    return 4.0 * np.abs(f - 0.5) - 1.0


def _pull(s, cycles):
    """Quick stroke then slow return: 0 -> 1 in the first 30 % of a cycle, back to 0 after."""
    f = (cycles * s) % 1.0
    return np.where(f < 0.3, _ease(f / 0.3), 1.0 - _ease((f - 0.3) / 0.7))


def _zeros(s):
    return np.zeros_like(s)


#: A sign returns ((dx, dy, bend) for the dominant hand, same or None for the other hand),
#: relative to the body centre, in px at amplitude 1. ``a`` scales the stroke amplitude.
Sign = Callable[[np.ndarray, float], tuple[tuple, tuple | None]]


def cat(s, a):  # whiskers: both hands stroke outward from the cheeks, twice
    out = 16.0 + 16.0 * a * _bump(s, 2)
    y = 74.0 + 2.0 * _osc(s, 2)
    return (out, y, 0.3 * _bump(s, 2)), (-out, y, -0.3 * _bump(s, 2))


def dog(s, a):  # pat the thigh three times
    return (34.0, 18.0 + 14.0 * a * np.abs(_osc(s, 1.5)), _zeros(s) - 0.2), None


def camel(s, a):  # two humps drawn left to right
    x = -22.0 + 48.0 * a * s
    return (x, 50.0 + 18.0 * a * np.abs(_osc(s, 1.0)), 0.4 * np.cos(TAU * s) - 0.5), None


def cow(s, a):  # horns at the temples, twisting
    y = 84.0 + 8.0 * a * s
    tw = 0.7 * a * _osc(s, 2)
    return (20.0, y, tw), (-20.0, y, -tw)


def sheep(s, a):  # small curls beside the head
    r = 8.0 * a
    return (22.0 + r * np.cos(TAU * 3 * s), 80.0 + r * np.sin(TAU * 3 * s), _zeros(s)), None


def goat(s, a):  # beard: pull down from the chin, twice
    return (6.0, 70.0 - 22.0 * a * _pull(s, 2), _zeros(s) + 0.9), None


def wolf(s, a):  # snout: from the mouth forward-down, twice
    f = 0.5 + 0.5 * _tri(s, 2)
    return (4.0 + 26.0 * a * f, 74.0 - 12.0 * a * f, 1.2 - 0.6 * f), None


def squirrel(s, a):  # nibbling paws in front of the chest
    y = 58.0 + 5.0 * a * _osc(s, 6)
    return (9.0, y, _zeros(s) + 0.4), (-9.0, y, _zeros(s) - 0.4)


def mouse(s, a):  # wiggle at the nose
    return (6.0 + 6.0 * a * _osc(s, 5), 80.0, _zeros(s) + 1.3), None


def dolphin(s, a):  # undulating wave across the body
    x = 30.0 - 60.0 * a * s
    return (x, 52.0 + 14.0 * a * _osc(s, 1.5), 0.6 * np.cos(TAU * 1.5 * s) + 0.6), None


def shark(s, a):  # vertical fin moving straight across
    x = -28.0 + 56.0 * a * _ease(s)
    return (x, 56.0 + _zeros(s), 1.4 + 0.15 * _osc(s, 3)), None


def lion(s, a):  # mane: both hands circle around the head, opposite directions
    ang = TAU * 1.5 * s
    r = 15.0 * a
    return ((14.0 + r * np.cos(ang), 82.0 + r * np.sin(ang), 0.3 * np.sin(ang)),
            (-14.0 - r * np.cos(ang), 82.0 + r * np.sin(ang), -0.3 * np.sin(ang)))  # fmt: skip


def monkey(s, a):  # scratch the sides, alternating
    return ((36.0, 40.0 + 9.0 * a * _osc(s, 3), _zeros(s) - 0.6),
            (-36.0, 40.0 - 9.0 * a * _osc(s, 3), _zeros(s) + 0.6))  # fmt: skip


def snake(s, a):  # zig-zag forward
    return (-24.0 + 50.0 * a * s, 58.0 + 10.0 * a * _tri(s, 4), _zeros(s) + 1.1), None


def spider(s, a):  # crossed hands crawl diagonally, fingers wiggling
    x = 26.0 * a * (s - 0.5)
    y = 48.0 + 18.0 * a * s
    wig = 0.45 * _osc(s, 6)
    return (x + 4.0, y, wig + 0.6), (x - 4.0, y, -wig - 0.6)


def butterfly(s, a):  # thumbs hooked, wings flapping while rising
    y = 56.0 + 22.0 * a * s
    flap = 0.8 * a * _osc(s, 3)
    return (5.0, y, 0.2 + flap), (-5.0, y, -0.2 - flap)


def bird(s, a):  # beak opening and closing at the mouth
    return (3.0, 74.0 + 1.5 * _osc(s, 4), 1.0 + 0.55 * a * _bump(s, 4)), None


def duck(s, a):  # two hands stacked at the mouth: bill opens vertically
    o = 6.0 * a * _bump(s, 3)
    return (2.0, 80.0 + o, _zeros(s) + 1.45), (-2.0, 70.0 - o, _zeros(s) - 1.45)


def zebra(s, a):  # stripes: inward horizontal strokes at descending heights
    x = 8.0 + 24.0 * a * (0.5 + 0.5 * _tri(s, 3))
    y = 76.0 - 36.0 * a * s
    return (x, y, _zeros(s) + 0.8), (-x, y, _zeros(s) - 0.8)


#: index = 0-based class id
SIGNS: tuple[Sign, ...] = (
    cat, dog, camel, cow, sheep, goat, wolf, squirrel, mouse, dolphin,
    shark, lion, monkey, snake, spider, butterfly, bird, duck, zebra,
)  # fmt: skip
assert tuple(f.__name__ for f in SIGNS) == CLASS_NAMES

#: relative mean duration per class (signs with more strokes take a little longer); mean 1.
CLASS_TEMPO = np.linspace(0.9, 1.1, len(SIGNS))[
    [9, 4, 12, 10, 14, 5, 6, 16, 2, 11, 7, 17, 13, 15, 3, 8, 1, 0, 18]
]
