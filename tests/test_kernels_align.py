"""Time alignment and the published ms flooring, against tonic."""

from __future__ import annotations

import numpy as np
import tonic.transforms as T
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.events import empty_events, make_events
from eventpipe.kernels import bin_dense, floor_ms_us, floor_to_ms, time_align
from tests.reference_kernels import (
    assert_events_equal,
    ref_floor_ms_us,
    ref_time_align,
    sensor_and_events,
    tonic_events,
)


@settings(max_examples=100, deadline=None)
@given(sensor_and_events(max_side=4))
def test_time_align_equals_tonic(size_ev):
    _, ev = size_ev
    out = time_align(ev)
    assert out["t"].tolist() == ref_time_align(ev["t"])
    assert time_align(ev["t"]).tolist() == ref_time_align(ev["t"])
    assert_events_equal(time_align(ev, origin="first"), out)  # sorted input
    if len(ev):
        assert_events_equal(T.TimeAlignment()(tonic_events(ev)), out)
        assert out["t"][0] == 0


@settings(max_examples=100, deadline=None)
@given(sensor_and_events(max_side=4))
def test_floor_to_ms_equals_tonic_downsample(size_ev):
    _, ev = size_ev
    assert_events_equal(T.Downsample(time_factor=0.001)(tonic_events(ev)), floor_to_ms(ev))


def test_trunc_product_equals_floor_division():
    """tonic's float ``t * 0.001`` truncation is exact floor division in the relevant range."""
    rng = np.random.default_rng(0)
    k = np.concatenate([np.arange(0, 2**20), rng.integers(0, 2**40 // 1000, 2**18)])
    for r in (0, 1, 499, 500, 999):
        t = k * 1000 + r
        np.testing.assert_array_equal((t * 0.001).astype(np.int64), t // 1000)


@settings(max_examples=120, deadline=None)
@given(
    sensor_and_events(max_side=4, max_step=3000, t_start=st.integers(0, 2**33)),
    st.sampled_from([1, 2, 3, 5, 30]),
)
def test_published_ms_pipeline(size_ev, dt_ms):
    """Downsample(0.001), TimeAlignment, ToFrame(dt_ms) == floor_ms_us, align, bin(dt_us)."""
    size, ev = size_ev
    if len(ev) == 0:
        return
    published = T.Compose(
        [T.Downsample(time_factor=0.001), T.TimeAlignment(), T.ToFrame(size, time_window=dt_ms)]
    )(tonic_events(ev))
    ours_abs = bin_dense(time_align(floor_ms_us(ev)), size, dt_ms * 1000)
    np.testing.assert_array_equal(published, ours_abs)
    # same from re-zeroed events + the sample's absolute start (what the cache stores)
    rezeroed = time_align(ev, origin="first")
    floored = floor_ms_us(rezeroed, origin_us=int(ev["t"][0]))
    assert floored["t"].tolist() == ref_floor_ms_us(rezeroed["t"], int(ev["t"][0]))
    np.testing.assert_array_equal(published, bin_dense(floored, size, dt_ms * 1000))
    # flooring after alignment is *not* the same in general
    if ev["t"][0] % 1000:
        late = floor_ms_us(rezeroed)["t"]
        assert (late <= floored["t"]).all()


def test_known_values():
    t = np.array([1700, 1999, 2000, 2700, 3001])
    assert floor_to_ms(t).tolist() == [1, 1, 2, 2, 3]
    assert floor_ms_us(t).tolist() == [1000, 1000, 2000, 2000, 3000]
    assert time_align(floor_ms_us(t)).tolist() == [0, 0, 1000, 1000, 2000]
    assert floor_ms_us(t - 1700, origin_us=1700).tolist() == [0, 0, 1000, 1000, 2000]
    assert floor_ms_us(time_align(t)).tolist() == [0, 0, 0, 1000, 1000]  # the other order
    assert time_align(np.array([5, 3, 9])).tolist() == [2, 0, 6]  # tonic subtracts the min
    assert time_align(np.array([5, 3, 9]), origin="first").tolist() == [0, -2, 4]
    for f in (time_align, floor_to_ms, floor_ms_us):
        assert len(f(empty_events())) == 0 and f(np.zeros(0, np.int64)).shape == (0,)
    one = make_events([1], [2], [123456789], [1])
    assert time_align(one)["t"].tolist() == [0] and one["t"][0] == 123456789
