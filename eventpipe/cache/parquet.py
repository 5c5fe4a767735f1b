"""The Parquet dataset: the same samples and events, readable without eventpipe.

Layout (:mod:`eventpipe.cache.schema`)::

    cache.parquet/
      samples.parquet                          the /samples table (strings as UTF-8)
      events/recording=<stem>/part-0.parquet   sample_id i4, x i2, y i2, t i8 (us, from 0
                                               per sample), p u1; row groups of whole
                                               samples (ROW_GROUP_ROWS); zstd
      _eventpipe.json                          the HDF5 root attributes (profile, hashes, ...)

Reading it (nothing from eventpipe needed)::

    import pandas as pd, dask.dataframe as dd, polars as pl, duckdb
    samples = pd.read_parquet("data/cache.parquet/samples.parquet")
    ev = pd.read_parquet("data/cache.parquet/events", filters=[("sample_id", "==", 42)])
    ddf = dd.read_parquet("data/cache.parquet/events")          # lazy, one partition per file
    pl.scan_parquet("data/cache.parquet/events/*/*.parquet", hive_partitioning=True)
    duckdb.sql("select sample_id, count(*) from 'data/cache.parquet/events/*/*.parquet' "
               "group by 1")

The ``recording`` column comes from the hive directory name.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from eventpipe.cache.hdf5 import CacheFile, samples_frame
from eventpipe.cache.schema import EVENT_FIELDS
from eventpipe.errors import CacheError
from eventpipe.events import EVENT_DTYPE
from eventpipe.runtime.durable import fsync_path

EVENTS_SCHEMA = pa.schema(
    [
        ("sample_id", pa.int32()),
        ("x", pa.int16()),
        ("y", pa.int16()),
        ("t", pa.int64()),
        ("p", pa.uint8()),
    ]
)
COMPRESSION = "zstd"
#: ParquetWriter options for the events files (docs/benchmarks.md). Every column is
#: DELTA_BINARY_PACKED (Parquet format 2 encoding, read by pyarrow, pandas, dask, polars, duckdb,
#: Spark): t is non-decreasing within a sample, sample_id constant, x/y/p small integers, so the
#: deltas bit-pack to a few bits and zstd has 4x less to compress. Measured on 7.1 M events of 8
#: full-scale recordings: 0.33 CPU-s and 15.2 MB, against 0.47 CPU-s and 19.7 MB with PLAIN
#: (+ a dictionary for sample_id). Statistics only on sample_id (row-group pruning for
#: ``sample_id == k`` filters); min/max of x, y, t, p would cost time for no reader benefit.
EVENTS_ENCODING = "DELTA_BINARY_PACKED"
WRITE_OPTIONS = {
    "compression": COMPRESSION,
    "use_dictionary": False,
    "column_encoding": dict.fromkeys(EVENTS_SCHEMA.names, EVENTS_ENCODING),
    "write_statistics": ["sample_id"],
}
META_NAME = "_eventpipe.json"
#: A row group holds whole samples and is closed at the first sample boundary at or past this
#: many rows: a sample with at least this many events gets a row group of its own (most
#: SL-Animals samples), small samples share one (about 32 N-MNIST samples). A ``sample_id``
#: filter still reads one row group. One row group per 4,000-event N-MNIST sample halved the
#: write rate (5.6 vs 11.6 M events/s, 800 samples, 2-core AMD EPYC).
ROW_GROUP_ROWS = 1 << 17


def row_group_bounds(offsets: np.ndarray, min_rows: int | None = None) -> np.ndarray:
    """Indices into ``offsets`` where row groups start and end (first 0, last ``n``).

    Each group ``[bounds[j], bounds[j+1])`` of samples ends at the first sample boundary where
    it reaches ``min_rows`` events (default :data:`ROW_GROUP_ROWS`; the last group may hold
    fewer); a recording without samples has no group.
    """
    min_rows = ROW_GROUP_ROWS if min_rows is None else int(min_rows)
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    bounds = [0]
    for i in range(1, n + 1):
        if offsets[i] - offsets[bounds[-1]] >= min_rows or i == n:
            bounds.append(i)
    return np.asarray(bounds if n > 0 else [0], dtype=np.int64)


def write_recording_events(
    root: str | os.PathLike,
    stem: str,
    sample_ids: np.ndarray,
    events: np.ndarray,
    offsets: np.ndarray,
    fsync: bool = False,
) -> Path:
    """Write ``<root>/events/recording=<stem>/part-0.parquet``: row groups of whole samples.

    Safe to call from worker processes (each recording is its own file). ``fsync=True`` makes
    the file durable before returning; the build instead fsyncs finished files from a
    background thread so that workers never wait for the disk.

    Args:
        sample_ids: [n] sample ids; events: EVENT_DTYPE or a mapping of columns x, y, t, p
            (t re-zeroed per sample);
        offsets: int64 [n + 1] local CSR offsets, sample i = ``events[offsets[i]:offsets[i+1]]``.

    Row groups: :func:`row_group_bounds` (statistics on ``sample_id`` prune the others).
    """
    d = Path(root) / "events" / f"recording={stem}"
    d.mkdir(parents=True, exist_ok=True)
    path = d / "part-0.parquet"
    offsets = np.asarray(offsets, dtype=np.int64)
    cols = [(k, np.ascontiguousarray(events[k], dtype=EVENT_FIELDS[k])) for k in EVENT_FIELDS]
    types = [EVENTS_SCHEMA.field(k).type for k, _ in cols]
    ids = np.repeat(np.asarray(sample_ids, dtype=np.int32), np.diff(offsets))
    bounds = row_group_bounds(offsets)
    with pq.ParquetWriter(path, EVENTS_SCHEMA, **WRITE_OPTIONS) as w:
        for i, j in itertools.pairwise(bounds):
            a, b = int(offsets[i]), int(offsets[j])
            arrays = [_arrow(ids[a - offsets[0] : b - offsets[0]], pa.int32())]
            arrays += [_arrow(c[a:b], typ) for (_, c), typ in zip(cols, types, strict=True)]
            table = pa.Table.from_arrays(arrays, schema=EVENTS_SCHEMA)
            w.write_table(table, row_group_size=max(b - a, 1))
    if fsync:
        fsync_path(path)
    return path


def _arrow(values: np.ndarray, typ: pa.DataType) -> pa.Array:
    """A zero-copy Arrow array over a contiguous numpy array of the matching fixed-width type.

    Unlike ``pa.array``, this never imports pandas (``pa.array`` checks for pandas objects, and
    the import costs each worker process ~0.2 CPU-s).
    """
    return pa.Array.from_buffers(typ, len(values), [None, pa.py_buffer(values)])


class ParquetWriter:
    """Writes the Parquet dataset into ``root`` (a new or empty directory), recording by recording.

    Recordings may be added in any order (each is its own file); the samples table is written
    by :meth:`close`, sorted by sample_id. ``fsync_files``: fsync each events file as it is
    written (otherwise the caller makes them durable, as the build does).
    """

    def __init__(
        self, root: str | os.PathLike, attrs: Mapping[str, Any], fsync_files: bool = False
    ) -> None:
        self.root = Path(root)
        self.fsync_files = fsync_files
        (self.root / "events").mkdir(parents=True, exist_ok=True)
        self.attrs = dict(attrs)
        self._samples: list[np.ndarray] = []
        self._files: list[Path] = []

    def add_recording(
        self, stem: str, samples: np.ndarray, events: np.ndarray, offsets: np.ndarray
    ) -> Path:
        """Write one recording's samples: ``events[offsets[i]:offsets[i+1]]`` is sample i.

        Args:
            stem: recording name (partition directory ``recording=<stem>``).
            samples: [n] SAMPLES_DTYPE rows (sample_id, ...); n_events taken from offsets.
            events: EVENT_DTYPE, concatenated, t re-zeroed per sample.
            offsets: int64 [n + 1], local.
        """
        path = write_recording_events(
            self.root, stem, samples["sample_id"], events, offsets, fsync=self.fsync_files
        )
        self.add_written(path, samples, offsets)
        return path

    def add_written(self, path: Path, samples: np.ndarray, offsets: np.ndarray) -> None:
        """Register a recording file already written by :func:`write_recording_events`."""
        rows = samples.copy()
        rows["n_events"] = np.diff(np.asarray(offsets, dtype=np.int64))
        self._samples.append(rows)
        self._files.append(Path(path))

    def close(self, event_offsets: np.ndarray | None = None, **attrs: Any) -> None:
        """Write samples.parquet and _eventpipe.json, then fsync everything.

        Args:
            event_offsets: optional global offsets (from the HDF5) to fill ``event_offset``.
            attrs: extra/overriding root attributes for ``_eventpipe.json``.
        """
        self.attrs.update(attrs)
        rows = np.concatenate(self._samples) if self._samples else None
        if rows is not None:
            rows = rows[np.argsort(rows["sample_id"], kind="stable")]
            if event_offsets is not None:
                rows["event_offset"] = np.asarray(event_offsets)[:-1]
            else:
                rows["event_offset"] = np.concatenate([[0], np.cumsum(rows["n_events"])[:-1]])
            df = samples_frame(rows)
        else:
            from eventpipe.cache.schema import SAMPLES_DTYPE

            df = samples_frame(np.zeros(0, dtype=SAMPLES_DTYPE))
        samples_path = self.root / "samples.parquet"
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), samples_path,
                       compression=COMPRESSION)  # fmt: skip
        meta = self.root / META_NAME
        meta.write_text(json.dumps(_jsonable(self.attrs), indent=2, sort_keys=True) + "\n")
        for p in [samples_path, meta]:
            fsync_path(p)
        for d in {p.parent for p in self._files} | {self.root / "events", self.root}:
            fsync_path(d)


def _jsonable(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in attrs.items():
        if k in ("profile", "profile_resolved", "source") and isinstance(v, str) and v:
            v = json.loads(v)
        elif isinstance(v, np.ndarray | tuple):
            v = list(np.asarray(v).tolist())
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def read_meta(root: str | os.PathLike) -> dict[str, Any] | None:
    """``_eventpipe.json`` of a Parquet dataset, or None if missing/unreadable."""
    try:
        return json.loads((Path(root) / META_NAME).read_text())
    except (OSError, ValueError):
        return None


def export_parquet(cache: str | os.PathLike, root: str | os.PathLike) -> Path:
    """Write the Parquet dataset of an existing HDF5 cache into ``root`` (must not exist).

    Used when the HDF5 is up to date but the Parquet copy is missing or stale.
    """
    root = Path(root)
    if root.exists():
        raise CacheError(f"{root}: exists; export_parquet writes a new directory")
    with CacheFile(cache) as c:
        rows = c.h5["samples"][:]
        writer = ParquetWriter(root, c.attrs, fsync_files=True)
        off = c.event_offsets
        for stem in dict.fromkeys(rows["recording"].tolist()):
            idx = np.flatnonzero(rows["recording"] == stem)
            lo, hi = int(idx[0]), int(idx[-1]) + 1
            a, b = int(off[lo]), int(off[hi])
            events = np.empty(b - a, dtype=EVENT_DTYPE)
            for k in ("x", "y", "t", "p"):
                events[k] = c.h5["events"][k][a:b]
            writer.add_recording(stem.decode(), rows[lo:hi], events, off[lo : hi + 1] - a)
        writer.close(event_offsets=off)
    return root


__all__ = [
    "COMPRESSION",
    "EVENTS_SCHEMA",
    "META_NAME",
    "ParquetWriter",
    "export_parquet",
    "read_meta",
]
