"""Using eventpipe caches from other tools: tonic, spikingjelly/snntorch/norse, lava-dl/SLAYER.

Events
    A cache sample's events (:meth:`eventpipe.cache.hdf5.CacheFile.events`, or the four
    ``/events/{x,y,t,p}`` slices read with plain h5py) are a numpy structured array with tonic's
    field names and dtypes (``x, y`` int16, ``t`` int64 in microseconds from the sample's first
    event, ``p`` uint8): pass it straight to any tonic transform, e.g.
    ``tonic.transforms.ToFrame(sensor_size=(128, 128, 2), time_window=30_000)(events)``.
    :class:`TonicDataset` wraps a cache as a tonic-style dataset.

Frames
    :class:`eventpipe.data.CacheDataset` batches are ``[N, T, P, H, W]`` (tonic/spikingjelly
    sample order, batch first). The layouts other frameworks expect are views, no copy:

    * spikingjelly (multi-step), snntorch, norse: ``[T, N, P, H, W]``,
      ``to_tnchw(x)`` = ``x.transpose(0, 1)``;
    * lava-dl, slayerPytorch ("NCHWT"): ``[N, P, H, W, T]``,
      ``to_nchwt(x)`` = ``x.permute(0, 2, 3, 4, 1)``.

    Call ``.contiguous()`` afterwards if a layer needs contiguous memory (lava-dl's and SLAYER's
    CUDA kernels do); on a GPU do it after ``.to(device)`` so the copy runs on the device.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from eventpipe.data.index import CacheIndex
from eventpipe.events import DVS128_SENSOR_SIZE, EVENT_DTYPE

_Array = torch.Tensor | np.ndarray


def _check5(x: _Array, name: str) -> None:
    if x.ndim != 5:
        raise ValueError(f"{name} expects a 5-D batch, got shape {tuple(x.shape)}")


def to_tnchw(frames: _Array) -> _Array:
    """``[N, T, P, H, W]`` -> ``[T, N, P, H, W]`` (time first: spikingjelly, snntorch, norse).

    A view of the same memory (torch ``transpose`` / numpy ``swapaxes``), no copy.

    >>> to_tnchw(torch.zeros(8, 17, 2, 128, 128)).shape
    torch.Size([17, 8, 2, 128, 128])
    """
    _check5(frames, "to_tnchw")
    if isinstance(frames, np.ndarray):
        return frames.swapaxes(0, 1)
    return frames.transpose(0, 1)


def to_nchwt(frames: _Array) -> _Array:
    """``[N, T, P, H, W]`` -> ``[N, P, H, W, T]`` (time last: lava-dl, slayerPytorch "NCHWT").

    A view of the same memory (torch ``permute`` / numpy ``transpose``), no copy.

    >>> to_nchwt(torch.zeros(8, 17, 2, 128, 128)).shape
    torch.Size([8, 2, 128, 128, 17])
    """
    _check5(frames, "to_nchwt")
    if isinstance(frames, np.ndarray):
        return frames.transpose(0, 2, 3, 4, 1)
    return frames.permute(0, 2, 3, 4, 1)


def from_tnchw(frames: _Array) -> _Array:
    """``[T, N, P, H, W]`` -> ``[N, T, P, H, W]`` (inverse of :func:`to_tnchw`)."""
    return to_tnchw(frames)


def from_nchwt(frames: _Array) -> _Array:
    """``[N, P, H, W, T]`` -> ``[N, T, P, H, W]`` (inverse of :func:`to_nchwt`)."""
    _check5(frames, "from_nchwt")
    if isinstance(frames, np.ndarray):
        return frames.transpose(0, 4, 1, 2, 3)
    return frames.permute(0, 4, 1, 2, 3)


class TonicDataset:
    """A cache as a tonic-style dataset: ``dataset[i] -> (events, target)``.

    Like ``tonic.datasets.*``: ``events`` is a structured array (``x, y, t, p``; t in us from
    the sample's first event), ``target`` the 0-based class id; ``transform`` is applied to the
    events, ``target_transform`` to the target, ``transforms`` to both (``(events, target) ->
    (events, target)``). Works with tonic transforms, ``tonic.DiskCachedDataset``,
    ``tonic.collation.PadTensors`` and a torch ``DataLoader``.

    Args:
        path: the HDF5 cache.
        transform, target_transform, transforms: as in tonic.
        samples: ``None`` (all), sample ids, recording stems, or ``(fold, part)``.

    Attributes:
        sensor_size: ``(W, H, P)`` of the stored events. classes: the class names (index =
        class id). ordering: ``"xytp"``. dtype: the event dtype. meta: the selected rows of
        ``/samples`` (DataFrame).

    >>> ds = TonicDataset("data/cache.h5", transform=tonic.transforms.ToFrame(
    ...     sensor_size=(128, 128, 2), time_window=30_000))                  # doctest: +SKIP
    >>> ds.sensor_size, ds.classes[:2]                                       # doctest: +SKIP
    ((128, 128, 2), ['cat', 'dog'])
    >>> frames, target = ds[0]                                               # doctest: +SKIP
    """

    sensor_size: tuple[int, int, int] = DVS128_SENSOR_SIZE  # replaced by the cache's
    ordering = "xytp"
    dtype = EVENT_DTYPE

    def __init__(
        self,
        path: str | os.PathLike,
        transform: Any = None,
        target_transform: Any = None,
        transforms: Any = None,
        samples: Any = None,
    ) -> None:
        self.path = Path(path)
        self.transform = transform
        self.target_transform = target_transform
        self.transforms = transforms
        index = CacheIndex(self.path)
        self.sensor_size = index.sensor_size
        self.synthetic = index.synthetic
        self._offsets = index.event_offsets
        rows = index.rows(samples)
        self._rows = rows
        self.meta = index.samples.iloc[rows].reset_index(drop=True)
        self.targets: list[int] = self.meta["class_id"].astype(int).tolist()
        self.classes: list[str] = list(index.class_names)
        self._h5: h5py.File | None = None
        self._pid: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = state["_pid"] = None
        return state

    def _file(self) -> h5py.File:
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._h5

    def __len__(self) -> int:
        return len(self._rows)

    def events(self, index: int) -> np.ndarray:
        """The events of dataset index ``index`` (EVENT_DTYPE, t from 0, us), untransformed."""
        row = int(self._rows[index])
        a, b = int(self._offsets[row]), int(self._offsets[row + 1])
        g = self._file()["events"]
        ev = np.empty(b - a, dtype=EVENT_DTYPE)
        for k in ("x", "y", "t", "p"):
            ev[k] = g[k][a:b]
        return ev

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        events = self.events(index)
        target: Any = self.targets[index]
        if self.transform is not None:
            events = self.transform(events)
        if self.target_transform is not None:
            target = self.target_transform(target)
        if self.transforms is not None:
            events, target = self.transforms(events, target)
        return events, target

    def __repr__(self) -> str:
        tag = "SYNTHETIC" if self.synthetic else "real"
        return f"TonicDataset({str(self.path)!r}, {len(self)} samples, {tag})"


__all__ = ["TonicDataset", "from_nchwt", "from_tnchw", "to_nchwt", "to_tnchw"]
