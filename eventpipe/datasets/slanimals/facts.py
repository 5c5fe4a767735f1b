"""SL-Animals-DVS facts: the 19 classes, the 59 published recording stems, groups and lighting.

Groups as published (DESIGN "The data, exactly as published")::

    S1  user25_imse .. user34_imse        10  side-window daylight, higher lens angle
    S2  user35_dc .. user59_dc            25  side-window daylight
    S3  user00_indoor .. user17_indoor    17  artificial neon light (no user04)
    S4  user18_sunlight .. user24_sunlight 7  strong frontal sunlight

The "reduced" subset is every recording except S3 (42 recordings, 798 samples).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eventpipe.errors import LayoutError

#: The 19 SL-Animals-DVS classes; index = 0-based class id (CSV class - 1).
CLASS_NAMES: tuple[str, ...] = (
    "cat", "dog", "camel", "cow", "sheep", "goat", "wolf", "squirrel", "mouse", "dolphin",
    "shark", "lion", "monkey", "snake", "spider", "butterfly", "bird", "duck", "zebra",
)  # fmt: skip
N_CLASSES = len(CLASS_NAMES)

#: DVS128 ``(W, H, P)``, as :data:`eventpipe.events.DVS128_SENSOR_SIZE` (kept numpy-free here)
SENSOR_SIZE: tuple[int, int, int] = (128, 128, 2)

SAMPLES_PER_RECORDING = N_CLASSES  # 19 gestures per recording


@dataclass(frozen=True)
class Group:
    """A recording group: name (S1..S4), file suffix, lighting label and description."""

    name: str
    suffix: str
    lighting: str
    description: str


GROUPS: dict[str, Group] = {
    "S1": Group("S1", "imse", "daylight", "side-window daylight, higher lens angle"),
    "S2": Group("S2", "dc", "daylight", "side-window daylight"),
    "S3": Group("S3", "indoor", "neon", "artificial neon light"),
    "S4": Group("S4", "sunlight", "sunlight", "strong frontal sunlight"),
}
_SUFFIX_TO_GROUP = {g.suffix: g for g in GROUPS.values()}

#: The 59 stems in the published file-list order (sorted by name = by subject number).
STEMS: tuple[str, ...] = tuple(
    [f"user{i:02d}_indoor" for i in range(0, 18) if i != 4]
    + [f"user{i:02d}_sunlight" for i in range(18, 25)]
    + [f"user{i:02d}_imse" for i in range(25, 35)]
    + [f"user{i:02d}_dc" for i in range(35, 60)]
)
assert len(STEMS) == 59

SUBSETS = ("full", "reduced")

_STEM_RE = re.compile(r"^user(\d{2})_(indoor|sunlight|imse|dc)$")


def parse_stem(stem: str) -> tuple[int, Group]:
    """Return ``(subject, group)`` for a stem like ``user27_imse``.

    Raises :class:`LayoutError` for a name that is not of that form.
    """
    m = _STEM_RE.match(stem)
    if not m:
        raise LayoutError(
            f"{stem!r}: not an SL-Animals recording name (expected userNN_indoor|sunlight|imse|dc)"
        )
    return int(m.group(1)), _SUFFIX_TO_GROUP[m.group(2)]


def stems_for_subset(subset: str = "full") -> tuple[str, ...]:
    """The published stems of a subset: ``full`` (59) or ``reduced`` (42, without S3)."""
    if subset == "full":
        return STEMS
    if subset == "reduced":
        return tuple(s for s in STEMS if parse_stem(s)[1].name != "S3")
    raise ValueError(f"unknown subset {subset!r}; expected one of {SUBSETS}")


__all__ = [
    "CLASS_NAMES",
    "GROUPS",
    "N_CLASSES",
    "SAMPLES_PER_RECORDING",
    "SENSOR_SIZE",
    "STEMS",
    "SUBSETS",
    "Group",
    "parse_stem",
    "stems_for_subset",
]
