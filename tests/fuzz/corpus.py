"""Seed inputs and the invariant every reader must keep, shared by the hypothesis fuzz tests
(``tests/test_fuzz_readers.py``) and the atheris harness (``tests/fuzz/fuzz_readers.py``).

The invariant (:func:`check_input`): reading any byte string as an AEDAT recording or as a tag CSV
either returns a well-formed result or raises an :class:`~eventpipe.errors.EventpipeError`
subclass whose message names the file. Any other exception is a bug.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import struct
from pathlib import Path

import numpy as np

from eventpipe.datasets.slanimals.tags import TAGS_DTYPE, read_tags, write_tags
from eventpipe.errors import EventpipeError
from eventpipe.events import EVENT_DTYPE, make_events
from eventpipe.io import (
    read_aedat2,
    read_aedat3,
    read_events,
    read_header,
    special_address_mask,
    write_aedat2,
    write_aedat3,
)
from eventpipe.io.aedat3 import iter_packets

#: The readers a fuzz input can be fed to (first byte of an atheris input picks one):
#: ``read_events`` in both orientations, ``read_tags``, the version-specific readers called
#: directly (``read_aedat2``, ``read_aedat3`` + ``iter_packets``), and ``read_header``.
TARGETS = ("aedat", "aedat-jaer", "tags", "aedat2", "aedat3", "header")

V2_HEADER = b"#!AER-DAT2.0\r\n#This is a raw AE data file - do not edit\r\n"
V3_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"

_PACKET = struct.Struct("<hhiiiiii")


def packet_header(
    etype: int = 1,
    number: int = 0,
    *,
    capacity: int | None = None,
    size: int = 8,
    tsoff: int = 4,
    overflow: int = 0,
    valid: int | None = None,
    source: int = 1,
) -> bytes:
    """A 28-byte AEDAT 3.1 packet header (fields as libcaer names them, little-endian)."""
    capacity = number if capacity is None else capacity
    valid = number if valid is None else valid
    fields = (etype, source, size, tsoff, overflow, capacity, number, valid)
    # wrap to the stored widths, as a C writer would (fuzzers hand in any Python int)
    wrapped = [((v + 2**15) % 2**16) - 2**15 for v in fields[:2]]
    wrapped += [((v + 2**31) % 2**32) - 2**31 for v in fields[2:]]
    return _PACKET.pack(*wrapped)


def _events(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(0, 5000, n)).astype(np.int64)
    return make_events(rng.integers(0, 128, n), rng.integers(0, 128, n), t, rng.integers(0, 2, n))


def _written(writer, events, **kwargs) -> bytes:
    # the writers are atomic (temp file + rename), so they need a real directory
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "seed.aedat"
        writer(path, events, **kwargs)
        return path.read_bytes()


def aedat2_seed(n: int = 24, seed: int = 0) -> bytes:
    """A valid AEDAT 2.0 file of ``n`` events, one timestamp wrap included."""
    ev = _events(n, seed)
    ev["t"][n // 2 :] += 2**32 - int(ev["t"][n // 2]) + 5  # crosses the 32-bit wrap
    return _written(write_aedat2, ev)


def aedat3_seed(n: int = 24, seed: int = 0) -> bytes:
    """A valid AEDAT 3.1 file: small packets, special packets, spare capacity, invalid events,
    two timestamp-overflow epochs."""
    ev = _events(n, seed)
    ev["t"][n // 2 :] += 2**31
    valid = np.ones(n, bool)
    valid[::5] = False
    return _written(
        write_aedat3, ev, events_per_packet=5, valid=valid, special_every=2, capacity_slack=1
    )


def tags_seed(newline: str = "\n") -> bytes:
    """A valid 19-row tag CSV."""
    tags = np.zeros(19, dtype=TAGS_DTYPE)
    tags["class_id"] = np.arange(19)[::-1]
    tags["start"] = np.arange(19) * 10
    tags["end"] = tags["start"] + 7
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "seed.csv"
        write_tags(path, tags, newline=newline)
        return path.read_bytes()


def seeds() -> dict[str, list[bytes]]:
    """Seed inputs per target (valid files the mutators start from)."""
    aedat = [aedat2_seed(), aedat3_seed(), aedat2_seed(3, 1), aedat3_seed(7, 2)]
    return {
        "aedat": aedat,
        "aedat-jaer": aedat,
        "tags": [tags_seed(), tags_seed("\r\n")],
        "aedat2": aedat[::2],
        "aedat3": aedat[1::2],
        "header": aedat[:2],
    }


class ExampleTimeout(Exception):
    """Raised by the alarm when one example runs past :data:`EXAMPLE_LIMIT_S`.

    Not a ``TimeoutError``: that is an ``OSError``, which the readers turn into FormatError.
    """


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`ExampleTimeout` in the main thread if the block outlasts ``seconds``."""

    def _alarm(signum, frame):
        raise ExampleTimeout(f"example ran longer than {seconds} s (a hang?)")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class FuzzBug(AssertionError):
    """A reader broke the invariant (wrong exception type, malformed result)."""


