"""Batches: what a batch request is, how items are stacked, and where output memory comes from.

A batch is ``(frames, labels, metas)``: ``frames`` a ``[N, T, P, H, W]`` tensor, ``labels``
int64 ``[N]`` (0-based class ids), ``metas`` a list of N dicts (one per sample).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class BatchRequest:
    """Dataset indices of one batch and its epoch: what the batch samplers yield.

    Indexing a :class:`~eventpipe.data.dataset.CacheDataset` with it returns the whole batch
    (one densify kernel call), with the random crops of ``epoch``.
    """

    epoch: int
    indices: tuple[int, ...]


def _refs_when_free() -> int:
    bufs = [np.empty(1)]
    for buf in bufs:
        return sys.getrefcount(buf)
    raise AssertionError  # pragma: no cover


class OutputPool:
    """Recycles output arrays whose tensors are gone, so batches do not pay for fresh pages.

    A fresh multi-megabyte tensor per batch costs a page fault per 4 KiB page on first write
    (measured: allocating + writing a new batch takes 2-4x as long as writing into memory that
    is already mapped). The pool hands out ``torch.from_numpy(buffer)``; the tensor's storage
    (and every view of it, numpy arrays from ``.numpy()`` included) keeps a reference to the
    numpy buffer, so a buffer is reused only when its reference count shows that no tensor,
    view or storage uses it any more. Keeping a batch (``batches.append(x)``) is therefore
    always safe: that buffer is simply not reused.

    Args:
        max_per_shape: buffers kept per (shape, dtype); more live batches get plain memory.
        max_bytes: total bytes the pool may keep.

    >>> pool = OutputPool()
    >>> a = pool.tensor((2, 3), np.float32)
    >>> del a
    >>> b = pool.tensor((2, 3), np.float32); pool.reused
    1
    """

    _FREE = _refs_when_free()  # list + loop variable + getrefcount's argument

    def __init__(self, max_per_shape: int = 4, max_bytes: int = 2 << 30) -> None:
        self.max_per_shape, self.max_bytes = max_per_shape, max_bytes
        self._bufs: dict[tuple, list[np.ndarray]] = {}
        self.nbytes = 0
        self.reused = 0

    def tensor(self, shape: tuple[int, ...], dtype: np.dtype) -> torch.Tensor:
        """An uninitialised tensor of ``shape``/``dtype``, on recycled memory when possible."""
        key = (tuple(shape), np.dtype(dtype).str)
        bufs = self._bufs.setdefault(key, [])
        for buf in bufs:
            if sys.getrefcount(buf) <= self._FREE:
                self.reused += 1
                return torch.from_numpy(buf)
        buf = np.empty(shape, dtype=dtype)
        if len(bufs) < self.max_per_shape and self.nbytes + buf.nbytes <= self.max_bytes:
            bufs.append(buf)
            self.nbytes += buf.nbytes
        return torch.from_numpy(buf)

    def clear(self) -> None:
        """Forget all buffers (memory is freed once their tensors are gone)."""
        self._bufs.clear()
        self.nbytes = 0


def shared_empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor in shared memory (as torch's default_collate makes in workers)."""
    numel = int(np.prod(shape))
    storage = torch.empty(0, dtype=dtype)._typed_storage()._new_shared(numel)
    return torch.empty(0, dtype=dtype).new(storage).view(shape)


def collate(
    items: Iterable[tuple[torch.Tensor, int, dict[str, Any]]],
) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
    """Stack items into ``(frames [N, T, P, H, W], labels int64 [N], list of meta dicts)``.

    In a DataLoader worker the stacked frames are allocated in shared memory (no copy when the
    batch is sent to the main process), like torch's default collate.
    """
    items = list(items)
    tensors = [it[0] for it in items]
    out = None
    if tensors and torch.utils.data.get_worker_info() is not None:
        out = shared_empty((len(tensors), *tensors[0].shape), tensors[0].dtype)
    frames = torch.stack(tensors, out=out)
    labels = torch.tensor([int(it[1]) for it in items], dtype=torch.int64)
    return frames, labels, [it[2] for it in items]


def whole_batch(batch: Any) -> Any:
    """``collate_fn`` of the whole-batch path: the dataset already returned a batch."""
    return batch


__all__ = ["BatchRequest", "OutputPool", "collate", "shared_empty", "whole_batch"]
