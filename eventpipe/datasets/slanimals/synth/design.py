"""What each synthetic recording contains, independent of the event rate (the *scale*).

A :class:`RecordingDesign` fixes, for one stem and seed, the signer's style (position, size,
handedness, contrast), the camera (S1 lens angle), the timeline (when each of the 19 signs starts
and how long its tagged window lasts), the device-clock offset and the file header date. It is
drawn from its own random stream, ``SeedSequence(seed, spawn_key=(stem_index, 0))``, so the
same stem gets the same design whatever the scale and whichever other stems are generated.

Sample lengths (``t_last - t_first`` of a tagged slice) are designed to match the published
statistics of SL-Animals-DVS (880 .. 9466 ms, mean 4360 +- 1189 ms): the window length is a
subject tempo x class tempo x gamma draw with that mean and spread, redrawn outside
[:data:`MIN_WINDOW_S`, :data:`MAX_WINDOW_S`]. A gamma draw almost never reaches the published
extremes, so two samples (:data:`PINNED_WINDOWS`, the same for every seed) are pinned near them:
the full set then spans about 0.92 .. 9.40 s like the real one, and rules derived from the
shortest and mean sample length (e.g. the ``auto`` crop lengths) come out as on the real data.
Their recordings are noisy ones (S4, S3), so the measured length stays within a few ms of the
window at every scale.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np

from eventpipe.datasets.slanimals.facts import STEMS, parse_stem
from eventpipe.datasets.slanimals.synth.gestures import CLASS_TEMPO, SIGNS

#: published sample-length statistics (ms) the design aims at
TARGET_MEAN_MS = 4360.0
TARGET_STD_MS = 1189.0
TARGET_MIN_MS = 880.0
TARGET_MAX_MS = 9466.0
#: designed tagged-window bounds (s); measured lengths are at most a few ms shorter
MIN_WINDOW_S = 1.10
MAX_WINDOW_S = 9.40
#: (stem, class_id) -> window (s): the published shortest and longest samples, reproduced
PINNED_WINDOWS: dict[tuple[str, int], float] = {
    ("user21_sunlight", 10): 0.92,  # shark, a single straight stroke
    ("user10_indoor", 11): 9.40,  # lion
}
#: spread of the per-subject tempo factor
SUBJECT_TEMPO_SD = 0.12
#: every stem with ``STEMS.index(stem) % 8 == 5`` has its 32-bit device clock wrap mid-recording
WRAP_EVERY, WRAP_AT = 8, 5
WRAP_STEMS: tuple[str, ...] = tuple(s for i, s in enumerate(STEMS) if i % WRAP_EVERY == WRAP_AT)

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Style:
    """How one signer looks and moves, and how the camera sees them.

    Attributes:
        body_x, body_y: body centre offset from the sensor centre column / default height (px).
        hand_scale: hand and forearm size factor.
        amplitude: stroke amplitude factor.
        left_handed: mirror the whole signer about ``body_x``.
        bright: hands brighter than the background (leading edges give ON events).
        zoom: camera distance factor around the sensor centre.
        tilt: S1 higher lens angle (keystone warp strength, 0 for other groups).
        sway: body sway amplitude (px).
    """

    body_x: float
    body_y: float
    hand_scale: float
    amplitude: float
    left_handed: bool
    bright: bool
    zoom: float
    tilt: float
    sway: float


@dataclass(frozen=True)
class GestureDesign:
    """One sign in a recording, times in seconds from the recording start.

    The tagged window is ``[start, start + window)``; the hands move during
    ``[motion_start, motion_end]`` (raise, sign stroke, lower) inside it.
    """

    class_id: int
    start: float
    window: float
    motion_start: float
    motion_end: float
    amplitude: float
    dx: float
    dy: float

    @property
    def end(self) -> float:
        return self.start + self.window


@dataclass(frozen=True)
class RecordingDesign:
    """Everything about one recording except its events."""

    stem: str
    index: int
    subject: int
    group: str
    seed: int
    style: Style
    gestures: tuple[GestureDesign, ...]
    duration: float
    offset_us: int
    created: str

    @property
    def wraps(self) -> bool:
        """True when the 32-bit device clock wraps inside this recording."""
        return self.offset_us + int(self.duration * 1e6) >= 2**32


def stream(seed: int, index: int, purpose: int) -> np.random.Generator:
    """An independent random stream for (seed, recording index, purpose)."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(index), int(purpose)))
    return np.random.Generator(np.random.PCG64(ss))


