"""Cutting a recording into its 19 samples with its tag file.

A tag row ``(class, start, end)`` selects the events ``events[start:end]`` of the recording (event
indices, end exclusive, in the order the reader returns them). Each sample keeps its absolute
device-clock times (microseconds); re-zeroing is a later stage.

Sample identity is stable across subsets and builds::

    sample_id = STEMS.index(stem) * 19 + row     (row = 0-based data row of the tag file)

``t_start_us`` / ``t_end_us`` are the times of the sample's first and last event (inclusive), so
the sample length is ``t_end_us - t_start_us``.

>>> import numpy as np
>>> from pathlib import Path
>>> from eventpipe.events import make_events
>>> from eventpipe.datasets.slanimals.layout import RecordingFiles
>>> from eventpipe.datasets.slanimals.tags import TAGS_DTYPE
>>> rec = RecordingFiles("user25_imse", 25, "S1", "daylight", Path("-"), Path("-"))
>>> ev = make_events(np.zeros(40), np.zeros(40), np.arange(40) * 10, np.zeros(40))
>>> tags = np.zeros(19, TAGS_DTYPE)
>>> tags["class_id"] = np.arange(19); tags["start"] = np.arange(19) * 2
>>> tags["end"] = tags["start"] + 2
>>> meta, sample = slice_recording(rec, events=ev, tags=tags)[3]
>>> meta.sample_id, meta.class_name, meta.t_start_us, meta.t_end_us, meta.n_events
(459, 'cow', 60, 70, 2)
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

import numpy as np

from eventpipe.datasets.base import SampleMeta
from eventpipe.datasets.slanimals.facts import CLASS_NAMES, SAMPLES_PER_RECORDING, STEMS
from eventpipe.errors import TagError
from eventpipe.events import as_events, event_columns


def _check_tags(where: str, tags: np.ndarray, n_events: int) -> None:
    """Raise TagError unless every row selects a non-empty range inside the recording."""
    for i, row in enumerate(tags):
        start, end, cls = int(row["start"]), int(row["end"]), int(row["class_id"])
        at = f"{where}: data row {i + 1} (class {cls + 1})"
        if not 0 <= cls < len(CLASS_NAMES):
            raise TagError(f"{at}: class out of range; expected 1..{len(CLASS_NAMES)}")
        if start < 0 or end > n_events:
            raise TagError(
                f"{at}: event range [{start}, {end}) outside the recording's {n_events} events; "
                f"expected 0 <= start and end <= {n_events}"
            )
        if end <= start:
            raise TagError(f"{at}: empty sample [{start}, {end}); expected start < end")


def slice_recording(
    rec, events: np.ndarray | None = None, tags: np.ndarray | None = None
) -> list[tuple[SampleMeta, np.ndarray]]:
    """Cut one recording into its samples, in tag-file row order.

    Args:
        rec: :class:`eventpipe.io.RecordingFiles` (stem, subject, group, lighting, aedat, tags).
        events: the recording's events (:data:`~eventpipe.events.EVENT_DTYPE` or any array with
            fields x, y, t, p, or a mapping of 1-D columns x, y, t, p); read from ``rec.aedat``
            when None.
        tags: tag rows (:data:`eventpipe.io.TAGS_DTYPE`: 0-based ``class_id``, ``start``,
            ``end``); read and validated from ``rec.tags`` when None.

    Returns:
        list of ``(SampleMeta, events[start:end])``; the arrays are views into ``events``
        with absolute times (for columns: a dict of column views per sample).

    Raises:
        TagError: a row outside ``[0, n_events]``, an empty sample, a class out of range, or a
            stem that is not one of the published recordings. The message names the tag file
            and the data row.
    """
    from eventpipe.datasets.slanimals.tags import read_tags
    from eventpipe.io import read_events

    if events is None:
        events = read_events(rec.aedat)
    columns = isinstance(events, Mapping)
    if columns:
        events = event_columns(events, where=str(rec.aedat))
    else:
        events = as_events(events, where=str(rec.aedat))
    n = len(events["t"])
    if tags is None:
        tags = read_tags(rec.tags, n_events=n)
    tags = np.asarray(tags)
    where = str(rec.tags)
    if rec.stem not in STEMS:
        raise TagError(f"{where}: recording {rec.stem!r} is not one of the 59 published stems")
    if len(tags) > SAMPLES_PER_RECORDING:
        raise TagError(f"{where}: {len(tags)} tag rows; expected at most {SAMPLES_PER_RECORDING}")
    _check_tags(where, tags, n)
    base = STEMS.index(rec.stem) * SAMPLES_PER_RECORDING
    t = events["t"]
    out = []
    for i, row in enumerate(tags):
        start, end, cls = int(row["start"]), int(row["end"]), int(row["class_id"])
        meta = SampleMeta(
            sample_id=base + i,
            recording=rec.stem,
            subject=int(rec.subject),
            group=str(rec.group),
            lighting=str(rec.lighting),
            class_id=cls,
            class_name=CLASS_NAMES[cls],
            t_start_us=int(t[start]),
            t_end_us=int(t[end - 1]),
            n_events=end - start,
        )
        if columns:
            out.append((meta, {k: c[start:end] for k, c in events.items()}))
        else:
            out.append((meta, events[start:end]))
    return out


def iter_samples(
    raw_dir: str | os.PathLike, subset: str = "full", strict: bool = True
) -> Iterator[tuple[SampleMeta, np.ndarray]]:
    """Every sample of a raw directory, recording by recording in ``STEMS`` order.

    Reads one recording at a time (memory: one recording's events).

    >>> # for meta, ev in iter_samples("data/raw", subset="reduced"): ...
    """
    from eventpipe.datasets.slanimals.layout import discover

    for rec in discover(raw_dir, subset=subset, strict=strict):
        yield from slice_recording(rec)


__all__ = ["SampleMeta", "iter_samples", "slice_recording"]
