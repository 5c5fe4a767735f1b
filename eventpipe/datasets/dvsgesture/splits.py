"""The published DVS Gesture split: users 1-23 train, 24-29 test (the trials files).

One fold (:func:`eventpipe.datasets.base.published_split_folds`, ``unit="recording"``): with
the ``cv`` protocol, validation is ``round(0.1 * n)`` whole training recordings drawn with
``numpy.random.default_rng(0)`` from the training recordings sorted by name, so no recording is
split between training and validation; ``train-test`` has no validation part.

>>> fold = official_folds(None, "cv")[0]
>>> len(fold.train), len(fold.val), len(fold.test)
(88, 10, 24)
"""

from __future__ import annotations

from collections.abc import Iterable

from eventpipe.datasets.base import Fold, published_split_folds
from eventpipe.datasets.dvsgesture.facts import RECORDINGS, official_split, recordings_for_subset


def official_folds(
    recordings: Iterable[str] | None = None, protocol: str = "cv", subset: str = "full"
) -> list[Fold]:
    """``[SplitFold]`` over ``recordings`` (official names; ``None``: all 122).

    Raises:
        LayoutError: a name that is not an official recording. ValueError: unknown protocol or
            subset.
    """
    recordings_for_subset(subset)
    return published_split_folds(recordings, protocol, official_split, RECORDINGS, "recording")


__all__ = ["official_folds"]
