"""N-TIDIGITS18 (Anumula et al., 2018): ``n-tidigits.hdf5``, reading one part in bulk, writing.

The HDF5 layout::

    train_labels                 [n] bytes keys "<gender>-<speaker>-<take>-<digits>",
                                 e.g. b"man-im-a-7557" (digits 1..9, "z" zero, "o" oh)
    train_timestamps/<key>       [k] float seconds of the sample's spikes
    train_addresses/<key>        [k] channel 0..63 of each spike
    test_labels, test_timestamps/<key>, test_addresses/<key>     the same for the test part

Each sample is two datasets of its own, so h5py needs one read per dataset: :func:`read_part`
reads each sample's two arrays straight into one preallocated array each (``read_direct``, no
intermediate copies), then converts everything at once as :mod:`eventpipe.io.spikes` describes
(x = address, y = 0, t = rint(s * 1e6) us, p = 0; sensor ``(64, 1, 1)``). Addresses stored as
floats are accepted when every value is a whole number.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "n-tidigits.hdf5")
>>> write_ntidigits(path, {"train": (["man-im-a-7", "woman-ab-b-1z"],
...     [np.array([0.5, 0.75]), np.array([0.125])], [np.array([1, 63]), np.array([2])]),
...     "test": ([], [], [])})
>>> read_labels(path, "train")
('man-im-a-7', 'woman-ab-b-1z')
>>> table = read_part(path, "train", rows=[0])
>>> table.columns["t"].tolist(), table.columns["x"].tolist(), table.offsets.tolist()
([500000, 750000], [1, 63], [0, 2])
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from eventpipe.datasets.ntidigits.facts import N_CHANNELS as NTIDIGITS_CHANNELS
from eventpipe.errors import FormatError
from eventpipe.io.buffers import Buffer
from eventpipe.io.spikes import SpikeTable, check_dtypes, spikes_to_columns

#: the two published parts
PARTS = ("train", "test")
#: the dtypes the synthetic stand-in writes (times float64 seconds, addresses uint8)
FILE_DTYPES = {"timestamps": np.float64, "addresses": np.uint8}


def keys_of(split: str) -> tuple[str, str, str]:
    """``(labels, timestamps group, addresses group)`` keys of a part."""
    return f"{split}_labels", f"{split}_timestamps", f"{split}_addresses"


def _open(path: str | os.PathLike):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(f"{path}: not a readable HDF5 file ({exc})") from None


def _labels(f, split: str, path) -> tuple[str, ...]:
    key = keys_of(split)[0]
    if key not in f:
        raise FormatError(f"{path}: no key {key!r}; expected an N-TIDIGITS file")
    raw = np.asarray(f[key][()]).ravel()
    return tuple(k.decode("ascii", "replace") if isinstance(k, bytes) else str(k) for k in raw)


def read_labels(path: str | os.PathLike, split: str) -> tuple[str, ...]:
    """The sample keys of a part (``train_labels`` / ``test_labels``), in file order."""
    with _open(path) as f:
        return _labels(f, split, path)


def _sample_datasets(f, split: str, labels: Sequence[str], rows: Sequence[int], path):
    """The (timestamps, addresses) datasets of each row; FormatError naming a missing one."""
    _, tkey, akey = keys_of(split)
    out = []
    for group in (tkey, akey):
        if group not in f:
            raise FormatError(f"{path}: no key {group!r}; expected an N-TIDIGITS file")
        g = f[group]
        dsets = []
        for r in rows:
            name = labels[r]
            if name not in g:
                raise FormatError(f"{path}: no key '{group}/{name}' (sample {r} of {split})")
            dsets.append(g[name])
        out.append(dsets)
    return out


def _gather(dsets: list, dtype: np.dtype, offsets: np.ndarray) -> np.ndarray:
    """Each dataset's values read straight into its slice of one array."""
    out = np.empty(int(offsets[-1]), dtype)
    for i, ds in enumerate(dsets):
        a, b = int(offsets[i]), int(offsets[i + 1])
        if b > a:
            ds.read_direct(out, dest_sel=np.s_[a:b])
    return out


