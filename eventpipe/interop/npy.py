"""Export a cache back to the published per-sample ``.npy`` slices.

The public SL-Animals training code (``slice_data.py`` in the STBP repository, ``utils.slice_data``
in the SLAYER one) saves each tagged slice of each recording as
``sliced_recordings/<recording>_<NN>.npy`` with ``NN = str(row).zfill(2)``, the 0-based row of the
tag file (00..18), holding the slice of ``tonic.io.read_dvs_128`` events: a structured array
``[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")]`` with **absolute** timestamps (us).
Its ``AnimalsDvsSliced`` dataset builds the names with ``list_sliced_files(filelist)`` and takes
``class = index % 19``.

:func:`export_npy` writes exactly those files from a cache, so the published scripts run
unchanged on it: point them at a directory holding these files (their ``data/filelist.txt`` and
``SL-Animals-DVS_gestures_definitions.csv`` ship with the repositories). Timestamps are written
as ``t + t_start_us`` (the sample's first raw event):

* profile without event transforms and without ``floor_ms``: the files are identical to what
  ``slice_data.py`` writes from the same recordings, for recordings whose 32-bit clock does not
  wrap (after a wrap the published reader's times are ``t mod 2**32``; a profile with
  ``events.clock: wrap32`` writes those);
* with ``floor_ms`` (both shipped profiles): times are the published millisecond clock shifted
  by ``t_start_us``, so the published ``Downsample(time_factor=0.001) + TimeAlignment`` gives
  the same millisecond times, and the same frames, as the cache's views;
* with denoise/refractory: only the surviving events are written (the published code never
  filtered: say so when comparing).

A manifest ``eventpipe_export.json`` (cache path, profile hash, ``synthetic`` flag) is written
beside the slices; synthetic data stays labelled as such.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from eventpipe.cache.hdf5 import CacheFile
from eventpipe.errors import CacheError
from eventpipe.report.progress import progress_bar
from eventpipe.runtime.durable import atomic_file

#: what ``tonic.io.read_dvs_128`` returns and the published slices hold
PUBLISHED_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
MANIFEST = "eventpipe_export.json"


def slice_name(recording: str, row: int) -> str:
    """The published slice file name: ``<recording>_<NN>.npy`` with NN = row zero-padded to 2.

    >>> slice_name("user27_imse", 3)
    'user27_imse_03.npy'
    """
    return f"{recording}_{str(int(row)).zfill(2)}.npy"


def _save_atomic(path: Path, array: np.ndarray) -> None:
    with atomic_file(path) as fh:
        np.save(fh, array, allow_pickle=False)


def export_npy(
    cache: str | os.PathLike,
    out_dir: str | os.PathLike,
    recordings: Iterable[str] | None = None,
    absolute_time: bool = True,
    published_dtype: bool = True,
    progress: bool = False,
) -> list[Path]:
    """Write one ``<recording>_<NN>.npy`` per sample of ``cache`` into ``out_dir``.

    Args:
        cache: the HDF5 cache.
        out_dir: destination directory (created; existing slice files are overwritten).
        recordings: only these recordings (default: all in the cache).
        absolute_time: add ``t_start_us`` back (published slices); False keeps t from 0.
        published_dtype: ``p`` as bool like ``tonic.io.read_dvs_128`` (default); False keeps
            eventpipe's uint8.
        progress: show a rich progress bar.

    Returns:
        The written paths, in sample-id order. NN is the sample's row in its recording
        (= tag-file row = ``sample_id % 19`` for SL-Animals).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dtype = (
        PUBLISHED_DTYPE
        if published_dtype
        else np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "u1")])
    )
    with CacheFile(cache) as c:
        table = _selected(c, recordings)
        with progress_bar(enabled=progress and len(table) > 0, timing=False, transient=True) as bar:
            task = bar.add_task("export npy", total=len(table))
            written = _write_slices(c, table, out, dtype, absolute_time, lambda: bar.advance(task))
        manifest = {
            "cache": str(Path(cache).resolve()),
            "profile_hash": c.profile_hash,
            "profile": c.profile.get("name"),
            "synthetic": c.synthetic,
            "n_files": len(written),
            "naming": "<recording>_<NN>.npy, NN = row of the sample in its tag file (zfill 2)",
            "time": "absolute (t + t_start_us)" if absolute_time else "from 0 per sample",
            "dtype": [list(d) for d in dtype.descr],
        }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return written


def _selected(c: CacheFile, recordings: Iterable[str] | None) -> pd.DataFrame:
    """The samples table in sample-id order, only ``recordings`` when given (CacheError
    naming the recordings the cache does not hold)."""
    table = c.samples.sort_values("sample_id", kind="stable")
    if recordings is None:
        return table
    wanted = list(dict.fromkeys(recordings))
    have = set(table["recording"])
    missing = [r for r in wanted if r not in have]
    if missing:
        raise CacheError(f"{c.path}: no samples of recordings {missing} in this cache")
    return table[table["recording"].isin(wanted)]


def _write_slices(
    c: CacheFile,
    table: pd.DataFrame,
    out: Path,
    dtype: np.dtype,
    absolute_time: bool,
    advance: Callable[[], None],
) -> list[Path]:
    """Write one ``.npy`` per row of ``table``; each run of consecutive rows of a recording
    is read with one slice per field, then cut per sample."""
    row_in_rec = table.groupby("recording", sort=False).cumcount().to_numpy()
    off = c.event_offsets
    g = c.h5["events"]
    rows = table.index.to_numpy()
    recs = table["recording"].tolist()
    t_start = table["t_start_us"].to_numpy()
    written: list[Path] = []
    start = 0
    while start < len(rows):
        stop = start
        while (
            stop + 1 < len(rows)
            and recs[stop + 1] == recs[start]
            and rows[stop + 1] == rows[stop] + 1
        ):
            stop += 1
        a, b = int(off[rows[start]]), int(off[rows[stop] + 1])
        block = {k: g[k][a:b] for k in ("x", "y", "t", "p")}
        for j in range(start, stop + 1):
            lo, hi = int(off[rows[j]]) - a, int(off[rows[j] + 1]) - a
            ev = np.empty(hi - lo, dtype=dtype)
            ev["x"], ev["y"] = block["x"][lo:hi], block["y"][lo:hi]
            ev["t"] = block["t"][lo:hi] + (int(t_start[j]) if absolute_time else 0)
            ev["p"] = block["p"][lo:hi]
            path = out / slice_name(recs[j], row_in_rec[j])
            _save_atomic(path, ev)
            written.append(path)
            advance()
        start = stop + 1
    return written


__all__ = ["MANIFEST", "PUBLISHED_DTYPE", "export_npy", "slice_name"]
