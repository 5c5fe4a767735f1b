"""Bad input costs bounded time and memory: headers and packets claiming huge sizes, absurd header
lines, pathological packetisation, oversized tag files.

Memory is measured with ``tracemalloc`` (numpy reports its array allocations to it; the memory
maps the readers use are not allocations) and, in the slow test, as the peak RSS growth of a
fresh subprocess (``VmHWM`` after resetting it; ``ru_maxrss`` would carry the forking pytest's size
across exec), which also counts the mapped file pages the readers touch. The bound everywhere is
a small multiple of the file size plus a constant for the decoding batches:
:data:`PEAK_FACTOR` x size + :data:`PEAK_CONST` (32 MiB in the RSS test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpipe.datasets.slanimals.tags import read_tags
from eventpipe.errors import EventpipeError, FormatError, TagError
from eventpipe.events import make_events
from eventpipe.io import read_events, write_aedat2, write_aedat3
from eventpipe.io.header import MAX_HEADER_LINE, MAX_HEADER_LINES
from tests.fuzz.corpus import V2_HEADER, V3_HEADER, packet_header, tags_seed, time_limit

REPO = Path(__file__).resolve().parents[1]

#: Peak memory allowed per byte of input file.
PEAK_FACTOR = 3
#: Constant allowance (decoding batches, header line objects, interpreter noise), bytes.
PEAK_CONST = 8 << 20


def _peak(fn, *args, **kwargs):
    """(result or raised EventpipeError, peak traced bytes, seconds) of ``fn(*args)``."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    try:
        with time_limit(60):
            out = fn(*args, **kwargs)
    except EventpipeError as exc:
        out = exc
    finally:
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out, peak, seconds


def _assert_bounded(peak: int, size: int) -> None:
    assert peak <= PEAK_FACTOR * size + PEAK_CONST, (
        f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.2f} MiB file"
    )


# ---------------------------------------------------------------- AEDAT 3.1 size claims

HUGE = 2**31 - 1

HUGE_CLAIMS = {
    # polarity packet claiming ~2**31 8-byte events
    "polarity-2^31-events": packet_header(1, HUGE, size=8),
    # capacity * size overflows 32 and 64... bits in C: 2**31 x 2**31 bytes
    "special-2^31x2^31": packet_header(0, HUGE, size=HUGE, tsoff=0),
    "frame-capacity-only": packet_header(2, 0, capacity=HUGE, size=2**30, tsoff=0),
    # eventNumber far above a small capacity
    "number>capacity": packet_header(1, HUGE, capacity=1),
    # negative sizes (would wrap to ~2**32 if read as unsigned)
    "negative-size": packet_header(1, 1, size=-8),
    "negative-capacity": packet_header(1, 1, capacity=-(2**31)),
    # a valid packet, then a header claiming 2**31 events
    "valid-then-huge": packet_header(1, 1)
    + bytes([1, 0, 0, 0, 5, 0, 0, 0])
    + packet_header(1, HUGE, size=8),
}


@pytest.mark.parametrize("claim", list(HUGE_CLAIMS), ids=list(HUGE_CLAIMS))
def test_huge_packet_claim_allocates_nothing(tmp_path, claim):
    path = tmp_path / "huge.aedat"
    path.write_bytes(V3_HEADER + HUGE_CLAIMS[claim] + bytes(4096))
    out, peak, _ = _peak(read_events, path)
    assert isinstance(out, FormatError) and "huge.aedat" in str(out)
    assert "packet" in str(out) and "at byte" in str(out)
    assert peak < 1 << 20, f"{peak} bytes traced for a {path.stat().st_size}-byte file"


def test_huge_claim_after_many_valid_packets(tmp_path):
    """Packets read so far are not decoded before the bad header is found."""
    ev = make_events(np.arange(5000) % 128, np.arange(5000) % 128, np.arange(5000), np.zeros(5000))
    write_aedat3(tmp_path / "ok.aedat", ev, events_per_packet=10)
    path = tmp_path / "tail.aedat"
    path.write_bytes((tmp_path / "ok.aedat").read_bytes() + packet_header(1, HUGE) + bytes(64))
    out, peak, _ = _peak(read_events, path)
    assert isinstance(out, FormatError) and "packet 500 at byte" in str(out)
    _assert_bounded(peak, path.stat().st_size)


# ---------------------------------------------------------------- absurd headers


