"""Downsample kernel: tonic ``Downsample`` truncation, against tonic and a plain reference."""

from __future__ import annotations

import numpy as np
import pytest
import tonic.transforms as T
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.events import DVS128_SENSOR_SIZE, empty_events, make_events
from eventpipe.kernels import downsample, downsampled_size
from tests.reference_kernels import assert_events_equal, ref_downsample, tonic_events

FACTORS = st.one_of(
    st.sampled_from([1, 0.5, 0.25, 0.3, 0.1, 1 / 3, 0.7]),
    st.floats(0.01, 1.0, allow_nan=False),
)


@st.composite
def dvs_events(draw):
    n = draw(st.integers(0, 80))
    xs = draw(st.lists(st.integers(0, 127), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(0, 127), min_size=n, max_size=n))
    ts = sorted(draw(st.lists(st.integers(0, 2**33), min_size=n, max_size=n)))
    ps = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return make_events(xs, ys, ts, ps)


@settings(max_examples=100, deadline=None)
@given(dvs_events(), FACTORS, FACTORS)
def test_spatial_equals_tonic(ev, fx, fy):
    out, size = downsample(ev, DVS128_SENSOR_SIZE, (fx, fy))
    assert_events_equal(T.Downsample(spatial_factor=(fx, fy))(tonic_events(ev)), out)
    assert_events_equal(ref_downsample(ev, fx, fy), out)
    assert size == downsampled_size(DVS128_SENSOR_SIZE, (fx, fy))
    if len(out):  # the new sensor holds every mapped coordinate, and no larger than needed
        assert out["x"].max() < size[0] and out["y"].max() < size[1]
    assert int(127 * fx) == size[0] - 1 and int(127 * fy) == size[1] - 1


@settings(max_examples=60, deadline=None)
@given(dvs_events(), st.sampled_from([0.001, 0.5, 1e-6, 2.0]), FACTORS)
def test_time_factor_equals_tonic(ev, tf, f):
    out, _ = downsample(ev, DVS128_SENSOR_SIZE, f, time_factor=tf)
    assert_events_equal(T.Downsample(time_factor=tf, spatial_factor=f)(tonic_events(ev)), out)
    assert_events_equal(ref_downsample(ev, f, f, tf), out)


def test_known_values_and_sizes():
    ev = make_events([0, 1, 2, 3, 10, 127], [127, 64, 63, 0, 20, 1], [0] * 6, [0] * 6)
    out, size = downsample(ev, (128, 128, 2), 0.5)
    assert out["x"].tolist() == [0, 0, 1, 1, 5, 63] and out["y"].tolist() == [63, 32, 31, 0, 10, 0]
    assert size == (64, 64, 2)
    assert downsampled_size((128, 128, 2), 0.25) == (32, 32, 2)
    assert downsampled_size((128, 128, 2), 0.3) == (39, 39, 2)  # int(127 * 0.3) = 38
    assert downsampled_size((346, 260, 2), (0.5, 0.25)) == (173, 65, 2)
    # input is not modified; empty input keeps its (new) size
    assert ev["x"].tolist()[-1] == 127
    e, s = downsample(empty_events(), (128, 128, 2), 0.5)
    assert len(e) == 0 and s == (64, 64, 2)
    for bad in (0, -0.5, 1.5, (0.5,)):
        with pytest.raises(ValueError):
            downsample(ev, (128, 128, 2), bad)
    assert np.array_equal(downsample(ev, (128, 128, 2), 1)[0], ev)
