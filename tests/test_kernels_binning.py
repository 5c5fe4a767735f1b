"""Binning kernel: tonic ``ToFrame(time_window=dt)`` semantics, sparse layout and invariants."""

from __future__ import annotations

import numpy as np
import pytest
import tonic.transforms as T
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.errors import FormatError
from eventpipe.events import empty_events, make_events
from eventpipe.kernels import bin_dense, bin_sparse, downsample, n_bins_for
from eventpipe.kernels.binning import VALUE_DTYPES
from tests.reference_kernels import (
    random_dvs128_events,
    ref_bin_counts,
    ref_bin_values,
    ref_densify,
    ref_n_bins,
    sensor_and_events,
    tonic_events,
)

DTS = st.one_of(st.sampled_from([1000, 2000, 5000, 30000]), st.integers(1, 9000))


def _tonic_frames(ev, size, dt):
    if size[2] == 1:
        ev = tonic_events(ev)
        ev["p"] = 0  # tonic rejects mixed polarities on a 1-polarity sensor; ours does the same
    return T.ToFrame(sensor_size=size, time_window=dt)(tonic_events(ev))


@settings(max_examples=100, deadline=None)
@given(sensor_and_events(max_side=6, polarities=(1, 2)), DTS)
def test_dense_equals_tonic_to_frame(size_ev, dt):
    size, ev = size_ev
    if size[2] == 1:
        ev["p"] = 0
    frames = bin_dense(ev, size, dt)  # SUM
    if len(ev) == 0:  # tonic: one zero frame, shape (1, P, W, H) (W/H swapped)
        assert frames.shape == (1, size[2], size[1], size[0]) and not frames.any()
        return
    expected = _tonic_frames(ev, size, dt)
    assert frames.shape == expected.shape
    np.testing.assert_array_equal(frames, expected)
    np.testing.assert_array_equal(bin_dense(ev, size, dt, "OR"), expected > 0)


@settings(max_examples=100, deadline=None)
@given(
    sensor_and_events(max_side=6),
    DTS,
    st.sampled_from(["OR", "SUM", "SUM_NORM"]),
    st.sampled_from(["tonic", "complete"]),
)
def test_sparse_equals_reference(size_ev, dt, binning, rule):
    size, ev = size_ev
    sf = bin_sparse(ev, size, dt, binning, n_bins_rule=rule)
    n_bins, counts = ref_bin_counts(ev, size, dt, rule)
    keys, vals = ref_bin_values(counts, binning)
    assert sf.n_bins == n_bins == ref_n_bins(ev["t"], dt, rule)
    assert list(zip(sf.bin.tolist(), sf.p.tolist(), sf.y.tolist(), sf.x.tolist())) == keys
    assert sf.value.dtype == VALUE_DTYPES[binning]
    assert sf.value.tolist() == vals
    assert (sf.bin.dtype, sf.p.dtype, sf.y.dtype, sf.x.dtype) == ("<i4", "u1", "<i2", "<i2")
    # invariants: sorted unique keys, bins inside [0, n_bins), counts sum to binned events
    key = ((sf.bin.astype(np.int64) * 2 + sf.p) * 64 + sf.y) * 64 + sf.x
    assert (np.diff(key) > 0).all()
    assert len(sf) == 0 or (0 <= sf.bin.min() and sf.bin.max() < sf.n_bins)
    if binning == "SUM" and len(ev):
        rel = ev["t"] - ev["t"][0]
        assert int(sf.value.sum()) == int(np.count_nonzero(rel < sf.n_bins * dt))
    np.testing.assert_array_equal(
        sf.dense(), ref_densify(keys, vals, 0, n_bins, size, sf.value.dtype)
    )


@settings(max_examples=60, deadline=None)
@given(
    sensor_and_events(max_side=6),
    DTS,
    st.sampled_from(["OR", "SUM", "SUM_NORM"]),
    st.integers(0, 5),
)
def test_sparse_into_out_buffers_equals_allocating(size_ev, dt, binning, extra):
    """``out=``: entries land at the start of the given buffers (views), values identical."""
    size, ev = size_ev
    ref = bin_sparse(ev, size, dt, binning)
    dtypes = (np.int32, np.uint8, np.int16, np.int16, VALUE_DTYPES[binning])
    sentinel = 77
    out = tuple(np.full(len(ev) + extra, sentinel, dtype=d) for d in dtypes)
    sf = bin_sparse(ev, size, dt, binning, out=out)
    assert sf.n_bins == ref.n_bins and len(sf) == len(ref)
    for got, want, buf in zip(
        (sf.bin, sf.p, sf.y, sf.x, sf.value), (ref.bin, ref.p, ref.y, ref.x, ref.value), out
    ):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        if len(got):
            assert np.shares_memory(got, buf)
        assert (buf[len(ev) :] == sentinel).all()  # nothing written past len(events)
    with pytest.raises(ValueError, match="out arrays"):
        bin_sparse(ev, size, dt, binning, out=(*out[:4], np.zeros(len(ev), np.float64)))