def test_header_without_newline_10mb(tmp_path):
    """A 10 MB file whose '#' header line never ends: refused after 1 MiB, not read whole."""
    path = tmp_path / "nonl.aedat"
    path.write_bytes(b"#!AER-DAT2.0 " + b"x" * (10 << 20))
    out, peak, seconds = _peak(read_events, path)
    assert isinstance(out, FormatError)
    assert "header line 1 at byte 0 is longer than" in str(out) and "nonl.aedat" in str(out)
    assert peak < 4 * MAX_HEADER_LINE
    assert seconds < 10


def test_header_of_empty_lines(tmp_path):
    """1 MiB of '#\\n' lines: a str per line would cost ~25x the file; the line cap stops it."""
    path = tmp_path / "lines.aedat"
    path.write_bytes(V2_HEADER + b"#\n" * (1 << 19) + bytes(8))
    out, peak, seconds = _peak(read_events, path)
    assert isinstance(out, FormatError)
    assert f"more than {MAX_HEADER_LINES} header lines" in str(out)
    _assert_bounded(peak, path.stat().st_size)
    assert seconds < 10


def test_header_at_the_line_cap_still_reads(tmp_path):
    """Just under the cap is a (weird but) valid header."""
    path = tmp_path / "cap.aedat"
    path.write_bytes(b"#!AER-DAT2.0\n" + b"#\n" * (MAX_HEADER_LINES - 1) + bytes(8))
    assert len(read_events(path)) == 1


# ---------------------------------------------------------------- pathological packetisation


def _tiny_packets(n_packets: int, events_per_packet: int) -> bytes:
    body = np.zeros((n_packets, events_per_packet, 2), "<u4")
    body[:, :, 0] = 1 | (5 << 2) | (7 << 17)  # valid, y=5, x=7
    body[:, :, 1] = np.arange(n_packets * events_per_packet).reshape(n_packets, -1)
    head = packet_header(1, events_per_packet)
    return V3_HEADER + b"".join(head + b.tobytes() for b in body)


@pytest.mark.parametrize("events_per_packet", [0, 1, 3])
def test_many_tiny_packets_2mb(tmp_path, events_per_packet):
    """~2 MB of packets with 0..3 events: linear time, bounded memory."""
    per = 28 + 8 * events_per_packet
    n = (2 << 20) // per
    data = _tiny_packets(n, events_per_packet) + (
        _tiny_packets(1, 1)[len(V3_HEADER) :] if events_per_packet == 0 else b""
    )
    path = tmp_path / "tiny.aedat"
    path.write_bytes(data)
    out, peak, seconds = _peak(read_events, path)
    assert not isinstance(out, Exception)
    assert len(out) == max(n * events_per_packet, 1)
    assert (out["x"] == 7).all() and (out["y"] == 5).all()
    _assert_bounded(peak, len(data))
    assert seconds < 15  # ~0.1 s unloaded; generous for a busy 2-core runner


def test_valid_aedat2_peak_is_the_output(tmp_path):
    """A valid 2.0 file: the only full-size allocation is the 13-byte/event result."""
    n = 500_000
    ev = make_events(np.arange(n) % 128, np.arange(n) % 97, np.arange(n) * 3, np.arange(n) % 2)
    path = tmp_path / "big2.aedat"
    write_aedat2(path, ev)
    out, peak, _ = _peak(read_events, path)
    np.testing.assert_array_equal(out, ev)
    assert peak <= out.nbytes + (4 << 20)


