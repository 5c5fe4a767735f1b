"""The HDF5 cache: a streaming writer and the read API (:class:`CacheFile`).

The layout is :mod:`eventpipe.cache.schema` (read its docstring). In short::

    /samples                one row per sample (SAMPLES_DTYPE), sample_id order
    /events/{x,y,t,p}       all samples' events concatenated; t re-zeroed per sample (us)
    /events/offsets         int64 [n_samples + 1]
    /views/<name>/{bin,p,y,x,value}, offsets [n_samples + 1], n_bins [n_samples]

Reading with plain h5py (no eventpipe needed)::

    import h5py, json
    with h5py.File("data/cache.h5", "r") as f:
        off = f["events/offsets"][:]
        t = f["events/t"][off[5]:off[6]]              # sample 5's timestamps (us, from 0)
        v = f["views/stbp"]; o = v["offsets"][:]
        bins = v["bin"][o[5]:o[6]]                    # its sparse stbp frames
        profile = json.loads(f.attrs["profile"])

With eventpipe::

    >>> from eventpipe.cache.hdf5 import CacheFile        # doctest: +SKIP
    >>> with CacheFile("data/cache.h5") as c:             # doctest: +SKIP
    ...     ev = c.events(0); stbp = c.view("stbp"); frames = stbp.sample(0)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from eventpipe.cache.schema import (
    EVENT_FIELDS,
    FORMAT,
    FORMAT_VERSION,
    LAYOUT,
    SAMPLES_COLUMNS,
    SAMPLES_DTYPE,
    TIME_UNIT,
    VIEW_FIELDS,
    VIEW_VALUE_DTYPES,
)
from eventpipe.errors import CacheError
from eventpipe.events import EVENT_DTYPE
from eventpipe.runtime.durable import fsync_path

if TYPE_CHECKING:
    import pandas as pd

#: Elements per HDF5 chunk of the event and view datasets: 2**16 (512 KiB of int64 timestamps,
#: 128 KiB of int16 coordinates). Measured on the full-scale synthetic cache (51 M events, the
#: build benchmark's compression study): a random sample's view slices cost 0.53 ms CPU with 2**16,
#: 1.2 ms with 2**18, 3.1 ms with 2**20 (whole chunks go through the chunk cache); a sequential
#: read of all events 1.15 s vs 0.47 s. Training reads samples at random, so 2**16.
CHUNK_ELEMENTS = 1 << 16
#: HDF5 chunk cache of the writer, in bytes **per dataset** (HDF5 keeps one per open dataset):
#: room for the partly filled tail chunk plus one more of the widest dtype (int64), so appends
#: never read a chunk back; a larger cache only holds written data in memory (19 datasets x
#: 64 MiB made the writing process 1.4 GB at full scale).
CHUNK_CACHE_BYTES = 4 * CHUNK_ELEMENTS * 8
#: None (uncompressed), "lzf" or "gzip". Measured (same study): LZF makes the file 4.6x smaller
#: and GZIP 7x, but a random sample read costs 4.5x (LZF) and 6x (GZIP) the CPU time and a
#: sequential read 1.7-2.3x; reads decide, so no compression.
COMPRESSION: str | None = None

_STRING_COLUMNS = ("recording", "group", "lighting", "class_name", "split")


def _json_attr(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class CacheWriter:
    """Streams samples into a new HDF5 cache file, recording by recording.

    Call :meth:`append` with consecutive blocks of samples (in sample_id order), then
    :meth:`close` (writes /samples, the offsets, the attributes, and fsyncs). The writer
    keeps only the small per-sample tables in memory, never the events.

    Args:
        path: file to create (truncated if it exists); the build writes a temporary name and
            renames it afterwards.
        attrs: root attributes (dict/list values are stored as JSON strings).
        views: view name -> attributes known up front (dt_us, binning, sensor_size, ...).
        chunk: elements per chunk; compression: None, "lzf" or "gzip".
    """

    def __init__(
        self,
        path: str | os.PathLike,
        attrs: Mapping[str, Any],
        views: Mapping[str, Mapping[str, Any]],
        *,
        chunk: int = CHUNK_ELEMENTS,
        compression: str | None = COMPRESSION,
    ) -> None:
        self.path = Path(path)
        self._chunk = int(chunk)
        # a chunk cache big enough for the partly filled last chunk of every dataset, so an
        # append does not read that chunk back from disk (rdcc_w0=1: evict full chunks first)
        cache_bytes = max(CHUNK_CACHE_BYTES, 4 * self._chunk * 8)
        self._f = h5py.File(
            self.path, "w", libver="latest", rdcc_nbytes=cache_bytes, rdcc_nslots=521, rdcc_w0=1.0
        )
        self._compression = compression
        #: dataset name -> [chunk buffer, elements pending] (see :meth:`_extend`)
        self._tails: dict[str, list] = {}
        self._root_attrs = dict(attrs)
        self._samples: list[np.ndarray] = []
        self._ev_offsets = [np.zeros(1, np.int64)]
        self._ev_total = 0
        self._events = {
            k: self._dataset(f"events/{k}", np.dtype(dt)) for k, dt in EVENT_FIELDS.items()
        }
        self._views: dict[str, dict[str, Any]] = {}
        for name, vattrs in views.items():
            binning = str(vattrs["binning"])
            g = self._f.create_group(f"views/{name}")
            for key, value in vattrs.items():
                g.attrs[key] = _attr_value(value)
            dtypes = {**VIEW_FIELDS, "value": VIEW_VALUE_DTYPES[binning]}
            ds = {k: self._dataset(f"views/{name}/{k}", np.dtype(dt)) for k, dt in dtypes.items()}
            self._views[name] = {
                "group": g,
                "ds": ds,
                "total": 0,
                "offsets": [np.zeros(1, np.int64)],
                "n_bins": [],
            }

    def _dataset(self, name: str, dtype: np.dtype) -> h5py.Dataset:
        return self._f.create_dataset(
            name,
            shape=(0,),
            maxshape=(None,),
            dtype=dtype,
            chunks=(self._chunk,),
            compression=self._compression,
            shuffle=self._compression is not None,
        )

    def _extend(self, ds: h5py.Dataset, start: int, data: np.ndarray) -> None:
        """Append ``data`` at element ``start`` (the dataset's current length).

        Uncompressed datasets get whole chunks written as they are (``write_direct_chunk``: one
        copy, into the file, instead of a second one through HDF5's chunk cache); the elements
        of a chunk that is not full yet wait in a small per-dataset buffer, written zero-padded
        by :meth:`close` (HDF5 pads a partial last chunk the same way). Same chunks, same bytes.
        """
        n = len(data)
        if n == 0:
            return
        ds.resize((start + n,))
        if self._compression is not None:
            ds[start : start + n] = data
            return
        data = np.ascontiguousarray(data, dtype=ds.dtype)
        ch = self._chunk
        tail = self._tails.get(ds.name)
        if tail is None:
            tail = self._tails[ds.name] = [np.zeros(ch, dtype=ds.dtype), 0]
        buf, fill = tail
        pos = start - fill  # element where the pending chunk starts
        if fill:
            k = min(ch - fill, n)
            buf[fill : fill + k] = data[:k]
            data = data[k:]
            fill += k
            if fill < ch:
                tail[1] = fill
                return
            ds.id.write_direct_chunk((pos,), buf)
            pos += ch
        whole = len(data) // ch * ch
        for a in range(0, whole, ch):
            ds.id.write_direct_chunk((pos + a,), data[a : a + ch])
        rest = len(data) - whole
        buf[:rest] = data[whole:]
        buf[rest:] = 0
        tail[1] = rest

    def _flush_tails(self) -> None:
        """Write every pending partial chunk (zero-padded to the chunk size)."""
        for name, (buf, fill) in self._tails.items():
            if fill:
                ds = self._f[name]
                buf[fill:] = 0
                ds.id.write_direct_chunk((len(ds) - fill,), buf)
        self._tails = {}

    @property
    def n_samples(self) -> int:
        """Samples appended so far."""
        return sum(len(s) for s in self._samples)

    def append(
        self,
        samples: np.ndarray,
        events: np.ndarray,
        offsets: np.ndarray,
        views: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    ) -> None:
        """Append a block of consecutive samples.

        Args:
            samples: [n] structured array with the SAMPLES_DTYPE fields (``event_offset`` and
                ``n_events`` are overwritten from ``offsets``).
            events: the block's samples concatenated (t re-zeroed): an EVENT_DTYPE array or a
                mapping of contiguous columns ``{"x", "y", "t", "p"}`` (written without a copy).
            offsets: int64 [n + 1], local CSR offsets into ``events`` (offsets[0] == 0).
            views: view name -> {"bin","p","y","x","value": entries concatenated,
                "offsets": int64 [n + 1] local, "n_bins": [n]}; every declared view is required.
        """
        n = len(samples)
        n_ev = len(events["t"])
        offsets = np.asarray(offsets, dtype=np.int64)
        if len(offsets) != n + 1 or offsets[0] != 0 or offsets[-1] != n_ev:
            raise ValueError(f"offsets must be [0 .. {n_ev}] of length {n + 1}")
        rows = np.zeros(n, dtype=SAMPLES_DTYPE)
        for name in SAMPLES_DTYPE.names:
            if name in (samples.dtype.names or ()):
                rows[name] = samples[name]
        rows["n_events"] = np.diff(offsets)
        rows["event_offset"] = self._ev_total + offsets[:-1]
        self._samples.append(rows)
        for k, ds in self._events.items():
            self._extend(ds, self._ev_total, events[k])
        self._ev_offsets.append(self._ev_total + offsets[1:])
        self._ev_total += n_ev
        views = views or {}
        missing = set(self._views) - set(views)
        if missing:
            raise ValueError(f"append: views {sorted(missing)} missing")
        for name, v in self._views.items():
            data = views[name]
            voff = np.asarray(data["offsets"], dtype=np.int64)
            if len(voff) != n + 1 or voff[0] != 0:
                raise ValueError(f"view {name}: offsets must have length {n + 1} and start at 0")
            for k, ds in v["ds"].items():
                arr = np.asarray(data[k])
                if len(arr) != voff[-1]:
                    raise ValueError(
                        f"view {name}: {k} has {len(arr)} entries, offsets say {voff[-1]}"
                    )
                self._extend(ds, v["total"], arr.astype(ds.dtype, copy=False))
            v["offsets"].append(v["total"] + voff[1:])
            v["total"] += int(voff[-1])
            v["n_bins"].append(np.asarray(data["n_bins"], dtype=np.int32))

    def set_view_attrs(self, name: str, **attrs: Any) -> None:
        """Set (or overwrite) attributes of view ``name`` (e.g. resolved crop lengths)."""
        for key, value in attrs.items():
            self._views[name]["group"].attrs[key] = _attr_value(value)

    def set_attrs(self, **attrs: Any) -> None:
        """Set (or overwrite) root attributes before :meth:`close`."""
        self._root_attrs.update(attrs)

    def close(self) -> None:
        """Write /samples, offsets and attributes; flush and fsync the file."""
        if self._f is None:
            return
        f = self._f
        self._flush_tails()
        samples = (
            np.concatenate(self._samples) if self._samples else np.zeros(0, dtype=SAMPLES_DTYPE)
        )
        f.create_dataset("samples", data=samples)
        f.create_dataset("events/offsets", data=np.concatenate(self._ev_offsets))
        for v in self._views.values():
            g = v["group"]
            g.create_dataset("offsets", data=np.concatenate(v["offsets"]))
            nb = np.concatenate(v["n_bins"]) if v["n_bins"] else np.zeros(0, np.int32)
            g.create_dataset("n_bins", data=nb.astype(np.int32))
        attrs = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "layout": LAYOUT,
            "time_unit": TIME_UNIT,
            "n_samples": len(samples),
            "n_events": self._ev_total,
            **self._root_attrs,
        }
        for key, value in attrs.items():
            f.attrs[key] = _attr_value(value)
        f.flush()
        f.close()
        self._f = None
        fsync_path(self.path)

    def abort(self) -> None:
        """Close without finalising (the caller deletes the file)."""
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _attr_value(value: Any) -> Any:
    if isinstance(value, dict | list) and not (
        isinstance(value, list) and all(isinstance(v, int | float) for v in value)
    ):
        return _json_attr(value)
    if isinstance(value, tuple):
        return np.asarray(value)
    if value is None:
        return ""
    return value


def write_cache(
    path: str | os.PathLike,
    samples: np.ndarray,
    events: np.ndarray,
    offsets: np.ndarray,
    views: Mapping[str, Mapping[str, Any]] | None = None,
    attrs: Mapping[str, Any] | None = None,
    view_attrs: Mapping[str, Mapping[str, Any]] | None = None,
    **writer_options: Any,
) -> Path:
    """Write a whole cache in one call (tests, small data, exports).

    Args:
        samples, events, offsets: as :meth:`CacheWriter.append`, for all samples.
        views: view name -> CSR arrays (``bin, p, y, x, value, offsets, n_bins``).
        attrs: root attributes; view_attrs: view name -> attributes (``binning`` required).
    """
    views = dict(views or {})
    view_attrs = dict(view_attrs or {})
    for name in views:
        view_attrs.setdefault(name, {})
        if "binning" not in view_attrs[name]:
            raise ValueError(f"view_attrs[{name!r}] needs 'binning'")
    with CacheWriter(path, attrs or {}, view_attrs, **writer_options) as w:
        w.append(samples, events, offsets, views)
    return Path(path)


# --- reading ----------------------------------------------------------------------------------


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _with_split(rows: np.ndarray) -> np.ndarray:
    """Format 1.0 /samples rows in SAMPLES_DTYPE, ``split`` empty."""
    out = np.zeros(len(rows), dtype=SAMPLES_DTYPE)
    for name in rows.dtype.names or ():
        if name in SAMPLES_DTYPE.names:
            out[name] = rows[name]
    return out


def samples_frame(rows: np.ndarray) -> pd.DataFrame:
    """/samples rows as a DataFrame with the byte-string columns decoded to str."""
    import pandas as pd  # imported here: the build does not need pandas

    if "split" not in (rows.dtype.names or ()):  # a format 1.0 file: no published split
        rows = _with_split(rows)
    df = pd.DataFrame({name: rows[name] for name in SAMPLES_COLUMNS})
    for col in _STRING_COLUMNS:
        df[col] = np.char.decode(rows[col], "ascii").astype(object)
        df[col] = df[col].astype(str)
    return df


@dataclass
class SparseSample:
    """One sample of a view: sparse frames sorted by (bin, p, y, x).

    Dense equivalent: ``frames[bin, p, y, x] = value`` with shape ``[n_bins, P, H, W]``.
    """

    n_bins: int
    bin: np.ndarray
    p: np.ndarray
    y: np.ndarray
    x: np.ndarray
    value: np.ndarray
    sensor_size: tuple[int, int, int]

    def dense(self, dtype=np.float32) -> np.ndarray:
        """Dense ``[n_bins, P, H, W]`` frames (no crop)."""
        w, h, p = self.sensor_size
        out = np.zeros((self.n_bins, p, h, w), dtype=dtype)
        out[self.bin, self.p, self.y, self.x] = self.value
        return out


class ViewAttrs:
    """Typed accessors of a view's attributes (``self.attrs``, strings decoded), shared by the
    open :class:`CacheView` and the detached :class:`eventpipe.data.index.ViewIndex`."""

    attrs: dict[str, Any]

    @property
    def sensor_size(self) -> tuple[int, int, int]:
        """``(W, H, P)`` of this view's frames."""
        return tuple(int(v) for v in self.attrs["sensor_size"])  # type: ignore[return-value]

    @property
    def dt_us(self) -> int:
        """Bin width in microseconds."""
        return int(self.attrs["dt_us"])

    @property
    def binning(self) -> str:
        """``OR``, ``SUM`` or ``SUM_NORM``."""
        return str(self.attrs["binning"])

    @property
    def rule(self) -> str:
        """Binning rule: ``tonic_frames`` or ``slayer_td`` (caches without the attribute:
        ``tonic_frames``, the only rule then)."""
        return str(self.attrs.get("rule", "tonic_frames"))

    @property
    def value_scale(self) -> float:
        """What the published code stores where this view stores 1: ``1/Ts`` (ms) for a
        ``slayer_td`` view, else 1.0. The loader does not apply it (the SLAYER trainer scales
        its input by ``1/Ts`` itself); multiply by ``float32(value_scale)`` to compare tensors."""
        return float(self.attrs.get("value_scale", 1.0))


class CacheView(ViewAttrs):
    """A binned view (``/views/<name>``): attributes, per-sample n_bins and lazy CSR datasets.

    ``bin, p, y, x, value`` are h5py datasets (read slices of them); ``offsets`` and
    ``n_bins`` are loaded numpy arrays. ``attrs`` holds dt_us, binning, sensor_size (W, H, P),
    train_crop, train_crop_mode, test_crop, test_crop_mode, layout, time_floor_ms, ...
    """

    def __init__(self, group: h5py.Group, name: str) -> None:
        self.name = name
        self.group = group
        self.attrs = {k: _decode(v) for k, v in group.attrs.items()}
        self.offsets = group["offsets"][:]
        self.n_bins = group["n_bins"][:]
        self.bin, self.p, self.y, self.x, self.value = (
            group[k] for k in ("bin", "p", "y", "x", "value")
        )

    def __len__(self) -> int:
        return len(self.n_bins)

    def sample(self, i: int) -> SparseSample:
        """Sparse frames of sample row ``i`` (read from disk)."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return SparseSample(
            int(self.n_bins[i]), self.bin[a:b], self.p[a:b], self.y[a:b], self.x[a:b],
            self.value[a:b], self.sensor_size,
        )  # fmt: skip

    def dense(self, i: int, dtype=np.float32) -> np.ndarray:
        """Dense ``[n_bins, P, H, W]`` frames of sample row ``i`` (no crop)."""
        return self.sample(i).dense(dtype)


class CacheFile:
    """Read access to an HDF5 cache; checks format and version on open.

    >>> with CacheFile("data/cache.h5") as c:          # doctest: +SKIP
    ...     print(c.synthetic, len(c), c.profile["name"])
    ...     ev = c.events(0)                           # EVENT_DTYPE, t from 0 (us)
    ...     stbp = c.view("stbp")                      # CacheView

    Raises:
        CacheError: missing file, not HDF5, another format, or another major format version.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise CacheError(
                f"{self.path}: no cache here; build one with `python -m eventpipe build`"
            )
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as exc:
            raise CacheError(f"{self.path}: not a readable HDF5 file ({exc})") from None
        try:
            self.attrs = {k: _decode(v) for k, v in self._f.attrs.items()}
            fmt = self.attrs.get("format")
            version = str(self.attrs.get("format_version", "?"))
            if fmt != FORMAT:
                raise CacheError(
                    f"{self.path}: not an eventpipe cache (format attribute {fmt!r}, "
                    f"expected {FORMAT!r})"
                )
            if version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
                raise CacheError(
                    f"{self.path}: cache format version {version}, this eventpipe reads "
                    f"{FORMAT_VERSION.split('.')[0]}.x; rebuild it with `python -m eventpipe build "
                    f"--force`"
                )
            self._offsets = self._f["events/offsets"][:]
        except CacheError:
            self._f.close()
            raise
        except KeyError as exc:
            self._f.close()
            raise CacheError(f"{self.path}: incomplete cache, missing {exc}") from None
        self._samples: pd.DataFrame | None = None

    # context manager -------------------------------------------------------------------
    def __enter__(self) -> CacheFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying HDF5 file."""
        self._f.close()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @property
    def h5(self) -> h5py.File:
        """The open h5py File (read-only)."""
        return self._f

    # metadata --------------------------------------------------------------------------
    @property
    def format_version(self) -> str:
        return str(self.attrs["format_version"])

    @property
    def profile(self) -> dict[str, Any]:
        """The profile as requested (overrides applied, ``auto`` kept); hashes to profile_hash."""
        return json.loads(self.attrs["profile"])

    @property
    def profile_resolved(self) -> dict[str, Any]:
        """The profile with ``auto`` crop lengths replaced by the numbers chosen at build."""
        return json.loads(self.attrs.get("profile_resolved") or self.attrs["profile"])

    @property
    def profile_hash(self) -> str:
        return str(self.attrs["profile_hash"])

    @property
    def source(self) -> dict[str, Any]:
        """The source digest (see :mod:`eventpipe.cache.digest`)."""
        src = self.attrs.get("source") or "{}"
        return json.loads(src)

    @property
    def synthetic(self) -> bool:
        """True when the cache was built from synthetic recordings (never mistake it for real)."""
        return bool(self.attrs.get("synthetic", False))

    @property
    def sensor_size(self) -> tuple[int, int, int]:
        """``(W, H, P)`` of the stored events."""
        return tuple(int(v) for v in self.attrs["sensor_size"])  # type: ignore[return-value]

    @property
    def samples(self) -> pd.DataFrame:
        """The /samples table (one row per sample, strings decoded), cached after first use."""
        if self._samples is None:
            self._samples = samples_frame(self._f["samples"][:])
        return self._samples

    @property
    def event_offsets(self) -> np.ndarray:
        """int64 [n_samples + 1] CSR offsets into /events."""
        return self._offsets

    # data ------------------------------------------------------------------------------
    def events(self, i: int) -> np.ndarray:
        """Events of sample row ``i``: EVENT_DTYPE, t re-zeroed to the sample's first event."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sample row {i} out of range [0, {n})")
        i %= n
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        ev = np.empty(b - a, dtype=EVENT_DTYPE)
        g = self._f["events"]
        for k in EVENT_FIELDS:
            ev[k] = g[k][a:b]
        return ev

    @property
    def view_names(self) -> list[str]:
        """Names of the views in this cache."""
        return list(self._f["views"]) if "views" in self._f else []

    def view(self, name: str) -> CacheView:
        """The view ``name`` (attrs + CSR arrays); CacheError naming the available ones."""
        if name not in self.view_names:
            have = ", ".join(self.view_names) or "none"
            raise CacheError(f"{self.path}: no view {name!r}; this cache has {have}")
        return CacheView(self._f["views"][name], name)


def read_attrs(path: str | os.PathLike) -> dict[str, Any] | None:
    """Root attributes of an existing cache, or None if it is missing/unreadable (no checks)."""
    try:
        with h5py.File(path, "r") as f:
            return {k: _decode(v) for k, v in f.attrs.items()}
    except (OSError, KeyError):
        return None


__all__ = [
    "CHUNK_ELEMENTS",
    "COMPRESSION",
    "CacheFile",
    "CacheView",
    "CacheWriter",
    "SparseSample",
    "ViewAttrs",
    "read_attrs",
    "samples_frame",
    "write_cache",
]
