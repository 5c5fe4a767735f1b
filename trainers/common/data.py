"""Where the protocol gets its samples: a :class:`DataSource` over an eventpipe cache.

The protocol only needs the samples table (recording, group, class of each sample id), the cache
identity (profile hash, synthetic flag), the frame geometry, and a way to make a
``torch.utils.data.Dataset`` for a list of sample ids. :class:`CacheSource` provides these from
an HDF5 cache: it reads the cache once into an ``eventpipe.data.CacheIndex`` that every
``eventpipe.data.CacheDataset`` of the run (each part of each fold) shares; tests pass a small
in-memory source with the same attributes.

Loaders are chosen by the dataset's type: a ``CacheDataset`` takes its whole-batch path, any
other torch dataset a plain ``DataLoader`` (after ``set_epoch`` if it is :class:`EpochAware`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch

from eventpipe.data import CacheDataset, CacheIndex, IndexBatches, collate
from eventpipe.data.batch import whole_batch


class DataSource(Protocol):
    """What the protocol reads from a dataset.

    Attributes:
        path: where the data lives (printed and saved).
        view: name of the frame view used.
        samples: one row per sample: ``sample_id`` (int), ``recording``, ``group`` (``"S1"``..),
            ``class_id`` (0-based), ``class_name``.
        synthetic: True when the cache was built from generated (not recorded) data.
        profile_hash: hash of the pipeline profile that built the cache ("" if unknown).
        sensor_size: ``(W, H, P)`` of the view's frames.
        class_names: the classes, index = class id.
        frame_dtype: dtype the datasets return frames in (uint8 when the view is binary).
        collate: the DataLoader ``collate_fn`` -> ``(x [N,T,P,H,W], labels int64 [N], meta)``.
    """

    path: str
    view: str
    samples: pd.DataFrame
    synthetic: bool
    profile_hash: str
    sensor_size: tuple[int, int, int]
    class_names: tuple[str, ...]
    collate: Callable[[list], Any]

    def dataset(self, sample_ids: np.ndarray, train: bool, seed: int) -> torch.utils.data.Dataset:
        """A dataset of exactly ``sample_ids`` in that order; ``train`` picks random crops."""
        ...


@runtime_checkable
class EpochAware(Protocol):
    """A dataset whose random crops depend on the epoch (``set_epoch`` before each pass)."""

    def set_epoch(self, epoch: int) -> None: ...


def _decode(v: Any) -> Any:
    return v.decode("ascii") if isinstance(v, bytes) else v


class CacheSource:
    """A :class:`DataSource` over an eventpipe HDF5 cache.

    Args:
        path: the ``.h5`` cache file.
        view: the frame view (``stbp``, ``slayer``, ...).
        in_memory: let the datasets read their samples' sparse frames once, at construction.
        uint8: request uint8 frames from the loader when the view is binary (``OR``); the
            training loop converts them to float32 on the device (less memory traffic).
        workers: DataLoader worker processes the datasets will be used with (0: the batch
            kernel may use Numba's threads in the main process).

    Attributes:
        index: the cache's :class:`~eventpipe.data.CacheIndex`, shared by every dataset made.
        dataset_name: registry name of the cache's dataset (its profile's ``dataset``).
        parallel: let the datasets' batch kernel use Numba's thread pool (default
            ``workers == 0``). Distributed runs turn it off: Numba's OpenMP pool would raise
            torch's thread count above torchrun's ``OMP_NUM_THREADS=1``.

    Raises:
        CacheError: missing or unreadable cache, or no such view (the message lists the views).
    """

    def __init__(
        self,
        path: str | Path,
        view: str,
        in_memory: bool = False,
        uint8: bool = True,
        workers: int = 0,
    ) -> None:
        self.path = str(path)
        self.view = view
        self.in_memory = in_memory
        self.workers = workers
        self.parallel = workers == 0
        self.index = CacheIndex(path)
        v = self.index.view(view)
        self.attrs = dict(self.index.attrs)
        self.view_attrs = dict(v.attrs)
        self.samples = self.index.samples.copy()
        self.synthetic = self.index.synthetic
        self.profile_hash = self.index.profile_hash
        self.sensor_size = v.sensor_size
        self.binning = v.binning
        self.class_names = self.index.class_names
        self.dataset_name = self.index.dataset_name
        self.frame_dtype = torch.uint8 if (uint8 and self.binning == "OR") else torch.float32
        self.collate = collate

    def dataset(self, sample_ids: np.ndarray, train: bool, seed: int) -> CacheDataset:
        """A :class:`~eventpipe.data.CacheDataset` of exactly ``sample_ids`` (in that order),
        sharing this source's :class:`~eventpipe.data.CacheIndex` (the cache is not re-read)."""
        return CacheDataset(
            self.index,
            self.view,
            samples=[int(i) for i in sample_ids],
            train=train,
            seed=seed,
            in_memory=self.in_memory,
            dtype=self.frame_dtype,
            parallel=self.parallel,
        )

    def describe(self) -> dict[str, Any]:
        """JSON-ready identity of the source (saved in results.json)."""
        return {
            "path": self.path,
            "view": self.view,
            "profile_hash": self.profile_hash,
            "synthetic": self.synthetic,
            "sensor_size": list(self.sensor_size),
            "binning": self.binning,
            "frame_dtype": str(self.frame_dtype).removeprefix("torch."),
            "n_samples": len(self.samples),
            "view_attrs": json.loads(json.dumps(self.view_attrs, default=str)),
        }


