"""Every sampler of the data layer: which dataset indices form a batch, epoch by epoch.

* :class:`EpochBatchSampler`: shuffled (or ordered) batches of ``range(n)``; each ``iter()``
  is one epoch. What :meth:`CacheDataset.loader <eventpipe.data.dataset.CacheDataset.loader>`
  uses.
* :class:`IndexBatches`: fixed lists of indices (a distributed rank's shard, evaluation batches
  spread over ranks), as :class:`~eventpipe.data.batch.BatchRequest` objects or plain lists.

Both yield ``BatchRequest(epoch, indices)`` for the whole-batch path of a ``CacheDataset``, so
the epoch travels with every request and DataLoader workers need no shared state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from eventpipe.data.batch import BatchRequest


class EpochBatchSampler(Sampler):
    """Yields one :class:`BatchRequest` per batch; each ``iter()`` is one epoch.

    The shuffle order of epoch ``e`` is ``np.random.default_rng((seed, e)).permutation(n)``;
    the epoch number travels with every request, so workers need no shared state.

    >>> [r.indices for r in EpochBatchSampler(5, 2)]
    [(0, 1), (2, 3), (4,)]
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        epoch: int = 0,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        self.n, self.batch_size, self.shuffle, self.drop_last = n, batch_size, shuffle, drop_last
        self.seed, self.epoch = int(seed), int(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Epoch of the next pass."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def __iter__(self) -> Iterator[BatchRequest]:
        epoch = self.epoch
        self.epoch += 1
        if self.shuffle:
            order = np.random.default_rng((self.seed, epoch)).permutation(self.n)
        else:
            order = np.arange(self.n)
        for k in range(len(self)):
            chunk = order[k * self.batch_size : (k + 1) * self.batch_size]
            yield BatchRequest(epoch, tuple(int(i) for i in chunk))


class IndexBatches(Sampler):
    """A batch sampler over fixed lists of dataset indices (one pass = these batches).

    With ``requests=True`` it yields :class:`BatchRequest` ``(epoch, indices)`` for a
    ``CacheDataset`` (whole-batch path, crops from ``(seed, epoch, sample id)``), else the index
    lists themselves (a ``DataLoader`` ``batch_sampler``).

    >>> list(IndexBatches([[3, 1], [2]], epoch=4, requests=True))[0]
    BatchRequest(epoch=4, indices=(3, 1))
    """

    def __init__(self, batches: list[list[int]], epoch: int = 0, requests: bool = False) -> None:
        self.batches = [list(map(int, b)) for b in batches]
        self.epoch, self.requests = int(epoch), requests

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Any]:
        if self.requests:
            for b in self.batches:
                yield BatchRequest(self.epoch, tuple(b))
        else:
            yield from (list(b) for b in self.batches)


__all__ = ["EpochBatchSampler", "IndexBatches"]
