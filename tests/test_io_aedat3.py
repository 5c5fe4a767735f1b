"""AEDAT 3.1 reader/writer: hand-built packets, invalid events, overflow, round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpipe.errors import FormatError
from eventpipe.events import make_events
from eventpipe.io import read_events, read_header, write_aedat2, write_aedat3
from eventpipe.io.aedat3 import PACKET_HEADER_DTYPE, POLARITY_DTYPE, iter_packets
from tests.conftest_io import REALFILES, requires_shared


def _hdr(etype, number, *, capacity=None, size=8, tsoff=4, overflow=0, valid=None, source=1):
    h = np.zeros(1, PACKET_HEADER_DTYPE)
    h["eventType"], h["eventSource"], h["eventSize"], h["eventTSOffset"] = (
        etype,
        source,
        size,
        tsoff,
    )
    h["eventTSOverflow"] = overflow
    h["eventCapacity"] = number if capacity is None else capacity
    h["eventNumber"] = number
    h["eventValid"] = number if valid is None else valid
    return h.tobytes()


def _polarity(x, y, p, ts, valid=None):
    n = len(ts)
    v = np.ones(n, np.uint32) if valid is None else np.asarray(valid, np.uint32)
    ev = np.zeros(n, POLARITY_DTYPE)
    ev["data"] = v | (np.asarray(p, np.uint32) << 1) | (np.asarray(y, np.uint32) << 2)
    ev["data"] |= np.asarray(x, np.uint32) << 17
    ev["timestamp"] = ts
    return ev.tobytes()


HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"


def test_hand_built_file_special_invalid_overflow(tmp_path):
    body = b"".join(
        [
            # special-event packet first: skipped
            _hdr(0, 2, size=8),
            np.array([[1 | (1 << 1), 5], [1, 6]], "<u4").tobytes(),
            # polarity packet with one invalid event in the middle
            _hdr(1, 3, valid=2),
            _polarity([10, 11, 12], [20, 21, 22], [1, 0, 1], [100, 200, 300], valid=[1, 0, 1]),
            # an IMU6-like packet of 36-byte events (type 3): skipped by declared size
            _hdr(3, 2, size=36, tsoff=32),
            bytes(72),
            # polarity packet after a timestamp overflow, with 2 zero-filled spare slots
            _hdr(1, 2, capacity=4, overflow=1),
            _polarity([127, 0], [0, 127], [0, 1], [7, 2**31 - 1]),
            bytes(16),
        ]
    )
    path = tmp_path / "hand.aedat"
    path.write_bytes(HEADER + body)
    h = read_header(path)
    assert h.version == "3.1" and h.data_offset == len(HEADER) and h.lines[-1] == "!END-HEADER"
    kinds = [(p.event_type, p.number, p.capacity) for p in iter_packets(path)]
    assert kinds == [(0, 2, 2), (1, 3, 3), (3, 2, 2), (1, 2, 4)]
    ev = read_events(path)
    assert ev["x"].tolist() == [10, 12, 127, 0]
    assert ev["y"].tolist() == [20, 22, 0, 127]
    assert ev["p"].tolist() == [1, 1, 0, 1]
    assert ev["t"].tolist() == [100, 300, 2**31 + 7, 2**31 + 2**31 - 1]
    j = read_events(path, orientation="jaer")
    assert j["x"].tolist() == [107, 105, 127, 0] and j["y"].tolist() == [10, 12, 127, 0]


def test_first_packet_starting_with_hash_byte_is_not_header(tmp_path):
    # eventType 0x23 ('#') as the first data byte: ends after #!END-HEADER anyway
    body = _hdr(0x23, 1) + bytes(8) + _hdr(1, 1) + _polarity([1], [2], [1], [3])
    path = tmp_path / "hash.aedat"
    path.write_bytes(HEADER + body)
    assert read_header(path).data_offset == len(HEADER)
    assert read_events(path)["x"].tolist() == [1]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (_hdr(1, 1)[:20], r"truncated packet header 0 at byte 61: 20 bytes left, expected 28"),
        (_hdr(1, 4) + bytes(20), r"packet 0 at byte 61 \(type 1\): truncated: declares 4 x 8"),
        (_hdr(1, 5, capacity=4) + bytes(40), r"eventNumber=5 exceeds eventCapacity=4"),
        (_hdr(1, 1, size=12) + bytes(12), r"polarity events must be 8 bytes"),
        (_hdr(1, 1, tsoff=8) + bytes(8), r"eventTSOffset=8 outside an event of 8 bytes"),
        (_hdr(2, 1, size=0), r"corrupt header: eventSize=0"),
        (_hdr(1, 1, overflow=-1) + bytes(8), r"eventTSOverflow=-1"),
        (_hdr(1, 1) + _polarity([1], [1], [1], [-5]), r"negative timestamp -5"),
        (b"", r"no events"),
        (_hdr(0, 1) + bytes(8), r"no events"),
        (_hdr(1, 2) + _polarity([1, 2], [1, 2], [0, 0], [1, 2], valid=[0, 0]), r"marked invalid"),
    ],
    ids=[
        "short-header",
        "short-payload",
        "number>capacity",
        "polarity-size",
        "ts-offset",
        "zero-size",
        "neg-overflow",
        "neg-ts",
        "no-packets",
        "only-special",
        "all-invalid",
    ],
)
def test_errors_name_file_and_offset(tmp_path, body, match):
    path = tmp_path / "bad3.aedat"
    path.write_bytes(HEADER + body)
    with pytest.raises(FormatError, match=match) as ei:
        read_events(path)
    assert "bad3.aedat" in str(ei.value)


def test_writer_structure(tmp_path):
    n = 50
    t = np.arange(n, dtype=np.int64) * 10**8  # crosses 2**31 us twice
    ev = make_events(np.arange(n) % 128, np.arange(n) % 128, t, np.arange(n) % 2)
    valid = np.ones(n, bool)
    valid[[3, 17]] = False
    path = tmp_path / "w.aedat"
    write_aedat3(path, ev, events_per_packet=8, valid=valid, special_every=2, capacity_slack=3)
    pk = list(iter_packets(path))
    pol = [p for p in pk if p.event_type == 1]
    assert sum(p.number for p in pol) == n
    assert all(p.capacity == p.number + 3 for p in pol)
    assert sum(p.valid for p in pol) == n - 2
    assert sum(p.event_type == 0 for p in pk) == len(pol) // 2
    assert {p.ts_overflow for p in pol} == {0, 1, 2}
    back = read_events(path)
    np.testing.assert_array_equal(back, ev[valid])


@st.composite
def _events_3(draw):
    n = draw(st.integers(1, 150))
    ts = draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n))
    sorted_t = draw(st.booleans())
    t = np.sort(np.asarray(ts, np.int64)) if sorted_t else np.asarray(ts, np.int64)
    xs = draw(st.lists(st.integers(0, 0x7FFF), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(0, 0x7FFF), min_size=n, max_size=n))
    ps = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    valid = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return make_events(xs, ys, t, ps), np.asarray(valid)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=_events_3(),
    per=st.integers(1, 64),
    special=st.integers(0, 3),
    slack=st.integers(0, 3),
    newline=st.sampled_from(["\r\n", "\n"]),
)
def test_roundtrip_aedat3(tmp_path, data, per, special, slack, newline):
    ev, valid = data
    path = tmp_path / "rt3.aedat"
    write_aedat3(
        path,
        ev,
        events_per_packet=per,
        valid=valid,
        special_every=special,
        capacity_slack=slack,
        newline=newline,
    )
    assert read_header(path).newline == newline
    if not valid.any():
        with pytest.raises(FormatError, match="no events"):
            read_events(path)
        return
    np.testing.assert_array_equal(read_events(path), ev[valid])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 80),
    seed=st.integers(0, 2**16),
    orientation=st.sampled_from(["published", "jaer"]),
)
def test_same_events_from_aedat2_and_aedat3(tmp_path, n, seed, orientation):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(0, 2**30, n)).astype(np.int64)
    ev = make_events(rng.integers(0, 128, n), rng.integers(0, 128, n), t, rng.integers(0, 2, n))
    write_aedat2(tmp_path / "a2.aedat", ev)
    write_aedat3(tmp_path / "a3.aedat", ev, events_per_packet=7)
    a2 = read_events(tmp_path / "a2.aedat", orientation)
    a3 = read_events(tmp_path / "a3.aedat", orientation)
    np.testing.assert_array_equal(a2, a3)


def test_jaer_orientation_needs_128x128(tmp_path):
    ev = make_events([300], [2], [3], [1])
    write_aedat3(tmp_path / "big.aedat", ev)
    assert read_events(tmp_path / "big.aedat")["x"].tolist() == [300]
    with pytest.raises(FormatError, match="128x128"):
        read_events(tmp_path / "big.aedat", orientation="jaer")


@requires_shared
@pytest.mark.parametrize("name", ["alex_walking_again", "neal_walking"])
def test_real_recording_repacked_as_aedat3(tmp_path, name):
    """No real AEDAT 3.1 file is available: repack real 2.0 recordings and read them back."""
    ev = read_events(REALFILES / "aedat2_dvs128" / f"{name}.aedat")
    path = tmp_path / f"{name}.aedat3.aedat"
    write_aedat3(path, ev, events_per_packet=5000, special_every=3)
    np.testing.assert_array_equal(read_events(path), ev)


@pytest.mark.parametrize("per", [7, 4096])
def test_decodes_into_a_buffer_like_aedat2(tmp_path, per):
    """``buffer=`` (what a build worker passes): the same events, decoded into the caller's
    columns or structured array (invalid events leave room unused), else a new array."""
    from eventpipe.events import EVENT_DTYPE

    rng = np.random.default_rng(3)
    n = 500
    ev = make_events(rng.integers(0, 128, n), rng.integers(0, 128, n),
                     np.sort(rng.integers(0, 2**32, n)), rng.integers(0, 2, n))  # fmt: skip
    path = tmp_path / "b.aedat"
    write_aedat3(path, ev, events_per_packet=per, valid=rng.random(n) > 0.2)
    want = read_events(path)
    cols = {k: np.full(n + 5, 7, EVENT_DTYPE[k]) for k in EVENT_DTYPE.names}
    got = read_events(path, buffer=cols)
    assert all(np.shares_memory(got[k], cols[k]) for k in EVENT_DTYPE.names)
    for k in EVENT_DTYPE.names:
        np.testing.assert_array_equal(got[k], want[k])
    arr = np.zeros(n, EVENT_DTYPE)
    got = read_events(path, buffer=arr)
    assert np.shares_memory(got, arr) and (got == want).all()
    assert not np.shares_memory(read_events(path, buffer=np.zeros(3, EVENT_DTYPE)), arr)
    with pytest.raises(ValueError, match="buffer column 't'"):
        read_events(path, buffer={**cols, "t": np.zeros(n, np.int32)})


def _decode_reference(raw, starts, numbers, overflows, jaer):
    """Plain numpy decoding of polarity packets (the reference of decode_polarity_kernel)."""
    out = []
    for at, n, ovf in zip(starts, numbers, overflows, strict=True):
        ev = np.frombuffer(raw[at : at + 8 * n].tobytes(), POLARITY_DTYPE)
        ev = ev[(ev["data"] & 1).astype(bool)]
        data = ev["data"].astype(np.int64)
        x, y = (data >> 17) & 0x7FFF, (data >> 2) & 0x7FFF
        if jaer:
            x, y = 127 - y, x
        t = (np.int64(ovf) << 31) | ev["timestamp"].astype(np.int64)
        out.append(np.stack([x, y, t, (data >> 1) & 1]))
    return np.concatenate(out, axis=1) if out else np.zeros((4, 0), np.int64)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=8),
    gaps=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
    jaer=st.booleans(),
)
def test_decode_kernel_equals_reference(sizes, gaps, seed, jaer):
    from eventpipe.kernels.aedat3 import OK, decode_polarity_kernel

    rng = np.random.default_rng(seed)
    chunks, starts, pos = [], [], 0
    for n in sizes:  # packets at any alignment: ``gaps`` bytes between them
        pos += gaps
        chunks.append(bytes(gaps))
        starts.append(pos)
        lim = 128 if jaer else 2**15
        body = _polarity(rng.integers(0, lim, n), rng.integers(0, lim, n), rng.integers(0, 2, n),
                         rng.integers(0, 2**31, n), valid=rng.integers(0, 2, n))  # fmt: skip
        chunks.append(body)
        pos += len(body)
    raw = np.frombuffer(b"".join(chunks), np.uint8)
    starts, numbers = np.array(starts, np.int64), np.array(sizes, np.int64)
    overflows = rng.integers(0, 3, len(sizes)).astype(np.int64)
    m = int(numbers.sum())
    x, y, t, p = (np.zeros(m, d) for d in (np.int16, np.int16, np.int64, np.uint8))
    k, status, _ = decode_polarity_kernel(raw, starts, numbers, overflows, jaer, x, y, t, p)
    want = _decode_reference(raw, starts, numbers, overflows, jaer)
    assert status == OK and k == want.shape[1]
    for got, col in zip((x, y, t, p), want, strict=True):
        np.testing.assert_array_equal(got[:k], col)