def test_valid_aedat3_peak_is_the_output(tmp_path):
    n = 500_000
    ev = make_events(np.arange(n) % 128, np.arange(n) % 97, np.arange(n) * 3, np.arange(n) % 2)
    path = tmp_path / "big3.aedat"
    write_aedat3(path, ev, events_per_packet=300)
    out, peak, _ = _peak(read_events, path)
    np.testing.assert_array_equal(out, ev)
    assert peak <= out.nbytes + 24 * (n // 300 + 1) * 2 + (8 << 20)


# ---------------------------------------------------------------- batching across packets


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    n=st.integers(1, 200),
    per_packet=st.integers(1, 40),
    slack=st.integers(0, 3),
    special=st.integers(0, 3),
    invalid_every=st.integers(0, 5),
    overflow_at=st.integers(0, 200),
    seed=st.integers(0, 2**16),
)
def test_packets_of_any_size_decode_to_the_events_written(
    tmp_path,
    n,
    per_packet,
    slack,
    special,
    invalid_every,
    overflow_at,
    seed,
):
    """Packets of any size, with invalid events, spare slots, special packets and a second
    overflow epoch, decode to the valid events written, in both orientations."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(0, 1000, n)).astype(np.int64)
    t[min(overflow_at, n) :] += 2**31  # a second overflow epoch from here on
    ev = make_events(rng.integers(0, 128, n), rng.integers(0, 128, n), t, rng.integers(0, 2, n))
    valid = np.ones(n, bool)
    if invalid_every:
        valid[::invalid_every] = False
    path = tmp_path / "b.aedat"
    write_aedat3(
        path,
        ev,
        events_per_packet=per_packet,
        valid=valid,
        special_every=special,
        capacity_slack=slack,
    )
    for orientation in ("published", "jaer"):
        try:
            got = read_events(path, orientation)
        except FormatError as exc:
            assert not valid.any() and "marked invalid" in str(exc)
            continue
        want = ev[valid]
        if orientation == "jaer":
            want = want.copy()
            want["x"], want["y"] = 127 - ev["y"][valid], ev["x"][valid]
        np.testing.assert_array_equal(got, want)


def test_negative_timestamp_names_its_packet(tmp_path):
    ev = make_events(np.zeros(30), np.zeros(30), np.arange(30), np.zeros(30))
    path = tmp_path / "neg.aedat"
    write_aedat3(path, ev, events_per_packet=4)
    data = bytearray(path.read_bytes())
    # event 21 = packet 5, event 1: header + 5 packets of (28 + 32) + 28 + 8 + 4 (its timestamp)
    at = len(V3_HEADER) + 5 * 60 + 28 + 8 + 4
    data[at : at + 4] = (-7).to_bytes(4, "little", signed=True)
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=rf"packet at byte {len(V3_HEADER) + 300}: negative"):
        read_events(path)


def test_jaer_error_names_packet_after_invalid_events(tmp_path):
    n = 30
    ev = make_events(np.zeros(n), np.zeros(n), np.arange(n), np.zeros(n))
    ev["x"][22] = 300  # packet 5 (4 events per packet), after invalid events 0, 3, 6, ...
    valid = np.ones(n, bool)
    valid[::3] = False
    path = tmp_path / "wide.aedat"
    write_aedat3(path, ev, events_per_packet=4, valid=valid)
    with pytest.raises(FormatError, match=rf"packet at byte {len(V3_HEADER) + 300}: .*x=300"):
        read_events(path, orientation="jaer")
    ev["x"][21] = 400  # invalid: dropped before the check
    valid[21] = False
    write_aedat3(path, ev, events_per_packet=4, valid=valid)
    with pytest.raises(FormatError, match="x=300"):
        read_events(path, orientation="jaer")


# ---------------------------------------------------------------- tag files


def test_oversized_tag_file_refused_unread(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:
        fh.write(tags_seed())
        fh.write(b"1,2,3\n" * ((10 << 20) // 6))
    out, peak, seconds = _peak(read_tags, path)
    assert isinstance(out, TagError) and "huge.csv" in str(out) and "expected a tag CSV" in str(out)
    assert peak < 1 << 20 and seconds < 5


def test_many_rows_tag_file_keeps_20_rows(tmp_path):
    """Under the size cap, a file of many rows is counted, not held row by row."""
    path = tmp_path / "rows.csv"
    data = tags_seed() + b"1,2,3\n" * 150_000
    path.write_bytes(data)
    out, peak, _ = _peak(read_tags, path)
    assert isinstance(out, TagError) and "150019 data rows; expected exactly 19" in str(out)
    _assert_bounded(peak, len(data))
    assert peak < 4 * len(data) + (1 << 20)


def test_tag_cell_limits(tmp_path):
    rows = [f"{i},{i * 10},{i * 10 + 5}" for i in range(1, 20)]
    rows[2] = f"3,20,{2**63}"
    path = tmp_path / "big.csv"
    path.write_text("class,startTime_ev,endTime_ev\n" + "\n".join(rows) + "\n")
    with pytest.raises(
        TagError, match=r"data row 3 \(line 4\): endTime_ev '9223372036854775808' is"
    ):
        read_tags(path)
    rows[2] = f"3,20,{2**63 - 1}"
    rows[3:] = []
    path.write_text("class,startTime_ev,endTime_ev\n" + "\n".join(rows) + "\n")
    with pytest.raises(TagError, match="3 data rows"):
        read_tags(path)
    rows = [f"{i},{i * 10},{i * 10 + 5}" for i in range(1, 20)]
    rows[0] = "1,0," + "0" * 30 + "7"  # leading zeros are fine
    path.write_text("class,startTime_ev,endTime_ev\n" + "\n".join(rows) + "\n")
    assert read_tags(path)["end"][0] == 7
    rows[0] = "1,0," + "8" * 6000
    path.write_text("class,startTime_ev,endTime_ev\n" + "\n".join(rows) + "\n")
    with pytest.raises(TagError, match=r"endTime_ev '8{40}'\.\.\. \(6000 characters\) is out of"):
        read_tags(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "pipe.aedat"
    os.mkfifo(fifo)
    with time_limit(10):
        with pytest.raises(FormatError, match="not a regular file"):
            read_events(fifo)
        with pytest.raises(TagError, match="not a regular file"):
            read_tags(fifo)


# ---------------------------------------------------------------- peak RSS in a subprocess

_RSS_CHILD = r"""
import json, sys
from eventpipe.errors import EventpipeError
from eventpipe.io import read_events
from eventpipe.datasets.slanimals.tags import read_tags

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024

