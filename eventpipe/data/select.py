"""Which rows of a cache's ``/samples`` table a dataset holds, and in which order."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from eventpipe.datasets.base import Fold
from eventpipe.errors import CacheError


def select_rows(table: pd.DataFrame, samples: Any, path: str | os.PathLike = "cache") -> np.ndarray:
    """Row numbers of ``/samples`` for a selection, in the requested order.

    Args:
        table: the samples table (``CacheFile.samples`` or ``CacheIndex.samples``).
        samples: ``None`` (all rows), sample ids (ints), recording stems (str: all their
            samples, recording by recording) or ``(fold, part)`` with a
            :class:`~eventpipe.datasets.base.Fold` and ``"train" | "val" | "test"``.
        path: the cache, named in error messages.

    Returns:
        int64 row numbers.

    Raises:
        CacheError: a requested sample id or recording is not in the table.
        TypeError: anything else.
    """
    if samples is None:
        return np.arange(len(table), dtype=np.int64)
    if isinstance(samples, Fold):
        raise TypeError("pass (fold, part) or use CacheDataset.from_fold(path, view, fold, part)")
    if isinstance(samples, tuple) and len(samples) == 2 and isinstance(samples[0], Fold):
        fold, part = samples
        samples = fold.sample_ids(table, part)
    items = list(samples) if not isinstance(samples, np.ndarray) else samples.tolist()
    if not items:
        return np.zeros(0, dtype=np.int64)
    if all(isinstance(s, str) for s in items):
        return _rows_of_recordings(table, items, path)
    if all(isinstance(s, int | np.integer) and not isinstance(s, bool) for s in items):
        return _rows_of_ids(table, items, path)
    raise TypeError(
        "samples must be None, sample ids (ints), recording stems (str) or (fold, part)"
    )


def _rows_of_recordings(table: pd.DataFrame, stems: list[str], path: Any) -> np.ndarray:
    rec = table["recording"].to_numpy().astype(str)
    missing = [s for s in stems if not (rec == s).any()]
    if missing:
        raise CacheError(f"{path}: no samples of recordings {missing} in this cache")
    return np.concatenate([np.flatnonzero(rec == s) for s in stems]).astype(np.int64)


def _rows_of_ids(table: pd.DataFrame, items: list, path: Any) -> np.ndarray:
    ids = table["sample_id"].to_numpy().astype(np.int64)
    pos = {int(s): i for i, s in enumerate(ids)}
    missing = [int(s) for s in items if int(s) not in pos]
    if missing:
        shown = missing[:10]
        raise CacheError(
            f"{path}: sample ids {shown}{'...' if len(missing) > 10 else ''} are not "
            f"in this cache ({len(ids)} samples, ids {ids.min()}..{ids.max()})"
        )
    return np.array([pos[int(s)] for s in items], dtype=np.int64)


__all__ = ["select_rows"]
