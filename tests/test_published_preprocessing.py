"""The steps behind the N-MNIST and DVS Gesture profiles against transcriptions of the published
preprocessing (written here from the published formulas, loops as written, float64):

- TSSL-BP's N-MNIST converter (``stabilize.m``, ``NMNIST_Converter.m``) and its loader
  (``loadNMNIST_Spiking.py``): saccade stabilisation, ``ceil(ts / 3000)`` steps, binary frames;
- first-spike coding's DVS Gesture chunking (``get_tmad_slice`` + ``my_chunk_evs_pol_dvs``): the
  first ``T * dt`` from the first event, ``x // 4``, ``y // 4``, counts, ``T_empty`` zero steps;
- first-spike coding's SHD chunking: ``floor(t / dt)`` on the file clock from ``t = 0``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.events import EVENT_DTYPE, make_events
from eventpipe.kernels.binning import bin_sparse
from eventpipe.kernels.stabilize import stabilize_saccades
from eventpipe.kernels.stage import StagePlan, stage_events, stage_into


def _matlab_round(v: float) -> float:
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)


def stabilize_reference(x, y, t, p, width=34, height=34):
    """stabilize.m + the converter's bound test, on 1-based coordinates, event by event."""
    out = []
    for xi, yi, ti, pi in zip(x.tolist(), y.tolist(), t.tolist(), p.tolist(), strict=True):
        X, Y, ts = xi + 1.0, yi + 1.0, float(ti)
        if ts <= 105e3:
            X, Y = X - 3.5 * ts / 105e3, Y - 7 * ts / 105e3
        elif ts <= 210e3:
            X = X - 3.5 - 3.5 * (ts - 105e3) / 105e3
            Y = Y - 7 + 7 * (ts - 105e3) / 105e3
        else:
            X = X - 7 + 7 * (ts - 210e3) / 105e3
        X, Y = _matlab_round(X), _matlab_round(Y)
        if X < 1 or Y < 1 or X > width or Y > height:
            continue
        out.append((int(X) - 1, int(Y) - 1, ti, pi))
    return out


def tsslbp_loader_reference(x, y, t, p, n_steps, time_window=3000):
    """The published tensor [2, 34(x), 34(y), n_steps] of stabilised events: converter
    ``ceil(ts / time_window)``, loader ``data[c, x, y, step - 1] = 1`` for ``step < n_steps``
    (index -1, the last step, for ``step == 0``)."""
    data = np.zeros((2, 34, 34, n_steps))
    for xi, yi, ti, pi in stabilize_reference(x, y, t, p):
        step = math.ceil(ti / time_window)
        if step >= n_steps:
            continue
        data[pi, xi, yi, step - 1] = 1
    return data


