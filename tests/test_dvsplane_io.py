"""The MATLAB TD reader (eventpipe.io.matlab_td): exact round trips through the writer for MAT
v5/v7 and v7.3, read_events dispatch, buffers, and one-line FormatErrors for bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import savemat

from eventpipe.errors import FormatError
from eventpipe.events import EVENT_DTYPE, make_events
from eventpipe.io import read_events
from eventpipe.io.matlab_td import mat_version, read_td_mat, td_length, write_td_mat

events_strategy = st.integers(0, 200).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 303), min_size=n, max_size=n),
        st.lists(st.integers(0, 239), min_size=n, max_size=n),
        st.lists(st.integers(0, 2**53), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=25, deadline=None)
@given(events_strategy, st.sampled_from(["5", "7.3"]), st.booleans())
def test_round_trip_is_exact(tmp_path_factory, cols, version, compress):
    ev = make_events(*cols)
    path = tmp_path_factory.mktemp("rt") / "F117_1.mat"
    write_td_mat(path, ev, version=version, compress=compress)
    assert mat_version(path) == version
    got = read_td_mat(path)
    assert got.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(got, ev)
    assert td_length(path) == (len(ev) if version == "7.3" else None)


def test_v73_layout_is_matlabs(tmp_path):
    path = tmp_path / "a.mat"
    write_td_mat(path, make_events([0, 1], [2, 3], [5, 6], [0, 1]), version="7.3")
    assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    with h5py.File(path, "r") as f:
        assert f.userblock_size == 512
        assert f["TD"].attrs["MATLAB_class"] == b"struct"
        assert f["TD/x"].shape == (1, 2)  # MATLAB's 2 x 1 column, dimensions reversed
        assert f["TD/p"][()].tolist() == [[-1.0, 1.0]]


def test_read_events_dispatches_mat_and_fills_a_buffer(tmp_path):
    ev = make_events([3, 4, 5], [1, 1, 2], [10, 20, 30], [1, 0, 1])
    for version in ("5", "7.3"):
        path = tmp_path / f"v{version}.mat"
        write_td_mat(path, ev, version=version)
        np.testing.assert_array_equal(read_events(path), ev)
        buf = {k: np.zeros(8, EVENT_DTYPE[k]) for k in EVENT_DTYPE.names}
        got = read_events(path, buffer=buf)
        assert got["t"].base is buf["t"] and got["x"].tolist() == [3, 4, 5]
        small = {k: np.zeros(1, EVENT_DTYPE[k]) for k in EVENT_DTYPE.names}
        np.testing.assert_array_equal(read_events(path, buffer=small), ev)  # new array
    with pytest.raises(ValueError, match="one orientation"):
        read_events(tmp_path / "v5.mat", orientation="jaer")


def test_column_and_row_vectors_and_integer_classes(tmp_path):
    path = tmp_path / "row.mat"
    td = {
        "x": np.array([[1, 304]], np.uint16),
        "y": np.array([[240, 1]], np.int32),
        "p": np.array([[-1, 1]], np.int8),
        "ts": np.array([[0, 7]], np.uint32),
    }
    savemat(path, {"TD": td, "other": np.ones(3)})
    got = read_td_mat(path)
    assert got["x"].tolist() == [0, 303] and got["y"].tolist() == [239, 0]
    assert got["p"].tolist() == [0, 1] and got["t"].tolist() == [0, 7]


def test_v73_empty_fields(tmp_path):
    path = tmp_path / "empty.mat"
    write_td_mat(path, np.zeros(0, EVENT_DTYPE), version="7.3")
    assert len(read_td_mat(path)) == 0 and td_length(path) == 0


def _td(**changes):
    td = {
        "x": np.array([1.0, 2.0, 3.0]),
        "y": np.array([1.0, 2.0, 3.0]),
        "p": np.array([1.0, -1.0, 1.0]),
        "ts": np.array([0.0, 5.0, 9.0]),
    }
    td.update(changes)
    return {k: v for k, v in td.items() if v is not None}


BAD = [
    (_td(x=np.array([1.0, 305.0, 3.0])), r"TD\.x\[1\] = 305.0: expected an integer in 1\.\.304"),
    (_td(x=np.array([0.0, 2.0, 3.0])), r"TD\.x\[0\] = 0.0"),
    (_td(y=np.array([1.0, 2.0, 241.0])), r"TD\.y\[2\] = 241.0: expected an integer in 1\.\.240"),
    (_td(x=np.array([1.0, 2.5, 3.0])), r"TD\.x\[1\] = 2.5"),
    (_td(p=np.array([1.0, 0.0, 1.0])), r"TD\.p\[1\] = 0.0: expected -1 or 1"),
    (_td(ts=np.array([0.0, -5.0, 9.0])), r"TD\.ts\[1\] = -5.0: expected a non-negative integer"),
    (_td(ts=np.array([0.0, 5.5, 9.0])), r"TD\.ts\[1\] = 5.5"),
    (_td(ts=np.array([np.nan, 5.0, 9.0])), r"TD\.ts\[0\] = nan"),
    (_td(p=None), r"TD: missing field\(s\) p"),
    (_td(y=np.array([1.0, 2.0])), r"fields of different lengths \(x 3, y 2, p 3, ts 3\)"),
]


def _write_v73_raw(path, td):
    with h5py.File(path, "w", userblock_size=512) as f:
        g = f.create_group("TD")
        for k, v in td.items():
            g.create_dataset(k, data=np.asarray(v).reshape(1, -1))


@pytest.mark.parametrize("version", ["5", "7.3"])
@pytest.mark.parametrize(("td", "message"), BAD)
def test_bad_values_name_file_key_and_index(tmp_path, version, td, message):
    path = tmp_path / "Su24_3.mat"
    if version == "5":
        savemat(path, {"TD": {k: v.reshape(-1, 1) for k, v in td.items()}})
    else:
        _write_v73_raw(path, td)
    with pytest.raises(FormatError, match=message) as err:
        read_td_mat(path)
    text = str(err.value)
    assert text.startswith(str(path)) and "\n" not in text


def test_not_a_td_file(tmp_path):
    no_td = tmp_path / "no_td.mat"
    savemat(no_td, {"events": np.ones(3)})
    with pytest.raises(FormatError, match="no variable 'TD'"):
        read_td_mat(no_td)
    not_struct = tmp_path / "not_struct.mat"
    savemat(not_struct, {"TD": np.ones(3)})
    with pytest.raises(FormatError, match="TD: expected a struct"):
        read_td_mat(not_struct)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"hello, not matlab" * 20)
    with pytest.raises(FormatError, match="byte 0: not a MATLAB file"):
        read_td_mat(junk)
    truncated = tmp_path / "cut.mat"
    write_td_mat(truncated, make_events([1] * 50, [1] * 50, range(50), [1] * 50))
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(FormatError, match="not a readable MATLAB v5 file"):
        read_td_mat(truncated)
    h5 = tmp_path / "h5.mat"
    with h5py.File(h5, "w", userblock_size=512) as f:
        f.create_dataset("x", data=np.ones(3))
    with pytest.raises(FormatError, match=r"no variable 'TD'.*found x"):
        read_td_mat(h5)
    with pytest.raises(FormatError, match="cannot read"):
        read_td_mat(tmp_path / "missing.mat")