@settings(max_examples=60, deadline=None)
@given(sensor_and_events(max_side=4, sorted_t=False), DTS)
def test_unsorted_input_bins_by_timestamp(size_ev, dt):
    size, ev = size_ev
    sf = bin_sparse(ev, size, dt, "SUM")
    n_bins, counts = ref_bin_counts(ev, size, dt)
    keys, vals = ref_bin_values(counts, "SUM")
    assert sf.n_bins == n_bins
    assert list(zip(sf.bin.tolist(), sf.p.tolist(), sf.y.tolist(), sf.x.tolist())) == keys
    assert sf.value.tolist() == vals


def test_bin_edges_and_counts():
    size = (4, 4, 2)
    # t0 = first event; an event exactly on t0 + n*dt belongs to the dropped trailing bin
    ev = make_events(
        [0, 1, 1, 2, 3], [0, 0, 0, 1, 1], [100, 1099, 1100, 2099, 3100], [0, 1, 1, 0, 1]
    )
    sf = bin_sparse(ev, size, 1000, "SUM")
    assert sf.n_bins == 3  # (3100 - 100) // 1000
    assert sf.bin.tolist() == [0, 0, 1, 1] and sf.value.tolist() == [1, 1, 1, 1]
    np.testing.assert_array_equal(sf.dense(), _tonic_frames(ev, size, 1000))
    # shorter than one window: tonic gives one partial frame, "complete" gives none
    short = make_events([0, 1], [0, 0], [0, 999], [0, 0])
    assert bin_sparse(short, size, 1000).n_bins == 1
    assert len(bin_sparse(short, size, 1000)) == 2
    assert bin_sparse(short, size, 1000, n_bins_rule="complete").n_bins == 0
    assert len(bin_sparse(short, size, 1000, n_bins_rule="complete")) == 0
    assert n_bins_for(0, 2000, 1000) == 2 and n_bins_for(0, 1999, 1000) == 1
    assert n_bins_for(5, 5, 1000) == 1 and n_bins_for(5, 5, 1000, "complete") == 0
    # SUM_NORM: count / max over the sample, OR: ones
    ev = make_events([1, 1, 1, 2, 0], [1, 1, 1, 2, 0], [0, 1, 2, 3, 5000], [1, 1, 1, 0, 0])
    sf = bin_sparse(ev, size, 1000, "SUM_NORM", n_bins_rule="complete")
    assert sf.value.tolist() == [np.float32(1 / 3), 1.0] and sf.value.dtype == np.float32
    assert bin_sparse(ev, size, 1000, "OR").value.tolist() == [1, 1]


