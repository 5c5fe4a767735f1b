"""DVS Gesture label files: which time windows of a recording show which gesture.

One CSV per recording, ``DvsGesture/<stem>_labels.csv`` (LF line endings in the archive)::

    class,startTime_usec,endTime_usec
    1,53036986,59508469
    ...

``class`` is 1..11 (1-based; class id = class - 1); the times are microseconds on the
recording's clock (``t = eventTSOverflow << 31 | timestamp``), the window ``[start, end)``.
One sample per data row: a class may appear more than once (the archive's
``user01_natural_labels.csv`` has class 8 twice), and rows are not one per class.

Rules :func:`read_labels` enforces (each failure is a :class:`~eventpipe.errors.TagError`
naming the file and the 1-based data row):

1. the first non-blank line is exactly ``class,startTime_usec,endTime_usec`` (cells stripped,
   a UTF-8 BOM ignored); blank lines are skipped, ``\\r\\n`` is fine;
2. every data row has 3 cells, each a base-10 integer that fits in int64;
3. class in 1..11; ``0 <= start < end`` (a reversed or empty window is refused);
4. 1 to :data:`~eventpipe.datasets.dvsgesture.facts.SAMPLE_ID_STRIDE` (32) data rows;
5. windows do not overlap (checked in start order, naming the later row of each pair), except
   the overlaps listed in :data:`KNOWN_OVERLAPS` (the archive's own) or with
   ``allow_overlap=True``.

Whether each window lies inside the recording's events is checked when slicing
(:mod:`eventpipe.datasets.dvsgesture.slicing`), where the events are known.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
from pathlib import Path

import numpy as np

from eventpipe.datasets.dvsgesture.facts import N_CLASSES, SAMPLE_ID_STRIDE
from eventpipe.datasets.textfiles import read_small_text
from eventpipe.errors import TagError
from eventpipe.runtime.durable import atomic_file

#: label rows: 0-based class id, window start and end (us, end exclusive), file row order
LABELS_DTYPE = np.dtype([("class_id", "<i2"), ("start", "<i8"), ("end", "<i8")])

#: the header row of every label file
LABEL_HEADER = ("class", "startTime_usec", "endTime_usec")

#: largest label file read (bytes); a real one is ~300 bytes
MAX_LABEL_BYTES = 1 << 16

#: overlaps the official archive itself has: (stem, class of the earlier window, class of the
#: later one), 1-based classes. spikingjelly's DVS128Gesture notes that in
#: user22_led_labels.csv the end of class 9 lies after the start of class 10.
KNOWN_OVERLAPS: frozenset[tuple[str, int, int]] = frozenset({("user22_led", 9, 10)})

_INT_RE = re.compile(r"[+-]?[0-9]{1,19}")
_INT64_MAX = 2**63 - 1


def _read_text(path: Path) -> str:
    return read_small_text(
        path, max_bytes=MAX_LABEL_BYTES, what="label file", expected="a label CSV"
    )


def _rows(path: Path) -> list[list[str]]:
    """Non-blank CSV rows after checking the header (header excluded)."""
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [r for r in reader if r and any(c.strip() for c in r)]
    except csv.Error as exc:
        raise TagError(f"{path}: line {reader.line_num}: not valid CSV: {exc}") from None
    want = ",".join(LABEL_HEADER)
    if not rows:
        raise TagError(f"{path}: empty; expected the header {want} and label rows")
    head = ",".join(c.strip() for c in rows[0])
    if head != want:
        shown = head if len(head) <= 80 else head[:80] + "..."
        raise TagError(f"{path}: header is {shown!r}; expected {want!r}")
    if not 1 <= len(rows) - 1 <= SAMPLE_ID_STRIDE:
        raise TagError(
            f"{path}: {len(rows) - 1} data rows; expected 1 to {SAMPLE_ID_STRIDE} label rows"
        )
    return rows[1:]


def _parse_row(where: str, cells: list[str]) -> tuple[int, int, int]:
    """``(class, start, end)`` of one data row, checked (rules 2 and 3)."""
    if len(cells) != 3:
        raise TagError(f"{where}: {len(cells)} cells; expected 3 ({','.join(LABEL_HEADER)})")
    values = []
    for name, cell in zip(LABEL_HEADER, cells):
        s = cell.strip()
        if not _INT_RE.fullmatch(s) or abs(int(s)) > _INT64_MAX:
            shown = s if len(s) <= 40 else s[:40] + "..."
            raise TagError(f"{where}: {name} {shown!r} is not an integer (64-bit)")
        values.append(int(s))
    cls, start, end = values
    if not 1 <= cls <= N_CLASSES:
        raise TagError(f"{where}: class {cls} out of range; expected 1..{N_CLASSES}")
    if start < 0:
        raise TagError(f"{where}: startTime_usec {start} is negative; expected >= 0")
    if end <= start:
        raise TagError(
            f"{where}: window [{start}, {end}) us is reversed or empty; expected "
            "startTime_usec < endTime_usec"
        )
    return cls, start, end


def _check_overlaps(path: Path, labels: np.ndarray, stem: str | None, allow: bool) -> None:
    """Rule 5: in start order, no window starts before the previous one ends."""
    order = np.argsort(labels["start"], kind="stable")
    for a, b in itertools.pairwise(order):
        prev, cur = labels[a], labels[b]
        if int(cur["start"]) >= int(prev["end"]) or allow:
            continue
        pair = (stem or "", int(prev["class_id"]) + 1, int(cur["class_id"]) + 1)
        if pair in KNOWN_OVERLAPS:
            continue
        raise TagError(
            f"{path}: data row {b + 1}: window [{int(cur['start'])}, {int(cur['end'])}) us "
            f"overlaps data row {a + 1} (ends at {int(prev['end'])} us); expected "
            "non-overlapping windows"
        )


def read_labels(
    path: str | os.PathLike, *, stem: str | None = None, allow_overlap: bool = False
) -> np.ndarray:
    """Read and validate one label CSV.

    Args:
        path: the ``<stem>_labels.csv`` file.
        stem: the recording's name (``user22_led``), for :data:`KNOWN_OVERLAPS`; default: taken
            from the file name.
        allow_overlap: accept any overlapping windows (rule 5 off).

    Returns:
        ``[n]`` :data:`LABELS_DTYPE` in file row order (``class_id`` 0-based, times in us).

    Raises:
        TagError: naming the file, the 1-based data row and the broken rule.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "user01_lab_labels.csv")
    >>> rows = np.array([(7, 10, 20), (7, 20, 30)], dtype=LABELS_DTYPE)
    >>> write_labels(p, rows)
    >>> read_labels(p)["class_id"].tolist()
    [7, 7]
    """
    path = Path(path)
    if stem is None and path.name.endswith("_labels.csv"):
        stem = path.name[: -len("_labels.csv")]
    rows = _rows(path)
    out = np.zeros(len(rows), dtype=LABELS_DTYPE)
    for i, cells in enumerate(rows):
        cls, start, end = _parse_row(f"{path}: data row {i + 1}", cells)
        out[i] = (cls - 1, start, end)
    _check_overlaps(path, out, stem, allow_overlap)
    return out


def write_labels(path: str | os.PathLike, labels: np.ndarray, *, newline: str = "\n") -> None:
    """Write a label CSV (header + one row per entry, class 1-based), atomically.

    Args:
        path: output ``<stem>_labels.csv``.
        labels: rows with fields ``class_id`` (0-based), ``start``, ``end`` (us), written in the
            given order; not validated (:func:`read_labels` checks).
        newline: ``"\\n"`` (as in the archive) or ``"\\r\\n"``.
    """
    lines = [",".join(LABEL_HEADER)]
    lines += [f"{int(r['class_id']) + 1},{int(r['start'])},{int(r['end'])}" for r in labels]
    with atomic_file(Path(path), "w", encoding="ascii", newline="") as fh:
        fh.write(newline.join(lines) + newline)


__all__ = [
    "KNOWN_OVERLAPS",
    "LABELS_DTYPE",
    "LABEL_HEADER",
    "MAX_LABEL_BYTES",
    "read_labels",
    "write_labels",
]
