"""Where the hands are: one function per gesture class, giving blob tracks over time.

A track is ``(cx, cy, r)``: the centre (image px, x right, y down) and radius of a round blob
(a hand, a forearm) at each time of a grid ``tau`` (seconds since the window's start).
The person faces the sensor, so their right hand is on the image's left (x ~ 40) and their
left hand on its right (x ~ 88). Class by class (0-based ids):

====  ===========================  ===============================================
0     hand_clapping                two hands meeting and parting at the centre, 2 Hz
1, 2  right / left hand wave       one hand swinging sideways high on its side
3, 4  right arm (counter)clockwise hand and forearm circling on the right side
5, 6  left arm (counter)clockwise  the same on the left side
7     arm_roll                     two forearms rolling around each other, centre
8     air_drums                    two hands striking up and down alternately
9     air_guitar                   a hand strumming fast, the other on the neck
10    other_gestures               hands wandering along random smooth paths
====  ===========================  ===============================================

"Clockwise" is as the sensor sees it. Frequencies scale with the user's speed; each window
starts at a random phase.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from eventpipe.datasets.dvsgesture.synth.design import UserStyle

Track = tuple[np.ndarray, np.ndarray, float]
TWO_PI = 2 * np.pi
RIGHT_X, LEFT_X, CENTRE_X = 40.0, 88.0, 64.0
REST_Y = 100.0


def _circle(tau, cx, cy, radius, freq, phase, sign, r) -> list[Track]:
    """A hand circling (sign +1 clockwise on the image, y down) and its forearm halfway."""
    ang = phase + sign * TWO_PI * freq * tau
    hand = (cx + radius * np.cos(ang), cy + radius * np.sin(ang), r)
    arm = (cx + 0.5 * radius * np.cos(ang), cy + 18 + 0.5 * radius * np.sin(ang), 0.8 * r)
    return [hand, arm]


def _clap(tau, s: UserStyle, ph: float, rng) -> list[Track]:
    half = 4 + 8 * (1 + np.cos(TWO_PI * 2.0 * s.speed * tau + ph))
    y = np.full_like(tau, 72.0 + s.dy)
    return [(CENTRE_X + s.dx - half, y, s.hand_r), (CENTRE_X + s.dx + half, y, s.hand_r)]


def _wave(x0: float) -> Callable[..., list[Track]]:
    def wave(tau, s: UserStyle, ph: float, rng) -> list[Track]:
        w = TWO_PI * 1.8 * s.speed * tau + ph
        return [(x0 + s.dx + 12 * np.sin(w), 40 + s.dy + 3 * np.sin(2 * w), s.hand_r)]

    return wave


def _rotate(x0: float, sign: int) -> Callable[..., list[Track]]:
    def rotate(tau, s: UserStyle, ph: float, rng) -> list[Track]:
        return _circle(tau, x0 + s.dx, 55 + s.dy, 20.0, 0.9 * s.speed, ph, sign, s.hand_r)

    return rotate


def _roll(tau, s: UserStyle, ph: float, rng) -> list[Track]:
    ang = ph + TWO_PI * 2.2 * s.speed * tau
    cx, cy, rad = CENTRE_X + s.dx, 74 + s.dy, 9.0
    return [
        (cx + rad * np.cos(ang), cy + 0.6 * rad * np.sin(ang), s.hand_r),
        (cx - rad * np.cos(ang), cy - 0.6 * rad * np.sin(ang), s.hand_r),
    ]


def _drums(tau, s: UserStyle, ph: float, rng) -> list[Track]:
    w = TWO_PI * 2.0 * s.speed * tau + ph
    return [
        (np.full_like(tau, 46 + s.dx), 76 + s.dy + 14 * np.sin(w), s.hand_r),
        (np.full_like(tau, 82 + s.dx), 76 + s.dy + 14 * np.sin(w + np.pi), s.hand_r),
    ]


def _guitar(tau, s: UserStyle, ph: float, rng) -> list[Track]:
    w = TWO_PI * 3.5 * s.speed * tau + ph
    strum = (72 + s.dx + 3 * np.sin(w / 2), 84 + s.dy + 11 * np.sin(w), s.hand_r)
    neck = (
        34 + s.dx + 3 * np.sin(TWO_PI * 0.7 * tau + ph),
        60 + s.dy + 4 * np.sin(TWO_PI * 0.5 * tau),
        s.hand_r,
    )
    return [strum, neck]


def _other(tau, s: UserStyle, ph: float, rng) -> list[Track]:
    """Hands along random smooth paths: sums of three sinusoids (0.2-1.5 Hz, 4-15 px)."""
    out = []
    for x0 in (RIGHT_X, LEFT_X)[: int(rng.integers(1, 3))]:
        f, a, p = (
            rng.uniform(0.2, 1.5, (2, 3)),
            rng.uniform(4, 15, (2, 3)),
            rng.uniform(0, 7, (2, 3)),
        )
        path = [(a[d, :, None] * np.sin(TWO_PI * f[d, :, None] * tau + p[d, :, None])).sum(0)
                for d in (0, 1)]  # fmt: skip
        out.append((x0 + s.dx + path[0], 70 + s.dy + path[1], s.hand_r))
    return out


#: class id -> track function ``(tau, style, phase, rng) -> [Track]``
GESTURES: tuple[Callable[..., list[Track]], ...] = (
    _clap,
    _wave(RIGHT_X),
    _wave(LEFT_X),
    _rotate(RIGHT_X, +1),
    _rotate(RIGHT_X, -1),
    _rotate(LEFT_X, +1),
    _rotate(LEFT_X, -1),
    _roll,
    _drums,
    _guitar,
    _other,
)


def rest(tau: np.ndarray, s: UserStyle, ph: float) -> list[Track]:
    """Both hands resting low, drifting by about a pixel (few events)."""
    drift = 1.5 * np.sin(TWO_PI * 0.3 * tau + ph)
    return [
        (RIGHT_X + s.dx + drift, REST_Y + s.dy + 0.5 * drift, s.hand_r),
        (LEFT_X + s.dx - drift, REST_Y + s.dy + 0.5 * drift, s.hand_r),
    ]


def body(tau: np.ndarray, s: UserStyle) -> list[Track]:
    """The torso: a large blob swaying slowly by 2 px."""
    sway = 2.0 * np.sin(TWO_PI * 0.25 * tau)
    return [(CENTRE_X + s.dx + sway, 92 + s.dy + 0.3 * sway, 24.0)]


__all__ = ["GESTURES", "Track", "body", "rest"]
