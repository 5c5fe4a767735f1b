"""Fused events stage (align + denoise + ms flooring): equals the chained kernels, tonic and a
plain reference."""

from __future__ import annotations

import numpy as np
import pytest
import tonic.transforms as T
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.errors import FormatError
from eventpipe.events import EVENT_DTYPE, empty_events, make_events
from eventpipe.kernels import denoise, floor_ms_us, time_align
from eventpipe.kernels.stage import StagePlan, stage_events, stage_into, stage_single_kernel
from tests.reference_kernels import (
    assert_events_equal,
    random_dvs128_events,
    ref_denoise_mask,
    ref_floor_ms_us,
    ref_time_align,
    sensor_and_events,
    tonic_events,
)

FILTER_TIMES = st.one_of(st.integers(1, 12000), st.sampled_from([1000, 5000, 10000]))


def ref_stage(ev, filter_time, align=True, floor=True):
    """The stage from the plain references: align, denoise (sample bounds), floor, re-zero."""
    t = [int(v) for v in ev["t"]]
    t0 = min(t) if t else 0
    ta = ref_time_align(t) if align else t
    keep = np.ones(len(ev), dtype=bool)
    if filter_time is not None and len(ev):
        w, h = int(ev["x"].max()) + 1, int(ev["y"].max()) + 1
        keep = ref_denoise_mask(ev["x"], ev["y"], ta, w, h, filter_time)
    out = ev[keep].copy()
    tk = [v for v, k in zip(ta, keep, strict=True) if k]
    if floor:
        tk = ref_floor_ms_us(tk, t0 if align else 0)
    out["t"] = [v - tk[0] for v in tk] if tk else []
    return out


def chained(ev, size, filter_time, align=True, floor=True):
    """The unfused kernels one after the other (what the events stage ran before)."""
    origin = int(ev["t"].min()) if len(ev) else 0
    out = time_align(ev) if align else ev.copy()
    if filter_time is not None:
        out = denoise(out, size, filter_time)
    if floor:
        out = floor_ms_us(out, origin_us=origin if align else 0)
    if len(out):
        out["t"] -= out["t"][0]
    return out


def fused(ev, size, filter_time, align=True, floor=True, extra=0):
    n = len(ev)
    out = empty_events(n + extra)
    cols = (out["x"], out["y"], out["t"], out["p"])
    k = stage_into(
        ev, StagePlan(size, time_align=align, denoise_us=filter_time, floor_ms=floor), cols
    )
    assert 0 <= k <= n
    return out[:k]


@settings(max_examples=200, deadline=None)
@given(
    sensor_and_events(max_side=6, t_start=None),
    st.one_of(st.none(), FILTER_TIMES),
    st.booleans(),
    st.booleans(),
)
def test_fused_equals_chain_and_reference(size_ev, ft, align, floor):
    size, ev = size_ev
    out = fused(ev, size, ft, align, floor)
    assert_events_equal(chained(ev, size, ft, align, floor), out)
    assert_events_equal(ref_stage(ev, ft, align, floor), out)
    if len(out):
        assert out["t"][0] == 0


@settings(max_examples=100, deadline=None)
@given(
    sensor_and_events(max_side=6, t_start=None), st.one_of(st.none(), FILTER_TIMES), st.booleans()
)
def test_fused_without_rezero_keeps_the_input_clock(size_ev, ft, floor):
    """``rezero=False`` without time alignment (``tsslbp2020``) runs fused: the times stay on
    the input's clock (floored with ``floor_ms``), the kept events as the chain keeps them."""
    size, ev = size_ev
    plan = StagePlan(size, time_align=False, denoise_us=ft, floor_ms=floor, rezero=False)
    assert plan.fused
    out = empty_events(len(ev))
    k = stage_into(ev, plan, (out["x"], out["y"], out["t"], out["p"]))
    want = denoise(ev, size, ft) if ft is not None else ev.copy()
    if floor:
        want = floor_ms_us(want, origin_us=0)
    assert_events_equal(want, out[:k])


