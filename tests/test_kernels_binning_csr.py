"""bin_csr (all samples of a recording in one kernel call) against bin_sparse per sample."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.events import make_events
from eventpipe.kernels.binning import bin_sparse
from eventpipe.kernels.binning_csr import bin_csr

SENSORS = [(34, 34, 2), (700, 1, 1), (128, 128, 2)]


def _samples(seed: int, sizes: list[int], sensor, max_t: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    w, h, npol = sensor
    out = []
    for n in sizes:
        t = np.sort(rng.integers(0, max_t, n))
        p = rng.integers(0, npol, n) if npol == 2 else np.zeros(n, np.int64)
        out.append(make_events(rng.integers(0, w, n), rng.integers(0, h, n), t, p))
    return out


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
    sensor=st.sampled_from(SENSORS),
    rule=st.sampled_from(["tonic_frames", "floor_all", "floor_zero", "ceil"]),
    binning=st.sampled_from(["OR", "SUM"]),
    factor=st.sampled_from([1.0, 0.5, 0.25, 0.3]),
    dt=st.sampled_from([1, 1000, 3000, 10_000]),
    max_t=st.sampled_from([5, 50_000, 400_000]),
)
def test_bin_csr_equals_bin_sparse_per_sample(
    sizes, seed, sensor, rule, binning, factor, dt, max_t
):
    samples = _samples(seed, sizes, sensor, max_t)
    events = np.concatenate(samples)
    cols = {k: np.ascontiguousarray(events[k]) for k in ("x", "y", "t", "p")}
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    if factor != 1.0 and sensor[1] == 1:
        factor = 1.0  # a 1-D sensor is not downsampled in y
    vdt = "u1" if binning == "OR" else "<u2"
    out = tuple(np.zeros(len(events), d) for d in ("i4", "u1", "i2", "i2", vdt))
    done = bin_csr(cols, offsets, sensor, dt, binning, rule, factor, out=out)
    assert done is not None
    out_offsets, n_bins = done
    for i, ev in enumerate(samples):
        want = bin_sparse(ev, sensor, dt, binning, spatial_factor=factor, rule=rule)
        assert n_bins[i] == want.n_bins
        a, b = out_offsets[i], out_offsets[i + 1]
        for got, exp in zip(out, (want.bin, want.p, want.y, want.x, want.value), strict=True):
            np.testing.assert_array_equal(got[a:b], exp)


def test_entries_are_written_sample_after_sample():
    samples = _samples(3, [30, 0, 25], (34, 34, 2), 90_000)
    events = np.concatenate(samples)
    cols = {k: np.ascontiguousarray(events[k]) for k in ("x", "y", "t", "p")}
    out = tuple(np.zeros(55, d) for d in ("i4", "u1", "i2", "i2", "<u2"))
    offsets = np.array([0, 30, 30, 55])
    out_offsets, n_bins = bin_csr(cols, offsets, (34, 34, 2), 3000, "SUM", "ceil", out=out)
    for i, ev in enumerate(samples):
        want = bin_sparse(ev, (34, 34, 2), 3000, "SUM", rule="ceil")
        a, b = out_offsets[i], out_offsets[i + 1]
        for got, exp in zip(out, (want.bin, want.p, want.y, want.x, want.value), strict=True):
            np.testing.assert_array_equal(got[a:b], exp)
    assert n_bins[1] == 1  # an empty sample has one frame, as bin_sparse says


def test_cases_it_does_not_cover_return_none():
    ev = make_events([1, 2], [1, 2], [500, 100], [0, 1])  # not time-sorted
    cols = {k: np.ascontiguousarray(ev[k]) for k in ("x", "y", "t", "p")}
    offsets = np.array([0, 2])
    assert bin_csr(cols, offsets, (34, 34, 2), 1000, "SUM", "floor_all") is None
    assert bin_csr(cols, offsets, (34, 34, 2), 1000, "SUM_NORM", "floor_all") is None
    assert bin_csr(cols, offsets, (34, 34, 2), 1000, "OR", "slayer_td") is None
    off = make_events([40], [1], [0], [0])  # off the 34x34 sensor
    cols = {k: np.ascontiguousarray(off[k]) for k in ("x", "y", "t", "p")}
    assert bin_csr(cols, np.array([0, 1]), (34, 34, 2), 1000, "SUM", "floor_all") is None
