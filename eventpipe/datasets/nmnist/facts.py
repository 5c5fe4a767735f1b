"""N-MNIST facts: classes, sensor, the two published parts, recording stems and sample ids.

The archive holds ``Train/<digit>/<n>.bin`` (``n`` = 1..60000, the MNIST training image) and
``Test/<digit>/<n>.bin`` (1..10000). eventpipe's build unit (a *recording*, also the Parquet
partition) is one digit folder of one part: ``train_0`` .. ``train_9``, ``test_0`` .. ``test_9``.

Sample ids are stable whatever subset is built::

    train: sample_id = n - 1            (0 .. 59999)
    test:  sample_id = 60000 + n - 1    (60000 .. 69999)

>>> sample_id("test", 12), parse_stem("train_3")
(60011, ('train', 3))
"""

from __future__ import annotations

from eventpipe.errors import LayoutError

#: class names; index = 0-based class id = the digit
CLASS_NAMES: tuple[str, ...] = tuple(str(d) for d in range(10))
#: ATIS crop ``(W, H, P)``
SENSOR_SIZE: tuple[int, int, int] = (34, 34, 2)
#: published parts, in official order
SPLITS: tuple[str, ...] = ("train", "test")
#: folder name of each part in the official archive
SPLIT_DIRS: dict[str, str] = {"train": "Train", "test": "Test"}
#: files (samples) per part in the official archive
N_FILES: dict[str, int] = {"train": 60000, "test": 10000}
#: first sample id of each part
ID_BASE: dict[str, int] = {"train": 0, "test": 60000}
#: ``--subset`` values: everything, or one published part
SUBSETS: tuple[str, ...] = ("full", "train", "test")

#: every recording stem in official order: train_0 .. train_9, test_0 .. test_9
STEMS: tuple[str, ...] = tuple(f"{s}_{d}" for s in SPLITS for d in range(10))


def parse_stem(stem: str) -> tuple[str, int]:
    """``"train_3"`` -> ``("train", 3)``; raises :class:`LayoutError` for another name."""
    if stem not in STEMS:
        raise LayoutError(f"{stem!r}: not an N-MNIST recording name (expected train_0..test_9)")
    split, digit = stem.split("_")
    return split, int(digit)


def split_of(stem: str) -> str:
    """The published part (``"train"`` / ``"test"``) of a recording stem."""
    return parse_stem(stem)[0]


def sample_id(split: str, number: int) -> int:
    """The sample id of file ``<number>.bin`` of a part (see the module docstring)."""
    return ID_BASE[split] + number - 1


def stems_for_subset(subset: str = "full") -> tuple[str, ...]:
    """The recording stems of a subset: ``full`` (20), ``train`` or ``test`` (10 each)."""
    if subset == "full":
        return STEMS
    if subset in SPLITS:
        return tuple(s for s in STEMS if s.startswith(subset + "_"))
    raise ValueError(f"unknown subset {subset!r}; expected one of {SUBSETS}")


__all__ = [
    "CLASS_NAMES",
    "ID_BASE",
    "N_FILES",
    "SENSOR_SIZE",
    "SPLITS",
    "SPLIT_DIRS",
    "STEMS",
    "SUBSETS",
    "parse_stem",
    "sample_id",
    "split_of",
    "stems_for_subset",
]
