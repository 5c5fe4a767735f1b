"""Reading one DVS Gesture recording and cutting it into its labelled samples.

Reading: :func:`eventpipe.io.aedat3.read_aedat3` (polarity packets only, invalid events
dropped, ``t = eventTSOverflow << 31 | timestamp`` in us). ``orientation="published"`` keeps
the coordinates as stored (what every published DVS Gesture reader returns).

Slicing: label row ``i`` with window ``[start, end)`` (us) is the events with
``start <= t < end``, found with ``searchsorted`` on ``t``; the events must be time-ordered
(:class:`~eventpipe.errors.FormatError` naming the file and the first event out of order
otherwise). Each window must lie inside the recording's events, ``t_first <= start`` and
``end <= t_last + 1``, and hold at least one event (:class:`~eventpipe.errors.TagError` naming
the label file and row otherwise). Samples keep absolute times.

Sample identity, stable across builds and subsets::

    sample_id = RECORDINGS.index(stem) * 32 + row     (row = 0-based data row of the labels CSV)

>>> import numpy as np
>>> from pathlib import Path
>>> from eventpipe.events import make_events
>>> from eventpipe.datasets.dvsgesture.labels import LABELS_DTYPE
>>> from eventpipe.datasets.dvsgesture.layout import GestureRecording
>>> rec = GestureRecording("user01_lab", 1, "lab", "train", 2, Path("a"), Path("b"), Path("c"))
>>> ev = make_events(np.zeros(10), np.zeros(10), np.arange(10) * 100, np.zeros(10))
>>> labels = np.array([(0, 0, 250), (7, 250, 901)], dtype=LABELS_DTYPE)
>>> meta, sample = slice_recording(rec, ev, labels)[1]
>>> meta.sample_id, meta.class_name, meta.t_start_us, meta.t_end_us, meta.n_events
(65, 'arm_roll', 300, 900, 7)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eventpipe.datasets.base import SampleMeta
from eventpipe.datasets.dvsgesture.facts import CLASS_NAMES, SAMPLE_ID_STRIDE
from eventpipe.errors import FormatError, TagError
from eventpipe.events import as_events, event_columns

#: bytes per polarity event on disk (an upper bound on events = file size / 8)
EVENT_BYTES = 8


def max_events(rec: Any) -> int:
    """An upper bound on the recording's event count: its file size / 8 bytes."""
    return rec.aedat.stat().st_size // EVENT_BYTES


def read_recording(
    rec: Any, orientation: str = "published", buffer: Any = None
) -> np.ndarray | dict[str, np.ndarray]:
    """The recording's valid polarity events in file order.

    Args:
        rec: a :class:`~eventpipe.datasets.dvsgesture.layout.GestureRecording`.
        orientation: ``"published"`` (as stored) or ``"jaer"`` (see :mod:`eventpipe.io.aedat3`).
        buffer: ``None``, an EVENT_DTYPE array or a mapping of 1-D columns ``x, y, t, p``
            with room for :func:`max_events` events, decoded into
            (:func:`eventpipe.io.aedat3.read_aedat3`).

    Returns:
        ``[n]`` :data:`~eventpipe.events.EVENT_DTYPE` array, or a dict of column views.
    """
    from eventpipe.io.aedat3 import read_aedat3

    return read_aedat3(rec.aedat, orientation, buffer=buffer)


def check_time_order(t: np.ndarray, where: str) -> None:
    """FormatError naming ``where`` and the first event whose time goes backwards."""
    if len(t) > 1:
        back = np.flatnonzero(t[1:] < t[:-1])
        if len(back):
            i = int(back[0]) + 1
            raise FormatError(
                f"{where}: event {i} (t={int(t[i])} us) is earlier than event {i - 1} "
                f"(t={int(t[i - 1])} us); expected time-ordered events"
            )


def _check_window(rec: Any, row: int, start: int, end: int, t: np.ndarray, count: int) -> None:
    """TagError unless ``[start, end)`` lies inside the events and holds at least one."""
    where = f"{rec.labels}: data row {row + 1}"
    t0, t1 = int(t[0]), int(t[-1])
    if start < t0 or end > t1 + 1:
        raise TagError(
            f"{where}: window [{start}, {end}) us is outside the recording's events "
            f"[{t0}, {t1}] us ({rec.aedat.name}); expected a window inside them"
        )
    if count == 0:
        raise TagError(f"{where}: window [{start}, {end}) us holds no event; expected >= 1")


def slice_recording(
    rec: Any, events: Any, labels: np.ndarray | None = None
) -> list[tuple[SampleMeta, Any]]:
    """Cut one recording into one sample per label row, in row order.

    Args:
        rec: a :class:`~eventpipe.datasets.dvsgesture.layout.GestureRecording`.
        events: its events, an array with fields x, y, t, p or a mapping of 1-D columns (extra
            keys ignored); ``t`` in us, time-ordered.
        labels: :data:`~eventpipe.datasets.dvsgesture.labels.LABELS_DTYPE` rows; read and
            validated from ``rec.labels`` when None.

    Returns:
        ``[(SampleMeta, events of the sample)]``: views into ``events`` (a dict of column views
        for a mapping) with absolute times.

    Raises:
        FormatError: events not time-ordered. TagError: a bad label file or a window outside
            the events or without events (naming the label file and row).
    """
    from eventpipe.datasets.dvsgesture.labels import read_labels

    columns = isinstance(events, Mapping)
    where = str(rec.aedat)
    events = event_columns(events, where=where) if columns else as_events(events, where=where)
    if labels is None:
        labels = read_labels(rec.labels, stem=rec.stem)
    if len(labels) > SAMPLE_ID_STRIDE:
        raise TagError(f"{rec.labels}: {len(labels)} rows; expected at most {SAMPLE_ID_STRIDE}")
    t = events["t"]
    if len(t) == 0:
        raise FormatError(f"{where}: no events")
    check_time_order(t, where)
    lo = np.searchsorted(t, labels["start"], side="left")
    hi = np.searchsorted(t, labels["end"], side="left")
    out = []
    for i, row in enumerate(labels):
        a, b = int(lo[i]), int(hi[i])
        _check_window(rec, i, int(row["start"]), int(row["end"]), t, b - a)
        cls = int(row["class_id"])
        meta = SampleMeta(
            sample_id=rec.index * SAMPLE_ID_STRIDE + i,
            recording=rec.stem,
            subject=int(rec.subject),
            group="",
            lighting=rec.lighting,
            class_id=cls,
            class_name=CLASS_NAMES[cls],
            t_start_us=int(t[a]),
            t_end_us=int(t[b - 1]),
            n_events=b - a,
            split=rec.split,
        )
        sample = {k: c[a:b] for k, c in events.items()} if columns else events[a:b]
        out.append((meta, sample))
    return out


__all__ = ["check_time_order", "max_events", "read_recording", "slice_recording"]
