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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eventpipe.errors import FormatError
from eventpipe.events import EVENT_DTYPE
from eventpipe.io.aedat2 import check_orientation
from eventpipe.io.header import AedatHeader, file_size, read_header

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


@dataclass(frozen=True)
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
    hsize = PACKET_HEADER_DTYPE.itemsize
    offset = header.data_offset
    index = 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        while offset < size:
            buf = fh.read(hsize)
            if len(buf) < hsize:
                raise FormatError(
                    f"{path}: truncated packet header {index} at byte {offset}: {len(buf)} bytes "
                    f"left, expected {hsize}"
                )
            h = np.frombuffer(buf, dtype=PACKET_HEADER_DTYPE)[0]
            pkt = Packet(
                offset=offset,
                event_type=int(h["eventType"]),
                source=int(h["eventSource"]),
                size=int(h["eventSize"]),
                ts_offset=int(h["eventTSOffset"]),
                ts_overflow=int(h["eventTSOverflow"]),
                capacity=int(h["eventCapacity"]),
                number=int(h["eventNumber"]),
                valid=int(h["eventValid"]),
            )
            where = f"{path}: packet {index} at byte {offset} (type {pkt.event_type})"
            if pkt.size <= 0 or pkt.capacity < 0 or pkt.number < 0 or pkt.ts_overflow < 0:
                raise FormatError(
                    f"{where}: corrupt header: eventSize={pkt.size}, eventCapacity={pkt.capacity}, "
                    f"eventNumber={pkt.number}, eventTSOverflow={pkt.ts_overflow}; expected "
                    "eventSize > 0 and non-negative counts"
                )
            if pkt.number > pkt.capacity:
                raise FormatError(
                    f"{where}: eventNumber={pkt.number} exceeds eventCapacity={pkt.capacity}"
                )
            if not 0 <= pkt.ts_offset <= pkt.size - 4:
                raise FormatError(
                    f"{where}: eventTSOffset={pkt.ts_offset} outside an event of {pkt.size} bytes"
                )
            if pkt.end > size:
                raise FormatError(
                    f"{where}: truncated: declares {pkt.capacity} x {pkt.size} bytes of events "
                    f"from byte {pkt.data_offset}, only {size - pkt.data_offset} bytes left"
                )
            if pkt.event_type == POLARITY_EVENT and (pkt.size != 8 or pkt.ts_offset != 4):
                raise FormatError(
                    f"{where}: polarity events must be 8 bytes with the timestamp at byte 4; "
                    f"header says eventSize={pkt.size}, eventTSOffset={pkt.ts_offset}"
                )
            yield pkt
            offset = pkt.end
            fh.seek(offset)
            index += 1


def read_aedat3(
    path: str | os.PathLike,
    orientation: str = "published",
    *,
    header: AedatHeader | None = None,
) -> np.ndarray:
    """Read the polarity events of an AEDAT 3.1 file.

    Args:
        path: the file.
        orientation: ``"published"`` (coordinates as stored) or ``"jaer"``; module docstring.
        header: the already-read header.

    Returns:
        ``[n]`` :data:`~eventpipe.events.EVENT_DTYPE` array of the *valid* polarity events in file
        order; ``t`` in microseconds, ``(eventTSOverflow << 31) | timestamp``.

    Raises:
        FormatError: truncated/corrupt packets, or no valid polarity event ("no events").
    """
    path = Path(path)
    check_orientation(orientation)
    header = header or read_header(path)
    packets = [p for p in iter_packets(path, header) if p.event_type == POLARITY_EVENT]
    upper = sum(p.number for p in packets)
    if upper == 0:
        raise FormatError(
            f"{path}: no events: no polarity packet with events after byte {header.data_offset}"
        )
    out = np.empty(upper, dtype=EVENT_DTYPE)
    k = 0
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    try:
        for p in packets:
            if p.number == 0:
                continue
            ev = mm[p.data_offset : p.data_offset + 8 * p.number].view(POLARITY_DTYPE)
            data = ev["data"]
            keep = (data & 1).astype(bool)
            if not keep.all():
                data = data[keep]
                ts = ev["timestamp"][keep]
            else:
                ts = ev["timestamp"]
            m = len(data)
            if m == 0:
                continue
            if (ts < 0).any():
                i = int(np.flatnonzero(ts < 0)[0])
                raise FormatError(
                    f"{path}: packet at byte {p.offset}: negative timestamp {int(ts[i])}; "
                    "expected 31-bit non-negative microseconds"
                )
            o = out[k : k + m]
            x = (data >> 17) & 0x7FFF
            y = (data >> 2) & 0x7FFF
            if orientation == "published":
                o["x"], o["y"] = x, y
            else:
                if (x > 127).any() or (y > 127).any():
                    raise FormatError(
                        f"{path}: packet at byte {p.offset}: orientation 'jaer' needs 128x128 "
                        f"coordinates, found x up to {int(x.max())}, y up to {int(y.max())}"
                    )
                o["x"] = 127 - y.astype(np.int16)
                o["y"] = x
            o["p"] = (data >> 1) & 1
            o["t"] = (np.int64(p.ts_overflow) << TS_OVERFLOW_SHIFT) | ts.astype(np.int64)
            k += m
    finally:
        del mm
    if k == 0:
        raise FormatError(f"{path}: no events: every polarity event is marked invalid")
    return out if k == upper else out[:k].copy()


def _header_bytes(lines: list[str], newline: str) -> bytes:
    return "".join(f"#{line}{newline}" for line in lines).encode("ascii")


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
        path: output file; written to ``path + '.tmp'`` then renamed (atomic).
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
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(_header_bytes(lines, newline))
        for i, (s, e) in enumerate(itertools.pairwise(bounds)):
            m = e - s
            hdr = np.zeros(1, dtype=PACKET_HEADER_DTYPE)
            hdr["eventType"] = POLARITY_EVENT
            hdr["eventSource"] = source
            hdr["eventSize"] = 8
            hdr["eventTSOffset"] = 4
            hdr["eventTSOverflow"] = overflow[s]
            hdr["eventCapacity"] = m + capacity_slack
            hdr["eventNumber"] = m
            hdr["eventValid"] = int(vbit[s:e].sum())
            body = np.zeros(m + capacity_slack, dtype=POLARITY_DTYPE)
            body["data"][:m] = data[s:e]
            body["timestamp"][:m] = ts[s:e]
            fh.write(hdr.tobytes())
            fh.write(body.tobytes())
            if special_every and (i + 1) % special_every == 0:
                sp = np.zeros(1, dtype=PACKET_HEADER_DTYPE)
                sp["eventType"] = SPECIAL_EVENT
                sp["eventSource"] = source
                sp["eventSize"] = 8
                sp["eventTSOffset"] = 4
                sp["eventTSOverflow"] = overflow[e - 1]
                sp["eventCapacity"] = sp["eventNumber"] = sp["eventValid"] = 1
                ev = np.zeros(1, dtype=POLARITY_DTYPE)
                ev["data"] = 1 | (2 << 1)  # valid bit + an arbitrary special-event type (2)
                ev["timestamp"] = ts[e - 1]
                fh.write(sp.tobytes())
                fh.write(ev.tobytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