def _start_epoch(ds: Any, epoch: int) -> None:
    """``ds.set_epoch(epoch)`` for a dataset with epoch-dependent crops."""
    if isinstance(ds, EpochAware):
        ds.set_epoch(epoch)


def make_batch_loader(
    ds: Any,
    batches: list[list[int]],
    *,
    epoch: int,
    workers: int,
    pin_memory: bool,
    collate: Callable[[list], Any],
) -> Iterable:
    """A loader over the given batches of dataset indices, in that order (epoch ``epoch``).

    A ``CacheDataset`` gets one ``BatchRequest(epoch, indices)`` per batch (its whole-batch
    path: crops from ``(dataset seed, epoch, sample id)``, whoever asks for the sample); any
    other dataset a ``DataLoader`` with these batches as ``batch_sampler`` after
    ``ds.set_epoch(epoch)`` if it has one.
    """
    if isinstance(ds, CacheDataset):
        return torch.utils.data.DataLoader(
            ds,
            batch_size=None,
            sampler=IndexBatches(batches, epoch, requests=True),
            num_workers=workers,
            collate_fn=whole_batch,
            pin_memory=pin_memory,
        )
    _start_epoch(ds, epoch)
    return torch.utils.data.DataLoader(
        ds,
        batch_sampler=IndexBatches(batches),
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin_memory,
    )


def make_loader(
    ds: Any,
    *,
    batch_size: int,
    shuffle: bool,
    epoch: int,
    seed: int,
    workers: int,
    pin_memory: bool,
    collate: Callable[[list], Any],
    shard: tuple[int, int] | None = None,
) -> Iterable:
    """Batches of one pass (epoch ``epoch``) over ``ds``, deterministic in ``(seed, epoch)``.

    An eventpipe ``CacheDataset`` uses its whole-batch path (``ds.loader``: one densify kernel
    per batch, shuffle order from ``(dataset seed, epoch)``, crops from
    ``(dataset seed, epoch, sample id)``). Any other dataset gets a ``DataLoader`` whose shuffle
    generator is seeded with ``seed`` (after ``ds.set_epoch(epoch)`` if it has one).

    ``shard=(rank, world_size)`` (distributed training, ``shuffle=True`` only): this rank's
    part of the epoch, as ``DistributedSampler(shuffle=True, seed=seed)`` after
    ``set_epoch(epoch)`` picks it (:func:`trainers.common.distributed.shard_indices`), cut into
    batches of ``batch_size``; crops stay functions of ``(dataset seed, epoch, sample id)``.
    """
    if shard is not None and shard[1] > 1:
        from trainers.common.distributed import chunk, shard_indices

        if not shuffle:
            raise ValueError("make_loader: shard= is for shuffled training passes")
        rank, world = shard
        indices = shard_indices(len(ds), world, rank, seed, epoch)
        return make_batch_loader(
            ds,
            chunk(indices, batch_size),
            epoch=epoch,
            workers=workers,
            pin_memory=pin_memory,
            collate=collate,
        )
    if isinstance(ds, CacheDataset):
        return ds.loader(
            batch_size=batch_size,
            shuffle=shuffle,
            epoch=epoch,
            num_workers=workers,
            pin_memory=pin_memory,
        )
    _start_epoch(ds, epoch)
    return torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(int(seed)),
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin_memory,
    )


def recordings_of(samples: pd.DataFrame) -> list[str]:
    """The distinct recordings of a samples table."""
    return sorted({str(_decode(r)) for r in samples["recording"]})


def lookup(samples: pd.DataFrame, sample_ids: Sequence[int], column: str) -> np.ndarray:
    """``column`` of the rows with the given sample ids, in that order."""
    s = samples.set_index("sample_id")[column]
    return s.loc[np.asarray(sample_ids, dtype=np.int64)].map(_decode).to_numpy()
