"""Corrupt, truncated and random input: the readers raise only EventpipeError subclasses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.datasets.slanimals.tags import read_tags
from eventpipe.errors import EventpipeError, FormatError
from eventpipe.events import EVENT_DTYPE, make_events
from eventpipe.io import read_events, read_header, write_aedat2, write_aedat3
from tests.conftest_io import REALFILES, SHARED, requires_shared


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    """One folder for the module (hypothesis re-runs a test body many times per fixture)."""
    return tmp_path_factory.mktemp("fuzz")


def _read_or_format_error(folder: Path, data: bytes, name: str = "fuzz.aedat"):
    path = folder / name
    path.write_bytes(data)
    try:
        ev = read_events(path)
    except EventpipeError as exc:
        assert name in str(exc)
        return None
    assert ev.dtype == EVENT_DTYPE and len(ev) > 0
    return ev


def _valid_file(folder: Path, version: str) -> bytes:
    rng = np.random.default_rng(0)
    n = 40
    ev = make_events(
        rng.integers(0, 128, n), rng.integers(0, 128, n), np.arange(n) * 1000, rng.integers(0, 2, n)
    )
    path = folder / f"valid{version}.aedat"
    (write_aedat2 if version == "2.0" else write_aedat3)(
        path, ev, **({} if version == "2.0" else {"events_per_packet": 7, "special_every": 2})
    )
    return path.read_bytes()


@pytest.fixture(scope="module")
def valid_files(fuzz_dir) -> dict[str, bytes]:
    return {v: _valid_file(fuzz_dir, v) for v in ("2.0", "3.1")}


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=600))
def test_random_bytes(fuzz_dir, data):
    _read_or_format_error(fuzz_dir, data)


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from(["2.0", "3.1"]),
    body=st.binary(max_size=400),
    newline=st.sampled_from([b"\r\n", b"\n"]),
)
def test_valid_header_random_body(fuzz_dir, version, body, newline):
    head = b"#!AER-DAT" + version.encode() + newline
    if version == "3.1":
        head += b"#!END-HEADER" + newline
    ev = _read_or_format_error(fuzz_dir, head + body)
    if version == "2.0":
        assert (ev is None) == (len(body) == 0 or len(body) % 8 != 0)


@settings(max_examples=200, deadline=None)
@given(version=st.sampled_from(["2.0", "3.1"]), cut=st.integers(0, 10_000))
def test_truncated_valid_file(fuzz_dir, valid_files, version, cut):
    data = valid_files[version]
    _read_or_format_error(fuzz_dir, data[: cut % (len(data) + 1)])


@settings(max_examples=300, deadline=None)
@given(
    version=st.sampled_from(["2.0", "3.1"]),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_corrupted_valid_file(fuzz_dir, valid_files, version, flips):
    data = bytearray(valid_files[version])
    for pos, val in flips:
        data[pos % len(data)] = val
    _read_or_format_error(fuzz_dir, bytes(data))


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(lambda s: s.encode("utf-8")))
def test_tags_random_input(fuzz_dir, data):
    path = fuzz_dir / "fuzz.csv"
    path.write_bytes(data)
    with pytest.raises(EventpipeError, match=r"fuzz\.csv"):
        read_tags(path)


def test_no_header_is_unsupported(tmp_path):
    path = tmp_path / "raw.dat"
    path.write_bytes(bytes(64))
    with pytest.raises(FormatError, match=r"raw\.dat: unsupported format: no '#!AER-DAT' header"):
        read_events(path)


def test_bin_files_are_read_as_nmnist(tmp_path):
    """``.bin`` is N-MNIST's format: read_events dispatches it there (64 bytes is not a whole
    number of 5-byte events)."""
    path = tmp_path / "raw.bin"
    path.write_bytes(bytes(64))
    with pytest.raises(FormatError, match=r"raw\.bin"):
        read_events(path)


@pytest.mark.parametrize("version", ["1.0", "3.0", "4.0", "2.5x"])
def test_other_versions_unsupported(tmp_path, version):
    path = tmp_path / "v.aedat"
    path.write_bytes(b"#!AER-DAT" + version.encode() + b"\r\n" + bytes(16))
    with pytest.raises(FormatError, match=r"unsupported format: version"):
        read_events(path)


@requires_shared
@pytest.mark.parametrize(
    "path",
    [
        SHARED / "testdata" / "sample.aedat4",
        REALFILES / "secondary" / "redpob_dvs128_dvSave-2024_06_13_16_16_25.aedat4",
    ],
    ids=["tonic-sample", "dvs128-aedat4"],
)
def test_aedat4_rejected(path):
    assert read_header(path).version == "4.0"
    with pytest.raises(FormatError) as ei:
        read_events(path)
    msg = str(ei.value)
    assert path.name in msg and "unsupported format" in msg and "'4.0'" in msg


@requires_shared
@pytest.mark.parametrize(
    "name",
    [
        "aertb_ncars_obj_004416_td.dat",
        "expelliarmus_evt2_sample.raw",
        "expelliarmus_evt3_sample.raw",
        "faery_dvs.es",
        "faery_evt2.raw",
    ],
)
def test_other_formats_rejected(name):
    with pytest.raises(FormatError, match="unsupported format"):
        read_events(REALFILES / "secondary" / name)


@requires_shared
def test_real_nmnist_bin_reads_as_tonic_does():
    """A real N-MNIST file among the other formats: read as N-MNIST, equal to tonic."""
    from tonic.io import read_mnist_file

    path = REALFILES / "secondary" / "aertb_nmnist_03263.bin"
    ev = read_events(path)
    want = read_mnist_file(
        str(path), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    )
    for k in "xytp":
        np.testing.assert_array_equal(ev[k], want[k])


def test_directory_is_format_error(tmp_path):
    with pytest.raises(FormatError, match="cannot open"):
        read_events(tmp_path)
