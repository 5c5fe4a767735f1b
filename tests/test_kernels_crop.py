"""Crop + densify kernels: windows, zero padding, CSR batches, both thread modes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.events import make_events
from eventpipe.kernels import bin_sparse, crop_start, densify, densify_batch
from tests.reference_kernels import (
    ref_bin_counts,
    ref_bin_values,
    ref_crop_bounds,
    ref_densify,
    sensor_and_events,
)


@settings(max_examples=120, deadline=None)
@given(
    sensor_and_events(max_side=5),
    st.sampled_from([500, 1000, 3000]),
    st.integers(0, 30),
    st.integers(0, 30),
    st.sampled_from(["OR", "SUM_NORM"]),
)
def test_densify_equals_reference(size_ev, dt, start, length, binning):
    size, ev = size_ev
    sf = bin_sparse(ev, size, dt, binning)
    keys, vals = ref_bin_values(ref_bin_counts(ev, size, dt)[1], binning)
    for dtype in (np.float32, np.uint8) if binning == "OR" else (np.float32,):
        got = densify(sf.bin, sf.p, sf.y, sf.x, sf.value, start, length, size, dtype=dtype)
        np.testing.assert_array_equal(got, ref_densify(keys, vals, start, length, size, dtype))
        assert got.dtype == dtype and got.shape == (length, size[2], size[1], size[0])
        # a dirty preallocated buffer is fully overwritten
        out = np.full(got.shape, 7, dtype=dtype)
        densify(sf.bin, sf.p, sf.y, sf.x, sf.value, start, length, size, out=out)
        np.testing.assert_array_equal(out, got)


@st.composite
def csr_batches(draw):
    """Samples of random length/density (numpy from a drawn seed), indices, starts and a length."""
    size = (draw(st.integers(1, 5)), draw(st.integers(1, 5)), 2)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    samples = []
    for _ in range(draw(st.integers(1, 6))):
        n = draw(st.integers(0, 40))
        t = np.sort(rng.integers(0, draw(st.integers(1, 15000)), n))
        samples.append(
            make_events(
                rng.integers(0, size[0], n), rng.integers(0, size[1], n), t, rng.integers(0, 2, n)
            )
        )
    n = draw(st.integers(0, 8))
    idx = draw(st.lists(st.integers(0, len(samples) - 1), min_size=n, max_size=n))
    starts = draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
    length = draw(st.integers(0, 10))
    return size, samples, np.array(idx, np.int64), np.array(starts, np.int64), length


@settings(max_examples=100, deadline=None)
@given(csr_batches(), st.booleans())
def test_densify_batch_equals_per_sample(batch, parallel):
    size, samples, idx, starts, length = batch
    sfs = [bin_sparse(ev, size, 1000, "OR") for ev in samples]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sfs])]).astype(np.int64)
    cat = {f: np.concatenate([getattr(s, f) for s in sfs]) for f in ("bin", "p", "y", "x", "value")}
    for dtype in (np.uint8, np.float32):
        out = np.full((len(idx), length, 2, size[1], size[0]), 9, dtype=dtype)
        densify_batch(offsets, cat["bin"], cat["p"], cat["y"], cat["x"], cat["value"], idx,
                      starts, length, size, out, parallel=parallel)  # fmt: skip
        for j, (s, st0) in enumerate(zip(idx, starts)):
            keys, vals = ref_bin_values(ref_bin_counts(samples[s], size, 1000)[1], "OR")
            np.testing.assert_array_equal(out[j], ref_densify(keys, vals, st0, length, size, dtype))


def test_crop_start():
    rng = np.random.default_rng(0)
    draws = [crop_start(20, 17, "random", rng) for _ in range(400)]
    assert set(draws) == set(range(ref_crop_bounds(20, 17)[1] + 1))  # uniform on [0, 3]
    assert crop_start(10, 17, "random", rng) == 0  # shorter sample: start 0, zero padded
    assert crop_start(17, 17, "random", rng) == 0
    assert crop_start(500, 145, "fixed") == 0
    a = [crop_start(100, 10, "random", np.random.default_rng(5)) for _ in range(3)]
    assert len(set(a)) == 1  # reproducible from the generator
    with pytest.raises(ValueError, match="rng"):
        crop_start(100, 10, "random")
    with pytest.raises(ValueError, match="mode"):
        crop_start(100, 10, "center")


def test_window_padding_and_errors():
    size = (3, 2, 2)
    b = np.array([0, 1, 1, 4], np.int32)
    p = np.array([0, 0, 1, 1], np.uint8)
    y = np.array([0, 1, 0, 1], np.int16)
    x = np.array([2, 0, 1, 2], np.int16)
    v = np.array([1, 1, 1, 1], np.uint8)
    out = densify(b, p, y, x, v, 1, 6, size, dtype=np.uint8)
    assert out.shape == (6, 2, 2, 3)
    assert out.sum() == 3 and out[0, 0, 1, 0] == 1 and out[0, 1, 0, 1] == 1 and out[3, 1, 1, 2] == 1
    assert not out[4:].any()  # past the sample's end: zero padding
    assert densify(b, p, y, x, v, 9, 3, size).sum() == 0
    assert densify(b[:0], p[:0], y[:0], x[:0], v[:0], 0, 2, size).shape == (2, 2, 2, 3)
    with pytest.raises(ValueError, match="uint8"):
        densify(b, p, y, x, v.astype(np.float32), 0, 2, size, dtype=np.uint8)
    with pytest.raises(ValueError, match="shape"):
        densify(b, p, y, x, v, 0, 2, size, out=np.zeros((2, 2, 3, 2), np.float32))
    offsets = np.array([0, 4], np.int64)
    with pytest.raises(ValueError, match="out of range"):
        densify_batch(
            offsets, b, p, y, x, v, [1], [0], 2, size, np.zeros((1, 2, 2, 2, 3), np.uint8)
        )


def test_threads_share_work():
    """nogil kernels called from several threads give the same result as one call."""
    rng = np.random.default_rng(3)
    size = (128, 128, 2)
    n_s, per = 16, 3000
    bins = np.sort(rng.integers(0, 40, (n_s, per)), axis=1).astype(np.int32).ravel()
    p = rng.integers(0, 2, n_s * per).astype(np.uint8)
    y = rng.integers(0, 128, n_s * per).astype(np.int16)
    x = rng.integers(0, 128, n_s * per).astype(np.int16)
    v = np.ones(n_s * per, np.uint8)
    offsets = np.arange(n_s + 1, dtype=np.int64) * per
    idx = np.arange(n_s)
    starts = rng.integers(0, 20, n_s)
    ref = np.empty((n_s, 17, 2, 128, 128), np.uint8)
    densify_batch(offsets, bins, p, y, x, v, idx, starts, 17, size, ref)
    par = np.empty_like(ref)
    densify_batch(offsets, bins, p, y, x, v, idx, starts, 17, size, par, parallel=True)
    np.testing.assert_array_equal(par, ref)
    out = np.empty_like(ref)

    def work(lo, hi):
        densify_batch(offsets, bins, p, y, x, v, idx[lo:hi], starts[lo:hi], 17, size, out[lo:hi])

    threads = [threading.Thread(target=work, args=(i, i + 4)) for i in range(0, n_s, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(out, ref)
