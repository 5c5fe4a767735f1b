"""Tag CSV reading/writing and every validation rule, with message checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpipe.datasets.slanimals.tags import TAGS_DTYPE, read_tags, write_tags
from eventpipe.errors import TagError

HEADER = "class,startTime_ev,endTime_ev"


def _rows(n=19):
    return [(c, 1000 * c, 1000 * c + 900) for c in range(1, n + 1)]


def _write(tmp_path, rows, header=HEADER, newline="\n", trailing="\n", name="user01_indoor.csv"):
    lines = [header, *(",".join(str(v) for v in r) if isinstance(r, tuple) else r for r in rows)]
    path = tmp_path / name
    path.write_bytes((newline.join(lines) + trailing).encode())
    return path


def test_read_valid(tmp_path):
    tags = read_tags(_write(tmp_path, _rows()), n_events=20_000)
    assert tags.dtype == TAGS_DTYPE and len(tags) == 19
    assert tags["class_id"].tolist() == list(range(19))
    assert tags["start"][0] == 1000 and tags["end"][-1] == 19_900


@pytest.mark.parametrize(
    ("newline", "trailing"), [("\n", "\n"), ("\r\n", "\r\n"), ("\n", ""), ("\r\n", "\r\n\r\n  \n")]
)
def test_newline_styles_and_trailing_blank_lines(tmp_path, newline, trailing):
    tags = read_tags(_write(tmp_path, _rows(), newline=newline, trailing=trailing))
    assert len(tags) == 19


def test_whitespace_and_bom_tolerated(tmp_path):
    rows = [f" {c} , {s}\t, {e} " for c, s, e in _rows()]
    path = _write(tmp_path, rows, header=" class , startTime_ev ,endTime_ev ")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_tags(path)["start"].tolist() == [1000 * c for c in range(1, 20)]


def test_unordered_classes_allowed_if_ordered_by_start(tmp_path):
    rows = _rows()
    rows[0], rows[1] = (2, 1000, 1900), (1, 2000, 2900)
    tags = read_tags(_write(tmp_path, rows))
    assert tags["class_id"][:2].tolist() == [1, 0]


def _err(tmp_path, rows, n_events=None, **kw):
    with pytest.raises(TagError) as ei:
        read_tags(_write(tmp_path, rows, **kw), n_events=n_events)
    msg = str(ei.value)
    assert "user01_indoor.csv" in msg
    return msg


def test_missing_file(tmp_path):
    with pytest.raises(TagError, match=r"nope\.csv: tag file not found"):
        read_tags(tmp_path / "nope.csv")


def test_empty_file(tmp_path):
    path = tmp_path / "user01_indoor.csv"
    path.write_text("\n\n")
    with pytest.raises(TagError, match=r"empty; expected header"):
        read_tags(path)


def test_bad_header(tmp_path):
    msg = _err(tmp_path, _rows(), header="class,start,end")
    assert "line 1: header is 'class,start,end'" in msg and HEADER in msg


def test_header_missing(tmp_path):
    msg = _err(tmp_path, _rows(), header="0,1,2")
    assert "header is '0,1,2'" in msg


@pytest.mark.parametrize("n", [18, 20])
def test_row_count(tmp_path, n):
    rows = _rows(19)[:n] if n < 19 else [*_rows(19), (5, 50_000, 50_001)]
    msg = _err(tmp_path, rows)
    assert f"{n} data rows; expected exactly 19" in msg


def test_cell_count(tmp_path):
    rows = _rows()
    rows[4] = "5,5000"
    msg = _err(tmp_path, rows)
    assert "data row 5 (line 6): 2 cells; expected 3" in msg


@pytest.mark.parametrize("bad", ["12.0", "", "1e3", "abc", "0x10"])
def test_not_an_integer(tmp_path, bad):
    rows = _rows()
    rows[2] = f"3,{bad},3900"
    msg = _err(tmp_path, rows)
    assert f"data row 3 (line 4): startTime_ev {bad!r} is not an integer" in msg


@pytest.mark.parametrize("cls", [0, 20, -1])
def test_class_out_of_range(tmp_path, cls):
    rows = _rows()
    rows[6] = (cls, 7000, 7900)
    msg = _err(tmp_path, rows)
    assert f"data row 7 (line 8): class {cls} out of range; expected 1..19" in msg


def test_class_repeated(tmp_path):
    rows = _rows()
    rows[10] = (3, 11_000, 11_900)
    msg = _err(tmp_path, rows)
    assert "data row 11 (line 12): class 3 repeated (first on data row 3)" in msg


def test_negative_start(tmp_path):
    rows = _rows()
    rows[0] = (1, -5, 900)
    assert "data row 1 (line 2): startTime_ev -5 is negative" in _err(tmp_path, rows)


@pytest.mark.parametrize("end", [1000, 999])
def test_end_not_after_start(tmp_path, end):
    rows = _rows()
    rows[0] = (1, 1000, end)
    msg = _err(tmp_path, rows)
    assert f"data row 1 (line 2): endTime_ev {end} <= startTime_ev 1000" in msg


def test_end_beyond_recording(tmp_path):
    msg = _err(tmp_path, _rows(), n_events=19_899)
    assert "data row 19 (line 20): endTime_ev 19900 exceeds the recording's 19899 events" in msg
    assert len(read_tags(tmp_path / "user01_indoor.csv", n_events=19_900)) == 19


def test_rows_not_ordered(tmp_path):
    rows = _rows()
    rows[5], rows[6] = rows[6], rows[5]
    msg = _err(tmp_path, rows)
    assert "data row 7 (line 8): startTime_ev 6000 < previous row's 7000" in msg
    tags = read_tags(tmp_path / "user01_indoor.csv", check_order=False)
    assert tags["class_id"][5] == 6


def test_rows_overlap(tmp_path):
    rows = _rows()
    rows[8] = (9, 8500, 9900)  # row 8 ends at 8900
    msg = _err(tmp_path, rows)
    assert "data row 9 (line 10): overlaps the previous row" in msg and "8900" in msg


def test_line_numbers_count_blank_lines(tmp_path):
    rows = _rows()
    rows[3] = "\n4,x,4900"
    msg = _err(tmp_path, rows)
    assert "data row 4 (line 6)" in msg


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    gaps=st.lists(st.integers(0, 10_000), min_size=19, max_size=19),
    lengths=st.lists(st.integers(1, 10_000), min_size=19, max_size=19),
    perm=st.permutations(list(range(19))),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_write_read_roundtrip(tmp_path, gaps, lengths, perm, newline):
    tags = np.zeros(19, TAGS_DTYPE)
    start = np.cumsum(gaps) + np.concatenate([[0], np.cumsum(lengths)[:-1]])
    tags["class_id"], tags["start"], tags["end"] = perm, start, start + np.asarray(lengths)
    path = tmp_path / "rt.csv"
    write_tags(path, tags, newline=newline)
    assert path.read_bytes().startswith(HEADER.encode() + newline.encode())
    np.testing.assert_array_equal(read_tags(path, n_events=int(tags["end"][-1])), tags)