def _check_events(ev: np.ndarray, data_size: int, orientation: str) -> None:
    if not isinstance(ev, np.ndarray) or ev.dtype != np.dtype(EVENT_DTYPE) or ev.ndim != 1:
        raise FuzzBug(f"read_events returned {type(ev)} {getattr(ev, 'dtype', None)}")
    if len(ev) == 0:
        raise FuzzBug("read_events returned no events instead of raising 'no events'")
    if 8 * len(ev) > data_size:
        raise FuzzBug(f"{len(ev)} events from {data_size} bytes of data (8 bytes per event)")
    if not np.isin(ev["p"], (0, 1)).all() or (ev["t"] < 0).any():
        raise FuzzBug("polarity outside {0, 1} or negative timestamp")
    if (ev["x"] < 0).any() or (ev["y"] < 0).any():
        raise FuzzBug("negative coordinate")
    if orientation == "jaer" and (ev["x"].max() > 127 or ev["y"].max() > 127):
        raise FuzzBug("orientation 'jaer' returned coordinates outside 128x128")


def _check_tags(tags: np.ndarray) -> None:
    if tags.dtype != TAGS_DTYPE or tags.shape != (19,):
        raise FuzzBug(f"read_tags returned {tags.dtype} {tags.shape}")
    if sorted(tags["class_id"].tolist()) != list(range(19)):
        raise FuzzBug("classes are not 0..18 once each")
    if (tags["start"] < 0).any() or (tags["end"] <= tags["start"]).any():
        raise FuzzBug("tag row with start < 0 or end <= start")


def _check_header(header, data: bytes) -> None:
    if not 0 <= header.data_offset <= len(data):
        raise FuzzBug(f"data_offset {header.data_offset} outside a {len(data)}-byte file")
    if header.data_offset and data[:1] != b"#":
        raise FuzzBug("a header found in a file not starting with '#'")
    if header.version and not (header.major is not None and header.major >= 0):
        raise FuzzBug(f"version {header.version!r} has no major number")
    if len(header.lines) > header.data_offset:
        raise FuzzBug("more header lines than header bytes")


def check_input(target: str, data: bytes, folder: str | os.PathLike) -> str:
    """Write ``data`` to a file in ``folder``, read it with ``target``, check the invariant.

    Returns:
        ``"ok"`` (well-formed result) or the name of the EventpipeError subclass raised.

    Raises:
        FuzzBug: a malformed result, or an error message that does not name the file.
        Exception: whatever else the reader raised (the bug the fuzzer looks for).
    """
    if target not in TARGETS:
        raise ValueError(f"unknown fuzz target {target!r}; expected one of {TARGETS}")
    name = "fuzz.csv" if target == "tags" else "fuzz.aedat"
    path = Path(folder) / name
    path.write_bytes(data)
    try:
        if target == "tags":
            _check_tags(read_tags(path))
        elif target == "header":
            _check_header(read_header(path), data)
        elif target == "aedat3":
            packets = list(iter_packets(path))
            if any(p.end > len(data) or p.number > p.capacity for p in packets):
                raise FuzzBug("iter_packets yielded a packet beyond the file or over capacity")
            _check_events(read_aedat3(path), len(data), "published")
        elif target == "aedat2":
            ev = read_aedat2(path)
            _check_events(ev, len(data) - read_header(path).data_offset, "published")
            if special_address_mask(path).shape != ev.shape:
                raise FuzzBug("special_address_mask and read_aedat2 disagree on the event count")
        else:
            orientation = "jaer" if target == "aedat-jaer" else "published"
            ev = read_events(path, orientation=orientation)
            _check_events(ev, len(data) - read_header(path).data_offset, orientation)
    except EventpipeError as exc:
        if name not in str(exc):
            raise FuzzBug(f"{type(exc).__name__} message does not name the file: {exc}") from exc
        return type(exc).__name__
    return "ok"


def dump_reproducer(target: str, data: bytes) -> str:
    """A Python snippet that reproduces a failing input (printed by the harnesses)."""
    buf = io.StringIO()
    buf.write("from pathlib import Path\nimport eventpipe.io as eio\n")
    buf.write(f"Path('crash.bin').write_bytes({data!r})\n")
    call = {
        "aedat": "eio.read_events('crash.bin')",
        "aedat-jaer": "eio.read_events('crash.bin', orientation='jaer')",
        "tags": "eio.read_tags('crash.bin')",
        "aedat2": "eio.read_aedat2('crash.bin'); eio.special_address_mask('crash.bin')",
        "aedat3": "list(eio.aedat3.iter_packets('crash.bin')); eio.read_aedat3('crash.bin')",
        "header": "eio.read_header('crash.bin').major",
    }[target]
    buf.write(call + "\n")
    return buf.getvalue()