events_strategy = st.integers(1, 300).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 33), min_size=n, max_size=n),
        st.lists(st.integers(0, 33), min_size=n, max_size=n),
        st.lists(st.integers(0, 330_000), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


def _events(cols, sort=True):
    x, y, t, p = (np.asarray(c) for c in cols)
    ev = make_events(x, y, t, p)
    return np.sort(ev, order="t", kind="stable") if sort else ev


@settings(max_examples=60, deadline=None)
@given(events_strategy)
def test_stabilize_equals_the_published_formulas(cols):
    ev = _events(cols, sort=False)
    got = stabilize_saccades(ev)
    want = stabilize_reference(ev["x"], ev["y"], ev["t"], ev["p"])
    assert list(zip(*(got[k].tolist() for k in "xytp"), strict=True)) == want


def test_stabilize_rounds_halves_away_from_zero():
    """t = 15 ms moves y by exactly 1.0 and x by 0.5: x = 0 -> X = 0.5 -> 1 (kept at x = 0);
    at t = 45 ms x moves by 1.5: X = 1 - 1.5 = -0.5 -> -1, dropped."""
    ev = make_events([0, 0, 5], [5, 5, 5], [15_000, 45_000, 45_000], [1, 1, 0])
    got = stabilize_saccades(ev)
    assert got["x"].tolist() == [0, 4] and got["y"].tolist() == [4, 2]


@settings(max_examples=40, deadline=None)
@given(events_strategy, st.sampled_from([30, 100]))
def test_tsslbp_steps_equal_the_published_tensor(cols, n_steps):
    """The tsslbp2020 steps (stabilise, file clock, ceil rule, OR): equal to the published
    loader's tensor in every step but two documented ones: the published last step holds only
    t = 0 events (its index -1), eventpipe puts t = 0 in step 0 and fills the last step with
    ``((T - 1) * 3 ms, T * 3 ms]``."""
    ev = _events(cols)
    plan = StagePlan((34, 34, 2), time_align=False, stabilize="nmnist_saccades", rezero=False)
    staged, size = stage_events(ev, plan)
    frames = bin_sparse(staged, size, 3000, "OR", rule="ceil").dense(0, n_steps)  # [T, P, H, W]
    ours = frames.transpose(1, 3, 2, 0)  # -> the published [P, x, y, T]
    want = tsslbp_loader_reference(ev["x"], ev["y"], ev["t"], ev["p"], n_steps)
    zero = staged["t"] == 0
    body = slice(1, n_steps - 1) if zero.any() else slice(0, n_steps - 1)
    np.testing.assert_array_equal(ours[..., body], want[..., body])
    if not zero.any():
        np.testing.assert_array_equal(ours[..., 0], want[..., 0])


@settings(max_examples=60, deadline=None)
@given(events_strategy, st.sampled_from(["nmnist_saccades", "nmnist_saccades_tonic"]))
def test_stabilize_only_stage_writes_into_the_build_columns(cols, variant):
    """The build's ``stage_into`` for a stabilisation-only plan (the kernel writes straight
    into the recording's columns) keeps exactly what ``stage_events`` keeps."""
    ev = _events(cols)
    plan = StagePlan((34, 34, 2), time_align=False, stabilize=variant, rezero=False)
    want, _ = stage_events(ev, plan)
    out = tuple(np.full(len(ev) + 2, 7, EVENT_DTYPE[k]) for k in "xytp")
    n = stage_into({k: np.ascontiguousarray(ev[k]) for k in "xytp"}, plan, out)
    assert n == len(want)
    for col, k in zip(out, "xytp", strict=True):
        np.testing.assert_array_equal(col[:n], want[k])
    with pytest.raises(ValueError, match="out must be"):
        stage_into(ev, plan, (out[2], *out[1:]))  # an int64 x column


def firstspike_reference(x, y, t, p, T=120, dt=10_000, ds=4, t_empty=40):
    """first-spike coding's DVS Gesture tensor [2, 32(y), 32(x), T + T_empty] of one sample
    (times from its first event): events before ``T * dt`` chunked from the first of them."""
    t = t - t[0]
    keep = t < T * dt
    x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    out = np.zeros((2, 128 // ds, 128 // ds, T + t_empty), dtype=np.int64)
    t_start = t[0]
    for i in range(T):
        lo, hi = t_start + i * dt, t_start + (i + 1) * dt
        sel = (t >= lo) & (t < hi)
        np.add.at(out, (p[sel], y[sel] // ds, x[sel] // ds, i), 1)
    return out


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 400).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 127), min_size=n, max_size=n),
            st.lists(st.integers(0, 127), min_size=n, max_size=n),
            st.lists(st.integers(0, 3_000_000), min_size=n, max_size=n),
            st.lists(st.integers(0, 1), min_size=n, max_size=n),
        )
    ),
    st.integers(0, 2**33),
)
def test_firstspike_frames_equal_the_published_chunks(cols, offset):
    """window 1.2 s from the first event + time_align + downsample 0.25 + floor_all SUM bins +
    a fixed crop of 160 (120 + 40 empty) equal the published counts (below int8's 127)."""
    ev = _events(cols)
    ev["t"] += offset
    plan = StagePlan((128, 128, 2), window_us=1_200_000, spatial_factor=0.25)
    staged, size = stage_events(ev, plan)
    frames = bin_sparse(staged, size, 10_000, "SUM", rule="floor_all").dense(0, 160)
    ref = firstspike_reference(ev["x"], ev["y"], ev["t"] - offset, ev["p"])
    np.testing.assert_array_equal(frames.transpose(1, 2, 3, 0), ref)  # [P, H, W, T]


def test_window_keeps_the_first_window_from_the_first_event_even_unsorted():
    ev = make_events([1, 2, 3, 4], [0, 0, 0, 0], [500, 100, 1_300, 1_099], [0, 0, 0, 0])
    staged, _ = stage_events(ev, StagePlan((8, 8, 2), window_us=1_000, time_align=False))
    assert sorted(staged["x"].tolist()) == [1, 2, 4]


def test_rezero_false_keeps_the_stage_clock():
    ev = make_events([1, 2], [0, 0], [654, 900], [0, 1])
    staged, _ = stage_events(ev, StagePlan((8, 8, 2), time_align=False, rezero=False))
    assert staged["t"].tolist() == [654, 900]
    staged, _ = stage_events(ev, StagePlan((8, 8, 2), time_align=False))
    assert staged["t"].tolist() == [0, 246]


@settings(max_examples=60, deadline=None)
@given(events_strategy)
def test_tonic_variant_equals_tonics_stabilize(cols):
    """``nmnist_saccades_tonic`` = ``tonic.datasets.nmnist.stabilize`` (the +4/+2 offset,
    bounds before rounding, halves to even) on the same events."""
    from tonic.datasets.nmnist import stabilize

    ev = _events(cols, sort=False)
    want = stabilize(ev.copy())
    got = stabilize_saccades(ev, variant="tonic")
    for k in "xytp":
        np.testing.assert_array_equal(got[k], want[k])


@settings(max_examples=60, deadline=None)
@given(events_strategy, st.sampled_from([1000, 3000, 10_000]))
def test_floor_zero_bins_from_t0_of_the_clock(cols, dt):
    """first-spike coding's SHD chunking: bin floor(t / dt) of the file clock from t = 0 (not
    from the first event), every event kept, frame count t_max // dt + 1."""
    ev = _events(cols)
    frames = bin_sparse(ev, (34, 34, 2), dt, "SUM", rule="floor_zero")
    n_bins = int(ev["t"][-1]) // dt + 1
    assert frames.n_bins == n_bins
    want = np.zeros((n_bins, 2, 34, 34))
    for e in ev:  # as written: one event at a time, float64
        want[math.floor(float(e["t"]) / dt), e["p"], e["y"], e["x"]] += 1
    np.testing.assert_array_equal(frames.dense(0, n_bins), want)
