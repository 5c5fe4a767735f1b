"""What the data layer reads from a cache once: its samples table, identity and view indexes.

A :class:`CacheIndex` opens the HDF5 cache once and keeps what every dataset of a run needs:
the ``/samples`` table, the root attributes (profile, hash, synthetic flag, sensor size), the
event offsets, and per view its attributes and CSR offsets (:class:`ViewIndex`). Datasets built
from the same index (the train, validation and test parts of every fold) share it instead of
re-opening and re-parsing the cache each::

    index = CacheIndex("data/cache.h5")
    train = CacheDataset(index, "stbp", samples=train_ids, train=True)
    test = CacheDataset(index, "stbp", samples=test_ids)

The sample data itself (``/events``, ``/views/<name>/bin, p, y, x, value``) is not read here:
each dataset reads its crop windows lazily, per process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eventpipe.cache.hdf5 import CacheFile, CacheView, ViewAttrs
from eventpipe.cache.schema import dataset_name
from eventpipe.data.select import select_rows
from eventpipe.errors import CacheError

#: the sparse entry fields of a view, in their stored order
VIEW_ENTRY_FIELDS = ("bin", "p", "y", "x", "value")


@dataclass(frozen=True, eq=False)
class ViewIndex(ViewAttrs):
    """One view's metadata: attributes and per-sample CSR offsets (no sparse entries).

    Attributes:
        name: the view name (``stbp``, ``slayer``, ...).
        attrs: the view's attributes (``dt_us``, ``binning``, ``sensor_size``, ``train_crop``,
            ``train_crop_mode``, ``test_crop``, ``test_crop_mode``, ...).
        offsets: int64 ``[n_samples + 1]``: sample row ``i``'s entries are
            ``offsets[i]:offsets[i + 1]`` of ``/views/<name>/{bin,p,y,x,value}``.
        n_bins: int64 ``[n_samples]``: complete bins of each sample row.
        compressed: whether any entry dataset is compressed (decides the chunk cache).

    ``sensor_size``, ``dt_us``, ``binning``, ``rule`` and ``value_scale`` read ``attrs``
    (:class:`~eventpipe.cache.hdf5.ViewAttrs`).
    """

    name: str
    attrs: dict[str, Any]
    offsets: np.ndarray
    n_bins: np.ndarray
    compressed: bool

    @classmethod
    def read(cls, view: CacheView) -> ViewIndex:
        """The index of an open :class:`~eventpipe.cache.hdf5.CacheView`."""
        return cls(
            name=view.name,
            attrs=dict(view.attrs),
            offsets=np.asarray(view.offsets, dtype=np.int64),
            n_bins=np.asarray(view.n_bins, dtype=np.int64),
            compressed=any(getattr(view, k).compression is not None for k in VIEW_ENTRY_FIELDS),
        )


class CacheIndex:
    """A cache's samples table, identity and view indexes, read once and shared.

    Args:
        path: the HDF5 cache (``data/cache.h5``).

    Attributes:
        path: the cache file.
        attrs: root attributes (strings decoded).
        profile: the profile the cache was built with (parsed JSON).
        profile_hash: its sha256 (hex).
        synthetic: True when built from synthetic recordings.
        sensor_size: ``(W, H, P)`` of the stored events.
        samples: the ``/samples`` table (one row per sample, strings decoded); do not modify.
        event_offsets: int64 ``[n_samples + 1]`` CSR offsets into ``/events``.
        views: view name -> :class:`ViewIndex`, every view of the cache.

    Raises:
        CacheError: missing or unreadable cache, or another format (see ``CacheFile``).

    >>> index = CacheIndex("data/cache.h5")                   # doctest: +SKIP
    >>> index.dataset_name, index.class_names[:2], list(index.views)   # doctest: +SKIP
    ('slanimals', ('cat', 'dog'), ['slayer', 'stbp'])
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        with CacheFile(self.path) as cache:
            self.attrs: dict[str, Any] = dict(cache.attrs)
            self.profile: dict[str, Any] = cache.profile
            self.profile_hash = cache.profile_hash
            self.synthetic = cache.synthetic
            self.sensor_size: tuple[int, int, int] = cache.sensor_size
            self.samples: pd.DataFrame = cache.samples
            self.event_offsets = np.asarray(cache.event_offsets, dtype=np.int64)
            self.views: dict[str, ViewIndex] = {
                name: ViewIndex.read(cache.view(name)) for name in cache.view_names
            }

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def dataset_name(self) -> str:
        """Registry name of the dataset the cache was built from (the profile's ``dataset``)."""
        return dataset_name(self.profile)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The dataset's class names, index = class id.

        From the dataset's description (:func:`eventpipe.datasets.get`), without the classes
        the profile's ``drop_classes`` left out at the end of the list (DVS Gesture's
        ``other_gestures``: 10 classes, so a model has 10 outputs; a dropped class inside the
        list keeps its place, as class ids index this tuple); for a dataset this eventpipe
        does not know, the names the samples table holds, by class id.
        """
        from eventpipe import datasets

        if self.dataset_name in datasets.names():
            names = datasets.get(self.dataset_name).classes
            dropped = set(self.profile.get("drop_classes") or ())
            while names and names[-1] in dropped:
                names = names[:-1]
            return names
        pairs = self.samples[["class_id", "class_name"]].drop_duplicates().sort_values("class_id")
        names = dict(zip(pairs["class_id"].astype(int), pairs["class_name"].astype(str)))
        return tuple(names.get(i, str(i)) for i in range(max(names, default=-1) + 1))

    def view(self, name: str) -> ViewIndex:
        """The index of view ``name``; :class:`CacheError` naming the available views."""
        try:
            return self.views[name]
        except KeyError:
            have = ", ".join(self.views) or "none"
            raise CacheError(f"{self.path}: no view {name!r}; this cache has {have}") from None

    def rows(self, samples: Any) -> np.ndarray:
        """Row numbers of ``/samples`` for a selection (see :func:`select_rows`)."""
        return select_rows(self.samples, samples, self.path)

    def __repr__(self) -> str:
        tag = "SYNTHETIC" if self.synthetic else "real"
        return (
            f"CacheIndex({str(self.path)!r}, {self.dataset_name}, {len(self)} samples, "
            f"views {', '.join(self.views) or 'none'}, {tag})"
        )


__all__ = ["VIEW_ENTRY_FIELDS", "CacheIndex", "ViewIndex"]