@settings(max_examples=100, deadline=None)
@given(sensor_and_events(max_side=6, t_start=None, sorted_t=False), FILTER_TIMES)
def test_unsorted_and_separate_columns(size_ev, ft):
    """Any order (tonic aligns on min(t)); output into separate contiguous columns."""
    size, ev = size_ev
    n = len(ev)
    cols = (
        np.full(n + 3, -1, np.int16),
        np.full(n + 3, -1, np.int16),
        np.full(n + 3, -1, np.int64),
        np.full(n + 3, 9, np.uint8),
    )
    k = stage_into(ev, StagePlan(size, denoise_us=ft, floor_ms=True), cols)
    got = make_events(*(c[:k] for c in cols)) if k else empty_events()
    assert_events_equal(ref_stage(ev, ft), got)
    assert_events_equal(chained(ev, size, ft), got)


@settings(max_examples=100, deadline=None)
@given(sensor_and_events(max_side=6), FILTER_TIMES)
def test_equals_tonic_align_denoise(size_ev, ft):
    """Without flooring: tonic TimeAlignment -> Denoise, re-zeroed at the first kept event."""
    size, ev = size_ev
    out = fused(ev, size, ft, floor=False)
    if len(ev):
        want = T.Denoise(filter_time=ft)(T.TimeAlignment()(tonic_events(ev)))
        if len(want):
            want["t"] -= want["t"][0]
        assert_events_equal(want, out)


def test_known_cases_and_errors():
    # the first 10 ms of the aligned clock: untouched in-bounds neighbours count as t = 0
    ev = make_events([0, 3, 1], [0, 3, 3], [5_000_123, 5_004_000, 5_020_500], [0, 1, 0])
    out = fused(ev, (8, 8, 2), 10_000)
    assert out["t"].tolist() == [0, 4000]  # (5004 - 5000) ms; the last event is isolated
    assert out["x"].tolist() == [0, 3]
    # no event kept, empty input
    assert len(fused(make_events([0], [0], [10**9], [1]), (8, 8, 2), 10)) == 0
    assert len(fused(empty_events(), (8, 8, 2), 10)) == 0
    # off the sensor: the denoise error, same message
    bad = make_events([1, 9], [1, 1], [0, 5], [0, 0])
    with pytest.raises(FormatError) as want:
        denoise(time_align(bad), (8, 8, 2), 100)
    with pytest.raises(FormatError) as got:
        fused(bad, (8, 8, 2), 100)
    assert str(got.value) == str(want.value)
    # without denoise nothing is checked (as before)
    assert len(fused(bad, (8, 8, 2), None)) == 2
    # output buffers: dtypes and room are checked
    with pytest.raises(ValueError, match="out must be"):
        plan = StagePlan((8, 8, 2), denoise_us=10, floor_ms=True)
        stage_into(bad, plan, tuple(np.empty(1, EVENT_DTYPE[k]) for k in "xytp"))


def single_pass(ev, size, filter_time, align=True, floor=True):
    """:func:`stage_single_kernel` alone: ``(events written, status, index)``."""
    out = empty_events(len(ev))
    j, status, bad = stage_single_kernel(
        ev["x"], ev["y"], ev["t"], ev["p"], align, filter_time is not None, size[0], size[1],
        filter_time or 0, floor, out["x"], out["y"], out["t"], out["p"],
    )  # fmt: skip
    return out[:j], int(status), int(bad)


