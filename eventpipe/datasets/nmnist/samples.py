"""Reading one N-MNIST recording (a digit folder) and cutting it into its samples (one per file).

:func:`read_recording` reads every file of the folder with the bulk reader
(:func:`eventpipe.io.nmnist.read_nmnist_files`) and returns the columns ``x, y, t, p`` plus
``file_offsets`` (int64 ``[n_files + 1]``): file ``i``'s events are
``[file_offsets[i], file_offsets[i + 1])``. :func:`samples` turns that into one
``(SampleMeta, events)`` per file, in file-name order, with each file's own clock (``t`` in us
from the file's start, as recorded); a file without events gives a sample with
``n_events = 0`` and ``t_start_us = t_end_us = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eventpipe.datasets.base import SampleMeta
from eventpipe.datasets.nmnist.facts import CLASS_NAMES
from eventpipe.datasets.nmnist.layout import DigitFolder
from eventpipe.events import event_columns

#: the extra key :func:`read_recording` adds to its columns
OFFSETS_KEY = "file_offsets"
#: the files' bytes of the last folder read into a caller's buffer (a build worker reads one
#: folder after another: reusing the pages saves a fault per page, see
#: :func:`eventpipe.io.nmnist.read_bytes`)
_SCRATCH = np.zeros(0, np.uint8)


def max_events(rec: DigitFolder) -> int:
    """An upper bound on the recording's events: its total bytes // 5."""
    return sum(f.stat().st_size for f in rec.files) // 5


def read_recording(
    rec: DigitFolder, orientation: str = "published", buffer: Any = None
) -> dict[str, np.ndarray]:
    """Read every file of ``rec`` in one pass.

    Args:
        rec: the digit folder.
        orientation: must be ``"published"`` (N-MNIST has one orientation).
        buffer: columns ``x, y, t, p`` sized by :func:`max_events` to decode into, or None.
            With a buffer the files' bytes are read into one array kept for the next call
            (the caller manages memory, as the build's workers do).

    Returns:
        dict of the columns (views of ``buffer`` when given) and ``file_offsets``.

    Raises:
        FormatError: a file of the wrong length or with a coordinate outside 34 x 34.
        ValueError: another orientation.
    """
    from eventpipe.io.nmnist import read_nmnist_files

    if orientation != "published":
        raise ValueError(
            f"orientation {orientation!r}: N-MNIST has one orientation; expected 'published'"
        )
    global _SCRATCH
    if buffer is None:
        cols, offsets = read_nmnist_files(rec.files)
        return {**cols, OFFSETS_KEY: offsets}
    need = 5 * len(buffer["t"] if isinstance(buffer, Mapping) else buffer)  # sized by max_events
    if len(_SCRATCH) < need:
        _SCRATCH = np.empty(need + need // 4, np.uint8)
    cols, offsets = read_nmnist_files(rec.files, buffer=buffer, scratch=_SCRATCH)
    return {**cols, OFFSETS_KEY: offsets}


def _offsets(rec: DigitFolder, events: Any, n: int) -> np.ndarray:
    """The per-file offsets carried with ``events``, or read again from the files."""
    if isinstance(events, Mapping) and OFFSETS_KEY in events:
        offsets = np.asarray(events[OFFSETS_KEY], np.int64)
    else:
        offsets = read_recording(rec)[OFFSETS_KEY]
    if len(offsets) != len(rec.files) + 1 or offsets[-1] != n:
        raise ValueError(
            f"{rec.folder}: {n} events do not match the {len(rec.files)} files' offsets "
            f"(ending at {int(offsets[-1])}); pass read_recording's result unchanged"
        )
    return offsets


def samples(rec: DigitFolder, events: Any) -> list[tuple[SampleMeta, Any]]:
    """One ``(SampleMeta, events)`` per file of ``rec``, in file order.

    Args:
        rec: the digit folder.
        events: :func:`read_recording`'s dict (columns + ``file_offsets``), or any events of
            the recording (a structured array or columns; offsets are then read again).

    Returns:
        list of ``(meta, sample)``: ``sample`` is a dict of column views for column input,
        else a view of the structured array.
    """
    columns = isinstance(events, Mapping)
    ev = event_columns(events, where=str(rec.folder)) if columns else events
    t = ev["t"]
    offsets = _offsets(rec, events, len(t))
    out = []
    for i, sid in enumerate(rec.sample_ids):
        a, b = int(offsets[i]), int(offsets[i + 1])
        meta = SampleMeta(
            sample_id=sid,
            recording=rec.stem,
            subject=0,
            group="",
            lighting="",
            class_id=rec.class_id,
            class_name=CLASS_NAMES[rec.class_id],
            t_start_us=int(t[a]) if b > a else 0,
            t_end_us=int(t[b - 1]) if b > a else 0,
            n_events=b - a,
            split=rec.split,
        )
        part = {k: v[a:b] for k, v in ev.items()} if columns else ev[a:b]
        out.append((meta, part))
    return out


__all__ = ["OFFSETS_KEY", "max_events", "read_recording", "samples"]
