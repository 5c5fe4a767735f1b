"""AEDAT 2.0 reader: tonic parity on real files, golden references, invariants, round trips."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpipe.errors import FormatError
from eventpipe.events import EVENT_DTYPE, make_events
from eventpipe.io import (
    decode_addresses,
    encode_addresses,
    read_events,
    read_header,
    special_address_mask,
    unwrap_timestamps,
    write_aedat2,
)
from eventpipe.io.aedat2 import RECORD_DTYPE, read_aedat2_records
from tests.conftest_io import (
    GOLDEN,
    REALFILES,
    SHARED,
    golden_name,
    real_aedat2_files,
    requires_shared,
    tonic_read_dvs_128,
)
from tests.reference_kernels import random_dvs128_events

REAL = real_aedat2_files()
REAL_IDS = [golden_name(p) for p in REAL]


def _digests(ev):
    return {k: hashlib.sha256(np.ascontiguousarray(ev[k]).tobytes()).hexdigest() for k in "xytp"}


# --------------------------------------------------------------------------- real files


@requires_shared
def test_real_files_are_present():
    assert len(REAL) == 6, REAL


@requires_shared
@pytest.mark.parametrize("path", REAL, ids=REAL_IDS)
def test_same_events_as_tonic_read_dvs_128(path):
    ours = read_events(path)
    ref = tonic_read_dvs_128(path)
    assert ours.dtype == EVENT_DTYPE
    assert len(ours) == len(ref)
    for k in "xytp":
        np.testing.assert_array_equal(ours[k], ref[k], err_msg=f"field {k}")


@requires_shared
@pytest.mark.parametrize("path", REAL, ids=REAL_IDS)
def test_golden_references(path):
    table = json.loads((GOLDEN / "golden.json").read_text())
    ref = table[golden_name(path)]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ref["file_sha256"], "source changed"
    ev = read_events(path)
    assert len(ev) == ref["n_events"]
    head = np.load(GOLDEN / f"{golden_name(path)}.npy")
    np.testing.assert_array_equal(ev[: len(head)], head)
    assert int(ev["t"][0]) == ref["t_first"] and int(ev["t"][-1]) == ref["t_last"]
    assert _digests(ev) == ref["digests_published"]
    assert _digests(read_events(path, orientation="jaer")) == ref["digests_jaer"]


@requires_shared
@pytest.mark.parametrize("path", REAL, ids=REAL_IDS)
def test_real_file_invariants(path):
    ev = read_events(path)
    assert len(ev) > 10_000
    assert np.all(np.diff(ev["t"]) >= 0), "t decreases"
    assert ev["t"][0] > 1_000_000, "absolute device clock, far from zero"
    for k in "xy":
        assert ev[k].min() >= 0 and ev[k].max() <= 127
    assert set(np.unique(ev["p"]).tolist()) <= {0, 1}
    # both orientations: same events, rotated
    j = read_events(path, orientation="jaer")
    np.testing.assert_array_equal(j["x"], 127 - ev["y"])
    np.testing.assert_array_equal(j["y"], ev["x"])
    np.testing.assert_array_equal(j["p"], ev["p"])
    np.testing.assert_array_equal(j["t"], ev["t"])


@requires_shared
def test_peculiar_high_address_bits_are_kept_and_masked():
    path = REALFILES / "peculiar" / "rotated_cam255_right_clamp_test1.aedat"
    rec = read_aedat2_records(path)
    high = (rec["address"] >> 15) != 0
    assert int(high.sum()) == 318
    mask = special_address_mask(path)
    np.testing.assert_array_equal(mask, high)
    ev = read_events(path)
    assert len(ev) == len(rec)  # kept: indices stay aligned with tonic
    x, y, _ = decode_addresses(rec["address"][high])
    np.testing.assert_array_equal(ev["x"][high], x)
    np.testing.assert_array_equal(ev["y"][high], y)
    assert np.all(ev["p"] == 1)


@requires_shared
def test_real_header_parsed():
    path = REALFILES / "aedat2_dvs128" / "biolab_video_chave_fenda.aedat"
    h = read_header(path)
    assert h.version == "2.0" and h.major == 2
    assert h.lines[0] == "!AER-DAT2.0" and h.lines[-1] == "End Of ASCII Header"
    assert h.newline == "\r\n"
    assert h.data_offset == 6231
    assert h.value("AEChip:") == "ch.unizh.ini.jaer.chip.retina.DVS128"
    assert (path.stat().st_size - h.data_offset) % 8 == 0


@requires_shared
def test_tonic_sample_header_only_file():
    path = SHARED / "testdata" / "sample_aedat_header.aedat"
    h = read_header(path)
    assert h.version == "2.0" and h.newline == "\n"
    assert h.data_offset == path.stat().st_size == 599
    assert h.lines[1] == " This is a raw AE data file - do not edit"
    assert h.value("AEChip:") == "eu.seebetter.ini.chips.davis.Davis346red"
    assert h.lines[-1].startswith("<!DOCTYPE preferences SYSTEM")
    with pytest.raises(FormatError, match=r"sample_aedat_header\.aedat"):
        read_events(path)


@requires_shared
def test_davis_aedat2_rejected_as_not_dvs128():
    path = REALFILES / "secondary" / "pyaedattools_IMU_translBoxes_davis240c.aedat"
    with pytest.raises(FormatError, match=r"DAVIS240C.*only DVS128"):
        read_events(path)


# --------------------------------------------------------------------------- decoding units


def test_decode_matches_bit_layout():
    a = np.array([0, 1, 0x7F << 1, 0x7F << 8, 0x7FFF, 0x8000 | (3 << 8) | (4 << 1)], np.uint32)
    x, y, p = decode_addresses(a)
    assert x.tolist() == [0, 0, 0, 127, 127, 3]
    assert y.tolist() == [0, 0, 127, 0, 127, 4]
    assert p.tolist() == [0, 1, 0, 0, 1, 0]
    xj, yj, pj = decode_addresses(a, "jaer")
    assert xj.tolist() == (127 - y).tolist() and yj.tolist() == x.tolist()
    assert pj.tolist() == p.tolist()


def test_encode_is_inverse_of_published_decode():
    rng = np.random.default_rng(1)
    x, y, p = rng.integers(0, 128, 500), rng.integers(0, 128, 500), rng.integers(0, 2, 500)
    dx, dy, dp = decode_addresses(encode_addresses(x, y, p))
    assert (dx == x).all() and (dy == y).all() and (dp == p).all()


def test_unknown_orientation(tmp_path):
    path = tmp_path / "a.aedat"
    write_aedat2(path, make_events([1], [2], [3], [1]))
    with pytest.raises(ValueError, match="orientation"):
        read_events(path, orientation="upside-down")


def test_unwrap_wrap_and_jitter():
    W = 2**32
    raw = np.array([W - 10, W - 3, 2, 5, W - 1, 7, 4, 100], dtype=np.uint32)
    t = unwrap_timestamps(raw)
    assert t.tolist() == [W - 10, W - 3, W + 2, W + 5, W - 1, W + 7, W + 4, W + 100]
    # jitter without a wrap is kept in place
    assert unwrap_timestamps(np.array([10, 8, 12], np.uint32)).tolist() == [10, 8, 12]
    # the first event already after a wrap that a later event undoes: shifted, never negative
    assert unwrap_timestamps(np.array([3, W - 2, 9], np.uint32)).tolist() == [W + 3, W - 2, W + 9]
    # two wraps
    t = unwrap_timestamps(np.array([W - 1, 0, 2**31, W - 1, 1], np.uint32))
    assert t.tolist() == [W - 1, W, W + 2**31, 2 * W - 1, 2 * W + 1]


def test_wrap_in_file(tmp_path):
    n = 100
    t = np.int64(2**32 - 500) + np.arange(n, dtype=np.int64) * 10
    t[50] -= 3  # jitter
    ev = make_events(np.arange(n) % 128, np.arange(n) % 100, t, np.arange(n) % 2)
    path = tmp_path / "wrap.aedat"
    write_aedat2(path, ev)
    back = read_events(path)
    np.testing.assert_array_equal(back["t"], t)
    assert back["t"].max() > 2**32


# --------------------------------------------------------------------------- errors


def _write_raw(path, header: bytes, body: bytes):
    path.write_bytes(header + body)
    return path


HDR = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"


def test_trailing_partial_record(tmp_path):
    body = np.zeros(3, RECORD_DTYPE).tobytes() + b"\x00\x01\x02"
    path = _write_raw(tmp_path / "trunc.aedat", HDR, body)
    with pytest.raises(FormatError) as ei:
        read_events(path)
    msg = str(ei.value)
    assert "trunc.aedat" in msg and "partial record of 3 bytes" in msg
    assert f"at byte {len(HDR) + 24}" in msg and "8-byte records" in msg


def test_empty_data_section(tmp_path):
    path = _write_raw(tmp_path / "empty.aedat", HDR, b"")
    with pytest.raises(FormatError, match=r"empty.aedat: no events"):
        read_events(path)


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="no such file") as ei:
        read_events(tmp_path / "nope.aedat")
    assert isinstance(ei.value, FileNotFoundError)


def test_header_line_with_hash_and_binary_bytes(tmp_path):
    header = b"#!AER-DAT2.0\n# a # line with \xff\xfe bytes and #!END-HEADER\r\n#\n"
    rec = np.zeros(2, RECORD_DTYPE)
    rec["address"] = encode_addresses([5, 6], [7, 8], [1, 0])
    rec["timestamp"] = [100, 200]
    path = _write_raw(tmp_path / "odd.aedat", header, rec.tobytes())
    h = read_header(path)
    assert h.data_offset == len(header) and len(h.lines) == 3 and h.lines[2] == ""
    ev = read_events(path)
    assert ev["x"].tolist() == [5, 6] and ev["t"].tolist() == [100, 200]
    np.testing.assert_array_equal(ev, tonic_read_dvs_128(path))


# --------------------------------------------------------------------------- round trips

_header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@st.composite
def _events_2(draw):
    n = draw(st.integers(1, 120))
    t0 = draw(st.integers(0, 2**32 - 1))
    steps = draw(
        st.lists(
            st.one_of(st.integers(-2000, 0), st.integers(0, 2**31 - 1), st.integers(0, 50)),
            min_size=n - 1,
            max_size=n - 1,
        )
    )
    t = t0 + np.concatenate([[0], np.cumsum(np.asarray(steps, dtype=np.int64))])
    t = np.maximum(t, 0) if t.min() < 0 else t
    xs = draw(st.lists(st.integers(0, 127), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(0, 127), min_size=n, max_size=n))
    ps = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return make_events(xs, ys, t.astype(np.int64), ps)


def _recoverable(t):
    d = np.diff(t)
    return t[0] < 2**32 and (len(d) == 0 or (np.abs(d) < 2**31).all())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ev=_events_2(),
    newline=st.sampled_from(["\r\n", "\n"]),
    extra=st.lists(_header_text, max_size=4),
)
def test_roundtrip_aedat2(tmp_path, ev, newline, extra):
    path = tmp_path / "rt.aedat"
    write_aedat2(path, ev, header_lines=extra or None, newline=newline)
    h = read_header(path)
    assert h.version == "2.0" and h.newline == newline
    back = read_events(path)
    for k in "xyp":
        np.testing.assert_array_equal(back[k], ev[k])
    if _recoverable(ev["t"]):
        np.testing.assert_array_equal(back["t"], ev["t"])
    # always the same event sequence as tonic (tonic does not unwrap: compare t mod 2**32)
    ref = tonic_read_dvs_128(path)
    for k in "xyp":
        np.testing.assert_array_equal(back[k], ref[k])
    np.testing.assert_array_equal(back["t"] & 0xFFFFFFFF, ref["t"])
    j = read_events(path, orientation="jaer")
    np.testing.assert_array_equal(j["x"], 127 - ev["y"])
    np.testing.assert_array_equal(j["y"], ev["x"])


def test_roundtrip_wrap_across_2_32(tmp_path):
    t = np.array([2**32 - 30, 2**32 - 1, 2**32, 2**32 + 5, 2**33 + 7], dtype=np.int64)
    t = np.concatenate([t[:4], [2**32 + 2**31 - 1, 2**32 + 2**31 + 2**31 - 2], t[4:]])
    ev = make_events(np.arange(len(t)), np.arange(len(t)), t, np.arange(len(t)) % 2)
    for newline in ("\r\n", "\n"):
        path = tmp_path / f"wrap{len(newline)}.aedat"
        write_aedat2(path, ev, newline=newline)
        back = read_events(path)
        np.testing.assert_array_equal(back["t"], t)
        assert np.all(np.diff(back["t"]) >= 0)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(1, 300), extra=st.integers(-5, 50), seed=st.integers(0, 2**16))
def test_decode_into_buffer_equals_fresh_array(tmp_path, n, extra, seed):
    """``buffer=``: a long enough EVENT_DTYPE buffer is decoded into (a view of its first n
    elements, equal to a fresh read, whatever was in it before); a short one is ignored."""
    rng = np.random.default_rng(seed)
    ev = random_dvs128_events(rng, n, 0, 10**7)
    path = tmp_path / f"b{seed}-{n}.aedat"
    write_aedat2(path, ev)
    fresh = read_events(path)
    buf = np.zeros(max(n + extra, 0), dtype=EVENT_DTYPE)
    buf["t"] = 77
    got = read_events(path, buffer=buf)
    np.testing.assert_array_equal(got, fresh)
    assert np.shares_memory(got, buf) == (len(buf) >= n)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(1, 300), extra=st.integers(0, 50), seed=st.integers(0, 2**16))
def test_decode_into_columns_equals_fresh_array(tmp_path, n, extra, seed):
    """``buffer=`` a mapping of columns x, y, t, p: decoded into their first n elements (a dict
    of views), equal to a fresh read whatever was in them; wrong dtypes or short columns are
    refused."""
    rng = np.random.default_rng(seed)
    ev = random_dvs128_events(rng, n, 0, 10**7)
    ev["t"][n // 2 :] += 2**32  # the unwrap correction applies to the column too
    path = tmp_path / f"c{seed}-{n}.aedat"
    write_aedat2(path, ev)
    fresh = read_events(path)
    cols = {k: np.full(n + extra, 7, dtype=EVENT_DTYPE[k]) for k in "xytp"}
    got = read_events(path, buffer=cols)
    assert isinstance(got, dict) and list(got) == ["x", "y", "t", "p"]
    for k in "xytp":
        np.testing.assert_array_equal(got[k], fresh[k])
        assert np.shares_memory(got[k], cols[k]) and got[k].dtype == fresh.dtype[k]
    with pytest.raises(ValueError, match="buffer column 't'"):
        read_events(path, buffer={**cols, "t": np.zeros(n + extra, np.int32)})
    with pytest.raises(ValueError, match="buffer column 'x'"):
        read_events(path, buffer={**cols, "x": np.zeros(n - 1, np.int16)})