def _whole_addresses(addr: np.ndarray, where: str, key: str) -> np.ndarray:
    """Integer addresses; float addresses must be whole numbers."""
    if addr.dtype.kind == "f":
        frac = np.flatnonzero(~np.isfinite(addr) | (addr != np.round(addr)))
        if len(frac):
            raise FormatError(f"{where}: {key}: address {addr[frac[0]]!r}; expected whole numbers")
        return addr.astype(np.int64)
    return addr


def read_part(
    path: str | os.PathLike,
    split: str,
    rows: Sequence[int] | None = None,
    buffer: Buffer = None,
) -> SpikeTable:
    """Read the samples ``rows`` (indices into the part's labels; None = all) of one part.

    Returns:
        :class:`~eventpipe.io.spikes.SpikeTable` with the rows' events in ``rows`` order.

    Raises:
        FormatError: a missing key or sample dataset, times and addresses of different lengths,
            a bad time or address (naming the file, the key and the sample).
    """
    where = str(path)
    _, tkey, akey = keys_of(split)
    with _open(path) as f:
        labels = _labels(f, split, path)
        rows = list(range(len(labels))) if rows is None else list(rows)
        tds, ads = _sample_datasets(f, split, labels, rows, path)
        offsets = _offsets(tds, ads, [labels[r] for r in rows], rows, where, (tkey, akey))
        t_s = _gather(tds, tds[0].dtype if tds else np.float64, offsets)
        addr = _gather(ads, ads[0].dtype if ads else np.int64, offsets)
    addr = _whole_addresses(addr, where, akey)
    return spikes_to_columns(
        t_s, addr, offsets, NTIDIGITS_CHANNELS, where=where, keys=(tkey, akey), buffer=buffer
    )


def _offsets(
    tds: list, ads: list, names: list[str], rows: list[int], where: str, keys
) -> np.ndarray:
    """Sample offsets from the datasets' sizes; FormatError for a dataset that is not 1-D, a
    non-numeric dtype or a sample whose times and addresses differ in length."""
    for dsets, key in ((tds, keys[0]), (ads, keys[1])):
        bad = [i for i, ds in enumerate(dsets) if ds.ndim > 1]
        if bad:
            raise FormatError(f"{where}: key '{key}/{names[bad[0]]}' is not 1-D")
    if tds:
        a_dtype = ads[0].dtype if ads[0].dtype.kind != "f" else np.dtype("i8")
        check_dtypes(where, keys[0], tds[0].dtype, keys[1], a_dtype)
    t_len = np.array([ds.size for ds in tds], np.int64)
    a_len = np.array([ds.size for ds in ads], np.int64)
    bad = np.flatnonzero(t_len != a_len)
    if len(bad):
        s = int(bad[0])
        raise FormatError(
            f"{where}: sample {rows[s]} ({names[s]!r}): {int(t_len[s])} times in {keys[0]!r} "
            f"but {int(a_len[s])} addresses in {keys[1]!r}; expected equal lengths"
        )
    offsets = np.zeros(len(t_len) + 1, np.int64)
    np.cumsum(t_len, out=offsets[1:])
    return offsets


def write_ntidigits(
    path: str | os.PathLike,
    parts: dict[str, tuple[Sequence[str], Sequence[np.ndarray], Sequence[np.ndarray]]],
) -> None:
    """Write an ``n-tidigits.hdf5`` in the official layout.

    Args:
        path: the file (overwritten).
        parts: ``{"train": (keys, times, addresses), "test": (...)}``: per sample its key
            (``"man-im-a-7"``), times in seconds and addresses (:data:`FILE_DTYPES`).
    """
    import h5py

    with h5py.File(path, "w") as f:
        for split, (labels, times, addrs) in parts.items():
            lkey, tkey, akey = keys_of(split)
            f.create_dataset(lkey, data=np.array([k.encode() for k in labels], dtype="S"))
            tg, ag = f.create_group(tkey), f.create_group(akey)
            for name, t, a in zip(labels, times, addrs, strict=True):
                tg.create_dataset(name, data=np.asarray(t, FILE_DTYPES["timestamps"]))
                ag.create_dataset(name, data=np.asarray(a, FILE_DTYPES["addresses"]))


__all__ = [
    "FILE_DTYPES",
    "NTIDIGITS_CHANNELS",
    "PARTS",
    "keys_of",
    "read_labels",
    "read_part",
    "write_ntidigits",
]
