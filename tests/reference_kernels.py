"""Plain-Python reference versions of the kernels, and the hypothesis strategies the tests share.

Each reference is written from the stated semantics (see the kernel module docs), as directly as
possible, with Python ints and dicts: slow, obviously correct, independent of Numba and of tonic.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from eventpipe.events import EVENT_DTYPE, make_events

# ---------------------------------------------------------------------------------------------
# references


def ref_time_align(t):
    t = [int(v) for v in t]
    if not t:
        return []
    m = min(t)
    return [v - m for v in t]


def ref_floor_ms_us(t, origin_us=0):
    return [((int(v) + origin_us) // 1000) * 1000 - (origin_us // 1000) * 1000 for v in t]


def ref_denoise_mask(x, y, t, width, height, filter_time):
    """Keep an event if a 4-neighbour fired earlier with ``t - t_nb < filter_time``."""
    last = {}  # (x, y) -> last time; a pixel that never fired counts as having fired at 0
    keep = []
    for xi, yi, ti in zip(x, y, t):
        xi, yi, ti = int(xi), int(yi), int(ti)
        last[(xi, yi)] = ti
        ok = False
        for nx, ny in ((xi - 1, yi), (xi + 1, yi), (xi, yi - 1), (xi, yi + 1)):
            if 0 <= nx < width and 0 <= ny < height and ti - last.get((nx, ny), 0) < filter_time:
                ok = True
        keep.append(ok)
    return np.array(keep, dtype=bool)


def ref_refractory_mask(x, y, t, period):
    """Keep an event if ``t - t_prev > period``; t_prev = previous event at the pixel or -period."""
    last = {}
    keep = []
    for xi, yi, ti in zip(x, y, t):
        k = (int(xi), int(yi))
        ti = int(ti)
        keep.append(ti - last.get(k, -period) > period)
        last[k] = ti
    return np.array(keep, dtype=bool)


def ref_downsample(events, fx, fy, tf=1.0):
    out = events.copy()
    for i in range(len(events)):
        if fx != 1:
            out["x"][i] = int(float(events["x"][i]) * fx)
        if fy != 1:
            out["y"][i] = int(float(events["y"][i]) * fy)
        if tf != 1:
            out["t"][i] = int(float(events["t"][i]) * tf)
    return out


def ref_decode_aedat2(addresses, timestamps, orientation="published"):
    """AEDAT 2.0 records -> (x, y, t, p) lists, from the rules in eventpipe.io.aedat2's doc."""
    xs, ys, ps, ts = [], [], [], []
    epoch, low, prev = 0, 0, None
    for a, raw in zip(addresses, timestamps, strict=True):
        a, raw = int(a), int(raw)
        hi, lo = (a >> 8) & 0x7F, (a >> 1) & 0x7F
        if orientation == "published":
            xs.append(hi)
            ys.append(lo)
        else:
            xs.append(127 - lo)
            ys.append(hi)
        ps.append(a & 1)
        if prev is not None and raw - prev < -(2**31):
            epoch += 1
        elif prev is not None and raw - prev > 2**31:
            epoch -= 1
        low = min(low, epoch)
        prev = raw
        ts.append(raw + epoch * 2**32)
    return xs, ys, [v - low * 2**32 for v in ts], ps


def ref_n_bins(t, dt, rule="tonic"):
    if len(t) == 0:
        return 1 if rule == "tonic" else 0
    complete = (int(t[-1]) - int(t[0])) // dt
    return max(complete, 1) if rule == "tonic" else complete


def ref_bin_counts(events, sensor_size, dt, rule="tonic"):
    """``(n_bins, {(bin, p, y, x): count})`` binning each event by its timestamp."""
    n_bins = ref_n_bins(events["t"], dt, rule)
    counts = {}
    if len(events) == 0:
        return n_bins, counts
    t0 = int(events["t"][0])
    for e in events:
        b = (int(e["t"]) - t0) // dt
        if 0 <= b < n_bins:
            p = 0 if sensor_size[2] == 1 else int(e["p"])
            key = (b, p, int(e["y"]), int(e["x"]))
            counts[key] = counts.get(key, 0) + 1
    return n_bins, counts


