"""AEDAT 3.1 (cAER / libcaer) files: packetised little-endian events.

Layout (libcaer ``include/libcaer/events/common.h`` and ``polarity.h``; cAER's file output)::

    #!AER-DAT3.1\\r\\n  ...more '#' lines...  #!END-HEADER\\r\\n
    packet*:  28-byte header (all little-endian)
                int16 eventType      0 special, 1 polarity, 2 frame, 3 IMU6, ...
                int16 eventSource
                int32 eventSize      bytes per event (8 for polarity)
                int32 eventTSOffset  byte offset of the int32 timestamp inside an event (4)
                int32 eventTSOverflow
                int32 eventCapacity
                int32 eventNumber    events stored (valid and invalid)
                int32 eventValid     events with the valid bit set
              eventCapacity * eventSize bytes of events
    polarity event: uint32 data  (bit 0 valid, bit 1 polarity (1 = ON),
                                  bits 2..16 y, bits 17..31 x), int32 timestamp (31 bits, us)
    t = (eventTSOverflow << 31) | timestamp

cAER writes packets trimmed to ``eventCapacity == eventNumber`` (its output module sets the capacity
to the event number before writing). The reader skips ``eventCapacity * eventSize`` bytes per packet
(as tonic's and the DVS Gesture readers do) and decodes the first ``eventNumber`` events, so both
trimmed and untrimmed packets read correctly.

Decisions, documented because they change event indices:

* only polarity packets (type 1) produce events; every other packet type (special events, frames,
  IMU...) is skipped by its declared size;
* events whose **valid bit is 0 are dropped** (libcaer marks events invalid instead of removing
  them, e.g. after filtering; zero-filled packet tails are invalid too). ``eventValid`` in the
  header is informational and not trusted;
* ``eventSource`` is ignored (single-camera files); packets are read in file order;
* ``orientation="published"`` returns ``x, y`` as stored (libcaer's decoded coordinates, what
  tonic's DVS Gesture reader returns); ``orientation="jaer"`` applies the same fixed map as for
  AEDAT 2.0 DVS128 files, ``(x, y) -> (127 - y, x)``, so a recording converted between 2.0 and 3.1
  with eventpipe reads identically in both orientations (128x128 sensors only).

Anything inconsistent (truncated header or payload, negative sizes, ``eventNumber >
eventCapacity``, a polarity packet whose events are not 8 bytes with the timestamp at byte 4,
negative timestamps) raises :class:`~eventpipe.errors.FormatError` naming the byte offset.
"""

from __future__ import annotations

import itertools
import os
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eventpipe.errors import FormatError
from eventpipe.io.aedat2 import check_orientation
from eventpipe.io.buffers import Buffer, decode_target, trimmed
from eventpipe.io.header import AedatHeader, file_size, read_header
from eventpipe.runtime.durable import atomic_file

#: The 28-byte packet header.
PACKET_HEADER_DTYPE = np.dtype(
    [
        ("eventType", "<i2"),
        ("eventSource", "<i2"),
        ("eventSize", "<i4"),
        ("eventTSOffset", "<i4"),
        ("eventTSOverflow", "<i4"),
        ("eventCapacity", "<i4"),
        ("eventNumber", "<i4"),
        ("eventValid", "<i4"),
    ]
)
assert PACKET_HEADER_DTYPE.itemsize == 28

#: A polarity event on disk.
POLARITY_DTYPE = np.dtype([("data", "<u4"), ("timestamp", "<i4")])

SPECIAL_EVENT = 0
POLARITY_EVENT = 1
TS_OVERFLOW_SHIFT = 31


_PACKET_STRUCT = struct.Struct("<hhiiiiii")
assert _PACKET_STRUCT.size == PACKET_HEADER_DTYPE.itemsize
_HSIZE = PACKET_HEADER_DTYPE.itemsize


@dataclass(frozen=True, slots=True)
class Packet:
    """One packet header and where its events are (``data_offset``, byte offset in the file)."""

    offset: int
    event_type: int
    source: int
    size: int
    ts_offset: int
    ts_overflow: int
    capacity: int
    number: int
    valid: int

    @property
    def data_offset(self) -> int:
        return self.offset + PACKET_HEADER_DTYPE.itemsize

    @property
    def end(self) -> int:
        return self.data_offset + self.capacity * self.size


