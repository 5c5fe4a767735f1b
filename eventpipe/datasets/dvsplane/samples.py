"""Reading one DVSPlane recording (a ``.mat`` file) and its one sample.

:func:`read_recording` reads the file's ``TD`` struct (:func:`eventpipe.io.matlab_td.read_td_mat`,
MAT v5/v7 or v7.3); :func:`samples` returns the whole recording as one sample, on the file's own
clock (``t`` = ``TD.ts`` in us, as recorded; a profile's events stage re-zeroes it). A file
without events gives a sample with ``n_events = 0`` and ``t_start_us = t_end_us = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eventpipe.datasets.base import SampleMeta
from eventpipe.datasets.dvsplane.layout import PlaneFile


def max_events(rec: PlaneFile) -> int:
    """The events to reserve for ``rec``: exact for a v7.3 file (its dataset shape), 0 for a
    v5/v7 file, whose length is known only after decompressing it (the reader then decodes
    into new columns instead of the build's buffer)."""
    from eventpipe.io.matlab_td import td_length

    return td_length(rec.path) or 0


def read_recording(
    rec: PlaneFile, orientation: str = "published", buffer: Any = None
) -> np.ndarray | dict[str, np.ndarray]:
    """The events of ``rec``'s file in file order (``x, y`` 0-based, ``t`` us, ``p`` 0/1).

    Args:
        rec: the recording.
        orientation: must be ``"published"`` (DVSPlane has one orientation).
        buffer: columns ``x, y, t, p`` (or an EVENT_DTYPE array) to decode into when they have
            room; otherwise a new EVENT_DTYPE array is returned.

    Raises:
        FormatError: the file is not a MATLAB TD file or holds a bad value (naming the key).
        ValueError: another orientation.
    """
    from eventpipe.io.matlab_td import read_td_mat

    if orientation != "published":
        raise ValueError(
            f"orientation {orientation!r}: DVSPlane has one orientation; expected 'published'"
        )
    return read_td_mat(rec.path, buffer=buffer)


def samples(rec: PlaneFile, events: Any) -> list[tuple[SampleMeta, Any]]:
    """``[(SampleMeta, events)]``: the recording as its one sample.

    Args:
        rec: the recording.
        events: :func:`read_recording`'s result (columns or a structured array).
    """
    t = events["t"]
    n = len(t)
    meta = SampleMeta(
        sample_id=rec.sample_id,
        recording=rec.stem,
        subject=0,
        group="",
        lighting="",
        class_id=rec.class_id,
        class_name=rec.class_name,
        t_start_us=int(t[0]) if n else 0,
        t_end_us=int(t[-1]) if n else 0,
        n_events=n,
        split=rec.split,
    )
    if isinstance(events, Mapping):
        events = {k: events[k] for k in ("x", "y", "t", "p")}
    return [(meta, events)]


__all__ = ["max_events", "read_recording", "samples"]