@settings(max_examples=300, deadline=None)
@given(
    sensor_and_events(max_side=6, t_start=None, sorted_t=False),
    st.integers(0, 3),
    st.integers(0, 3),
    st.one_of(st.none(), FILTER_TIMES),
    st.booleans(),
    st.booleans(),
)
def test_single_pass_equals_reference_or_declines(size_ev, pad_w, pad_h, ft, align, floor):
    """Events on a corner of a larger sensor (the sample's bounds lie inside it), any order:
    the one pass either declines (status 1: not sorted, or a decision may depend on the
    sample's bounds) or equals the plain reference; stage_into equals it either way."""
    (w, h, npol), ev = size_ev
    if len(ev) == 0:
        return
    size = (w + pad_w, h + pad_h, npol)
    want = ref_stage(ev, ft, align, floor)
    out, status, _ = single_pass(ev, size, ft, align, floor)
    assert status in (0, 1)
    if status == 0:
        assert_events_equal(want, out)
    if ft is None:  # nothing depends on min(t) or the bounds without denoise
        assert status == 0
    assert_events_equal(want, fused(ev, size, ft, align, floor))


def test_single_pass_declines_when_the_bounds_or_the_order_matter():
    # one event at (0, 0) at aligned time 0: its right and lower neighbours are inside the
    # sensor (memory 0: recent) but outside the sample (x, y <= 0): tonic drops it
    ev = make_events([0], [0], [5_000_000], [1])
    assert single_pass(ev, (8, 8, 2), 10_000)[1] == 1
    assert len(ref_stage(ev, 10_000)) == 0
    assert len(fused(ev, (8, 8, 2), 10_000)) == 0
    # on a 1 x 1 sensor the bounds agree: no second pass
    assert single_pass(ev, (1, 1, 2), 10_000)[1:] == (0, -1)
    # the left neighbours are inside the sample: the bounds change nothing
    ev2 = make_events([1, 1], [1, 0], [5_000_000, 5_000_100], [1, 0])
    out, status, _ = single_pass(ev2, (8, 8, 2), 10_000)
    assert status == 0
    assert_events_equal(ref_stage(ev2, 10_000), out)
    # not time-sorted: min(t) is not t[0]
    ev3 = make_events([1, 2, 3], [1, 1, 1], [5_000, 4_000, 6_000], [0, 0, 0])
    assert single_pass(ev3, (8, 8, 2), 10_000)[1] == 1
    assert single_pass(ev3, (8, 8, 2), 10_000, align=False)[1] == 0
    assert_events_equal(ref_stage(ev3, 10_000), fused(ev3, (8, 8, 2), 10_000))
    # off the sensor: status 2 at the first such event, before anything depends on it
    ev4 = make_events([1, 8, 9], [1, 1, 1], [0, 5, 6], [0, 0, 0])
    assert single_pass(ev4, (8, 8, 2), 100)[1:] == (2, 1)
    assert single_pass(ev4, (8, 8, 2), None)[1] == 0


def test_large_sample_equals_chain():
    rng = np.random.default_rng(3)
    n = 200_000
    ev = random_dvs128_events(rng, n, 2**32 - 10**6, 2**32 + 10**6)
    out = fused(ev, (128, 128, 2), 10_000)
    assert 0 < len(out) < n
    assert_events_equal(chained(ev, (128, 128, 2), 10_000), out)
    assert single_pass(ev, (128, 128, 2), 10_000)[1] == 0  # one pass suffices


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 200), st.integers(0, 2**32 - 1))
def test_identity_plan_returns_its_input(n, seed):
    """StagePlan.identity (every step off, no re-zeroing) promises the build may copy instead."""
    rng = np.random.default_rng(seed)
    ev = make_events(rng.integers(0, 700, n), np.zeros(n), rng.integers(0, 10**6, n),
                     np.zeros(n))  # fmt: skip
    plan = StagePlan((700, 1, 1), time_align=False, rezero=False)
    assert plan.identity
    out, _ = stage_events(ev, plan)
    np.testing.assert_array_equal(out, ev)
    for other in ({"time_align": True}, {"rezero": True}, {"window_us": 10}, {"clip": "none",
                  "floor_ms": True}, {"spatial_factor": 0.5}):  # fmt: skip
        kw = {"time_align": False, "rezero": False, **other}
        assert not StagePlan((700, 1, 1), **kw).identity
