"""DVSPlane facts: classes, sensor, file names, the published split and sample ids.

The archive holds one MATLAB file per recording (a model airplane dropped past an ATIS sensor),
named ``<class>_<n>.mat`` with ``<class>`` one of ``F117``, ``Mig31``, ``Su24``, ``Su35`` (the
class, 0-based in this order) and ``n = 1..200`` per class: 800 recordings. The published
first-spike coding split (lsying009/FS_coding, ``gather_dvsplane_filenames``) keeps files with
``0 < n <= 160`` for training and ``160 < n <= 200`` for testing: 640 + 160 recordings, 160 + 40
per class.

The recording stem is the file name without ``.mat`` (``"F117_12"``), also the build unit and
the Parquet partition; each recording is one sample, with a stable id::

    sample_id = class_id * 200 + n - 1        (F117_1 -> 0, Mig31_1 -> 200, Su35_200 -> 799)

>>> parse_stem("Mig31_161"), sample_id("Mig31_161"), split_of("Mig31_161")
(('Mig31', 161), 360, 'test')
"""

from __future__ import annotations

import re

from eventpipe.errors import LayoutError

#: class names (the file-name prefixes); index = 0-based class id (FS_coding's plane_label)
CLASS_NAMES: tuple[str, ...] = ("F117", "Mig31", "Su24", "Su35")
#: ATIS ``(W, H, P)``
SENSOR_SIZE: tuple[int, int, int] = (304, 240, 2)
#: files per class in the archive, numbered 1..N_PER_CLASS
N_PER_CLASS = 200
#: the last file number of the published training part (the rest is the test part)
LAST_TRAIN = 160
#: published parts, in official order
SPLITS: tuple[str, ...] = ("train", "test")
#: ``--subset`` values: everything, or one published part
SUBSETS: tuple[str, ...] = ("full", "train", "test")
#: a recording's file name: ``<class>_<n>.mat``
FILE_RE = re.compile(r"^(F117|Mig31|Su24|Su35)_(\d+)\.mat$")
SUFFIX = ".mat"

#: every recording stem in official order: class by class, n = 1..200
STEMS: tuple[str, ...] = tuple(f"{c}_{n}" for c in CLASS_NAMES for n in range(1, N_PER_CLASS + 1))


def parse_stem(stem: str) -> tuple[str, int]:
    """``"F117_12"`` -> ``("F117", 12)``; raises :class:`LayoutError` for another name."""
    m = FILE_RE.match(stem + SUFFIX)
    if m is None or not 1 <= int(m.group(2)) <= N_PER_CLASS or m.group(2).startswith("0"):
        raise LayoutError(
            f"{stem!r}: not a DVSPlane recording name; expected <class>_<n> with class in "
            f"{', '.join(CLASS_NAMES)} and n in 1..{N_PER_CLASS} (e.g. F117_12)"
        )
    return m.group(1), int(m.group(2))


def class_id(stem: str) -> int:
    """The 0-based class of a recording stem."""
    return CLASS_NAMES.index(parse_stem(stem)[0])


def split_of(stem: str) -> str:
    """The published part (``"train"``: n <= 160, ``"test"``: n > 160) of a recording stem."""
    return "train" if parse_stem(stem)[1] <= LAST_TRAIN else "test"


def sample_id(stem: str) -> int:
    """The stable sample id of a recording (see the module docstring)."""
    name, n = parse_stem(stem)
    return CLASS_NAMES.index(name) * N_PER_CLASS + n - 1


def stems_for_subset(subset: str = "full") -> tuple[str, ...]:
    """The recording stems of a subset: ``full`` (800), ``train`` (640) or ``test`` (160)."""
    if subset == "full":
        return STEMS
    if subset in SPLITS:
        return tuple(s for s in STEMS if split_of(s) == subset)
    raise ValueError(f"unknown subset {subset!r}; expected one of {SUBSETS}")


__all__ = [
    "CLASS_NAMES",
    "FILE_RE",
    "LAST_TRAIN",
    "N_PER_CLASS",
    "SENSOR_SIZE",
    "SPLITS",
    "STEMS",
    "SUBSETS",
    "SUFFIX",
    "class_id",
    "parse_stem",
    "sample_id",
    "split_of",
    "stems_for_subset",
]
