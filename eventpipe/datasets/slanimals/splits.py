"""The published cross-validation splits of SL-Animals-DVS, by recording.

The public STBP and SLAYER training code (``kfold_split`` in ``stbp_tools.py`` /
``learning_tools.py``, then ``sl_animals_*.py``) splits the **recordings**, never the samples:

1. the file list (``data/filelist.txt``: the 59 stems sorted by name, which is
   :data:`eventpipe.datasets.slanimals.facts.STEMS`; ``filelist_excludingS3.txt`` for the reduced
   set) is loaded
   in that order;
2. ``KFold(n_splits=4, shuffle=True, random_state=seed)`` with ``seed = 0`` gives 4 folds of
   (train, test) recordings;
3. ``train_test_split(train, test_size=0.15, random_state=seed + 1)`` moves 15% of each fold's
   training recordings to a validation set (``sl_animals_stbp.py`` / ``sl_animals_slayer.py``).

``train_test_only.py`` uses the same KFold folds without the validation split: see
:func:`train_test_folds`. Recording order inside each part is the order the published code
iterates them (the shuffled order ``train_test_split`` returns for train/val, KFold's ascending
order for test), so sample order reproduces the published ``Dataset`` index order.

>>> folds = published_folds()
>>> folds[0].test[:3]
('user02_indoor', 'user05_indoor', 'user11_indoor')
>>> len(folds[0].train), len(folds[0].val), len(folds[0].test)
(37, 7, 15)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from eventpipe.datasets.base import PARTS, Fold
from eventpipe.datasets.slanimals.facts import STEMS, parse_stem, stems_for_subset


def _recording_list(recordings: Iterable[str] | None, subset: str) -> list[str]:
    """Recordings in published file-list order, restricted to ``subset``."""
    if recordings is None:
        return list(stems_for_subset(subset))
    recs = list(dict.fromkeys(str(r) for r in recordings))  # unique, keep order
    published = set(STEMS)
    if all(r in published for r in recs):
        recs.sort(key=STEMS.index)  # published file-list order whatever the caller's order
    if subset != "full":
        keep = set(stems_for_subset(subset))
        for r in recs:
            parse_stem(r)  # LayoutError for a name outside the dataset
        recs = [r for r in recs if r in keep]
    return recs


def _kfold(recs: list[str], n_splits: int, seed: int):
    from sklearn.model_selection import KFold

    if len(recs) < n_splits:
        raise ValueError(f"{len(recs)} recordings cannot make {n_splits} folds")
    files = np.array(recs)
    kf = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train_idx, test_idx in kf.split(files):
        yield files[train_idx], files[test_idx]


def published_folds(
    recordings: Iterable[str] | None = None,
    subset: str = "full",
    n_splits: int = 4,
    val_size: float = 0.15,
    seed: int = 0,
) -> list[Fold]:
    """The published train/validation/test folds over recordings.

    Args:
        recordings: recording stems to split; ``None`` = the published file list of ``subset``.
            SL-Animals stems are put in the published file-list order (sorted by name) whatever
            order they are given in; other names keep the given order.
        subset: ``"full"`` (59 recordings) or ``"reduced"`` (42, without group S3).
        n_splits: number of KFold folds (published: 4).
        val_size: fraction of each fold's training recordings used for validation (published
            0.15); ``0`` gives no validation part (see :func:`train_test_folds`).
        seed: KFold ``random_state`` (published 0); validation uses ``seed + 1``.

    Returns:
        ``n_splits`` :class:`Fold` objects, index 1..n_splits.
    """
    from sklearn.model_selection import train_test_split

    recs = _recording_list(recordings, subset)
    folds = []
    for i, (train, test) in enumerate(_kfold(recs, n_splits, seed), start=1):
        if val_size:
            train, val = train_test_split(train, test_size=val_size, random_state=seed + 1)
        else:
            val = np.array([], dtype=str)
        folds.append(Fold(i, tuple(map(str, train)), tuple(map(str, val)), tuple(map(str, test))))
    return folds


def train_test_folds(
    recordings: Iterable[str] | None = None,
    subset: str = "full",
    n_splits: int = 4,
    seed: int = 0,
) -> list[Fold]:
    """The folds of the published ``train_test_only.py``: KFold train/test, no validation.

    Same KFold as :func:`published_folds` (so the test recordings are identical); the whole
    KFold training part is used for training, ``val`` is empty. The published script reports the
    maximum test accuracy over epochs, which is optimistic: label it so.
    """
    return published_folds(recordings, subset=subset, n_splits=n_splits, val_size=0, seed=seed)


__all__ = ["PARTS", "Fold", "published_folds", "train_test_folds"]
