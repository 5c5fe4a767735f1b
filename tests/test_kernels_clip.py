"""DVSPlane's activity clip against a loop-by-loop transcription of the published rule
(lsying009/FS_coding data_io/make_hdf5.py clip_events), on random and bursty recordings."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.kernels.clip import activity_clip_bounds


def clip_reference(t_us: np.ndarray) -> tuple[int, int]:
    """The published clip as written (float32 times, a Python list of window slopes); returns
    the kept [start, stop) indices, (0, n) where the published code would fail."""
    events_t = np.asarray(t_us).astype(np.float32)  # column 0 of the float32 events array
    ts = events_t / 1000
    win = 1000
    if len(ts) <= win:
        return 0, len(ts)
    slope = np.stack([ts[i + win] - ts[i] for i in range(len(ts) - win)]) / win
    m_val = 10 * slope.min()
    idx = np.where(slope < m_val)[0]
    if len(idx) < 2:
        return 0, len(ts)
    start, stop = idx[0], idx[-1]
    if (events_t[stop - 1] - events_t[start]) / 1000 > 300:
        m_val /= 2
        idx = np.where(slope < m_val)[0]
        if len(idx) < 2:
            return 0, len(ts)
        gap = np.where(idx[1:] - idx[:-1] > 2)[0]
        if len(gap) > 0 and (gap > 2000).any():
            idx = idx[: gap[gap > 2000][0]]
        if len(idx) < 2:
            return 0, len(ts)
        start, stop = idx[0], idx[-1]
    return int(start), int(stop)


def _recording(seed: int, n_quiet: int, n_burst: int, quiet_us: int, burst_us: int, tail: int):
    """Quiet lead-in, a dense burst (the plane), quiet tail: sorted us timestamps."""
    rng = np.random.default_rng(seed)
    gaps = np.concatenate([
        rng.integers(0, 2 * quiet_us + 1, n_quiet),
        rng.integers(0, 2 * burst_us + 1, n_burst),
        rng.integers(0, 2 * quiet_us + 1, tail),
    ])  # fmt: skip
    return np.cumsum(gaps).astype(np.int64)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_quiet=st.integers(0, 3000),
    n_burst=st.integers(0, 6000),
    quiet_us=st.integers(1, 2000),
    burst_us=st.integers(0, 200),
    tail=st.integers(0, 3000),
)
def test_clip_equals_the_published_rule(seed, n_quiet, n_burst, quiet_us, burst_us, tail):
    t = _recording(seed, n_quiet, n_burst, quiet_us, burst_us, tail)
    assert activity_clip_bounds(t) == clip_reference(t)


def test_clip_keeps_the_burst_of_a_plane_crossing():
    t = _recording(1, 3000, 5000, 1000, 50, 3000)
    start, stop = activity_clip_bounds(t)
    assert 2500 <= start <= 3100 and 6900 <= stop <= 8000  # the burst, not the quiet parts


def test_short_or_flat_recordings_are_kept_whole():
    assert activity_clip_bounds(np.arange(1000)) == (0, 1000)
    assert activity_clip_bounds(np.zeros(5000, np.int64)) == (0, 5000)  # min slope 0: no index
