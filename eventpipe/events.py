"""Event arrays and the DVS128 sensor: the generic event dtype and its helpers.

Events are numpy structured arrays with tonic's field names and dtypes, time in microseconds::

    EVENT_DTYPE = [("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "u1")]

so any array produced by eventpipe can be passed straight to a tonic transform.
``sensor_size`` is ``(W, H, P)`` as in tonic; dense frames are ``[T, P, H, W]``.
A dataset's classes and groups are not here but in its package, found by name through
:func:`eventpipe.datasets.get` (``datasets.get("slanimals").classes``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from eventpipe.errors import FormatError

#: tonic-compatible event dtype, explicit little-endian, t in microseconds.
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "u1")])

#: DVS128: width, height, polarities (tonic order).
DVS128_SENSOR_SIZE: tuple[int, int, int] = (128, 128, 2)


def empty_events(n: int = 0) -> np.ndarray:
    """Return a zero-filled event array of length ``n`` with :data:`EVENT_DTYPE`."""
    return np.zeros(n, dtype=EVENT_DTYPE)


def make_events(x, y, t, p) -> np.ndarray:
    """Pack four equal-length 1-D arrays into an :data:`EVENT_DTYPE` array.

    >>> ev = make_events([1, 2], [3, 4], [10, 20], [0, 1])
    >>> ev["t"].tolist()
    [10, 20]
    """
    x, y, t, p = (np.asarray(a) for a in (x, y, t, p))
    n = len(t)
    if not (len(x) == len(y) == len(p) == n):
        lengths = (len(x), len(y), n, len(p))
        raise ValueError(f"x, y, t, p must have equal lengths, got {lengths}")
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
    return ev


def event_columns(
    events: Mapping[str, np.ndarray], *, where: str = "events"
) -> dict[str, np.ndarray]:
    """The columns ``x, y, t, p`` of a mapping of 1-D event columns (other keys dropped).

    Raises :class:`~eventpipe.errors.FormatError` naming the missing fields.
    """
    _require_fields(set(events), where)
    return {k: events[k] for k in ("x", "y", "t", "p")}


def _require_fields(names: set, where: str) -> None:
    missing = {"x", "y", "t", "p"} - names
    if missing:
        raise FormatError(f"{where}: missing event fields {sorted(missing)}; got {sorted(names)}")


def as_events(
    events: np.ndarray | Mapping[str, np.ndarray], *, where: str = "events"
) -> np.ndarray:
    """Normalise any structured array with fields x, y, t, p, or a mapping of such 1-D
    columns, to :data:`EVENT_DTYPE` (an ``EVENT_DTYPE`` array is returned as it is).

    Raises :class:`~eventpipe.errors.FormatError` naming the missing fields.
    """
    if isinstance(events, Mapping):
        cols = event_columns(events, where=where)
        return make_events(cols["x"], cols["y"], cols["t"], cols["p"])
    events = np.asarray(events)
    _require_fields(set(events.dtype.names or ()), where)
    if events.dtype == EVENT_DTYPE:
        return events
    return make_events(events["x"], events["y"], events["t"], events["p"])
