"""N-MNIST ``.bin`` files (ATIS, 34 x 34): reading one file, many files at once, and writing.

Each event is a 5-byte record, no header::

    byte 0: x (0..33)          byte 1: y (0..33, or 240: overflow marker)
    byte 2: bit 7 polarity (1 = ON), bits 6..0 timestamp bits 22..16
    byte 3: timestamp bits 15..8     byte 4: timestamp bits 7..0      (timestamp in us)

A record with ``y == 240`` is the ATIS timestamp-overflow marker: it is removed and adds
``2**13`` us to every later event of the same file, which is exactly tonic 1.7's
``tonic.io.read_mnist_file`` (and Orchard's reader of the dataset's authors). A marker's ``x``,
polarity and timestamp bytes are ignored. Every other record is an event, in file order; nothing
is reordered or dropped. Polarity is the raw bit 7: ``p = 1`` is ON, ``p = 0`` OFF.

:func:`read_nmnist_files` reads many files with one ``open``/``read`` each into one byte array
and decodes them all in one pass of a Numba kernel (:mod:`eventpipe.kernels.nmnist`); the
overflow count restarts at each file. :func:`read_nmnist` is the one-file case.

>>> import os, tempfile
>>> from eventpipe.events import make_events
>>> path = os.path.join(tempfile.mkdtemp(), "00001.bin")
>>> write_nmnist(path, make_events([1, 33], [2, 0], [10, 2**23 + 5], [1, 0]))
>>> os.path.getsize(path)  # two events and one overflow marker
15
>>> read_nmnist(path)["t"].tolist()
[10, 8388613]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from eventpipe.errors import FormatError
from eventpipe.events import EVENT_DTYPE
from eventpipe.io.buffers import Buffer, decode_target
from eventpipe.kernels.nmnist import OVERFLOW_US, OVERFLOW_Y, decode_nmnist_kernel

#: bytes per record
RECORD_BYTES = 5
#: ``(W, H)`` of the ATIS crop N-MNIST keeps
NMNIST_SIZE = (34, 34)
#: the largest timestamp a record holds (23 bits, us)
MAX_RECORD_US = (1 << 23) - 1

Columns = dict[str, np.ndarray]


def _read_one(path: str, buf: np.ndarray, pos: int) -> tuple[np.ndarray, int]:
    """Append ``path``'s bytes to ``buf`` at ``pos`` (growing it); returns (buf, new pos)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise FormatError(f"{path}: cannot open: {exc.strerror}") from None
    try:
        size = os.fstat(fd).st_size
        if pos + size > len(buf):
            grown = np.empty(max(2 * len(buf), pos + size), np.uint8)
            grown[:pos] = buf[:pos]
            buf = grown
        view = memoryview(buf)[pos : pos + size]
        got = 0
        while got < size:
            n = os.readv(fd, [view[got:]])
            if n == 0:
                raise FormatError(f"{path}: file shrank while reading ({got} of {size} bytes)")
            got += n
    finally:
        os.close(fd)
    if size % RECORD_BYTES:
        raise FormatError(
            f"{path}: {size} bytes, not a multiple of {RECORD_BYTES}: truncated or not an "
            f"N-MNIST .bin file ({size // RECORD_BYTES} whole records and {size % RECORD_BYTES} "
            "bytes)"
        )
    return buf, pos + size


