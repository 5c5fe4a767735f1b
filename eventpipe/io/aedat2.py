"""AEDAT 2.0 (jAER) files: DVS128 recordings as published for SL-Animals-DVS.

Layout: ASCII header lines starting with ``#`` (first ``#!AER-DAT2.0``, ending ``\\r\\n`` or
``\\n``; see :mod:`eventpipe.io.header`), then big-endian records ``(uint32 address,
uint32 timestamp_us)`` (:data:`RECORD_DTYPE`), 8 bytes each, up to the end of the file.

Address decoding, ``orientation="published"`` (tonic ``read_dvs_128``, which the published
SL-Animals code uses, so tag indices and results reproduce)::

    p = a & 1;  y = (a >> 1) & 0x7F;  x = (a >> 8) & 0x7F

``orientation="jaer"``: jAER's own DVS128 extractor (SensorsINI/jaer,
``src/ch/unizh/ini/jaer/chip/retina/DVS128.java``, class ``DVS128.Extractor``:
``XMASK = 0xfe, XSHIFT = 1, YMASK = 0x7f00, YSHIFT = 8, setFlipx(true)``,
``e.x = sxm - ((addr & XMASK) >>> XSHIFT)`` with ``sxm = sizeX - 1 = 127``,
``e.y = (addr & YMASK) >>> YSHIFT``; the same map is written out in SensorsINI/processAEDAT
``matlab/retina/getTmpdiff128Addr.m``: ``rawAddr = y*256 + (127-x)*2 + pol``)::

    p = a & 1;  x = 127 - ((a >> 1) & 0x7F);  y = (a >> 8) & 0x7F

so ``(x_jaer, y_jaer) = (127 - y_published, x_published)``: a 90-degree rotation of the image.
``p`` is the raw address bit 0 in both orientations. (jAER's extractor additionally flips the *type*
so that raw bit 0 = 0 becomes its ON polarity, while processAEDAT's Matlab helper calls raw bit 1
ON; eventpipe never relabels polarity, so ``p`` means the same in every orientation and cache.)

Choices that keep the event sequence identical to tonic's (the tag files index into it):

* **Every record is an event**, in file order. Addresses with bits above 14 set (jAER marks
  ``a & 0x8000`` as an external sync event and ``a & 0x80000000`` as special; see
  ``realfiles/peculiar``) are *kept* and decoded with the same masks as tonic, so indices stay
  aligned. :func:`special_address_mask` tells which ones they are.
* **Timestamps** are unsigned 32-bit microseconds, unwrapped to int64 (:func:`unwrap_timestamps`):
  a drop of more than 2**31 us between consecutive events is a wrap (+2**32 from there on); a rise
  of more than 2**31 us right after a wrap is a late pre-wrap event (-2**32). Smaller backward
  steps (jitter) are kept as they are: nothing is reordered or dropped. Without a wrap, ``t`` equals
  tonic's ``t`` exactly.
* A trailing partial record, an empty data section or a header that names a non-DVS128 chip
  (``# AEChip: ...DAVIS240C``) raise :class:`~eventpipe.errors.FormatError`.

Reading is ``np.memmap`` + one pass of a Numba kernel over the record bytes
(:mod:`eventpipe.kernels.aedat`; :func:`decode_addresses` and :func:`unwrap_timestamps` are the
numpy versions of its two halves); the only full-size allocation is the returned event array.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from eventpipe.errors import FormatError
from eventpipe.io.buffers import decode_target
from eventpipe.io.header import AedatHeader, file_size, read_header
from eventpipe.kernels.aedat import decode_aedat2_kernel
from eventpipe.runtime.durable import atomic_file

#: The orientations :func:`read_aedat2` knows (see the module docstring).
ORIENTATIONS = ("published", "jaer")

#: jAER marks these address bits as non-pixel events (0x8000 sync, 0x80000000 special).
SPECIAL_ADDRESS_BITS = 0x80008000

_HALF = 1 << 31
_WRAP = 1 << 32

#: on-disk record: big-endian address, big-endian timestamp (us).
RECORD_DTYPE = np.dtype([("address", ">u4"), ("timestamp", ">u4")])


def encode_addresses(x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Inverse of the published decoding: ``(x << 8) | (y << 1) | p`` as uint32."""
    x = np.asarray(x, dtype=np.uint32)
    y = np.asarray(y, dtype=np.uint32)
    p = np.asarray(p, dtype=np.uint32)
    return (x & 0x7F) << 8 | (y & 0x7F) << 1 | (p & 1)


