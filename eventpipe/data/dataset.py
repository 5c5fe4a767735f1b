"""A torch Dataset of one view of an eventpipe cache: crop + densify at load time.

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

Several datasets of one cache (the parts of every fold) share one
:class:`~eventpipe.data.index.CacheIndex`: pass it instead of the path, and the cache's samples
table and view offsets are read once for all of them.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from eventpipe.cache.schema import VIEW_FIELDS, VIEW_VALUE_DTYPES
from eventpipe.data.batch import BatchRequest, OutputPool, shared_empty, whole_batch
from eventpipe.data.index import VIEW_ENTRY_FIELDS as _FIELDS
from eventpipe.data.index import CacheIndex, ViewIndex
from eventpipe.data.samplers import EpochBatchSampler
from eventpipe.datasets.base import Fold
from eventpipe.errors import CacheError
from eventpipe.kernels import crop as _crop

#: frame layouts of :class:`CacheDataset` (``layout=``)
LAYOUTS = ("TPHW", "TC")

_TORCH_TO_NUMPY = {
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.float16: np.float16,
    torch.uint8: np.uint8,
}

_META_COLUMNS = (
    "sample_id", "recording", "subject", "group", "lighting", "class_id", "class_name",
    "t_start_us", "t_end_us", "n_events", "split",
)  # fmt: skip


class CacheDataset(Dataset):
    """A torch Dataset of one view of an eventpipe HDF5 cache.

    Args:
        path: the cache file (``data/cache.h5``), or a :class:`~eventpipe.data.index.CacheIndex`
            of it shared with other datasets (the cache is then not opened again).
        view: view name (``stbp``, ``slayer``, ``decolle``...).
        samples: which samples, in this order: ``None`` (all, sample-id order), a sequence of
            sample ids (ints), a sequence of recording stems (all their samples, recording by
            recording), or ``(fold, part)`` with a :class:`~eventpipe.datasets.base.Fold` and
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
        layout: ``"TPHW"`` (default) or ``"TC"``: frames flattened per time step to
            ``[T, P * H * W]`` (a view, no copy), the input of fully connected networks; for a
            1-D sensor such as SHD's ``(700, 1, 1)`` that is ``[T, 700]`` (channel = x).

    Items are ``(frames, class_id, meta)``: ``frames`` a ``[T, P, H, W]`` tensor of ``dtype``
    (T = crop length in bins, P polarities, H, W the view's sensor size; ``[T, C]`` with
    ``layout="TC"``; a 1-D sensor gives ``[T, 1, 1, W]``), ``class_id`` an int
    (0-based index into ``index.class_names``), ``meta`` a dict (sample_id, recording, subject,
    group, lighting, class_id, class_name, t_start_us, t_end_us, n_events, split, n_bins,
    crop_start, crop_length, synthetic).

    Frames hold the view's stored values (1 for OR). A ``slayer_td`` view (``paper2021``'s
    ``slayer``) equals the published SlayerTD tensor as ``(frames * float32(ds.value_scale))
    .permute(1, 2, 3, 0)`` (``value_scale = 1/Ts``; the published layout is ``[P, H, W, T]``).

    >>> ds = CacheDataset("data/cache.h5", "stbp", train=True)   # doctest: +SKIP
    >>> frames, label, meta = ds[0]                              # doctest: +SKIP
    >>> frames.shape                                             # doctest: +SKIP
    torch.Size([17, 2, 128, 128])
    """

    def __init__(
        self,
        path: str | os.PathLike | CacheIndex,
        view: str,
        samples: Sequence[int] | Sequence[str] | tuple[Fold, str] | None = None,
        train: bool = False,
        seed: int = 0,
        in_memory: bool = False,
        dtype: torch.dtype = torch.float32,
        length: int | None = None,
        parallel: bool = False,
        reuse_buffers: bool = True,
        layout: str = "TPHW",
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.layout = layout
        self.view = view
        self.train = bool(train)
        self.seed = int(seed)
        self.in_memory = bool(in_memory)
        if dtype not in _TORCH_TO_NUMPY:
            raise ValueError(f"dtype must be one of {list(_TORCH_TO_NUMPY)}, got {dtype}")
        self.dtype = dtype
        self._np_dtype = np.dtype(_TORCH_TO_NUMPY[dtype])
        self.index = path if isinstance(path, CacheIndex) else CacheIndex(path)
        self.path: Path = self.index.path
        v = self.index.view(view)
        self._select(v, samples)
        self._set_view(v)
        self._set_crop(train, length)
        self.parallel = bool(parallel)
        self.class_ids: np.ndarray = self.meta["class_id"].to_numpy().astype(np.int64)
        self.sample_ids: np.ndarray = self.meta["sample_id"].to_numpy().astype(np.int64)
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
    def _select(self, v: ViewIndex, samples: Any) -> None:
        """The selected rows, their metadata and (``in_memory``) their sparse entries."""
        self.synthetic = self.index.synthetic
        self._offsets = v.offsets
        self._all_n_bins = v.n_bins
        rows = self.index.rows(samples)
        self._rows = rows
        self.meta: pd.DataFrame = self.index.samples.iloc[rows].reset_index(drop=True)
        self.n_bins: np.ndarray = self._all_n_bins[rows]
        self._memory = read_rows(self.path, v, rows) if self.in_memory else None
        # uncompressed chunks are read in place: no chunk cache (it would pull whole
        # chunks, megabytes, for a crop window of kilobytes; measured 2x slower)
        self._chunk_cache = None if v.compressed else 0

    def _set_view(self, v: ViewIndex) -> None:
        """View facts: attributes, sensor size, binning, entry dtypes (checks ``dtype``)."""
        self.view_attrs: dict[str, Any] = dict(v.attrs)
        self.sensor_size: tuple[int, int, int] = v.sensor_size
        self.binning = str(self.view_attrs["binning"])
        self._field_dtypes = tuple(
            np.dtype(VIEW_FIELDS[k] if k != "value" else VIEW_VALUE_DTYPES[self.binning])
            for k in _FIELDS
        )
        if self._np_dtype == np.uint8 and self.binning != "OR":
            raise ValueError(
                f"view {self.view!r} is {self.binning}-binned; uint8 output is only exact for OR "
                "views (use a float dtype)"
            )
        self.dt_us = int(self.view_attrs["dt_us"])
        #: binning rule and published value per stored 1 (:attr:`ViewIndex.value_scale`)
        self.rule, self.value_scale = v.rule, v.value_scale

    def _set_crop(self, train: bool, length: int | None) -> None:
        """Crop mode and length (bins) of this dataset's mode (train or test)."""
        kind = "train" if self.train else "test"
        self.crop_mode = str(
            self.view_attrs.get(f"{kind}_crop_mode", "random" if train else "fixed")
        )
        crop = self.view_attrs.get(f"{kind}_crop") if length is None else length
        if crop in (None, "", "auto"):
            raise CacheError(
                f"{self.path}: view {self.view!r} has no resolved {kind}_crop length; rebuild "
                "the cache (`python -m eventpipe build --force`) or pass length= to CacheDataset"
            )
        self.length = int(crop)
        if self.length <= 0:
            raise ValueError(f"crop length must be > 0 bins, got {self.length}")

    @classmethod
    def from_fold(
        cls,
        path: str | os.PathLike | CacheIndex,
        view: str,
        fold: Fold,
        part: str,
        train: bool | None = None,
        **kwargs: Any,
    ) -> CacheDataset:
        """The samples of one part of a fold; ``train`` defaults to ``part == "train"``.

        >>> from eventpipe import datasets                                       # doctest: +SKIP
        >>> fold = datasets.get("slanimals").splits(None, "cv", "full")[0]       # doctest: +SKIP
        >>> train = CacheDataset.from_fold("data/cache.h5", "stbp", fold, "train")  # doctest: +SKIP
        """
        if train is None:
            train = part == "train"
        return cls(path, view, samples=(fold, part), train=train, **kwargs)

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
            return shared_empty(shape, self.dtype)
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
        return self._shaped(out), int(self.class_ids[i]), meta

    def _shaped(self, frames: torch.Tensor) -> torch.Tensor:
        """``[..., T, P, H, W]`` frames in this dataset's ``layout`` (a view)."""
        if self.layout == "TC":
            return frames.flatten(-3)
        return frames

    def batch(
        self, indices: Sequence[int] | np.ndarray, epoch: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
        """A whole batch with one ``densify_batch`` call: ``(frames, labels, metas)``.

        Returns ``frames`` ``[N, T, P, H, W]`` (``dtype``; ``[N, T, C]`` with ``layout="TC"``),
        ``labels`` int64 ``[N]`` and a list of N meta dicts; identical to collating the items
        one by one (same crops).
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
        return self._shaped(out), labels, metas

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
            collate_fn=whole_batch,
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


def read_rows(path: str | os.PathLike, view: ViewIndex, rows: np.ndarray) -> dict[str, np.ndarray]:
    """A compact in-memory CSR of the given sample rows of a view.

    Args:
        path: the HDF5 cache.
        view: the view's index (its ``offsets`` locate the rows' entries).
        rows: int64 sample rows, in the order wanted.

    Returns:
        ``{"bin", "p", "y", "x", "value"}`` -> the rows' entries concatenated in ``rows`` order,
        and ``"offsets"``: int64 ``[len(rows) + 1]`` (row ``k`` = ``offsets[k]:offsets[k+1]``).
        Runs of consecutive rows (e.g. whole recordings) are read with one slice per field.
    """
    offsets = view.offsets
    starts, ends = offsets[rows], offsets[rows + 1]
    order = np.argsort(rows, kind="stable")
    local = np.zeros(len(rows) + 1, dtype=np.int64)
    local[1:] = np.cumsum(ends - starts)
    with h5py.File(path, "r") as f:
        g = f["views"][view.name]
        out = {k: np.empty(int(local[-1]), dtype=g[k].dtype) for k in _FIELDS}
        srows = rows[order]
        i = 0
        while i < len(srows):
            j = i
            while j + 1 < len(srows) and srows[j + 1] == srows[j] + 1:
                j += 1
            a, b = int(offsets[srows[i]]), int(offsets[srows[j] + 1])
            chunk = {k: g[k][a:b] for k in _FIELDS}
            for pos in order[i : j + 1]:
                s, e = int(starts[pos]) - a, int(ends[pos]) - a
                for k in _FIELDS:
                    out[k][local[pos] : local[pos + 1]] = chunk[k][s:e]
            i = j + 1
    out["offsets"] = local
    return out


__all__ = ["LAYOUTS", "CacheDataset", "read_rows"]