def _packet_error(path: Path, index: int, fields: tuple, file_size: int) -> FormatError:
    """The FormatError for a packet header that failed the checks in :func:`_scan_packets`."""
    offset, etype, _, size, tsoff, overflow, capacity, number, _ = fields
    where = f"{path}: packet {index} at byte {offset} (type {etype})"
    data_offset = offset + _HSIZE
    if size <= 0 or capacity < 0 or number < 0 or overflow < 0:
        return FormatError(
            f"{where}: corrupt header: eventSize={size}, eventCapacity={capacity}, "
            f"eventNumber={number}, eventTSOverflow={overflow}; expected "
            "eventSize > 0 and non-negative counts"
        )
    if number > capacity:
        return FormatError(f"{where}: eventNumber={number} exceeds eventCapacity={capacity}")
    if not 0 <= tsoff <= size - 4:
        return FormatError(f"{where}: eventTSOffset={tsoff} outside an event of {size} bytes")
    if data_offset + capacity * size > file_size:
        return FormatError(
            f"{where}: truncated: declares {capacity} x {size} bytes of events "
            f"from byte {data_offset}, only {file_size - data_offset} bytes left"
        )
    return FormatError(
        f"{where}: polarity events must be 8 bytes with the timestamp at byte 4; "
        f"header says eventSize={size}, eventTSOffset={tsoff}"
    )


def _scan_packets(path: Path, buf, start: int, size: int) -> Iterator[tuple]:
    """Walk and check the packet headers in ``buf[start:size]`` (the mapped file).

    Yields ``(offset, eventType, eventSource, eventSize, eventTSOffset, eventTSOverflow,
    eventCapacity, eventNumber, eventValid)`` per packet. Every declared size is checked against
    the bytes left *before* anything is skipped or allocated, so a header claiming 2**31 events
    costs nothing. One ``struct.unpack_from`` per packet (no seek/read syscalls), so a file of
    tiny packets is walked at ~0.5-1 us per packet.
    """
    unpack = _PACKET_STRUCT.unpack_from
    offset = start
    index = 0
    while offset < size:
        if size - offset < _HSIZE:
            raise FormatError(
                f"{path}: truncated packet header {index} at byte {offset}: {size - offset} bytes "
                f"left, expected {_HSIZE}"
            )
        etype, source, esize, tsoff, overflow, capacity, number, valid = unpack(buf, offset)
        end = offset + _HSIZE + capacity * esize
        if (
            esize <= 0
            or capacity < 0
            or number < 0
            or overflow < 0
            or number > capacity
            or not 0 <= tsoff <= esize - 4
            or end > size
            or (etype == POLARITY_EVENT and (esize != 8 or tsoff != 4))
        ):
            fields = (offset, etype, source, esize, tsoff, overflow, capacity, number, valid)
            raise _packet_error(path, index, fields, size)
        yield offset, etype, source, esize, tsoff, overflow, capacity, number, valid
        offset = end
        index += 1


def _map(path: Path, size: int) -> np.memmap:
    try:
        return np.memmap(path, dtype=np.uint8, mode="r", shape=(size,))
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot map the file: {exc}") from None


def iter_packets(path: str | os.PathLike, header: AedatHeader | None = None) -> Iterator[Packet]:
    """Walk the packet headers of an AEDAT 3.1 file, checking sizes against the file.

    Yields:
        :class:`Packet` per packet, in file order.

    Raises:
        FormatError: a truncated or inconsistent packet (message names its byte offset).
    """
    path = Path(path)
    header = header or read_header(path)
    if header.major != 3:
        raise FormatError(f"{path}: expected AEDAT 3.1, header declares {header.version!r}")
    size = file_size(path)
    if size <= header.data_offset:
        return
    mm = _map(path, size)
    try:
        for fields in _scan_packets(path, memoryview(mm), header.data_offset, size):
            yield Packet(*fields)
    finally:
        del mm