def ref_bin_values(counts, binning):
    keys = sorted(counts)
    if binning == "OR":
        vals = [1] * len(keys)
    elif binning == "SUM":
        vals = [min(counts[k], 65535) for k in keys]
    else:
        m = max(counts.values(), default=1)
        vals = [float(np.float32(counts[k]) / np.float32(m)) for k in keys]
    return keys, vals


def ref_densify(keys, vals, start, length, sensor_size, dtype=np.float32):
    w, h, p = sensor_size
    out = np.zeros((length, p, h, w), dtype=dtype)
    for (b, pp, yy, xx), v in zip(keys, vals):
        if start <= b < start + length:
            out[b - start, pp, yy, xx] = v
    return out


def ref_crop_bounds(n_bins, length):
    return 0, max(0, n_bins - length)


# ---------------------------------------------------------------------------------------------
# strategies


@st.composite
def sensors(draw, max_side=8, polarities=(1, 2)):
    """A small ``(W, H, P)``."""
    return (
        draw(st.integers(1, max_side)),
        draw(st.integers(1, max_side)),
        draw(st.sampled_from(polarities)),
    )


STEPS_US = (0, 1, 999, 1000, 1001, 2000, 5000)


@st.composite
def event_arrays(draw, sensor_size, max_n=60, max_step=4000, t_start=None, sorted_t=True):
    """Time-sorted events on ``sensor_size`` (ties and bin-edge steps likely), t in us."""
    w, h, p = sensor_size
    n = draw(st.integers(0, max_n))
    if t_start is None:
        t_start = draw(st.one_of(st.just(0), st.integers(0, 5000), st.integers(0, 2**33)))
    elif isinstance(t_start, st.SearchStrategy):
        t_start = draw(t_start)
    step = st.sampled_from(STEPS_US) | st.integers(0, max_step)
    t = t_start + np.cumsum(draw(hnp.arrays(np.int64, n, elements=step)))
    if not sorted_t and n > 1:
        t = t[np.array(draw(st.permutations(range(n))), dtype=np.int64)]
    xs = draw(hnp.arrays(np.int16, n, elements=st.integers(0, w - 1)))
    ys = draw(hnp.arrays(np.int16, n, elements=st.integers(0, h - 1)))
    ps = draw(hnp.arrays(np.uint8, n, elements=st.integers(0, p - 1)))
    return make_events(xs, ys, t.astype(np.int64), ps)


@st.composite
def sensor_and_events(draw, max_side=8, polarities=(1, 2), **kw):
    size = draw(sensors(max_side=max_side, polarities=polarities))
    return size, draw(event_arrays(size, **kw))


def assert_events_equal(a: np.ndarray, b: np.ndarray) -> None:
    """Field-by-field equality of two event arrays (dtype-agnostic for tonic outputs)."""
    assert len(a) == len(b), (len(a), len(b))
    for f in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(np.asarray(a[f]).astype(np.int64), b[f].astype(np.int64))


def tonic_events(events: np.ndarray) -> np.ndarray:
    """A fresh copy for tonic (some tonic functions write into their input)."""
    return np.array(events, dtype=EVENT_DTYPE, copy=True)


def random_dvs128_events(rng: np.random.Generator, n: int, t_lo: int, t_hi: int) -> np.ndarray:
    """``n`` uniformly placed DVS128 events (x, y in 0..127, p in 0..1) with sorted times drawn
    from ``[t_lo, t_hi)`` microseconds."""
    return make_events(
        rng.integers(0, 128, n),
        rng.integers(0, 128, n),
        np.sort(rng.integers(t_lo, t_hi, n)),
        rng.integers(0, 2, n),
    )
