"""Denoise kernel: tonic ``Denoise`` semantics, checked against tonic and a plain reference."""

from __future__ import annotations

import numpy as np
import pytest
import tonic.transforms as T
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.errors import FormatError
from eventpipe.events import empty_events, make_events
from eventpipe.kernels import denoise, denoise_mask
from tests.reference_kernels import (
    assert_events_equal,
    ref_denoise_mask,
    sensor_and_events,
    tonic_events,
)

FILTER_TIMES = st.one_of(st.integers(1, 12000), st.sampled_from([1000, 5000, 10000]))


@settings(max_examples=100, deadline=None)
@given(sensor_and_events(max_side=6, t_start=None), FILTER_TIMES)
def test_denoise_equals_tonic_and_reference(size_ev, ft):
    size, ev = size_ev
    out = denoise(ev, size, ft)
    if len(ev):
        assert_events_equal(T.Denoise(filter_time=ft)(tonic_events(ev)), out)
        w, h = int(ev["x"].max()) + 1, int(ev["y"].max()) + 1
        keep = ref_denoise_mask(ev["x"], ev["y"], ev["t"], w, h, ft)
        np.testing.assert_array_equal(denoise_mask(ev["x"], ev["y"], ev["t"], w, h, ft), keep)
    else:
        assert len(out) == 0


@settings(max_examples=100, deadline=None)
@given(sensor_and_events(max_side=6, t_start=0, max_step=3000), FILTER_TIMES)
def test_first_filter_time_and_sensor_bounds(size_ev, ft):
    """From t=0 (aligned samples): untouched neighbours count as having fired at t=0."""
    size, ev = size_ev
    keep = denoise_mask(ev["x"], ev["y"], ev["t"], size[0], size[1], ft)
    np.testing.assert_array_equal(
        keep, ref_denoise_mask(ev["x"], ev["y"], ev["t"], size[0], size[1], ft)
    )
    assert_events_equal(denoise(ev, size, ft, bounds="sensor"), ev[keep])


@settings(max_examples=100, deadline=None)
@given(sensor_and_events(max_side=8), FILTER_TIMES)
def test_output_is_ordered_subset(size_ev, ft):
    size, ev = size_ev
    out = denoise(ev, size, ft)
    assert len(out) <= len(ev)
    # an ordered sub-sequence of the input (events are matched greedily in order)
    j = 0
    for e in out:
        while j < len(ev) and ev[j].tolist() != e.tolist():
            j += 1
        assert j < len(ev)
        j += 1


def test_known_cases():
    # isolated event at t >= filter_time is dropped; a neighbour 1 us inside the window keeps it
    ev = make_events([2, 3, 3], [2, 2, 7], [20000, 29999, 40000], [0, 1, 0])
    assert denoise(ev, (8, 8, 2), 10000)["t"].tolist() == [29999]
    # exactly filter_time apart: strict inequality drops it
    ev = make_events([2, 3], [2, 2], [20000, 30000], [0, 0])
    assert len(denoise(ev, (8, 8, 2), 10000)) == 0
    # during the first filter_time us an event with an in-bounds neighbour is kept (tonic memory)
    ev = make_events([0, 5], [0, 5], [9999, 10000], [0, 0])
    assert denoise(ev, (8, 8, 2), 10000)["t"].tolist() == [9999]
    # the pixel itself is not a neighbour; polarity is ignored
    ev = make_events([4, 4, 5], [4, 4, 4], [50000, 50001, 50002], [0, 1, 1])
    assert denoise(ev, (8, 8, 2), 10000)["t"].tolist() == [50002]
    # a neighbour that comes later in the array does not count, even at the same timestamp
    ev = make_events([1, 2], [1, 1], [70000, 70000], [0, 0])
    assert denoise(ev, (8, 8, 2), 10000)["t"].tolist() == [70000]
    assert denoise(ev, (8, 8, 2), 10000)["x"].tolist() == [2]


def test_fractional_filter_time_behaves_like_tonic():
    ev = make_events([2, 3, 3, 4], [2, 2, 3, 3], [20000, 20010, 20021, 20031], [0, 1, 0, 1])
    for ft in (10.5, 10.0, 9.99, 11.0):
        assert_events_equal(T.Denoise(filter_time=ft)(tonic_events(ev)), denoise(ev, (8, 8, 2), ft))


def test_empty_single_and_bad_input():
    assert len(denoise(empty_events(), (8, 8, 2), 10000)) == 0
    assert denoise_mask([], [], np.zeros(0, np.int64), 8, 8, 10).shape == (0,)
    one = make_events([3], [3], [123456], [1])
    assert len(denoise(one, (8, 8, 2), 10000)) == 0
    corner = make_events([0], [0], [5], [1])  # tonic bounds 1x1: no neighbour at all
    assert len(denoise(corner, (8, 8, 2), 10000)) == 0
    assert len(denoise(corner, (8, 8, 2), 10000, bounds="sensor")) == 1  # (1, 0) "fired" at 0
    assert len(denoise(make_events([3], [3], [5], [1]), (8, 8, 2), 10000)) == 1
    with pytest.raises(FormatError, match="event 0"):
        denoise(make_events([8], [0], [5], [0]), (8, 8, 2), 10)
    with pytest.raises(ValueError):
        denoise(one, (8, 8, 2), 10, bounds="nope")