def read_aedat3(
    path: str | os.PathLike,
    orientation: str = "published",
    *,
    header: AedatHeader | None = None,
    buffer: Buffer = None,
) -> np.ndarray | dict[str, np.ndarray]:
    """Read the polarity events of an AEDAT 3.1 file.

    Args:
        path: the file.
        orientation: ``"published"`` (coordinates as stored) or ``"jaer"``; module docstring.
        header: the already-read header.
        buffer: decode into it (:func:`eventpipe.io.buffers.decode_target`): an EVENT_DTYPE
            array or columns ``x, y, t, p`` with room for every stored event, valid or not
            (file size / 8 is enough); the result is then a view of it (a dict of columns
            for columns).

    Returns:
        ``[n]`` :data:`~eventpipe.events.EVENT_DTYPE` array of the *valid* polarity events in file
        order; ``t`` in microseconds, ``(eventTSOverflow << 31) | timestamp``; a dict of
        columns with a column ``buffer``.

    Raises:
        FormatError: truncated/corrupt packets, or no valid polarity event ("no events").

    Cost: one pass over the packet headers (~0.5-1 us each), then one Numba pass over the
    events of every polarity packet (:func:`eventpipe.kernels.aedat3.decode_polarity_kernel`),
    so many tiny packets cost about as much as a few big ones. Memory: the returned array (13
    bytes per 8-byte event on disk) and 24 bytes per non-empty polarity packet; the file is
    mapped.
    """
    path = Path(path)
    check_orientation(orientation)
    header = header or read_header(path)
    if header.major != 3:
        raise FormatError(f"{path}: expected AEDAT 3.1, header declares {header.version!r}")
    size = file_size(path)
    no_events = FormatError(
        f"{path}: no events: no polarity packet with events after byte {header.data_offset}"
    )
    if size <= header.data_offset:
        raise no_events
    mm = _map(path, size)
    try:
        # non-empty polarity packets: where their events start, how many, the overflow epoch
        starts, numbers, overflows = array("q"), array("q"), array("q")
        for fields in _scan_packets(path, memoryview(mm), header.data_offset, size):
            if fields[1] == POLARITY_EVENT and fields[7]:
                starts.append(fields[0] + _HSIZE)
                numbers.append(fields[7])
                overflows.append(fields[5])
        if not numbers:
            raise no_events
        return _decode(path, mm, (starts, numbers, overflows), orientation, buffer)
    finally:
        del mm


def _decode(
    path: Path,
    mm: np.ndarray,
    packets: tuple[array, array, array],
    orientation: str,
    buffer: Buffer,
) -> np.ndarray | dict[str, np.ndarray]:
    """Decode the events of the given polarity packets (``(starts, numbers, overflows)``) into
    ``buffer`` or a new array, in one Numba pass (:mod:`eventpipe.kernels.aedat3`)."""
    from eventpipe.kernels import aedat3 as kernel

    offs, nums, ovfs = (np.frombuffer(a, dtype=np.int64) for a in packets)
    upper = int(nums.sum())
    out = decode_target(buffer, upper)
    raw = np.asarray(mm)
    k, status, index = kernel.decode_polarity_kernel(
        raw, offs, nums, ovfs, orientation == "jaer", out["x"], out["y"], out["t"], out["p"]
    )
    if status != kernel.OK:
        raise _event_error(path, raw, offs, nums, index, status)
    if k == 0:
        raise FormatError(f"{path}: no events: every polarity event is marked invalid")
    if not isinstance(out, np.ndarray) or out.base is not None:  # the caller's buffer
        return trimmed(out, k)
    if k < upper:
        try:
            out.resize(k, refcheck=True)  # in place, no second full-size array
        except ValueError:
            out = out[:k].copy()
    return out


def _event_error(
    path: Path, raw: np.ndarray, offs: np.ndarray, nums: np.ndarray, index: int, status: int
) -> FormatError:
    """The error for stored event number ``index`` where the decoding kernel stopped."""
    from eventpipe.kernels import aedat3 as kernel

    first = np.concatenate([[0], np.cumsum(nums)])
    q = int(np.searchsorted(first, index, side="right")) - 1
    at = int(offs[q]) + 8 * (index - int(first[q]))
    data, ts = raw[at : at + 8].view(POLARITY_DTYPE)[0]
    where = f"{path}: packet at byte {int(offs[q]) - _HSIZE}"
    if status == kernel.NEGATIVE_TIMESTAMP:
        return FormatError(
            f"{where}: negative timestamp {int(ts)}; expected 31-bit non-negative microseconds"
        )
    x, y = (int(data) >> 17) & 0x7FFF, (int(data) >> 2) & 0x7FFF
    return FormatError(f"{where}: orientation 'jaer' needs 128x128 coordinates, found x={x}, y={y}")


def _header_bytes(lines: list[str], newline: str) -> bytes:
    return "".join(f"#{line}{newline}" for line in lines).encode("ascii")