def write_aedat2(
    path: str | os.PathLike,
    events: np.ndarray,
    *,
    header_lines: list[str] | None = None,
    newline: str = "\r\n",
) -> None:
    """Write events as an AEDAT 2.0 file (what jAER writes for a DVS128).

    Args:
        path: output file, written atomically (:func:`eventpipe.runtime.durable.atomic_file`).
        events: structured array with x, y, t (us), p. ``t`` is stored modulo 2**32, as the
            device clock wraps; readers unwrap it.
        header_lines: lines after ``#!AER-DAT2.0`` (without ``#`` or newline).
        newline: ``"\\r\\n"`` as jAER writes, or ``"\\n"``.
    """
    path = Path(path)
    lines = ["!AER-DAT2.0", *(header_lines or ["This is a raw AE data file - do not edit"])]
    header = "".join(f"#{line}{newline}" for line in lines).encode("ascii")
    rec = np.empty(len(events), dtype=RECORD_DTYPE)
    rec["address"] = encode_addresses(events["x"], events["y"], events["p"])
    rec["timestamp"] = (np.asarray(events["t"], dtype=np.int64) & 0xFFFFFFFF).astype(np.uint32)
    with atomic_file(path) as fh:
        fh.write(header)
        fh.write(rec.tobytes())


def check_orientation(orientation: str) -> str:
    """Return ``orientation`` if it is one of :data:`ORIENTATIONS`, else raise ``ValueError``."""
    if orientation not in ORIENTATIONS:
        raise ValueError(f"unknown orientation {orientation!r}; expected one of {ORIENTATIONS}")
    return orientation


def decode_addresses(
    address: np.ndarray, orientation: str = "published"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode DVS128 AEDAT 2.0 addresses into ``(x, y, p)`` (int16, int16, uint8 arrays).

    Reference implementation of the decoding the reader does on raw bytes (see the module
    docstring for both orientations); bits above 14 are ignored by the masks, as in tonic.

    >>> x, y, p = decode_addresses(np.array([(5 << 8) | (9 << 1) | 1]))
    >>> int(x[0]), int(y[0]), int(p[0])
    (5, 9, 1)
    >>> x, y, p = decode_addresses(np.array([(5 << 8) | (9 << 1) | 1]), "jaer")
    >>> int(x[0]), int(y[0]), int(p[0])
    (118, 5, 1)
    """
    check_orientation(orientation)
    a = np.asarray(address).astype(np.uint32)
    hi = ((a >> 8) & 0x7F).astype(np.int16)
    lo = ((a >> 1) & 0x7F).astype(np.int16)
    p = (a & 1).astype(np.uint8)
    if orientation == "published":
        return hi, lo, p
    return (127 - lo).astype(np.int16), hi, p


def unwrap_timestamps(ts: np.ndarray) -> np.ndarray:
    """Unwrap unsigned 32-bit device timestamps (us) into int64, in file order.

    A step down by more than 2**31 is a wrap (+2**32 from that event on); a step up by more than
    2**31 undoes one (a late event from before the wrap); smaller backward steps are jitter and
    are kept. If the first events come after a wrap that a later event undoes, everything is
    shifted up by 2**32 so no time is negative.

    >>> unwrap_timestamps(np.array([2**32 - 5, 3, 2**32 - 2, 10], dtype=np.uint32)).tolist()
    [4294967291, 4294967299, 4294967294, 4294967306]
    """
    t = np.asarray(ts).astype(np.int64)
    _, low = _unwrap_inplace(t, prev=None, epoch=0)
    if low < 0:
        t += -low * _WRAP
    return t


def wrap32_timestamps(t: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The published pipeline's clock: unwrapped timestamps (us) back to ``t mod 2**32``.

    tonic ``read_dvs_128`` (the published reader) keeps the raw unsigned 32-bit timestamps:
    after a wrap its times restart near 0. :func:`unwrap_timestamps` only ever adds whole
    multiples of ``2**32`` to the raw values, so ``t mod 2**32`` is exactly what the published
    code sees (profile option ``events.clock: wrap32``). Vectorised; ``out`` may be ``t``.

    >>> wrap32_timestamps(np.array([4294967291, 4294967299], dtype=np.int64)).tolist()
    [4294967291, 3]
    """
    t = np.asarray(t)
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"timestamps must be integers (microseconds), got dtype {t.dtype}")
    return np.bitwise_and(t, t.dtype.type(_WRAP - 1), out=out)


def _unwrap_inplace(t: np.ndarray, prev: int | None, epoch: int) -> tuple[int, int]:
    """Unwrap one chunk of raw timestamps (int64, modified in place).

    ``prev`` is the previous chunk's last raw timestamp (None for the first chunk). Returns the
    epoch (number of wraps) after the chunk and the lowest epoch seen in it.
    """
    if len(t) == 0:
        return epoch, epoch
    first = 0 if prev is None else int(t[0]) - prev
    d = t[1:] - t[:-1]
    if -_HALF <= first <= _HALF and (len(d) == 0 or (d.min() >= -_HALF and d.max() <= _HALF)):
        if epoch:
            t += epoch * _WRAP
        return epoch, epoch
    steps = np.empty(len(t), dtype=np.int64)
    steps[0] = int(first < -_HALF) - int(first > _HALF)
    np.subtract(d < -_HALF, d > _HALF, out=steps[1:], dtype=np.int64)
    np.cumsum(steps, out=steps)
    steps += epoch
    t += steps * _WRAP
    return int(steps[-1]), min(int(steps.min()), epoch)