target, path = sys.argv[1], sys.argv[2]
# load the Numba decoding kernel first (a fixed ~60 MiB of compiled code and LLVM state, not
# a function of the input)
import os, tempfile
import numpy as np
from eventpipe.io.aedat2 import write_aedat2
from eventpipe.events import make_events
with tempfile.TemporaryDirectory() as d:
    write_aedat2(os.path.join(d, "w.aedat"), make_events([1], [2], [3], [0]))
    read_events(os.path.join(d, "w.aedat"))
# ru_maxrss survives exec (it would report the forking pytest's size): reset the high-water mark
# (Linux >= 4.0) and read VmHWM instead
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status("VmRSS:")
try:
    r = (read_tags if target == "tags" else read_events)(path)
    result = f"ok {len(r)}"
except EventpipeError as exc:
    result = type(exc).__name__
print(json.dumps({"result": result, "growth": status("VmHWM:") - before}))
"""


def _can_reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _rss_growth(target: str, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, target, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    return json.loads(r.stdout.strip().splitlines()[-1])


def _rss_cases(folder: Path) -> dict[str, tuple[str, Path, str]]:
    """name -> (target, file, expected result prefix); files of ~10..40 MB."""
    cases: dict[str, tuple[str, Path, str]] = {}

    def add(name, target, data, expect):
        path = folder / name
        path.write_bytes(data)
        cases[name] = (target, path, expect)

    add("huge_packet.aedat", "aedat", V3_HEADER + packet_header(1, HUGE) + bytes(10 << 20), "Fo")
    add("nonl.aedat", "aedat", b"#!AER-DAT2.0 " + b"x" * (10 << 20), "FormatError")
    add("lines.aedat", "aedat", V2_HEADER + b"#x\n" * ((10 << 20) // 3), "FormatError")
    add(
        "empty_packets.aedat",
        "aedat",
        _tiny_packets((10 << 20) // 28, 0) + _tiny_packets(1, 1)[len(V3_HEADER) :],
        "ok 1",
    )
    add("one_event_packets.aedat", "aedat", _tiny_packets((10 << 20) // 36, 1), "ok")
    n = 5_000_000
    ev = make_events(np.arange(n) % 128, np.arange(n) % 128, np.arange(n), np.arange(n) % 2)
    write_aedat2(folder / "valid2.aedat", ev)
    cases["valid2.aedat"] = ("aedat", folder / "valid2.aedat", f"ok {n}")
    write_aedat3(folder / "valid3.aedat", ev, events_per_packet=4096)
    cases["valid3.aedat"] = ("aedat", folder / "valid3.aedat", f"ok {n}")
    add("rows.csv", "tags", tags_seed() + b"1,2,3\n" * 170_000, "TagError")
    add("huge.csv", "tags", b"x" * (20 << 20), "TagError")
    return cases


@pytest.mark.slow
@pytest.mark.skipif(not _can_reset_peak(), reason="needs Linux /proc/self/clear_refs")
def test_peak_rss_bounded_by_file_size(tmp_path):
    """Fresh interpreter per case; RSS growth (mapped pages included) <= 3 x size + 32 MiB."""
    report = {}
    for name, (target, path, expect) in _rss_cases(tmp_path).items():
        size = path.stat().st_size
        t0 = time.perf_counter()
        r = _rss_growth(target, path)
        report[name] = (size, r["growth"], time.perf_counter() - t0)
        assert r["result"].startswith(expect), (name, r)
        assert r["growth"] <= PEAK_FACTOR * size + (32 << 20), (name, size, r["growth"])
    for name, (size, growth, seconds) in report.items():
        print(
            f"{name:26s} {size / 2**20:7.1f} MiB  "
            f"peak RSS +{growth / 2**20:7.1f} MiB  {seconds:.2f} s"
        )
