"""Spiking Heidelberg Digits files (``shd_train.h5``, ``shd_test.h5``): reading in bulk, writing.

The HDF5 layout (Cramer et al., 2020; zenkelab.org)::

    spikes/times     [n] variable-length float16, seconds from the sample's start
    spikes/units     [n] variable-length uint16, channel 0..699
    labels           [n] uint16, class 0..19
    extra/speaker    [n] uint16, speaker id
    extra/keys       [20] class names (bytes), index = label
    extra/meta_info  gender, age, body_height per speaker (not read)

:func:`read_shd` reads each variable-length dataset with one h5py call (h5py builds the
per-sample arrays in C), concatenates them with one ``numpy.concatenate`` and converts the
result as :mod:`eventpipe.io.spikes` describes (x = unit, y = 0, t = rint(s * 1e6) us, p = 0;
sensor ``(700, 1, 1)``): no Python loop per sample. The reader accepts any float width for times
and any integer width for units, as long as the values are valid.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "shd_test.h5")
>>> write_shd(path, [np.array([0.25, 0.5])], [np.array([3, 699])], [7], [2], KEYS_EXAMPLE)
>>> table, meta = read_shd(path)
>>> table.columns["t"].tolist(), table.offsets.tolist(), meta.labels.tolist()
([250000, 500000], [0, 2], [7])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eventpipe.datasets.shd.facts import CLASS_NAMES as KEYS_EXAMPLE
from eventpipe.datasets.shd.facts import N_CHANNELS as SHD_CHANNELS
from eventpipe.errors import FormatError
from eventpipe.io.buffers import Buffer
from eventpipe.io.spikes import (
    SpikeTable,
    check_dtypes,
    check_lengths,
    object_rows,
    spikes_to_columns,
)

#: classes (labels 0..19)
SHD_CLASSES = 20
#: the keys of the official files eventpipe reads
TIMES_KEY, UNITS_KEY, LABELS_KEY = "spikes/times", "spikes/units", "labels"
SPEAKER_KEY, CLASS_KEYS_KEY = "extra/speaker", "extra/keys"
#: the dtypes the official files store (and the synthetic stand-in writes)
FILE_DTYPES = {
    TIMES_KEY: np.float16,
    UNITS_KEY: np.uint16,
    LABELS_KEY: np.uint16,
    SPEAKER_KEY: np.uint16,
}


@dataclass
class ShdMeta:
    """Per-sample labels and speakers of a file, and its class names.

    Attributes:
        labels: int64 ``[n]`` class ids. speakers: int64 ``[n]`` speaker ids (0 when the file
        has no ``extra/speaker``). keys: the file's class names (empty when absent).
    """

    labels: np.ndarray
    speakers: np.ndarray
    keys: tuple[str, ...]


def _open(path: str | os.PathLike):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(f"{path}: not a readable HDF5 file ({exc})") from None


def _dataset(f, key: str, path) -> object:
    if key not in f:
        raise FormatError(f"{path}: no key {key!r}; expected an SHD file ({TIMES_KEY}, ...)")
    return f[key]


def _vlen(f, key: str, path) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """``(concatenated values, lengths, element dtype)`` of a variable-length dataset."""
    import h5py

    ds = _dataset(f, key, path)
    base = h5py.check_vlen_dtype(ds.dtype)
    if base is None or ds.ndim != 1:
        raise FormatError(f"{path}: key {key!r} holds {ds.dtype} {ds.shape}; expected 1-D vlen")
    rows = ds[()]
    lengths = np.fromiter(map(len, rows), np.int64, len(rows))
    values = np.concatenate(rows) if len(rows) else np.zeros(0, base)
    return values, lengths, np.dtype(base)


def read_meta(path: str | os.PathLike, n: int | None = None) -> ShdMeta:
    """Labels, speakers and class names of an SHD file (labels checked to be 0..19).

    Raises:
        FormatError: no ``labels``, a label out of range, or lengths that disagree with ``n``.
    """
    with _open(path) as f:
        labels = np.asarray(_dataset(f, LABELS_KEY, path)[()]).astype(np.int64).ravel()
        speakers = (
            np.asarray(f[SPEAKER_KEY][()]).astype(np.int64).ravel()
            if SPEAKER_KEY in f
            else np.zeros(len(labels), np.int64)
        )
        raw = f[CLASS_KEYS_KEY][()] if CLASS_KEYS_KEY in f else []
    keys = tuple(k.decode() if isinstance(k, bytes) else str(k) for k in raw)
    bad = np.flatnonzero((labels < 0) | (labels >= SHD_CLASSES))
    if len(bad):
        s = int(bad[0])
        raise FormatError(
            f"{path}: key {LABELS_KEY!r} sample {s}: label {int(labels[s])}; expected 0 .. "
            f"{SHD_CLASSES - 1}"
        )
    for key, arr in ((LABELS_KEY, labels), (SPEAKER_KEY, speakers)):
        if n is not None and len(arr) != n:
            raise FormatError(f"{path}: key {key!r} has {len(arr)} rows; expected {n} samples")
    return ShdMeta(labels, speakers, keys)


def read_shd(path: str | os.PathLike, buffer: Buffer = None) -> tuple[SpikeTable, ShdMeta]:
    """Read a whole SHD file.

    Args:
        path: ``shd_train.h5`` or ``shd_test.h5``.
        buffer: columns ``x, y, t, p`` (or an EVENT_DTYPE array) of at least the file's spike
            count (:func:`max_spikes` bounds it); None allocates.

    Returns:
        ``(table, meta)``: the events of every sample in CSR form (:class:`SpikeTable`, rows in
        file order) and the labels, speakers and class names.

    Raises:
        FormatError: a missing key, times and units of different lengths, a bad time or unit,
            a label out of range (each naming the file, the key and the sample).
    """
    with _open(path) as f:
        t_s, t_len, t_dtype = _vlen(f, TIMES_KEY, path)
        units, u_len, u_dtype = _vlen(f, UNITS_KEY, path)
    check_dtypes(str(path), TIMES_KEY, t_dtype, UNITS_KEY, u_dtype)
    check_lengths(t_len, u_len, str(path), (TIMES_KEY, UNITS_KEY))
    offsets = np.zeros(len(t_len) + 1, np.int64)
    np.cumsum(t_len, out=offsets[1:])
    meta = read_meta(path, len(t_len))
    table = spikes_to_columns(
        t_s,
        units,
        offsets,
        SHD_CHANNELS,
        where=str(path),
        keys=(TIMES_KEY, UNITS_KEY),
        buffer=buffer,
    )
    return table, meta


def max_spikes(path: str | os.PathLike) -> int:
    """An upper bound on the file's spikes without reading them: the file size divided by the
    bytes one spike takes (a time plus a unit; variable-length data is stored unfiltered)."""
    import h5py

    size = os.path.getsize(path)
    try:
        with h5py.File(path, "r") as f:
            per = sum(
                np.dtype(h5py.check_vlen_dtype(f[k].dtype) or np.uint8).itemsize
                for k in (TIMES_KEY, UNITS_KEY)
            )
    except (OSError, KeyError):
        per = 1
    return size // max(per, 1) + 1


def write_shd(
    path: str | os.PathLike,
    times: Sequence[np.ndarray],
    units: Sequence[np.ndarray],
    labels: Sequence[int],
    speakers: Sequence[int],
    keys: Sequence[str],
) -> None:
    """Write an SHD file in the official layout and dtypes (:data:`FILE_DTYPES`).

    Args:
        path: the file (overwritten).
        times: per sample, times in seconds (stored as float16).
        units: per sample, channels (stored as uint16).
        labels, speakers: per sample. keys: class names, index = label.
    """
    import h5py

    with h5py.File(path, "w") as f:
        for key, rows in ((TIMES_KEY, times), (UNITS_KEY, units)):
            data = object_rows(rows, FILE_DTYPES[key])
            f.create_dataset(key, data=data, dtype=h5py.vlen_dtype(FILE_DTYPES[key]))
        f.create_dataset(LABELS_KEY, data=np.asarray(labels, FILE_DTYPES[LABELS_KEY]))
        f.create_dataset(SPEAKER_KEY, data=np.asarray(speakers, FILE_DTYPES[SPEAKER_KEY]))
        f.create_dataset(CLASS_KEYS_KEY, data=np.array([k.encode() for k in keys]))


__all__ = [
    "CLASS_KEYS_KEY",
    "FILE_DTYPES",
    "KEYS_EXAMPLE",
    "LABELS_KEY",
    "SHD_CHANNELS",
    "SHD_CLASSES",
    "SPEAKER_KEY",
    "TIMES_KEY",
    "UNITS_KEY",
    "ShdMeta",
    "max_spikes",
    "read_meta",
    "read_shd",
    "write_shd",
]