def _packet_header(
    event_type: int, source: int, ts_overflow: int, capacity: int, number: int
) -> np.ndarray:
    """One packet header of 8-byte events (timestamp at offset 4), every event valid."""
    hdr = np.zeros(1, dtype=PACKET_HEADER_DTYPE)
    hdr["eventType"] = event_type
    hdr["eventSource"] = source
    hdr["eventSize"] = 8
    hdr["eventTSOffset"] = 4
    hdr["eventTSOverflow"] = ts_overflow
    hdr["eventCapacity"] = capacity
    hdr["eventNumber"] = number
    hdr["eventValid"] = number
    return hdr


def write_aedat3(
    path: str | os.PathLike,
    events: np.ndarray,
    *,
    events_per_packet: int = 4096,
    valid: np.ndarray | None = None,
    special_every: int = 0,
    capacity_slack: int = 0,
    source: int = 1,
    header_lines: list[str] | None = None,
    newline: str = "\r\n",
) -> None:
    """Write events as an AEDAT 3.1 file (for tests, fixtures and conversions).

    Args:
        path: output file, written atomically (:func:`eventpipe.runtime.durable.atomic_file`).
        events: structured array with ``x, y`` (stored as-is, 0..32767), ``t`` (us, >= 0,
            non-decreasing within an overflow epoch) and ``p``.
        events_per_packet: maximum polarity events per packet; a packet also ends where
            ``t >> 31`` (the packet's ``eventTSOverflow``) changes.
        valid: optional bool per event; ``False`` events are written with the valid bit cleared
            (readers drop them).
        special_every: if > 0, write a one-event special packet (type 0) after every
            ``special_every``-th polarity packet (readers skip it).
        capacity_slack: zero-filled (invalid) event slots added after each polarity packet's
            events, with ``eventCapacity = eventNumber + capacity_slack``.
        source: ``eventSource`` of every packet.
        header_lines: lines between ``#!AER-DAT3.1`` and ``#!END-HEADER`` (without ``#``).
        newline: ``"\\r\\n"`` (as cAER writes) or ``"\\n"``.
    """
    path = Path(path)
    n = len(events)
    t = np.asarray(events["t"], dtype=np.int64)
    if n and t.min() < 0:
        raise ValueError("AEDAT 3.1 timestamps must be >= 0")
    if events_per_packet <= 0:
        raise ValueError("events_per_packet must be > 0")
    vbit = np.ones(n, dtype=np.uint32) if valid is None else np.asarray(valid, bool).astype("u4")
    data = (
        vbit
        | (np.asarray(events["p"], dtype=np.uint32) & 1) << 1
        | (np.asarray(events["y"], dtype=np.uint32) & 0x7FFF) << 2
        | (np.asarray(events["x"], dtype=np.uint32) & 0x7FFF) << 17
    )
    overflow = t >> TS_OVERFLOW_SHIFT
    ts = (t & 0x7FFFFFFF).astype(np.int32)
    cuts = set(range(0, n, events_per_packet))
    cuts.update((np.flatnonzero(np.diff(overflow)) + 1).tolist())
    bounds = [*sorted(cuts), n]
    lines = [
        "!AER-DAT3.1",
        "Format: RAW",
        f"Source {source}: DVS128",
        *(header_lines or []),
        "!END-HEADER",
    ]
    with atomic_file(path) as fh:
        fh.write(_header_bytes(lines, newline))
        for i, (s, e) in enumerate(itertools.pairwise(bounds)):
            m = e - s
            hdr = _packet_header(POLARITY_EVENT, source, int(overflow[s]), m + capacity_slack, m)
            hdr["eventValid"] = int(vbit[s:e].sum())
            body = np.zeros(m + capacity_slack, dtype=POLARITY_DTYPE)
            body["data"][:m] = data[s:e]
            body["timestamp"][:m] = ts[s:e]
            fh.write(hdr.tobytes())
            fh.write(body.tobytes())
            if special_every and (i + 1) % special_every == 0:
                sp = _packet_header(SPECIAL_EVENT, source, int(overflow[e - 1]), 1, 1)
                ev = np.zeros(1, dtype=POLARITY_DTYPE)
                ev["data"] = 1 | (2 << 1)  # valid bit + an arbitrary special-event type (2)
                ev["timestamp"] = ts[e - 1]
                fh.write(sp.tobytes())
                fh.write(ev.tobytes())


__all__ = [
    "PACKET_HEADER_DTYPE",
    "POLARITY_DTYPE",
    "POLARITY_EVENT",
    "SPECIAL_EVENT",
    "Packet",
    "iter_packets",
    "read_aedat3",
    "write_aedat3",
]
