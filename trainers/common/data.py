"""Where the protocol gets its samples: a :class:`DataSource` over an eventpipe cache.

The protocol only needs the samples table (recording, group, class of each sample id), the cache
identity (profile hash, synthetic flag), the frame geometry, and a way to make a
``torch.utils.data.Dataset`` for a list of sample ids. :class:`CacheSource` provides these from
an HDF5 cache through ``eventpipe.cache.hdf5.CacheFile`` and ``eventpipe.loader.CacheDataset``;
tests pass a small in-memory source with the same attributes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from eventpipe.events import CLASS_NAMES


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


def _decode(v: Any) -> Any:
    return v.decode("ascii") if isinstance(v, bytes) else v


def _as_bool(v: Any) -> bool:
    if isinstance(v, (bytes, str)):
        return _decode(v).strip().lower() in ("1", "true", "yes")
    return bool(v)


class CacheSource:
    """A :class:`DataSource` over an eventpipe HDF5 cache.

    Args:
        path: the ``.h5`` cache file.
        view: the frame view (``stbp``, ``slayer``, ...).
        in_memory: let the dataset load the view's sparse arrays into memory.
        uint8: request uint8 frames from the loader when the view is binary (``OR``); the
            training loop converts them to float32 on the device.
    """

    def __init__(self, path: str | Path, view: str, in_memory: bool = False, uint8: bool = True):
        from eventpipe.cache.hdf5 import CacheFile
        from eventpipe.errors import CacheError

        self.path = str(path)
        self.view = view
        self.in_memory = in_memory
        if not Path(path).exists():
            raise CacheError(f"{path}: no such cache file; build one with `eventpipe build`")
        cf = CacheFile(path)
        try:
            attrs = dict(cf.attrs)
            samples = cf.samples.copy()
            view_attrs = self._view_attrs(cf, view)
        finally:
            close = getattr(cf, "close", None)
            if close is not None:
                close()
        for col in ("recording", "group", "class_name", "lighting"):
            if col in samples and samples[col].dtype == object:
                samples[col] = samples[col].map(_decode)
        self.samples = samples
        self.attrs = attrs
        self.view_attrs = view_attrs
        self.synthetic = _as_bool(attrs.get("synthetic", False))
        self.profile_hash = str(_decode(attrs.get("profile_hash", "")))
        size = view_attrs.get("sensor_size", attrs.get("sensor_size"))
        if size is None:
            raise CacheError(f"{path}: view {view!r} has no sensor_size attribute")
        self.sensor_size = tuple(int(v) for v in np.asarray(size).reshape(-1)[:3])
        self.binning = str(_decode(view_attrs.get("binning", "")))
        self.class_names = tuple(CLASS_NAMES)
        self.frame_dtype = torch.uint8 if (uint8 and self.binning == "OR") else torch.float32
        from eventpipe.loader import collate

        self.collate = collate

    @staticmethod
    def _view_attrs(cf: Any, view: str) -> dict[str, Any]:
        from eventpipe.errors import CacheError

        try:
            v = cf.view(view)
        except (KeyError, CacheError) as exc:
            raise CacheError(f"{cf.path if hasattr(cf, 'path') else 'cache'}: {exc}") from exc
        attrs = v.get("attrs", v) if isinstance(v, dict) else getattr(v, "attrs", {})
        return {k: _decode(val) for k, val in dict(attrs).items()}

    def dataset(self, sample_ids: np.ndarray, train: bool, seed: int) -> torch.utils.data.Dataset:
        from eventpipe.loader import CacheDataset

        return CacheDataset(
            self.path,
            self.view,
            samples=np.asarray(sample_ids, dtype=np.int64),
            train=train,
            seed=seed,
            in_memory=self.in_memory,
            dtype=self.frame_dtype,
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
            "n_samples": len(self.samples),
            "view_attrs": json.loads(json.dumps(self.view_attrs, default=str)),
        }


def recordings_of(samples: pd.DataFrame) -> list[str]:
    """The distinct recordings of a samples table."""
    return sorted({str(_decode(r)) for r in samples["recording"]})


def lookup(samples: pd.DataFrame, sample_ids: Sequence[int], column: str) -> np.ndarray:
    """``column`` of the rows with the given sample ids, in that order."""
    s = samples.set_index("sample_id")[column]
    return s.loc[np.asarray(sample_ids, dtype=np.int64)].map(_decode).to_numpy()
