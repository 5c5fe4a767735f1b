"""SL-Animals-DVS tag files: which event indices of a recording belong to which gesture.

One CSV per recording (``tags_updated_19_08_2020/<stem>.csv``)::

    class,startTime_ev,endTime_ev
    1,12345,67890
    ...                     (19 rows)

``class`` is 1..19 (CSV, 1-based; :data:`~eventpipe.datasets.slanimals.facts.CLASS_NAMES` index =
class - 1); the other two columns are **event indices** into the recording as the published
reader returns it, ``[start, end)`` (end exclusive), not times.

Rules :func:`read_tags` enforces (each failure is a :class:`~eventpipe.errors.TagError` naming the
file, the 1-based data row and the CSV line number, and the rule):

1. the first non-blank line is exactly the header ``class,startTime_ev,endTime_ev`` (cells are
   stripped of whitespace; a UTF-8 BOM is ignored);
2. every data row has 3 cells, each a base-10 integer (ASCII digits, surrounding whitespace
   allowed) that fits in int64;
3. exactly 19 data rows; blank lines (e.g. a trailing newline) are ignored; ``\\r\\n`` is fine;
4. classes 1..19, each exactly once;
5. ``0 <= start < end``, and ``end <= n_events`` when ``n_events`` is given;
6. rows ordered by ``start`` and not overlapping (``start[i] >= end[i-1]``).

Bad input of any kind (random bytes, a recording passed by mistake, a FIFO) raises
:class:`~eventpipe.errors.TagError` and nothing else; files over :data:`MAX_TAG_BYTES` (1 MiB) and
non-regular files are refused before reading, so time and memory stay bounded.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import numpy as np

from eventpipe.datasets.slanimals.facts import N_CLASSES
from eventpipe.datasets.textfiles import read_small_text
from eventpipe.errors import TagError
from eventpipe.runtime.durable import atomic_file

#: Tag rows: 0-based class id, start and end event indices (end exclusive), file row order.
TAGS_DTYPE = np.dtype([("class_id", "<i2"), ("start", "<i8"), ("end", "<i8")])

_INT_RE = re.compile(r"[+-]?[0-9]+")

#: Largest tag file read (bytes). A real one is ~300 bytes (20 short lines); anything this big is
#: not a tag file, and refusing it keeps memory and time bounded whatever path is passed in.
MAX_TAG_BYTES = 1 << 20

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

#: The header row of every tag file.
TAG_HEADER = ("class", "startTime_ev", "endTime_ev")


def _parse_int(cell: str) -> int | None:
    """Base-10 integer in ``cell`` (whitespace stripped), ``None`` if it is not one.

    More than 19 significant digits is always outside int64: such cells return ``2**64`` (with
    their sign) instead of being converted, so a 5000-digit cell costs nothing and trips the range
    check rather than Python's int-from-string digit limit.
    """
    s = cell.strip()
    if not _INT_RE.fullmatch(s):
        return None
    if len(s.lstrip("+-").lstrip("0")) > 19:
        return -(2**64) if s.startswith("-") else 2**64
    return int(s)


def _show(cell: str, limit: int = 40) -> str:
    """``repr`` of a stripped cell, shortened for messages."""
    s = cell.strip()
    return repr(s) if len(s) <= limit else repr(s[:limit]) + f"... ({len(s)} characters)"


def _read_text(path: Path) -> str:
    return read_small_text(
        path, max_bytes=MAX_TAG_BYTES, what="tag file", expected="a tag CSV of 20 short lines"
    )


def read_tags(
    path: str | os.PathLike, n_events: int | None = None, *, check_order: bool = True
) -> np.ndarray:
    """Read and validate one tag CSV.

    Args:
        path: the ``.csv`` file.
        n_events: number of events in the matching recording; when given, every ``end`` must be
            ``<= n_events``.
        check_order: enforce rule 6 (rows ordered by start, non-overlapping).

    Returns:
        ``[19]`` array of :data:`TAGS_DTYPE` in file row order (``class_id`` 0-based).

    Raises:
        TagError: naming the file, data row, CSV line and broken rule (module docstring).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> tags = np.zeros(19, dtype=TAGS_DTYPE)
    >>> tags["class_id"] = np.arange(19); tags["start"] = np.arange(19) * 10
    >>> tags["end"] = tags["start"] + 5
    >>> write_tags(p, tags)
    >>> read_tags(p, n_events=200)["end"][-1].item()
    185
    """
    path = Path(path)
    data = _data_rows(path)
    out = np.zeros(N_CLASSES, dtype=TAGS_DTYPE)
    seen: dict[int, int] = {}
    for i, (line, cells) in enumerate(data):
        where = f"{path}: data row {i + 1} (line {line})"
        cls, start, end = _parse_row(where, cells)
        if not 1 <= cls <= N_CLASSES:
            raise TagError(f"{where}: class {cls} out of range; expected 1..{N_CLASSES}")
        if cls in seen:
            raise TagError(f"{where}: class {cls} repeated (first on data row {seen[cls]})")
        seen[cls] = i + 1
        _check_range(where, start, end, n_events)
        if check_order and i > 0:
            _check_order(where, start, end, int(out["start"][i - 1]), int(out["end"][i - 1]))
        out[i] = (cls - 1, start, end)
    return out


def _data_rows(path: Path) -> list[tuple[int, list[str]]]:
    """``(1-based CSV line, cells)`` of the 19 data rows, after checking the header and the
    row count; later rows are only counted, so a long file costs no memory beyond its text."""
    text = _read_text(path)
    rows: list[tuple[int, list[str]]] = []
    n_rows = 0
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            n_rows += 1
            if len(rows) <= N_CLASSES:
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise TagError(f"{path}: line {reader.line_num}: not valid CSV: {exc}") from None
    del text

    if not rows:
        raise TagError(f"{path}: empty; expected header {','.join(TAG_HEADER)} and 19 rows")
    line0, head = rows[0]
    if tuple(c.strip() for c in head) != TAG_HEADER:
        raise TagError(
            f"{path}: line {line0}: header is {_show(','.join(head), 200)}; "
            f"expected {','.join(TAG_HEADER)!r}"
        )
    if n_rows - 1 != N_CLASSES:
        raise TagError(
            f"{path}: {n_rows - 1} data rows; expected exactly {N_CLASSES} (one per class)"
        )
    return rows[1:]


def _parse_row(where: str, cells: list[str]) -> tuple[int, int, int]:
    """``(class, start, end)`` of one data row, as 64-bit integers."""
    if len(cells) != 3:
        raise TagError(f"{where}: {len(cells)} cells; expected 3 ({','.join(TAG_HEADER)})")
    values = [_parse_int(c) for c in cells]
    for name, cell, v in zip(TAG_HEADER, cells, values):
        if v is None:
            raise TagError(f"{where}: {name} {_show(cell)} is not an integer")
        if not _INT64_MIN <= v <= _INT64_MAX:
            raise TagError(
                f"{where}: {name} {_show(cell)} is out of range; expected a 64-bit integer"
            )
    cls, start, end = values
    assert cls is not None and start is not None and end is not None
    return cls, start, end


def _check_range(where: str, start: int, end: int, n_events: int | None) -> None:
    """``0 <= start < end`` (end exclusive) and ``end <= n_events`` when known."""
    if start < 0:
        raise TagError(f"{where}: startTime_ev {start} is negative; expected >= 0")
    if end <= start:
        raise TagError(
            f"{where}: endTime_ev {end} <= startTime_ev {start}; expected start < end "
            "(end is exclusive)"
        )
    if n_events is not None and end > n_events:
        raise TagError(
            f"{where}: endTime_ev {end} exceeds the recording's {n_events} events; "
            f"expected end <= {n_events}"
        )


def _check_order(where: str, start: int, end: int, prev_start: int, prev_end: int) -> None:
    """Rows ordered by start and not overlapping the previous row."""
    if start < prev_start:
        raise TagError(
            f"{where}: startTime_ev {start} < previous row's {prev_start}; expected rows "
            "ordered by start"
        )
    if start < prev_end:
        raise TagError(
            f"{where}: overlaps the previous row ([{start}, {end}) starts before its "
            f"end {prev_end}); expected non-overlapping rows"
        )


def write_tags(path: str | os.PathLike, tags: np.ndarray, *, newline: str = "\n") -> None:
    """Write a tag CSV (header + one row per entry, class 1-based), atomically.

    Args:
        path: output ``.csv``.
        tags: array with fields ``class_id`` (0-based), ``start``, ``end`` (event indices, end
            exclusive), written in the given order. Not validated: use :func:`read_tags` to check.
        newline: ``"\\n"`` or ``"\\r\\n"``.
    """
    path = Path(path)
    lines = [",".join(TAG_HEADER)]
    lines += [f"{int(r['class_id']) + 1},{int(r['start'])},{int(r['end'])}" for r in tags]
    with atomic_file(path, "w", encoding="ascii", newline="") as fh:
        fh.write(newline.join(lines) + newline)


__all__ = ["MAX_TAG_BYTES", "TAGS_DTYPE", "TAG_HEADER", "read_tags", "write_tags"]
