"""First-spike coding's DVSPlane activity clip: keep a recording's high-activity segment.

The published HDF5 conversion of DVSPlane (lsying009/FS_coding ``data_io/make_hdf5.py``,
``clip_events``) trims every recording before binning; its time origin is then the first event
of the kept segment. The rule, on the timestamps ``t`` in ms as float32 (``float32(t_us) /
1000``, as the published code holds them)::

    slope[i] = (t[i + 1000] - t[i]) / 1000          i = 0 .. n - 1001  (ms per event)
    m = 10 * min(slope);  kept = {i : slope[i] < m}
    segment = events[kept[0] : kept[-1]]             (the last kept index excluded)
    if the segment spans more than 300 ms:
        m = m / 2;  kept = {i : slope[i] < m};  segment = events[kept[0] : kept[-1]]
        gaps = positions j in kept where kept[j + 1] - kept[j] > 2
        if a gap position is > 2000: kept = kept[:first such position]; segment as above

Where the published code would fail (fewer than 1001 events, no or one kept index), eventpipe
keeps the whole recording. The arithmetic is float32 as published; ``tests/test_kernels_clip.py``
checks it against a transcription written loop by loop.
"""

from __future__ import annotations

import numpy as np

#: events per sliding window of the published rule
WINDOW = 1000
#: segment length (ms) above which the threshold is halved
LONG_MS = 300
#: gap position (in the kept index list) from which the segment is cut
GAP_FROM = 2000


def activity_clip_bounds(t_us: np.ndarray) -> tuple[int, int]:
    """``(start, stop)``: the event indices ``[start, stop)`` the published clip keeps.

    Args:
        t_us: ``[n]`` timestamps in us, in file order.
    """
    n = len(t_us)
    if n <= WINDOW:
        return 0, n
    t32 = np.asarray(t_us).astype(np.float32)
    ts = t32 / np.float32(1000)
    slope = (ts[WINDOW:] - ts[:-WINDOW]) / np.float32(WINDOW)
    m = np.float32(10) * slope.min()
    kept = np.flatnonzero(slope < m)
    if len(kept) < 2:
        return 0, n
    start, stop = int(kept[0]), int(kept[-1])
    if (t32[stop - 1] - t32[start]) / np.float32(1000) > LONG_MS:
        m = m / np.float32(2)
        kept = np.flatnonzero(slope < m)
        if len(kept) < 2:
            return 0, n
        gaps = np.flatnonzero(np.diff(kept) > 2)
        late = gaps[gaps > GAP_FROM]
        if len(late):
            kept = kept[: int(late[0])]
        if len(kept) < 2:
            return 0, n
        start, stop = int(kept[0]), int(kept[-1])
    return start, stop


__all__ = ["GAP_FROM", "LONG_MS", "WINDOW", "activity_clip_bounds"]
