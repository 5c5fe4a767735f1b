"""Where a reader decodes its events: the caller's buffer or a new array (one rule for every
reader).

A build worker passes the same buffer to every recording it reads, so the pages are reused (see
:func:`eventpipe.build.stages.process_recording`): either a 1-D
:data:`~eventpipe.events.EVENT_DTYPE` array, or a mapping of 1-D columns ``x, y, t, p``
(int16, int16, int64, uint8; contiguous columns make the events stage ~15% faster than the
fields of a structured array).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from eventpipe.events import EVENT_DTYPE

Buffer = np.ndarray | Mapping[str, np.ndarray] | None


def _column(columns: Mapping[str, np.ndarray], key: str, n: int) -> np.ndarray:
    """The first ``n`` elements of ``columns[key]`` (checked: 1-D, writable, EVENT_DTYPE's
    field dtype)."""
    a = columns[key]
    want = EVENT_DTYPE[key]
    if a.dtype != want or a.ndim != 1 or len(a) < n or not a.flags.writeable:
        raise ValueError(
            f"buffer column {key!r} must be a writable 1-D {want} array of >= {n} elements"
        )
    return a[:n]


def decode_target(buffer: Buffer, n: int) -> np.ndarray | dict[str, np.ndarray]:
    """Room for ``n`` events: a dict of the first ``n`` elements of ``buffer``'s columns (a
    mapping; ValueError naming a column of the wrong dtype, shape or length), the first ``n``
    elements of an EVENT_DTYPE ``buffer`` that is long enough, or a new EVENT_DTYPE array.
    Index the result by field name either way (``out["t"][a:b] = ...``)."""
    if isinstance(buffer, Mapping):
        return {k: _column(buffer, k, n) for k in EVENT_DTYPE.names}
    if buffer is not None and buffer.dtype == EVENT_DTYPE and buffer.ndim == 1 and len(buffer) >= n:
        return buffer[:n]
    return np.empty(n, dtype=EVENT_DTYPE)


def trimmed(out: np.ndarray | Mapping[str, np.ndarray], n: int):
    """The first ``n`` events of a :func:`decode_target` result (views)."""
    if isinstance(out, Mapping):
        return {k: v[:n] for k, v in out.items()}
    return out[:n]


__all__ = ["Buffer", "decode_target", "trimmed"]