def read_bytes(
    paths: Sequence[str | os.PathLike], scratch: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read the files one after the other into one array (one open/read per file).

    Args:
        paths: the files, in order.
        scratch: a uint8 array to read into while the bytes fit (it grows by a new array
            otherwise); None allocates one. A caller reading many folders passes the same
            array each time: pages of a new array cost a fault each on first touch (~0.3 s
            of the 0.4 s a 6,000-file folder takes on the 2-core AMD EPYC machine).

    Returns:
        ``(raw, starts)``: uint8 ``[n_bytes]`` (a view of ``scratch`` when the bytes fit) and
        int64 ``[n_files + 1]`` byte offsets.

    Raises:
        FormatError: a file that cannot be read, or whose length is not a multiple of 5.
    """
    starts = np.zeros(len(paths) + 1, np.int64)
    buf = scratch
    if buf is None or len(buf) == 0:
        buf = np.empty(max(1 << 16, 16384 * len(paths)), np.uint8)  # pages are touched on use
    pos = 0
    for i, p in enumerate(paths):
        buf, pos = _read_one(os.fspath(p), buf, pos)
        starts[i + 1] = pos
    return buf[:pos], starts


def _range_error(paths: Sequence, raw: np.ndarray, starts: np.ndarray, at: int) -> FormatError:
    """The one-line error for the out-of-range record at byte ``at`` of ``raw``."""
    f = int(np.searchsorted(starts, at, side="right")) - 1
    off = at - int(starts[f])
    x, y = int(raw[at]), int(raw[at + 1])
    w, h = NMNIST_SIZE
    if x >= w:
        name, value, lim, byte = "x", x, w, off
    else:
        name, value, lim, byte = "y", y, h, off + 1
    return FormatError(
        f"{paths[f]}: event {off // RECORD_BYTES} at byte {byte}: {name} = {value}; expected "
        f"0..{lim - 1} (34x34 sensor; y = {OVERFLOW_Y} marks a timestamp overflow)"
    )


def decode_records(
    raw: np.ndarray, starts: np.ndarray, paths: Sequence, buffer: Buffer = None
) -> tuple[Columns, np.ndarray]:
    """Decode concatenated records (``raw``, ``starts`` from :func:`read_bytes`).

    ``paths`` only names files in errors. Returns ``(columns, offsets)`` as
    :func:`read_nmnist_files` does.
    """
    out = decode_target(buffer, len(raw) // RECORD_BYTES)
    offsets = np.zeros(len(starts), np.int64)
    w, h = NMNIST_SIZE
    bad = decode_nmnist_kernel(raw, starts, w, h, out["x"], out["y"], out["t"], out["p"], offsets)
    if bad >= 0:
        raise _range_error(paths, raw, starts, int(bad))
    n = int(offsets[-1])
    return {k: out[k][:n] for k in EVENT_DTYPE.names}, offsets


def read_nmnist_files(
    paths: Sequence[str | os.PathLike], buffer: Buffer = None, scratch: np.ndarray | None = None
) -> tuple[Columns, np.ndarray]:
    """Read many N-MNIST ``.bin`` files in one pass.

    Args:
        paths: the files, in the order wanted.
        buffer: columns ``x, y, t, p`` (int16, int16, int64, uint8), each at least
            ``sum(sizes) // 5`` long, to decode into (the result is views of them); or an
            :data:`~eventpipe.events.EVENT_DTYPE` array that long (views of its fields).
            ``None`` allocates.
        scratch: the bytes' buffer, as :func:`read_bytes`.

    Returns:
        ``(columns, offsets)``: a dict of 1-D columns ``x, y`` (int16, 0..33), ``t`` (int64 us,
        each file's own clock), ``p`` (uint8, 1 = ON) of all events, file after file, and int64
        ``offsets [n_files + 1]``: file ``i``'s events are ``[offsets[i], offsets[i + 1])``.

    Raises:
        FormatError: unreadable file, a length not a multiple of 5 (names the file and its
            size), a coordinate outside 34 x 34 (names the file, the byte offset, the value).
    """
    paths = list(paths)
    raw, starts = read_bytes(paths, scratch)
    return decode_records(raw, starts, paths, buffer)


def read_nmnist(
    path: str | os.PathLike, buffer: Buffer = None
) -> np.ndarray | dict[str, np.ndarray]:
    """Read one N-MNIST ``.bin`` file.

    Args:
        path: the file.
        buffer: as :func:`read_nmnist_files`; with a mapping of columns the result is a dict of
            column views.

    Returns:
        ``[n]`` :data:`~eventpipe.events.EVENT_DTYPE` array in file order (``t`` in us), or a
        dict of columns for a column ``buffer``.

    Raises:
        FormatError: as :func:`read_nmnist_files`.
    """
    raw, starts = read_bytes([path])
    n_max = len(raw) // RECORD_BYTES
    if isinstance(buffer, Mapping):
        return decode_records(raw, starts, [path], buffer)[0]
    usable = buffer is not None and buffer.dtype == EVENT_DTYPE and len(buffer) >= n_max
    events = buffer if usable else np.empty(n_max, EVENT_DTYPE)
    cols, _ = decode_records(raw, starts, [path], events)
    return events[: len(cols["t"])]


def _marker_counts(t: np.ndarray) -> np.ndarray:
    """Overflow markers written before each event so every stored timestamp fits 23 bits."""
    need = np.maximum(0, -(-(t - MAX_RECORD_US) // OVERFLOW_US))  # ceil, >= 0
    return np.maximum.accumulate(need) if len(t) else need


def encode_nmnist(events: np.ndarray | Mapping[str, np.ndarray]) -> bytes:
    """The bytes of an N-MNIST ``.bin`` file holding ``events`` (in the given order).

    Timestamps above ``2**23 - 1`` us are stored with overflow markers (``x = 0, y = 240``, zero
    polarity and timestamp bytes) inserted before the first event that needs each one.

    Raises:
        ValueError: a negative time, a time that falls by more than the markers already written
            allow, ``x`` or ``y`` outside 0..255, ``y == 240`` (the marker), or ``p`` not 0/1.
    """
    x, y, p = (np.asarray(events[k], np.int64) for k in ("x", "y", "p"))
    t = np.asarray(events["t"], np.int64)
    if len(t) and (t.min() < 0 or min(x.min(), y.min()) < 0 or max(x.max(), y.max()) > 255):
        raise ValueError("N-MNIST records hold t >= 0 and x, y in 0..255")
    if np.any(y == OVERFLOW_Y) or np.any((p != 0) & (p != 1)):
        raise ValueError(f"y = {OVERFLOW_Y} is the overflow marker and p must be 0 or 1")
    k = _marker_counts(t)
    ts = t - k * OVERFLOW_US
    if np.any(ts < 0):
        i = int(np.flatnonzero(ts < 0)[0])
        raise ValueError(f"event {i}: t = {int(t[i])} us falls too far after an overflow marker")
    rows = np.zeros((len(t) + (int(k[-1]) if len(t) else 0), RECORD_BYTES), np.uint8)
    rows[:, 1] = OVERFLOW_Y
    at = np.arange(len(t)) + k
    rows[at, 0], rows[at, 1] = x, y
    rows[at, 2] = (p << 7) | (ts >> 16)
    rows[at, 3], rows[at, 4] = (ts >> 8) & 0xFF, ts & 0xFF
    return rows.tobytes()


def write_nmnist(
    path: str | os.PathLike, events: np.ndarray | Mapping[str, np.ndarray], *, atomic: bool = False
) -> None:
    """Write ``events`` (fields or columns ``x, y, t`` (us), ``p``) as an N-MNIST ``.bin`` file.

    Args:
        path: the file (parent folders are created).
        events: the events, in file order (see :func:`encode_nmnist` for what is accepted).
        atomic: write through a temporary file, fsync and rename
            (:func:`eventpipe.runtime.durable.atomic_file`); plain by default, as the
            synthetic generator writes tens of thousands of small files and marks completion
            in its manifest.
    """
    data = encode_nmnist(events)
    path = Path(path)
    if atomic:
        from eventpipe.runtime.durable import atomic_write_bytes

        atomic_write_bytes(path, data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


__all__ = [
    "MAX_RECORD_US",
    "NMNIST_SIZE",
    "RECORD_BYTES",
    "decode_records",
    "encode_nmnist",
    "read_bytes",
    "read_nmnist",
    "read_nmnist_files",
    "write_nmnist",
]
