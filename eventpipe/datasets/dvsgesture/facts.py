"""DVS128 Gesture facts: the 11 classes, the 122 official recordings, users, lightings, sensor.

Sources (facts only):

- Recording names and the official split: the archive's ``trials_to_train.txt`` (98 lines,
  users 1-23) and ``trials_to_test.txt`` (24 lines, users 24-29), as listed line by line in
  ugurcancakal/DVSGesture (``test.py`` and ``test/test_process_aedat.py`` assert the contents of
  both trials files), cross-checked against the 122 file names of norse/norse
  ``norse/dataset/dvs_gesture.py`` (an MD5 list of every ``.aedat``) and spikingjelly's
  ``DVS128Gesture`` docstring (first/last lines of both files). Not every user has every lighting
  (e.g. user12: fluorescent_led and led only).
- Classes: IBM's ``gesture_mapping.csv`` (class 1..11, 11 = other gestures), as norse's
  ``class_to_idx`` spells them.
- Sample counts: spikingjelly's ``DVS128Gesture`` cuts 1176 training and 288 test samples
  (1464, one per label row, the "other" class included).
- Sensor: DVS128, 128 x 128 pixels, 2 polarities.

This module imports nothing heavy (the CLI reads it to list datasets).
"""

from __future__ import annotations

import re

from eventpipe.errors import LayoutError

#: The 11 classes; index = 0-based class id (CSV class - 1). "other_gestures" stays in the
#: cache; a profile drops it.
CLASS_NAMES: tuple[str, ...] = (
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
)
N_CLASSES = len(CLASS_NAMES)
#: 0-based id of "other_gestures"
OTHER_CLASS = N_CLASSES - 1

#: DVS128 ``(W, H, P)``
SENSOR_SIZE: tuple[int, int, int] = (128, 128, 2)

#: lighting conditions as they appear in the file names
LIGHTINGS: tuple[str, ...] = ("fluorescent", "fluorescent_led", "lab", "led", "natural")

#: users of each published part
TRAIN_USERS = tuple(range(1, 24))
TEST_USERS = tuple(range(24, 30))

#: lightings each user was recorded under (the trials files; see the module docstring)
_MISSING: dict[int, tuple[str, ...]] = {
    3: ("lab",), 4: ("lab",), 7: ("natural",), 8: ("natural",), 10: ("natural",),
    11: ("lab", "led"), 12: ("fluorescent", "lab", "natural"), 14: ("lab",),
    16: ("fluorescent_led",), 18: ("natural",), 20: ("lab", "natural"), 21: ("led",),
    23: ("natural",), 24: ("lab", "natural"), 25: ("fluorescent_led", "lab", "natural"),
    27: ("lab",),
}  # fmt: skip

#: The 122 official recordings, in trials-file order (train then test; sorted by name).
RECORDINGS: tuple[str, ...] = tuple(
    f"user{u:02d}_{light}"
    for u in TRAIN_USERS + TEST_USERS
    for light in LIGHTINGS
    if light not in _MISSING.get(u, ())
)
TRAIN_RECORDINGS = tuple(r for r in RECORDINGS if int(r[4:6]) in TRAIN_USERS)
TEST_RECORDINGS = tuple(r for r in RECORDINGS if int(r[4:6]) in TEST_USERS)
assert (len(RECORDINGS), len(TRAIN_RECORDINGS), len(TEST_RECORDINGS)) == (122, 98, 24)
_INDEX = {r: i for i, r in enumerate(RECORDINGS)}

#: trials files: split -> file name (in the archive's ``DvsGesture/`` folder)
TRIALS_FILES: dict[str, str] = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}

#: label rows per recording that :data:`SAMPLE_ID_STRIDE` leaves room for
SAMPLE_ID_STRIDE = 32

#: published sample counts (spikingjelly, one sample per label row, 11 classes)
PUBLISHED_SAMPLES = {"train": 1176, "test": 288}

SUBSETS = ("full",)

_STEM_RE = re.compile(r"^user(\d{2})_(fluorescent_led|fluorescent|lab|led|natural)$")


def parse_stem(stem: str) -> tuple[int, str]:
    """``(user, lighting)`` of a recording name such as ``user01_fluorescent_led``.

    Raises:
        LayoutError: not of the form ``userNN_<lighting>``.
    """
    m = _STEM_RE.match(stem)
    if not m:
        raise LayoutError(
            f"{stem!r}: not a DVS Gesture recording name; expected userNN_<lighting> with "
            f"lighting one of {', '.join(LIGHTINGS)}"
        )
    return int(m.group(1)), m.group(2)


def recording_index(stem: str) -> int:
    """0-based position of ``stem`` in :data:`RECORDINGS` (the sample-id base).

    Raises:
        LayoutError: ``stem`` is not one of the 122 official recordings.
    """
    try:
        return _INDEX[stem]
    except KeyError:
        raise LayoutError(
            f"{stem!r}: not one of the {len(RECORDINGS)} official DVS Gesture recordings"
        ) from None


def official_split(stem: str) -> str:
    """``"train"`` (users 1-23) or ``"test"`` (users 24-29) for an official recording."""
    recording_index(stem)
    return "train" if parse_stem(stem)[0] in TRAIN_USERS else "test"


def recordings_for_subset(subset: str = "full") -> tuple[str, ...]:
    """The official recordings of ``subset`` (only ``"full"``: all 122)."""
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; expected one of {SUBSETS}")
    return RECORDINGS


__all__ = [
    "CLASS_NAMES",
    "LIGHTINGS",
    "N_CLASSES",
    "OTHER_CLASS",
    "PUBLISHED_SAMPLES",
    "RECORDINGS",
    "SAMPLE_ID_STRIDE",
    "SENSOR_SIZE",
    "SUBSETS",
    "TEST_RECORDINGS",
    "TEST_USERS",
    "TRAIN_RECORDINGS",
    "TRAIN_USERS",
    "TRIALS_FILES",
    "official_split",
    "parse_stem",
    "recording_index",
    "recordings_for_subset",
]
