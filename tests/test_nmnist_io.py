"""``eventpipe.io.nmnist``: the N-MNIST ``.bin`` reader, bulk reader, writer and their errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpipe.errors import FormatError
from eventpipe.events import EVENT_DTYPE, make_events
from eventpipe.io import read_events
from eventpipe.io.nmnist import (
    encode_nmnist,
    read_bytes,
    read_nmnist,
    read_nmnist_files,
    write_nmnist,
)
from eventpipe.kernels.nmnist import decode_nmnist_kernel

REAL = ("realfiles/nmnist/tonic_sample_nmnist.bin", "testdata/sample_nmnist.bin")


def reference_decode(data: bytes) -> np.ndarray:
    """Plain numpy decoding of one file (the kernel's reference): tonic's arithmetic."""
    raw = np.frombuffer(data, np.uint8).astype(np.int64).reshape(-1, 5)
    marker = raw[:, 1] == 240
    t = ((raw[:, 2] & 127) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    t = t + 8192 * np.cumsum(marker)
    keep = ~marker
    return make_events(raw[keep, 0], raw[keep, 1], t[keep], raw[keep, 2] >> 7)


def _record(x: int, y: int, t: int, p: int) -> bytes:
    return bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 255, t & 255])


@pytest.mark.parametrize("rel", REAL)
def test_real_files_golden_and_equal_to_tonic(shared_dir, rel):
    tonic = pytest.importorskip("tonic")
    path = shared_dir / rel
    ev = read_nmnist(path)
    assert ev.dtype == EVENT_DTYPE and len(ev) == 4325
    assert (ev["x"].min(), ev["x"].max(), ev["y"].min(), ev["y"].max()) == (0, 33, 0, 33)
    assert (int((ev["p"] == 0).sum()), int((ev["p"] == 1).sum())) == (2180, 2145)
    assert (ev["t"].min(), ev["t"].max()) == (654, 311175)
    assert np.all(np.diff(ev["t"]) >= 0)
    ref = tonic.io.read_mnist_file(str(path), dtype=tonic.datasets.NMNIST.dtype)
    for k in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(ev[k].astype(np.int64), ref[k].astype(np.int64), err_msg=k)
    np.testing.assert_array_equal(read_events(path), ev)  # read_events dispatches .bin


def test_overflow_markers_match_tonic(tmp_path):
    tonic = pytest.importorskip("tonic")
    data = (
        _record(1, 2, 100, 1)
        + _record(7, 240, 5, 1)  # marker: +8192 from here on, removed
        + _record(3, 4, 50, 0)
        + _record(0, 240, 0, 0)
        + _record(33, 33, 2**23 - 1, 1)
    )
    path = tmp_path / "00001.bin"
    path.write_bytes(data)
    ev = read_nmnist(path)
    assert ev["t"].tolist() == [100, 50 + 8192, 2**23 - 1 + 2 * 8192]
    assert ev["x"].tolist() == [1, 3, 33] and ev["p"].tolist() == [1, 0, 1]
    ref = tonic.io.read_mnist_file(str(path), dtype=tonic.datasets.NMNIST.dtype)
    np.testing.assert_array_equal(ev["t"], ref["t"].astype(np.int64))
    np.testing.assert_array_equal(ev, reference_decode(data))


events_strategy = st.lists(
    st.tuples(
        st.integers(0, 33),
        st.integers(0, 33),
        st.integers(0, 2**25),
        st.integers(0, 1),
    ),
    max_size=40,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=events_strategy)
def test_write_read_round_trip_with_overflow_markers(tmp_path, rows):
    rows.sort(key=lambda r: r[2])  # nondecreasing times: always encodable
    x, y, t, p = (np.array([r[i] for r in rows], np.int64) for i in range(4))
    ev = make_events(x, y, t, p)
    path = tmp_path / "00001.bin"
    write_nmnist(path, ev)
    data = path.read_bytes()
    n_markers = len(data) // 5 - len(ev)
    assert n_markers == (max(0, -(-(int(t.max()) - 2**23 + 1) // 8192)) if len(t) else 0)
    np.testing.assert_array_equal(read_nmnist(path), ev)
    np.testing.assert_array_equal(reference_decode(data), ev)


def test_kernel_equals_plain_python_and_reference():
    rng = np.random.default_rng(3)
    chunks = []
    for n in (0, 5, 40, 1):
        rec = rng.integers(0, 256, (n, 5), dtype=np.uint8)
        rec[:, 0] %= 34
        rec[:, 1] = np.where(rng.random(n) < 0.1, 240, rec[:, 1] % 34)
        chunks.append(rec.tobytes())
    raw = np.frombuffer(b"".join(chunks), np.uint8)
    starts = np.concatenate([[0], np.cumsum([len(c) for c in chunks])]).astype(np.int64)
    outs = []
    for fn in (decode_nmnist_kernel, getattr(decode_nmnist_kernel, "py_func", None)):
        if fn is None:
            continue
        ev = np.zeros(len(raw) // 5, EVENT_DTYPE)
        off = np.zeros(len(starts), np.int64)
        assert fn(raw, starts, 34, 34, ev["x"], ev["y"], ev["t"], ev["p"], off) == -1
        outs.append((ev[: off[-1]], off))
    expected = [reference_decode(c) for c in chunks]
    for ev, off in outs:
        for i, ref in enumerate(expected):
            np.testing.assert_array_equal(ev[off[i] : off[i + 1]], ref)


def test_bulk_reader_equals_per_file_reads_and_fills_the_buffer(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, n in enumerate((3, 0, 17, 8)):
        t = np.sort(rng.integers(0, 2**24, n))
        ev = make_events(rng.integers(0, 34, n), rng.integers(0, 34, n), t, rng.integers(0, 2, n))
        paths.append(tmp_path / f"{i + 1:05d}.bin")
        write_nmnist(paths[-1], ev)
    cols, offsets = read_nmnist_files(paths)
    assert offsets.dtype == np.int64 and offsets.tolist()[0] == 0 and len(offsets) == 5
    for i, p in enumerate(paths):
        one = read_nmnist(p)
        for k in ("x", "y", "t", "p"):
            np.testing.assert_array_equal(cols[k][offsets[i] : offsets[i + 1]], one[k])
    n_max = sum(p.stat().st_size for p in paths) // 5
    buffer = {k: np.zeros(n_max, EVENT_DTYPE[k]) for k in ("x", "y", "t", "p")}
    got, _ = read_nmnist_files(paths, buffer=buffer)
    assert all(np.shares_memory(got[k], buffer[k]) for k in got)
    assert all(np.array_equal(got[k], cols[k]) for k in cols)
    assert isinstance(read_events(paths[2], buffer=buffer), dict)
    # the bytes go into a caller's scratch array while they fit, else into a grown copy
    scratch = np.zeros(sum(p.stat().st_size for p in paths), np.uint8)
    raw, starts = read_bytes(paths, scratch)
    assert np.shares_memory(raw, scratch) and starts[-1] == len(scratch)
    small = np.zeros(7, np.uint8)
    raw2, starts2 = read_bytes(paths, small)
    assert not np.shares_memory(raw2, small)
    np.testing.assert_array_equal(raw2, raw)
    np.testing.assert_array_equal(starts2, starts)


def test_length_not_a_multiple_of_five(tmp_path):
    path = tmp_path / "00003.bin"
    path.write_bytes(_record(1, 1, 1, 1) + b"\x00\x01")
    with pytest.raises(FormatError, match=r"00003\.bin: 7 bytes, not a multiple of 5") as exc:
        read_nmnist_files([path])
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("x", "y", "what"),
    [(34, 0, r"byte 5: x = 34; expected 0\.\.33"), (0, 255, r"byte 6: y = 255; expected 0\.\.33"),
     (3, 34, r"byte 6: y = 34")],
)  # fmt: skip
def test_coordinate_out_of_range(tmp_path, x, y, what):
    good = tmp_path / "00001.bin"
    good.write_bytes(_record(1, 1, 1, 1))
    bad = tmp_path / "00002.bin"
    bad.write_bytes(_record(1, 1, 1, 1) + _record(x, y, 9, 0))
    with pytest.raises(FormatError, match=r"00002\.bin: event 1 at " + what):
        read_nmnist_files([good, bad])


def test_marker_is_not_a_coordinate_error_and_writer_refuses_bad_input(tmp_path):
    path = tmp_path / "00001.bin"
    path.write_bytes(_record(200, 240, 0, 1))  # only a marker: no events
    assert len(read_nmnist(path)) == 0
    with pytest.raises(ValueError, match="overflow marker"):
        encode_nmnist(make_events([0], [240], [0], [0]))
    with pytest.raises(ValueError, match="falls too far"):
        encode_nmnist(make_events([0, 0], [0, 0], [2**23 + 10, 5], [0, 0]))
    with pytest.raises(FormatError, match="cannot open"):
        read_bytes([tmp_path / "nope.bin"])
    with pytest.raises(ValueError, match="one orientation"):
        read_events(path, orientation="jaer")
