"""SHD reader: round trip, the seconds -> us rule against the published arithmetic and tonic,
sorting, and one-line errors naming file, key and sample."""

from __future__ import annotations

import itertools

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.errors import FormatError
from eventpipe.io.shd import KEYS_EXAMPLE, read_shd, write_shd
from eventpipe.io.spikes import seconds_to_us

SAMPLE = st.lists(
    st.tuples(st.floats(0, 1.375, width=16), st.integers(0, 699)), min_size=0, max_size=30
)


@settings(max_examples=40, deadline=None)
@given(samples=st.lists(SAMPLE, min_size=1, max_size=6))
def test_round_trip(tmp_path_factory, samples):
    path = tmp_path_factory.mktemp("shd") / "shd_train.h5"
    times = [np.sort(np.array([t for t, _ in s], np.float16)) for s in samples]
    units = [np.array([u for _, u in s], np.int64) for s in samples]
    write_shd(path, times, units, list(range(len(samples))), [3] * len(samples), KEYS_EXAMPLE)
    table, meta = read_shd(path)
    assert table.offsets.tolist() == np.cumsum([0] + [len(s) for s in samples]).tolist()
    want_t = np.concatenate([np.rint(t.astype(np.float64) * 1e6) for t in times])
    assert table.columns["t"].tolist() == want_t.astype(np.int64).tolist()
    assert table.columns["x"].tolist() == np.concatenate(units).tolist()
    assert not table.columns["y"].any() and not table.columns["p"].any()
    assert meta.labels.tolist() == list(range(len(samples))) and meta.keys == KEYS_EXAMPLE


def _all_float16() -> np.ndarray:
    v = np.arange(2**16, dtype=np.uint16).view(np.float16)
    return v[np.isfinite(v) & (v >= 0)].astype(np.float64)


@pytest.mark.parametrize("dt_ms", [1, 5, 10])
def test_every_float16_time_lands_in_the_published_bin(dt_ms):
    t = _all_float16()
    published = np.floor(t * 1000 / dt_ms).astype(np.int64)  # FS_coding, in float64
    ours = seconds_to_us(t) // (dt_ms * 1000)
    differ = np.flatnonzero(published != ours)
    if dt_ms in (5, 10):  # the profiles' bin widths: every float16 time agrees
        assert len(differ) == 0
    else:  # 1 ms: a few float16 values lie < 0.5 us below a ms edge (0.00699997 s)
        assert 0 < len(differ) < 20 and (ours[differ] == published[differ] + 1).all()
        assert (np.ceil(t[differ] * 1e6) - t[differ] * 1e6 < 0.5).all()


def test_relation_to_tonic_truncation():
    t = np.concatenate([_all_float16(), np.random.default_rng(0).uniform(0, 2, 100_000)])
    tonic = (t * 1e6).astype(np.int64)  # tonic: float64 * 1e6 into an int field
    diff = seconds_to_us(t) - tonic
    assert set(np.unique(diff).tolist()) <= {0, 1}
    frac = t * 1e6 - np.floor(t * 1e6)
    assert not diff[frac < 0.5].any()
    assert seconds_to_us(np.array([0.000249]))[0] == 249 and int(0.000249 * 1e6) == 248


def test_unsorted_sample_is_stable_sorted(tmp_path):
    path = tmp_path / "shd_test.h5"
    times = [np.array([0.5, 0.25, 0.25, 0.75]), np.array([0.125])]
    units = [np.array([1, 2, 3, 4]), np.array([5])]
    write_shd(path, times, units, [0, 1], [0, 0], KEYS_EXAMPLE)
    table, _ = read_shd(path)
    assert table.resorted == 1
    assert table.columns["t"].tolist() == [250000, 250000, 500000, 750000, 125000]
    assert table.columns["x"].tolist() == [2, 3, 1, 4, 5]


def _good(path, **change):
    times = change.pop("times", [np.array([0.1, 0.2]), np.array([0.3])])
    units = change.pop("units", [np.array([1, 2]), np.array([3])])
    write_shd(path, times, units, change.pop("labels", [0, 1]), [0, 0], KEYS_EXAMPLE)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            {"units": [np.array([1, 700]), np.array([3])]},
            r"'spikes/units' sample 0 spike 1: .*0 \.\. 699",
        ),
        ({"times": [np.array([0.1, 0.2]), np.array([-0.5])]}, r"'spikes/times' sample 1 spike 0"),
        (
            {"times": [np.array([0.1, np.nan]), np.array([0.3])]},
            r"'spikes/times' sample 0 spike 1: time nan",
        ),
        ({"units": [np.array([1]), np.array([3])]}, r"sample 0: 2 times in 'spikes/times' but 1"),
        ({"labels": [0, 20]}, r"'labels' sample 1: label 20; expected 0 \.\. 19"),
    ],
)
def test_errors_name_file_key_and_sample(tmp_path, change, match):
    path = tmp_path / "shd_train.h5"
    _good(path, **change)
    with pytest.raises(FormatError, match=match) as info:
        read_shd(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_key(tmp_path):
    path = tmp_path / "shd_train.h5"
    _good(path)
    with h5py.File(path, "a") as f:
        del f["spikes/units"]
    with pytest.raises(FormatError, match=r"shd_train.h5: no key 'spikes/units'"):
        read_shd(path)


def _spikes_reference(t_s, ch, offsets, n_channels, max_s):
    """Plain numpy version of spikes_kernel: first bad time, else first bad channel, else the
    converted columns and how many samples have decreasing times."""
    t64 = np.asarray(t_s, np.float64)
    bad_t = np.flatnonzero(~((t64 >= 0) & (t64 <= max_s)))
    if len(bad_t):
        return 1, int(bad_t[0]), None
    bad_c = np.flatnonzero((ch < 0) | (ch >= n_channels))
    if len(bad_c):
        return 2, int(bad_c[0]), None
    t = np.rint(t64 * 1e6).astype(np.int64)
    unsorted = sum(bool((np.diff(t[a:b]) < 0).any()) for a, b in itertools.pairwise(offsets))
    return 0, -1, (t, unsorted)


@settings(max_examples=80, deadline=None)
@given(
    spikes=st.lists(
        st.tuples(st.floats(-0.5, 2.0, width=32) | st.just(float("nan")), st.integers(-2, 71)),
        max_size=60,
    ),
    cuts=st.lists(st.integers(0, 60), max_size=5),
)
def test_spikes_kernel_equals_the_numpy_reference(spikes, cuts):
    from eventpipe.kernels.spikes import spikes_kernel

    t_s = np.array([s for s, _ in spikes], np.float32)
    ch = np.array([c for _, c in spikes], np.int64)
    n = len(spikes)
    offsets = np.unique(np.clip([0, n, *cuts], 0, n)).astype(np.int64)
    cols = [np.zeros(n, d) for d in (np.int16, np.int16, np.int64, np.uint8)]
    status, index, unsorted = spikes_kernel(t_s, ch, offsets, 70, 1.5, *cols)
    want_status, want_index, rest = _spikes_reference(t_s, ch, offsets, 70, 1.5)
    assert (status, index) == (want_status, want_index)
    if rest is not None:
        t, want_unsorted = rest
        np.testing.assert_array_equal(cols[2], t)
        np.testing.assert_array_equal(cols[0], ch)
        assert unsorted == want_unsorted and not cols[1].any() and not cols[3].any()
