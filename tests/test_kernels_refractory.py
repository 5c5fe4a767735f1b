"""Refractory kernel: tonic ``RefractoryPeriod`` semantics, against tonic and a plain reference."""

from __future__ import annotations

import numpy as np
import tonic.transforms as T
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.events import empty_events, make_events
from eventpipe.kernels import refractory, refractory_mask
from tests.reference_kernels import (
    assert_events_equal,
    ref_refractory_mask,
    sensor_and_events,
    tonic_events,
)

PERIODS = st.one_of(st.integers(0, 12000), st.sampled_from([0, 1000, 5000]))


@settings(max_examples=100, deadline=None)
@given(sensor_and_events(max_side=5), PERIODS)
def test_refractory_equals_tonic_and_reference(size_ev, rp):
    size, ev = size_ev
    out = refractory(ev, size, rp)
    keep = ref_refractory_mask(ev["x"], ev["y"], ev["t"], rp)
    assert_events_equal(ev[keep], out)
    np.testing.assert_array_equal(
        refractory_mask(ev["x"], ev["y"], ev["t"], size[0], size[1], rp), keep
    )
    if len(ev):
        assert_events_equal(T.RefractoryPeriod(delta=rp)(tonic_events(ev)), out)


@settings(max_examples=60, deadline=None)
@given(sensor_and_events(max_side=3, t_start=0, max_step=800), PERIODS)
def test_dense_pixels_from_zero(size_ev, rp):
    """Many events per pixel from t = 0 (the first event is dropped when t = 0)."""
    size, ev = size_ev
    out = refractory(ev, size, rp)
    if len(ev):
        assert_events_equal(T.RefractoryPeriod(delta=rp)(tonic_events(ev)), out)
        if ev["t"][0] == 0:
            assert len(out) == 0 or out["t"][0] > 0


def test_known_cases():
    size = (8, 8, 2)
    # dead time restarts on dropped events; strict inequality; polarity ignored
    ev = make_events([3] * 5, [1] * 5, [0, 10, 500, 1500, 2501], [1, 0, 1, 1, 0])
    assert refractory(ev, size, 1000)["t"].tolist() == [2501]
    # per pixel: another pixel is unaffected
    ev = make_events([3, 4, 3], [1, 1, 1], [100, 150, 2000], [0, 0, 0])
    assert refractory(ev, size, 1000)["t"].tolist() == [100, 150, 2000]
    # period 0 drops only repeated timestamps at a pixel (and t = 0)
    ev = make_events([1, 1, 1, 2], [1, 1, 1, 1], [0, 7, 7, 7], [0, 1, 0, 0])
    assert refractory(ev, size, 0)["t"].tolist() == [7, 7]
    # fractional periods floor like tonic
    ev = make_events([1, 1], [1, 1], [10, 1010], [0, 0])
    for rp in (999.5, 1000.0, 1000.7):
        assert_events_equal(
            T.RefractoryPeriod(delta=rp)(tonic_events(ev)), refractory(ev, size, rp)
        )


def test_empty_and_single():
    assert len(refractory(empty_events(), (8, 8, 2), 1000)) == 0
    assert len(refractory(make_events([1], [1], [0], [0]), (8, 8, 2), 1000)) == 0
    assert len(refractory(make_events([1], [1], [1], [0]), (8, 8, 2), 1000)) == 1
