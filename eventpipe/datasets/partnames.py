"""Names of the published parts of a dataset released as one file per part (SHD, N-TIDIGITS):
each part (``train``, ``test``) is one build unit, its stem is its split. numpy-free, so the
datasets' facts (and ``python -m eventpipe --help``) import no numpy.

>>> stems_for_subset("full"), split_of("test")
(('train', 'test'), 'test')
"""

from __future__ import annotations

from eventpipe.errors import LayoutError

#: the published parts, in order
SPLITS = ("train", "test")
#: ``--subset`` values: both parts or one
SUBSETS = ("full", "train", "test")


def stems_for_subset(subset: str = "full") -> tuple[str, ...]:
    """``full`` -> ``("train", "test")``; ``train`` / ``test`` -> that part."""
    if subset == "full":
        return SPLITS
    if subset in SPLITS:
        return (subset,)
    raise ValueError(f"unknown subset {subset!r}; expected one of {SUBSETS}")


def split_of(stem: str) -> str:
    """The published part of a recording stem (the stem itself)."""
    if stem not in SPLITS:
        raise LayoutError(f"{stem!r}: not a part name; expected train or test")
    return stem


__all__ = ["SPLITS", "SUBSETS", "split_of", "stems_for_subset"]
