"""The PyTorch data layer over an eventpipe cache.

Modules, one concern each:

* :mod:`~eventpipe.data.index`: :class:`CacheIndex`, the cache's samples table, identity and
  view offsets, read once and shared by the datasets of a run;
* :mod:`~eventpipe.data.select`: :func:`select_rows`, which samples a dataset holds;
* :mod:`~eventpipe.data.dataset`: :class:`CacheDataset`, crop + densify at load time, per item
  or per batch;
* :mod:`~eventpipe.data.samplers`: :class:`EpochBatchSampler` and :class:`IndexBatches`;
* :mod:`~eventpipe.data.batch`: :class:`BatchRequest`, :func:`collate`, :class:`OutputPool`.

>>> from eventpipe.data import CacheDataset, CacheIndex                  # doctest: +SKIP
>>> index = CacheIndex("data/cache.h5")                                  # doctest: +SKIP
>>> train = CacheDataset(index, "stbp", samples=[0, 1, 2], train=True)    # doctest: +SKIP
>>> frames, labels, metas = next(iter(train.loader(batch_size=2)))       # doctest: +SKIP
>>> frames.shape                                                         # doctest: +SKIP
torch.Size([2, 17, 2, 128, 128])
"""

from __future__ import annotations

from eventpipe.data.batch import BatchRequest, OutputPool, collate
from eventpipe.data.dataset import CacheDataset
from eventpipe.data.index import CacheIndex, ViewIndex
from eventpipe.data.samplers import EpochBatchSampler, IndexBatches
from eventpipe.data.select import select_rows

__all__ = [
    "BatchRequest",
    "CacheDataset",
    "CacheIndex",
    "EpochBatchSampler",
    "IndexBatches",
    "OutputPool",
    "ViewIndex",
    "collate",
    "select_rows",
]
