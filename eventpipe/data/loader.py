"""PyTorch data layer over an eventpipe cache: crop + densify at load time, per item or per batch.

A cache view (``/views/<name>``) stores each sample's binned frames sparsely (CSR over samples,
entries sorted by ``(bin, p, y, x)``). :class:`CacheDataset` selects samples, picks a temporal
crop of the view's ``train_crop`` bins (random start, training) or ``test_crop`` bins (fixed
start at bin 0, evaluation), and densifies it with the Numba kernels of
:mod:`eventpipe.kernels.crop` into ``[T, P, H, W]`` frames (zero-padded past the sample's end).

Two ways to iterate:

* per item, any sampler / DataLoader::

      ds = CacheDataset("data/cache.h5", "stbp", train=True)
      dl = DataLoader(ds, batch_size=8, shuffle=True, collate_fn=collate, num_workers=2)
      for epoch in range(E):
          ds.set_epoch(epoch)            # new random crops each epoch
          for frames, labels, meta in dl: ...   # frames [8, 17, 2, 128, 128] float32

* per batch (one ``densify_batch`` call per batch, no per-item Python overhead, epochs advance
  by themselves)::

      for frames, labels, meta in ds.loader(batch_size=8, num_workers=2): ...

Random crops are drawn from ``numpy.random.default_rng((seed, epoch, sample_id))``: distinct per
sample and per epoch (so DataLoader workers never repeat each other's crops), reproducible, and
independent of the number of workers, the batch size, the sampler order and the fold the sample
is in. The worker id is deliberately *not* part of the seed: the sample id already separates the
workers' streams, and leaving it out makes a run give the same crops with 0, 2 or 16 workers.

The HDF5 file is opened lazily, once per process, on first access (never at construction, never
pickled), so the dataset is safe to fork into DataLoader workers. ``in_memory=True`` instead
reads the selected samples' CSR arrays once at construction (shared copy-on-write by forked
workers).

Layouts for other frameworks are views (no copy), see :mod:`eventpipe.interop.frameworks`::

    frames.transpose(0, 1)           # [N,T,P,H,W] -> [T,N,P,H,W]  spikingjelly, snntorch, norse
    frames.permute(0, 2, 3, 4, 1)    # [N,T,P,H,W] -> [N,P,H,W,T]  lava-dl, slayerPytorch
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from eventpipe.cache.hdf5 import CacheFile
from eventpipe.cache.schema import VIEW_FIELDS, VIEW_VALUE_DTYPES
from eventpipe.errors import CacheError
from eventpipe.kernels import crop as _crop
from eventpipe.datasets.slanimals.splits import Fold

_FIELDS = ("bin", "p", "y", "x", "value")

_TORCH_TO_NUMPY = {
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.float16: np.float16,
    torch.uint8: np.uint8,
}

_META_COLUMNS = (
    "sample_id", "recording", "subject", "group", "lighting", "class_id", "class_name",
    "t_start_us", "t_end_us", "n_events",
)  # fmt: skip


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


@dataclass(frozen=True)
class BatchRequest:
    """What :class:`EpochBatchSampler` yields: dataset indices of one batch and its epoch."""

    epoch: int
    indices: tuple[int, ...]


class CacheDataset(Dataset):
    """A torch Dataset of one view of an eventpipe HDF5 cache.

    Args:
        path: the cache file (``data/cache.h5``).
        view: view name (``stbp``, ``slayer``, ``decolle``...).
        samples: which samples, in this order: ``None`` (all, sample-id order), a sequence of
            sample ids (ints), a sequence of recording stems (all their samples, recording by
            recording), or ``(fold, part)`` with a :class:`~eventpipe.datasets.slanimals.splits.Fold` and
            ``"train" | "val" | "test"`` (see :meth:`from_fold`).
        train: training mode (random crop of the view's ``train_crop`` bins, new every epoch)
            or evaluation mode (fixed crop of ``test_crop`` bins from bin 0). The crop modes
            stored in the view are honoured (``paper2021`` trains on a fixed crop).
        seed: base seed of the random crops.
        in_memory: read the selected samples' sparse frames once, at construction.
        dtype: ``torch.float32`` (default), ``float16``, ``float64`` or ``torch.uint8`` (OR
            views only: 8x less memory traffic; convert on the device with ``x.float()``).
        length: override the crop length in bins (default: the view's train/test crop).
        parallel: let :meth:`batch` spread a batch over Numba's threads (useful in the main
            process; leave off inside DataLoader workers, which already use the cores).
        reuse_buffers: recycle output memory in the main process (see :class:`OutputPool`):
            a returned tensor's memory is reused only once nothing references it any more.

    Items are ``(frames, class_id, meta)``: ``frames`` a ``[T, P, H, W]`` tensor of ``dtype``
    (T = crop length in bins, P polarities, H, W the view's sensor size), ``class_id`` an int
    in 0..18, ``meta`` a dict (sample_id, recording, subject, group, lighting, class_id,
    class_name, t_start_us, t_end_us, n_events, n_bins, crop_start, crop_length, synthetic).

    >>> ds = CacheDataset("data/cache.h5", "stbp", train=True)   # doctest: +SKIP
    >>> frames, label, meta = ds[0]                              # doctest: +SKIP
    >>> frames.shape                                             # doctest: +SKIP
    torch.Size([17, 2, 128, 128])
    """

    def __init__(
        self,
        path: str | os.PathLike,
        view: str,
        samples: Sequence[int] | Sequence[str] | tuple[Fold, str] | None = None,
        train: bool = False,
        seed: int = 0,
        in_memory: bool = False,
        dtype: torch.dtype = torch.float32,
        length: int | None = None,
        parallel: bool = False,
        reuse_buffers: bool = True,
    ) -> None:
        self.path = Path(path)
        self.view = view
        self.train = bool(train)
        self.seed = int(seed)
        self.in_memory = bool(in_memory)
        if dtype not in _TORCH_TO_NUMPY:
            raise ValueError(f"dtype must be one of {list(_TORCH_TO_NUMPY)}, got {dtype}")
        self.dtype = dtype
        self._np_dtype = np.dtype(_TORCH_TO_NUMPY[dtype])

        with CacheFile(self.path) as cache:
            table = cache.samples
            v = cache.view(view)
            self.view_attrs: dict[str, Any] = dict(v.attrs)
            self.sensor_size: tuple[int, int, int] = v.sensor_size
            self.synthetic = cache.synthetic
            self._offsets = np.asarray(v.offsets, dtype=np.int64)
            self._all_n_bins = np.asarray(v.n_bins, dtype=np.int64)
            rows = select_rows(table, samples, self.path)
            self._rows = rows
            self.meta: pd.DataFrame = table.iloc[rows].reset_index(drop=True)
            self._memory = self._load(v, rows) if self.in_memory else None
            # uncompressed chunks are read in place: no chunk cache (it would pull whole
            # chunks, megabytes, for a crop window of kilobytes; measured 2x slower)
            self._chunk_cache = (
                0 if all(getattr(v, k).compression is None for k in _FIELDS) else None
            )

        self.binning = str(self.view_attrs["binning"])
        self._field_dtypes = tuple(
            np.dtype(VIEW_FIELDS[k] if k != "value" else VIEW_VALUE_DTYPES[self.binning])
            for k in _FIELDS
        )
        self.parallel = bool(parallel)
        if self._np_dtype == np.uint8 and self.binning != "OR":
            raise ValueError(
                f"view {view!r} is {self.binning}-binned; uint8 output is only exact for OR views "
                "(use a float dtype)"
            )
        kind = "train" if self.train else "test"
        self.crop_mode = str(
            self.view_attrs.get(f"{kind}_crop_mode", "random" if train else "fixed")
        )
        crop = self.view_attrs.get(f"{kind}_crop") if length is None else length
        if crop in (None, "", "auto"):
            raise CacheError(
                f"{self.path}: view {view!r} has no resolved {kind}_crop length; pass length="
            )
        self.length = int(crop)
        if self.length <= 0:
            raise ValueError(f"crop length must be > 0 bins, got {self.length}")
        self.dt_us = int(self.view_attrs["dt_us"])
        self.class_ids: np.ndarray = self.meta["class_id"].to_numpy().astype(np.int64)
        self.sample_ids: np.ndarray = self.meta["sample_id"].to_numpy().astype(np.int64)
        self.n_bins: np.ndarray = self._all_n_bins[rows]
        self._records = self._meta_records()
        # the epoch lives in shared memory so persistent DataLoader workers see set_epoch()
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        # per-process lazy state (dropped on pickling)
        self._h5: h5py.File | None = None
        self._dsets: tuple | None = None
        self._pid: int | None = None
        self._bin_ptr: dict[int, np.ndarray] = {}
        self.reuse_buffers = bool(reuse_buffers)
        self._pool: OutputPool | None = OutputPool() if self.reuse_buffers else None

    # ---- construction helpers ------------------------------------------------------------
    @classmethod
    def from_fold(
        cls,
        path: str | os.PathLike,
        view: str,
        fold: Fold,
        part: str,
        train: bool | None = None,
        **kwargs: Any,
    ) -> CacheDataset:
        """The samples of one part of a fold; ``train`` defaults to ``part == "train"``.

        >>> from eventpipe.datasets.slanimals.splits import published_folds                      # doctest: +SKIP
        >>> fold = published_folds()[0]                                      # doctest: +SKIP
        >>> train = CacheDataset.from_fold("data/cache.h5", "stbp", fold, "train")  # doctest: +SKIP
        """
        if train is None:
            train = part == "train"
        return cls(path, view, samples=(fold, part), train=train, **kwargs)

    def _load(self, v, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Compact in-memory CSR of the selected rows (contiguous row runs read at once)."""
        starts, ends = self._offsets[rows], self._offsets[rows + 1]
        order = np.argsort(rows, kind="stable")
        counts = ends - starts
        local = np.zeros(len(rows) + 1, dtype=np.int64)
        local[1:] = np.cumsum(counts)
        out = {k: np.empty(int(local[-1]), dtype=getattr(v, k).dtype) for k in _FIELDS}
        # read runs of consecutive rows (e.g. whole recordings) with one slice per field
        srows = rows[order]
        i = 0
        while i < len(srows):
            j = i
            while j + 1 < len(srows) and srows[j + 1] == srows[j] + 1:
                j += 1
            a, b = int(self._offsets[srows[i]]), int(self._offsets[srows[j] + 1])
            chunk = {k: getattr(v, k)[a:b] for k in _FIELDS}
            for pos in order[i : j + 1]:
                s, e = int(starts[pos]) - a, int(ends[pos]) - a
                for k in _FIELDS:
                    out[k][local[pos] : local[pos + 1]] = chunk[k][s:e]
            i = j + 1
        out["offsets"] = local
        return out

    def _meta_records(self) -> list[dict[str, Any]]:
        cols = {c: self.meta[c].tolist() for c in _META_COLUMNS}
        nb = self.n_bins.tolist()
        return [
            {**{c: cols[c][i] for c in _META_COLUMNS}, "n_bins": nb[i], "synthetic": self.synthetic}
            for i in range(len(self.meta))
        ]

    # ---- pickling / lazy HDF5 ------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = None
        state["_dsets"] = None
        state["_pid"] = None
        state["_pool"] = OutputPool() if self.reuse_buffers else None  # never share buffers
        return state

    def _datasets(self) -> tuple:
        """The view's five h5py datasets, opened once per process."""
        pid = os.getpid()
        if self._dsets is None or self._pid != pid:
            # a handle inherited through fork is not used (HDF5 is not fork-safe): reopen
            opts = {} if self._chunk_cache is None else {"rdcc_nbytes": self._chunk_cache}
            self._h5 = h5py.File(self.path, "r", **opts)
            g = self._h5["views"][self.view]
            self._dsets = tuple(g[k] for k in _FIELDS)
            self._pid = pid
        return self._dsets

    def close(self) -> None:
        """Close this process's HDF5 handle (reopened on the next access)."""
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = self._dsets = self._pid = None

    # ---- epochs and crops ----------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """Current epoch (selects the random crops of the per-item path)."""
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch of the random crops; visible to running (persistent) workers too."""
        self._epoch.fill_(int(epoch))

    def crop_starts(
        self, indices: Sequence[int] | np.ndarray, epoch: int | None = None
    ) -> np.ndarray:
        """First bin of the crop of each dataset index, for ``epoch`` (default: current).

        Training: ``crop_start(n_bins, length, mode, rng)`` with
        ``rng = np.random.default_rng((seed, epoch, sample_id))``; evaluation: fixed crops
        (bin 0 for the ``fixed`` mode).
        """
        epoch = self.epoch if epoch is None else int(epoch)
        idx = np.asarray(indices, dtype=np.int64)
        out = np.zeros(len(idx), dtype=np.int64)
        for k, i in enumerate(idx.tolist()):
            rng = (
                np.random.default_rng((self.seed, epoch, int(self.sample_ids[i])))
                if self.crop_mode == "random"
                else None
            )
            out[k] = _crop.crop_start(int(self.n_bins[i]), self.length, self.crop_mode, rng)
        return out

    # ---- reading -------------------------------------------------------------------------
    def _window(self, i: int, start: int) -> tuple[np.ndarray, ...]:
        """Sparse entries of dataset index ``i`` with bins in [start, start + length)."""
        nb = int(self.n_bins[i])
        hi_bin = min(start + self.length, nb)
        if start >= hi_bin:
            return tuple(np.zeros(0, dtype=d) for d in self._field_dtypes)
        if self._memory is not None:
            m = self._memory
            a, b = int(m["offsets"][i]), int(m["offsets"][i + 1])
            bins = m["bin"][a:b]
            if start > 0 or hi_bin < nb:
                a, b = a + int(np.searchsorted(bins, start)), a + int(np.searchsorted(bins, hi_bin))
            return tuple(m[k][a:b] for k in _FIELDS)
        row = int(self._rows[i])
        dsets = self._datasets()
        lo, hi = int(self._offsets[row]), int(self._offsets[row + 1])
        if start == 0 and hi_bin == nb:
            return tuple(d[lo:hi] for d in dsets)
        ptr = self._bin_ptr.get(row)
        if ptr is None:
            bins = dsets[0][lo:hi]
            ptr = np.searchsorted(bins, np.arange(nb + 1)).astype(np.int64)
            self._bin_ptr[row] = ptr
        a, b = lo + int(ptr[start]), lo + int(ptr[hi_bin])
        return tuple(d[a:b] for d in dsets)

    def _output(self, shape: tuple[int, ...], final: bool = False) -> torch.Tensor:
        """An uninitialised output tensor (the kernels overwrite every element).

        A ``final`` output (a whole batch) made in a DataLoader worker is allocated in shared
        memory, so sending it to the main process costs no copy (what torch's default collate
        does). Otherwise it comes from :class:`OutputPool` when ``reuse_buffers`` is on (items
        are consumed by :func:`collate` in the same process).
        """
        if final and torch.utils.data.get_worker_info() is not None:
            return _shared_empty(shape, self.dtype)
        if self._pool is not None:
            return self._pool.tensor(shape, self._np_dtype)
        return torch.empty(shape, dtype=self.dtype)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):
        """``(frames [T, P, H, W], class_id, meta)``; a :class:`BatchRequest` gives a batch."""
        if isinstance(index, BatchRequest):
            return self.batch(index.indices, epoch=index.epoch)
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        i = int(index) % n
        start = int(self.crop_starts([i])[0])
        b, p, y, x, v = self._window(i, start)
        w, h, npol = self.sensor_size
        out = self._output((self.length, npol, h, w))  # densify writes every element
        _crop.densify(b, p, y, x, v, start, self.length, self.sensor_size, out=out.numpy())
        meta = {**self._records[i], "crop_start": start, "crop_length": self.length}
        return out, int(self.class_ids[i]), meta

    def batch(
        self, indices: Sequence[int] | np.ndarray, epoch: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
        """A whole batch with one ``densify_batch`` call: ``(frames, labels, metas)``.

        Returns ``frames`` ``[N, T, P, H, W]`` (``dtype``), ``labels`` int64 ``[N]`` and a list
        of N meta dicts; identical to collating the items one by one (same crops).
        """
        idx = np.asarray(indices, dtype=np.int64)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"indices out of range for {n} samples")
        idx %= max(n, 1)
        starts = self.crop_starts(idx, epoch)
        w, h, npol = self.sensor_size
        out = self._output((len(idx), self.length, npol, h, w), final=True)
        if self._memory is not None:
            m = self._memory
            arrays, offsets, which = [m[k] for k in _FIELDS], m["offsets"], idx
        else:  # read each crop window, then one kernel call over their concatenation
            parts = [self._window(int(i), int(s)) for i, s in zip(idx, starts)]
            offsets = np.zeros(len(idx) + 1, dtype=np.int64)
            np.cumsum([len(pt[0]) for pt in parts], out=offsets[1:])
            arrays = [np.concatenate([pt[k] for pt in parts]) for k in range(len(_FIELDS))]
            which = np.arange(len(idx))
        _crop.densify_batch(
            offsets, *arrays, which, starts, self.length, self.sensor_size, out.numpy(),
            parallel=self.parallel,
        )  # fmt: skip
        labels = torch.from_numpy(self.class_ids[idx].copy())
        metas = [
            {**self._records[i], "crop_start": int(s), "crop_length": self.length}
            for i, s in zip(idx.tolist(), starts.tolist())
        ]
        return out, labels, metas

    def loader(
        self,
        batch_size: int = 8,
        shuffle: bool | None = None,
        drop_last: bool = False,
        num_workers: int = 0,
        epoch: int | None = None,
        **kwargs: Any,
    ) -> DataLoader:
        """A DataLoader over whole batches (see :class:`EpochBatchSampler`).

        Each pass over the returned loader is one epoch: epoch numbers start at ``epoch``
        (default: the dataset's current epoch) and advance by one per pass, so random crops and
        the shuffle order change every epoch without calling :meth:`set_epoch`.
        ``shuffle`` defaults to ``self.train``. Extra ``kwargs`` go to ``DataLoader``
        (``pin_memory``, ``persistent_workers``, ``prefetch_factor``...).
        """
        sampler = EpochBatchSampler(
            len(self),
            batch_size,
            shuffle=self.train if shuffle is None else shuffle,
            drop_last=drop_last,
            seed=self.seed,
            epoch=self.epoch if epoch is None else epoch,
        )
        return DataLoader(
            self,
            batch_size=None,
            sampler=sampler,
            num_workers=num_workers,
            collate_fn=_identity,
            **kwargs,
        )

    def __repr__(self) -> str:
        w, h, p = self.sensor_size
        mode = "train" if self.train else "eval"
        tag = "SYNTHETIC" if self.synthetic else "real"
        return (
            f"CacheDataset({str(self.path)!r}, view={self.view!r}, {len(self)} samples, {mode} "
            f"crop {self.crop_mode} {self.length} x {self.dt_us} us -> [{self.length}, {p}, {h}, "
            f"{w}] {self.dtype}, {tag})"
        )


def select_rows(table: pd.DataFrame, samples: Any, path: str | os.PathLike = "cache") -> np.ndarray:
    """Row numbers of ``/samples`` for a selection, in the requested order.

    Args:
        table: the samples table (``CacheFile.samples``).
        samples: ``None`` (all rows), sample ids (ints), recording stems (str: all their
            samples, recording by recording) or ``(fold, part)``.
        path: the cache, named in error messages.

    Raises:
        CacheError: a requested sample id or recording is not in the table.
        TypeError: anything else.
    """
    ids = table["sample_id"].to_numpy().astype(np.int64)
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
        rec = table["recording"].to_numpy().astype(str)
        missing = [s for s in items if not (rec == s).any()]
        if missing:
            raise CacheError(f"{path}: no samples of recordings {missing} in this cache")
        return np.concatenate([np.flatnonzero(rec == s) for s in items]).astype(np.int64)
    if all(isinstance(s, int | np.integer) and not isinstance(s, bool) for s in items):
        pos = {int(s): i for i, s in enumerate(ids)}
        missing = [int(s) for s in items if int(s) not in pos]
        if missing:
            shown = missing[:10]
            raise CacheError(
                f"{path}: sample ids {shown}{'...' if len(missing) > 10 else ''} are not "
                f"in this cache ({len(ids)} samples, ids {ids.min()}..{ids.max()})"
            )
        return np.array([pos[int(s)] for s in items], dtype=np.int64)
    raise TypeError(
        "samples must be None, sample ids (ints), recording stems (str) or (fold, part)"
    )


def _shared_empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor in shared memory (as torch's default_collate makes in workers)."""
    numel = int(np.prod(shape))
    storage = torch.empty(0, dtype=dtype)._typed_storage()._new_shared(numel)
    return torch.empty(0, dtype=dtype).new(storage).view(shape)


def _identity(x):
    return x


class EpochBatchSampler(Sampler):
    """Yields one :class:`BatchRequest` per batch; each ``iter()`` is one epoch.

    The shuffle order of epoch ``e`` is ``np.random.default_rng((seed, e)).permutation(n)``;
    the epoch number travels with every request, so workers need no shared state.
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
        out = _shared_empty((len(tensors), *tensors[0].shape), tensors[0].dtype)
    frames = torch.stack(tensors, out=out)
    labels = torch.tensor([int(it[1]) for it in items], dtype=torch.int64)
    return frames, labels, [it[2] for it in items]


__all__ = [
    "BatchRequest",
    "CacheDataset",
    "EpochBatchSampler",
    "OutputPool",
    "collate",
    "select_rows",
]
