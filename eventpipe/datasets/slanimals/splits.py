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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eventpipe.datasets.slanimals.facts import STEMS, parse_stem, stems_for_subset
from eventpipe.errors import CacheError

PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: recording stems of each part.

    Attributes:
        index: 1-based fold number (as the published logs print it).
        train: training recordings, in the published iteration order.
        val: validation recordings (empty for the train/test protocol).
        test: test recordings.
    """

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def part(self, name: str) -> tuple[str, ...]:
        """The recordings of one part: ``"train"``, ``"val"`` or ``"test"``."""
        if name not in PARTS:
            raise ValueError(f"unknown fold part {name!r}; expected one of {PARTS}")
        return getattr(self, name)

    def sample_ids(
        self, samples: pd.DataFrame, part: str | None = None, *, strict: bool = True
    ) -> dict[str, np.ndarray] | np.ndarray:
        """Sample ids of each part, given a samples table (``CacheFile.samples`` or similar).

        Args:
            samples: table with at least the columns ``recording`` (str) and ``sample_id``.
            part: one part name to get a single array; ``None`` returns all three in a dict.
            strict: raise :class:`~eventpipe.errors.CacheError` when a recording of the fold
                has no sample in ``samples`` (the cache was built from other recordings).

        Returns:
            int64 sample ids, recording by recording in the part's order, and within a
            recording in ascending sample id (= tag-file row) order: the published
            ``list_sliced_files`` order.
        """
        if part is not None:
            return _ids_for(samples, self.part(part), strict=strict)
        return {name: _ids_for(samples, self.part(name), strict=strict) for name in PARTS}

    def as_dict(self) -> dict:
        """Plain dict (JSON-ready) of the fold."""
        return {"index": self.index, **{p: list(self.part(p)) for p in PARTS}}


def _ids_for(samples: pd.DataFrame, recordings: Sequence[str], *, strict: bool) -> np.ndarray:
    rec = samples["recording"]
    if rec.dtype == object and len(rec) and isinstance(rec.iloc[0], bytes):
        rec = rec.str.decode("ascii")
    rec = rec.astype(str).to_numpy()
    ids = samples["sample_id"].to_numpy().astype(np.int64)
    order = np.argsort(ids, kind="stable")
    rec, ids = rec[order], ids[order]
    out = []
    missing = []
    for stem in recordings:
        sel = ids[rec == stem]
        if len(sel) == 0:
            missing.append(stem)
        out.append(sel)
    if missing and strict:
        raise CacheError(
            f"samples table has no sample of recordings {missing}; build the cache from them or "
            "pass recordings= to the split function (strict=False to skip them)"
        )
    return np.concatenate(out) if out else np.zeros(0, np.int64)


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
