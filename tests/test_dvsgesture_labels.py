"""DVS Gesture label CSVs: the archive's real file parses; every bad input names file and row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventpipe.datasets.dvsgesture.labels import LABELS_DTYPE, read_labels, write_labels
from eventpipe.errors import TagError

HEADER = "class,startTime_usec,endTime_usec\n"


def test_real_label_file_parses(shared_dir):
    path = shared_dir / "realfiles/aedat3/aestream_user01_natural_labels.csv"
    labels = read_labels(path)
    assert len(labels) == 12
    classes = (labels["class_id"] + 1).tolist()
    assert classes.count(8) == 2 and sorted(set(classes)) == list(range(1, 12))
    assert (labels["start"] < labels["end"]).all()
    assert (labels["start"][1:] >= labels["end"][:-1]).all()  # ordered, non-overlapping
    assert (labels["start"][0], labels["end"][-1]) == (53036986, 177991967)


def test_write_read_round_trip(tmp_path):
    rows = np.array([(0, 5, 10), (10, 10, 30), (0, 40, 41)], dtype=LABELS_DTYPE)
    path = tmp_path / "user01_lab_labels.csv"
    write_labels(path, rows, newline="\r\n")
    np.testing.assert_array_equal(read_labels(path), rows)


def _write(tmp_path: Path, body: str, name: str = "user01_lab_labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ("class,start,end\n1,0,5\n", "header is 'class,start,end'"),
        ("", "empty"),
        (HEADER, "0 data rows"),
        (HEADER + "1,0,5\n2,x,9\n", "data row 2: startTime_usec 'x' is not an integer"),
        (HEADER + "1,0,5\n2,6\n", "data row 2: 2 cells"),
        (HEADER + "1,0,5.5\n", "data row 1: endTime_usec '5.5' is not an integer"),
        (HEADER + "1,0,5\n12,6,9\n", "data row 2: class 12 out of range; expected 1..11"),
        (HEADER + "0,0,5\n", "data row 1: class 0 out of range"),
        (HEADER + "1,0,5\n2,9,6\n", "data row 2: window [9, 6) us is reversed or empty"),
        (HEADER + "1,7,7\n", "data row 1: window [7, 7) us is reversed or empty"),
        (HEADER + "1,-3,7\n", "data row 1: startTime_usec -3 is negative"),
        (HEADER + "1,0,5\n2,4,9\n", "data row 2: window [4, 9) us overlaps data row 1"),
        (HEADER + "1,10,20\n2,0,5\n3,4,9\n", "data row 3: window [4, 9) us overlaps data row 2"),
        (HEADER + "".join(f"1,{i},{i + 1}\n" for i in range(33)), "33 data rows"),
        (HEADER + "1,0,99999999999999999999\n", "not an integer (64-bit)"),
    ],
)
def test_bad_label_files_name_file_and_row(tmp_path, body, expect):
    path = _write(tmp_path, body)
    with pytest.raises(TagError) as err:
        read_labels(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and expect in msg and "\n" not in msg


def test_missing_binary_and_oversized_files(tmp_path):
    with pytest.raises(TagError, match="label file not found"):
        read_labels(tmp_path / "nope_labels.csv")
    (tmp_path / "bin_labels.csv").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TagError, match="not UTF-8"):
        read_labels(tmp_path / "bin_labels.csv")
    (tmp_path / "big_labels.csv").write_bytes(b"1" * 70000)
    with pytest.raises(TagError, match="at most"):
        read_labels(tmp_path / "big_labels.csv")


def test_known_archive_overlap_is_accepted(tmp_path):
    body = HEADER + "9,0,50\n10,40,90\n"
    np.testing.assert_array_equal(
        read_labels(_write(tmp_path, body, "user22_led_labels.csv"))["start"], [0, 40]
    )
    with pytest.raises(TagError, match="overlaps"):
        read_labels(_write(tmp_path, body, "user21_lab_labels.csv"))
    assert len(read_labels(_write(tmp_path, body), allow_overlap=True)) == 2


def test_bom_blank_lines_and_whitespace(tmp_path):
    path = tmp_path / "user01_lab_labels.csv"
    path.write_bytes(b"\xef\xbb\xbf" + HEADER.encode() + b"\n 3 , 1, 2 \r\n\n")
    assert read_labels(path).tolist() == [(2, 1, 2)]