def test_saturation_single_polarity_and_errors():
    n = 70000
    ev = make_events(np.ones(n), np.ones(n), np.arange(n) // 10, np.ones(n))
    ev = np.concatenate([ev, make_events([0], [0], [n], [0])])
    sf = bin_sparse(ev, (2, 2, 2), n, "SUM")
    assert sf.value.tolist() == [65535] and sf.value.dtype == np.uint16
    # single polarity: all events go to p = 0; mixed polarities rejected like tonic
    ev1 = make_events([0, 1], [0, 0], [0, 3000], [1, 1])
    assert bin_sparse(ev1, (2, 1, 1), 1000).p.tolist() == [0]
    with pytest.raises(ValueError, match="single-polarity"):
        bin_sparse(make_events([0, 1], [0, 0], [0, 3000], [0, 1]), (2, 1, 1), 1000)
    with pytest.raises(FormatError, match="event 1"):
        bin_sparse(make_events([0, 2], [0, 0], [0, 3000], [0, 1]), (2, 1, 2), 1000)
    with pytest.raises(FormatError, match="outside"):
        bin_sparse(make_events([0], [0], [0], [2]), (2, 1, 2), 1000)
    for bad in (0, -5, 1.5):
        with pytest.raises(ValueError, match="dt_us"):
            bin_sparse(ev1, (2, 1, 2), bad)
    with pytest.raises(ValueError, match="binning"):
        bin_sparse(ev1, (2, 1, 2), 1000, "MAX")


def test_empty_and_single():
    sf = bin_sparse(empty_events(), (4, 3, 2), 1000, "SUM_NORM")
    assert sf.n_bins == 1 and len(sf) == 0 and sf.value.dtype == np.float32
    assert sf.dense().shape == (1, 2, 3, 4)
    assert bin_sparse(empty_events(), (4, 3, 2), 1000, n_bins_rule="complete").n_bins == 0
    one = make_events([3], [2], [777], [1])
    sf = bin_sparse(one, (4, 3, 2), 1000)
    assert sf.n_bins == 1 and sf.bin.tolist() == [0] and (sf.p[0], sf.y[0], sf.x[0]) == (1, 2, 3)
    np.testing.assert_array_equal(
        bin_dense(one, (4, 3, 2), 1000), _tonic_frames(one, (4, 3, 2), 1000)
    )


def test_large_random_sample_equals_tonic():
    """A DVS128-sized sample with many events per bin (exercises the dense-scan path)."""
    rng = np.random.default_rng(1)
    n = 200_000
    ev = random_dvs128_events(rng, n, 0, 1_000_000)
    for dt in (5000, 30000, 200000):
        np.testing.assert_array_equal(
            bin_dense(ev, (128, 128, 2), dt), T.ToFrame((128, 128, 2), time_window=dt)(ev.copy())
        )
    # a DAVIS346-sized sensor: 19-bit keys (three radix passes), non-power-of-two sides
    size = (346, 260, 2)
    ev = make_events(
        rng.integers(0, 346, n),
        rng.integers(0, 260, n),
        np.sort(rng.integers(0, 300_000, n)),
        rng.integers(0, 2, n),
    )
    np.testing.assert_array_equal(
        bin_dense(ev, size, 20_000), T.ToFrame(size, time_window=20_000)(ev.copy())
    )


FACTORS = st.one_of(
    st.sampled_from([1.0, 0.5, 0.25, 0.3, (0.3, 0.5), (1.0, 0.25)]),
    st.floats(0.05, 1.0),
)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(sensor_and_events(max_side=9), sensor_and_events(max_side=9, sorted_t=False)),
    DTS,
    st.sampled_from(sorted(VALUE_DTYPES)),
    FACTORS,
    st.booleans(),
)
def test_spatial_factor_equals_downsample_then_bin(size_ev, dt, binning, factor, columns):
    """Binning with the view's spatial factor on the fly == tonic Downsample, then binning; the
    events may come as a structured array or as a mapping of columns."""
    size, ev = size_ev
    if size[2] == 1:
        ev["p"] = 0
    down, dsize = downsample(ev, size, factor)
    want = bin_sparse(down, dsize, dt, binning)
    src = {k: np.ascontiguousarray(ev[k]) for k in "xytp"} if columns else ev
    got = bin_sparse(src, size, dt, binning, spatial_factor=factor)
    assert got.sensor_size == want.sensor_size == dsize
    assert got.n_bins == want.n_bins
    for k in ("bin", "p", "y", "x", "value"):
        np.testing.assert_array_equal(getattr(got, k), getattr(want, k), err_msg=k)
        assert getattr(got, k).dtype == getattr(want, k).dtype


def test_spatial_factor_errors_are_downsample_errors():
    ev = make_events([1, 40], [1, 1], [0, 5], [0, 1])
    for factor in (0.25, (0.5, 1.0)):
        with pytest.raises(FormatError) as want:
            downsample(ev, (32, 32, 2), factor)
        with pytest.raises(FormatError) as got:
            bin_sparse(ev, (32, 32, 2), 1000, "SUM", spatial_factor=factor)
        assert str(got.value) == str(want.value)
    ev = make_events([1, 4], [1, 1], [0, 5], [0, 2])  # polarity off the sensor
    with pytest.raises(FormatError) as want:
        bin_sparse(downsample(ev, (8, 8, 2), 0.5)[0], (4, 4, 2), 1000)
    with pytest.raises(FormatError) as got:
        bin_sparse(ev, (8, 8, 2), 1000, spatial_factor=0.5)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize(
    "factor", [0.5, 0.25, 0.125, 1 / 128, (0.25, 0.5), (0.25, 0.3), (0.3, 0.5)]
)
def test_power_of_two_factors_shift_like_the_float_product(factor):
    """Factors 2**-k bin ``x >> k`` (no float product): equal to tonic Downsample's
    ``int(x * f)`` then binning, on a DVS128 sample with every coordinate."""
    from eventpipe.kernels.binning import _shift

    assert [_shift(f) for f in (1.0, 0.5, 0.25, 1 / 128, 0.3, 0.75, 2**-60)] == [
        0,
        1,
        2,
        7,
        -1,
        -1,
        -1,
    ]
    ev = random_dvs128_events(np.random.default_rng(5), 50_000, 0, 2_000_000)
    ev["x"][:128] = np.arange(128)
    ev["y"][128:256] = np.arange(128)
    down, dsize = downsample(ev, (128, 128, 2), factor)
    for binning in ("SUM", "OR"):
        want = bin_sparse(down, dsize, 1000, binning)
        got = bin_sparse(ev, (128, 128, 2), 1000, binning, spatial_factor=factor)
        assert got.sensor_size == dsize and got.n_bins == want.n_bins
        for k in ("bin", "p", "y", "x", "value"):
            np.testing.assert_array_equal(getattr(got, k), getattr(want, k), err_msg=k)