def _check_chip(path: Path, header: AedatHeader) -> None:
    chip = header.value("AEChip:")
    if chip and not any(k in chip.lower() for k in ("dvs128", "tmpdiff128")):
        raise FormatError(
            f"{path}: AEDAT 2.0 header names chip {chip!r}; only DVS128 (Tmpdiff128) addresses "
            "are decoded (other chips use other address layouts)"
        )


def _records(path: Path, header: AedatHeader) -> np.memmap:
    size = file_size(path)
    nbytes = size - header.data_offset
    if nbytes <= 0:
        raise FormatError(
            f"{path}: no events: the data section starting at byte {header.data_offset} is empty"
        )
    if nbytes % RECORD_DTYPE.itemsize:
        n = nbytes // RECORD_DTYPE.itemsize
        at = header.data_offset + n * RECORD_DTYPE.itemsize
        raise FormatError(
            f"{path}: truncated: trailing partial record of {nbytes % RECORD_DTYPE.itemsize} bytes "
            f"at byte {at} after {n} events; expected {RECORD_DTYPE.itemsize}-byte records "
            f"(data section of {nbytes} bytes from byte {header.data_offset})"
        )
    try:
        return np.memmap(
            path, dtype=RECORD_DTYPE, mode="r", offset=header.data_offset, shape=(nbytes // 8,)
        )
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot map the data section: {exc}") from None


def read_aedat2_records(path: str | os.PathLike, header: AedatHeader | None = None) -> np.ndarray:
    """Map the raw records of an AEDAT 2.0 file (read-only, no copy).

    Returns:
        ``np.memmap`` of :data:`RECORD_DTYPE` (big-endian ``address``, ``timestamp``), one entry per
        event in file order.

    Raises:
        FormatError: not AEDAT 2.x, empty data section, or trailing partial record.
    """
    path = Path(path)
    header = header or read_header(path)
    if header.major != 2:
        raise FormatError(f"{path}: expected AEDAT 2.0, header declares {header.version!r}")
    return _records(path, header)


def special_address_mask(path: str | os.PathLike) -> np.ndarray:
    """Boolean mask (per event, file order) of records jAER treats as non-pixel events.

    True where the address has bit 15 (external sync) or bit 31 (special) set. The reader keeps
    these events (to stay index-aligned with tonic); use this mask to drop them downstream.
    """
    rec = read_aedat2_records(path)
    return (rec["address"] & SPECIAL_ADDRESS_BITS) != 0


def read_aedat2(
    path: str | os.PathLike,
    orientation: str = "published",
    *,
    header: AedatHeader | None = None,
    check_chip: bool = True,
    buffer: np.ndarray | Mapping[str, np.ndarray] | None = None,
) -> np.ndarray | dict[str, np.ndarray]:
    """Read a DVS128 AEDAT 2.0 file into an event array.

    Args:
        path: the ``.aedat`` file.
        orientation: ``"published"`` (tonic, default) or ``"jaer"``; see the module docstring.
        header: the already-read header (saves re-reading it).
        check_chip: reject a header whose ``AEChip:`` line names a non-DVS128 chip.
        buffer: a 1-D :data:`~eventpipe.events.EVENT_DTYPE` array to decode into when it is
            long enough (the result is then its first ``n`` elements, a view); a build worker
            passes the same one for every recording, so its pages are reused (see
            :func:`eventpipe.build.stages.process_recording`). Or a mapping of 1-D columns ``x, y,
            t, p`` (int16, int16, int64, uint8) at least ``n`` long: the events are decoded
            into them and the result is a dict of their first ``n`` elements (contiguous
            columns make the events stage ~15% faster than fields of a structured array).

    Returns:
        ``[n]`` array of :data:`~eventpipe.events.EVENT_DTYPE` in file order: ``x, y`` in
        0..127, ``p`` in {0, 1}, ``t`` int64 microseconds (device clock, unwrapped); a dict of
        columns with a column ``buffer``.

    Raises:
        FormatError: empty data section ("no events"), trailing partial record (names the byte
            offset and the 8-byte record size), non-DVS128 chip, unreadable file.
    """
    path = Path(path)
    check_orientation(orientation)
    header = header or read_header(path)
    if header.major != 2:
        raise FormatError(f"{path}: expected AEDAT 2.0, header declares {header.version!r}")
    if check_chip:
        _check_chip(path, header)
    rec = _records(path, header)
    n = len(rec)
    out = decode_target(buffer, n)
    raw = np.asarray(rec).view(np.uint8).reshape(-1)
    low = decode_aedat2_kernel(
        raw, orientation == "published", out["x"], out["y"], out["t"], out["p"]
    )
    del raw, rec
    if low < 0:
        out["t"] += -int(low) * _WRAP
    return out