def _windows(rng: np.random.Generator, tempo: float) -> np.ndarray:
    """19 window lengths (s): subject tempo x class tempo x gamma, redrawn out of bounds."""
    # variance budget: total CV^2 = (1+cv_s^2)(1+cv_c^2)(1+cv_g^2) - 1
    cv_total = TARGET_STD_MS / TARGET_MEAN_MS
    cv_c2 = float(np.var(CLASS_TEMPO))
    cv_g2 = (1 + cv_total**2) / ((1 + SUBJECT_TEMPO_SD**2) * (1 + cv_c2)) - 1
    shape = 1.0 / cv_g2
    scale = TARGET_MEAN_MS / 1000.0 / shape
    out = np.empty(len(SIGNS))
    for k in range(len(SIGNS)):
        while True:
            w = tempo * CLASS_TEMPO[k] * rng.gamma(shape, scale)
            if MIN_WINDOW_S <= w <= MAX_WINDOW_S:
                out[k] = w
                break
    return out


def design_recording(stem: str, seed: int = 0) -> RecordingDesign:
    """Draw the design of one recording (pure function of ``stem`` and ``seed``)."""
    index = STEMS.index(stem)
    subject, group = parse_stem(stem)
    rng = stream(seed, index, 0)
    style = Style(
        body_x=float(rng.uniform(-12, 12)),
        body_y=float(rng.uniform(-8, 6)),
        hand_scale=float(rng.uniform(0.85, 1.15)),
        amplitude=float(rng.uniform(0.85, 1.15)),
        left_handed=bool(rng.random() < 0.15),
        bright=bool(rng.random() < 0.8),
        zoom=float(rng.uniform(0.9, 1.1)),
        tilt=float(rng.uniform(0.22, 0.34)) if group.name == "S1" else 0.0,
        sway=float(rng.uniform(0.5, 1.5)),
    )
    tempo = float(np.clip(rng.normal(1.0, SUBJECT_TEMPO_SD), 0.7, 1.3))
    windows = _windows(rng, tempo)
    for (pinned_stem, class_id), w in PINNED_WINDOWS.items():
        if pinned_stem == stem:
            windows[class_id] = w
    gestures = []
    t = float(rng.uniform(0.8, 2.5))  # lead-in
    for k in range(len(SIGNS)):
        w = float(windows[k])
        pre = float(rng.uniform(0.03, 0.2))
        post = float(rng.uniform(0.03, 0.2))
        gestures.append(
            GestureDesign(
                class_id=k,
                start=t,
                window=w,
                motion_start=t + pre,
                motion_end=t + w - post,
                amplitude=float(rng.uniform(0.85, 1.15)),
                dx=float(rng.normal(0, 2.5)),
                dy=float(rng.normal(0, 2.5)),
            )
        )
        t += w + float(rng.uniform(0.4, 1.6))  # idle gap (hands at rest)
    duration = t + float(rng.uniform(0.2, 1.4))  # trailer after the last gap
    dur_us = int(np.ceil(duration * 1e6))
    if index % WRAP_EVERY == WRAP_AT:
        offset = 2**32 - int(rng.uniform(0.25, 0.75) * dur_us)
    else:
        offset = int(rng.integers(2**28, 2**32 - dur_us - 10**6))
    when = _dt.datetime(2019, 3, 4, 9, 0, 0) + _dt.timedelta(
        days=2 * index, seconds=int(rng.integers(0, 8 * 3600))
    )
    created = (
        f"{_DAYS[when.weekday()]} {_MONTHS[when.month - 1]} {when.day:02d} "
        f"{when:%H:%M:%S} CET {when.year}"
    )
    return RecordingDesign(
        stem=stem,
        index=index,
        subject=subject,
        group=group.name,
        seed=int(seed),
        style=style,
        gestures=tuple(gestures),
        duration=duration,
        offset_us=offset,
        created=created,
    )
