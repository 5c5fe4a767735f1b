"""What one synthetic DVS Gesture recording shows: its user, clock offset and gesture schedule.

Everything is a pure function of ``(stem, seed)`` (not of the scale): the same recording has
the same gestures and windows at every scale. A schedule is the 11 classes in order with one
neighbouring pair swapped half of the time, plus one class (1..10) performed twice in a row, so
a recording has 12 label rows like the archive's (``user01_natural_labels.csv``: class 8 twice).
Windows last 5-7.5 s with 0.4-2.5 s pauses between them, after a 2-6 s lead-in and before a
1-3 s tail in which the hands rest.

The recording's clock starts at an offset of 0.5-40 s, except for :data:`WRAP_STEMS`, whose
offset puts ``t = 2**31 us`` (the first ``eventTSOverflow`` step of AEDAT 3.1) in the middle of
their third gesture window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventpipe.datasets.dvsgesture.facts import N_CLASSES, RECORDINGS, parse_stem

#: recordings whose timestamps cross 2**31 us inside a label window (one train, one test)
WRAP_STEMS: tuple[str, ...] = ("user02_lab", "user26_lab")
TS_OVERFLOW_US = 1 << 31


@dataclass(frozen=True)
class UserStyle:
    """How one user performs: image offset (px), hand radius (px), speed factor, and whether
    the hands are darker than the background (leading edges give OFF events then)."""

    dx: float
    dy: float
    hand_r: float
    speed: float
    dark: bool


@dataclass(frozen=True)
class RecordingDesign:
    """One synthetic recording.

    Attributes:
        stem, user, lighting: the recording.
        seed: the generator seed.
        offset_us: the clock value of recording time 0 (us).
        duration_s: recording length (s).
        style: the user's :class:`UserStyle`.
        windows: ``[(class_id, start_s, end_s)]`` label windows (0-based class, seconds).
    """

    stem: str
    user: int
    lighting: str
    seed: int
    offset_us: int
    duration_s: float
    style: UserStyle
    windows: tuple[tuple[int, float, float], ...]


def stream(seed: int, stem: str, purpose: int) -> np.random.Generator:
    """The random stream of one recording for one purpose (0 design, 1 motion, 2 noise)."""
    return np.random.default_rng([seed, RECORDINGS.index(stem), purpose])


def _user_style(seed: int, user: int) -> UserStyle:
    """A user's style, the same in all their recordings."""
    rng = np.random.default_rng([seed, 1000 + user])
    return UserStyle(
        dx=float(rng.uniform(-6, 6)),
        dy=float(rng.uniform(-6, 6)),
        hand_r=float(rng.uniform(5.5, 8.0)),
        speed=float(rng.uniform(0.8, 1.25)),
        dark=bool(rng.random() < 0.25),
    )


def _schedule(rng: np.random.Generator) -> list[int]:
    """0-based classes in performing order: 0..10, maybe one swap, one class twice."""
    order = list(range(N_CLASSES))
    if rng.random() < 0.5:
        i = int(rng.integers(0, N_CLASSES - 2))
        order[i], order[i + 1] = order[i + 1], order[i]
    twice = int(rng.integers(0, N_CLASSES - 1))
    at = order.index(twice)
    return [*order[: at + 1], twice, *order[at + 1 :]]


def design_recording(stem: str, seed: int = 0) -> RecordingDesign:
    """The design of ``stem`` (an official recording name) for ``seed``."""
    user, lighting = parse_stem(stem)
    rng = stream(seed, stem, 0)
    t = float(rng.uniform(2.0, 6.0))
    windows = []
    for cls in _schedule(rng):
        length = float(rng.uniform(5.0, 7.5))
        windows.append((cls, round(t, 6), round(t + length, 6)))
        t += length + float(rng.uniform(0.4, 2.5))
    duration = windows[-1][2] + float(rng.uniform(1.0, 3.0))
    if stem in WRAP_STEMS:
        _, s, e = windows[2]
        offset = TS_OVERFLOW_US - int((s + e) / 2 * 1e6)
    else:
        offset = int(rng.integers(500_000, 40_000_000))
    return RecordingDesign(
        stem, user, lighting, seed, offset, round(duration, 6), _user_style(seed, user),
        tuple(windows),
    )  # fmt: skip


__all__ = ["TS_OVERFLOW_US", "WRAP_STEMS", "RecordingDesign", "UserStyle", "design_recording"]
