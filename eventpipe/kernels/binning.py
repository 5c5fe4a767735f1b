"""Events -> sparse frames with tonic ``ToFrame(sensor_size, time_window=dt)`` semantics, O(n).

Bins (``tonic/slicers.py`` ``SliceByTime``, ``tonic/functional/to_frame.py``):

* ``t0 = t[0]`` (the first event of the array), bin ``k`` holds ``t0 + k*dt <= t < t0 + (k+1)*dt``;
* tonic's frame count is ``max(floor((t[-1] - t0 - dt) / dt) + 1, 1)`` = ``max((t[-1] - t0) // dt,
  1)``: the trailing incomplete bin is dropped, so an event exactly at ``t0 + k*dt`` with
  ``k = n_bins`` is not counted; but a sample shorter than one window still gives **one** (partial)
  frame, and tonic's ``ToFrame`` returns one all-zero frame for an empty sample. That is
  ``n_bins_rule="tonic"`` (default). ``n_bins_rule="complete"`` keeps complete bins only:
  ``(t[-1] - t0) // dt`` (0 for a sample shorter than ``dt``, 0 when empty);
* values per ``(bin, p, y, x)``: tonic counts (``np.add.at`` into int16). ``SUM`` = the count as
  uint16, saturating at 65535 (tonic's int16 wraps above 32767); ``OR`` = 1 (uint8) where the
  count is > 0; ``SUM_NORM`` = ``count / max_count`` as float32, the maximum taken over all entries
  of the sample (the published SLAYER code divides by the max of the already cropped tensor
  instead; its "SUM" mode is this one). ``float32(count) / float32(max)`` is computed exactly
  as torch would;
* with a single-polarity sensor (``P == 1``) every event goes to p = 0 and mixed polarities are an
  error, as in tonic.

The timestamps must be time-sorted for tonic's binary search to make sense; we bin any order by
timestamp (events before ``t0`` or after the last bin are dropped) and agree with tonic whenever
``t`` is non-decreasing.

Entries come out unique and sorted by ``(bin, p, y, x)``; :func:`eventpipe.kernels.crop.densify`
turns them into ``[T, P, H, W]`` frames equal to tonic's (``> 0`` for ``OR``).

``rule="floor_all"`` bins as ``tonic_frames`` but keeps every event: the frame count is
``(t[-1] - t0) // dt + 1`` (the last bin may be incomplete), as first-spike coding's
``my_chunk_evs_pol_dvs`` chunks a window from its first event.

``rule="floor_zero"`` bins ``[k*dt, (k+1)*dt)`` of the events' own clock from ``t = 0`` (not
from the first event), every event kept: ``k = t // dt``, frame count ``t[-1] // dt + 1``;
events before ``t = 0`` are dropped. This is first-spike coding's SHD chunking
(``floor(t / dt)`` on the file clock, from 0).

``rule="ceil"`` bins ``(k*dt, (k+1)*dt]`` of the events' own clock from ``t = 0`` (not from the
first event): ``k = ceil(t / dt) - 1``, with ``t = 0`` in bin 0; frame count ``k_max + 1``. This
is TSSL-BP's N-MNIST converter (``ts_compressed = ceil(ts / time_window)``, step
``ts_compressed - 1`` in its loader), whose loader sends ``t = 0`` to the last step instead
(a wrap-around of index -1; see docs/datasets.md).

``rule="slayer_td"`` bins as slayerPytorch's ``event.toSpikeTensor`` does (``src/spikeFileIO.py``,
``tEvent = np.round(self.t / samplingTime)``), the published SLAYER code's default for its fixed
1500 ms crops (``SlayerTD``, see :func:`slayer_td_kernel`):

* bin ``k = round(t / dt)``, rounding half to even (numpy ``np.round``), with ``t`` the time from
  the sample's origin (the stage output); bin 0 is half a bin wide (``t < dt/2``, plus ``dt/2``
  itself), bin ``k`` holds ``(k - 1/2) dt .. (k + 1/2) dt``; events with ``k < 0`` are dropped;
* frame count ``max(k_max + 1, 1)``, so every event is in a frame; a crop of ``T`` bins from 0
  keeps ``k < T`` as the published ``validInd`` does (``k == T`` is dropped);
* polarity ``p - min(p)`` over the whole sample (slayer's ``event.__init__``: ``self.p -=
  self.p.min()``): a two-polarity sample whose events are all ON puts them in channel 0;
* OR only (value 1); the published tensor holds ``1/Ts`` there, recorded by the build as the
  view's ``value_scale`` (the published layout is ``[P, H, W, T]``: ``frames.permute(1, 2, 3,
  0)`` of the dense ``[T, P, H, W]``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from eventpipe.events import as_events
from eventpipe.kernels.common import (
    check_bounds,
    event_array,
    off_sensor_error,
    sensor_dims,
    spatial_factors,
)
from eventpipe.runtime.jit import DISABLED, jit

Binning = Literal["OR", "SUM", "SUM_NORM"]
NBinsRule = Literal["tonic", "complete"]
Rule = Literal["tonic_frames", "floor_all", "floor_zero", "ceil", "slayer_td"]
RULES = ("tonic_frames", "floor_all", "floor_zero", "ceil", "slayer_td")
#: the most frames a sample's sparse frames can index (their ``bin`` is int32)
MAX_BINS = 2**31 - 1
VALUE_DTYPES = {"OR": np.dtype("u1"), "SUM": np.dtype("<u2"), "SUM_NORM": np.dtype("<f4")}
#: what the binning kernel writes as value (see :func:`bin_counts_kernel`)
VALUE_MODES = {"OR": 1, "SUM": 2, "SUM_NORM": 0}


@dataclass(frozen=True, eq=False)
class SparseFrames:
    """Binned frames of one sample as unique sparse entries sorted by ``(bin, p, y, x)``.

    Attributes:
        n_bins: number of frames ``T`` of the sample (see ``n_bins_rule``); all ``bin < n_bins``.
        bin: int32 ``[m]`` frame index. p: uint8 ``[m]``. y, x: int16 ``[m]``.
        value: ``[m]``, uint8 (OR), uint16 (SUM) or float32 (SUM_NORM).
        sensor_size: ``(W, H, P)``; dense frames are ``[n_bins, P, H, W]``.
        dt_us: bin width in us. binning: ``"OR" | "SUM" | "SUM_NORM"``.

    >>> from eventpipe.events import make_events
    >>> sf = bin_sparse(make_events([1, 1, 2], [0, 0, 3], [0, 10, 1500], [1, 1, 0]),
    ...                 (4, 4, 2), dt_us=1000, binning="SUM")
    >>> sf.n_bins, sf.bin.tolist(), sf.value.tolist()
    (1, [0], [2])
    """

    n_bins: int
    bin: np.ndarray
    p: np.ndarray
    y: np.ndarray
    x: np.ndarray
    value: np.ndarray
    sensor_size: tuple[int, int, int] = (0, 0, 0)
    dt_us: int = 0
    binning: str = "SUM"

    def __len__(self) -> int:
        return int(self.bin.shape[0])

    def dense(self, start: int = 0, length: int | None = None, dtype=None) -> np.ndarray:
        """Dense ``[length, P, H, W]`` frames from bin ``start`` (default: all ``n_bins``)."""
        from eventpipe.kernels.crop import densify

        length = self.n_bins - start if length is None else length
        return densify(
            self.bin,
            self.p,
            self.y,
            self.x,
            self.value,
            start,
            max(length, 0),
            self.sensor_size,
            dtype=self.value.dtype if dtype is None else dtype,
        )


if DISABLED:

    def _ctz(v):
        """Trailing zero bits of a non-zero integer (plain-Python path)."""
        v = int(v)
        return (v & -v).bit_length() - 1

else:
    from numba.cpython.unsafe.numbers import trailing_zeros as _ctz


@jit
def _emit(scratch, bits, summary, b, pos, wb, hb, outs, vmode):
    """Write the touched pixels of bin ``b`` in key order and reset them.

    ``bits`` has bit ``k`` set for every touched key ``k = p << (hb + wb) | y << wb | x`` (so
    key order is ``(p, y, x)`` order), ``summary`` bit ``w`` for every non-zero word ``bits[w]``;
    both are scanned from the lowest set bit up, so nothing is sorted. The value written is the
    count (``vmode`` 0), 1 (``vmode`` 1, OR: ``scratch`` is not used) or the count saturated at
    65535 (``vmode`` 2, SUM).

    Returns:
        ``(pos, max_count)``: the next output position and the largest count of the bin (1 with
        ``vmode`` 1 if the bin has an entry).
    """
    o_bin, o_p, o_y, o_x, o_cnt = outs
    wmask = (1 << wb) - 1
    hmask = (1 << hb) - 1
    one = np.uint64(1)
    max_count = 0
    for a in range(summary.shape[0]):
        s1 = summary[a]
        summary[a] = 0
        while s1 != 0:
            w = (a << 6) + np.int64(_ctz(s1))
            s1 &= s1 - one
            word = bits[w]
            bits[w] = 0
            while word != 0:
                k = (w << 6) + np.int64(_ctz(word))
                word &= word - one
                c = 1
                if vmode != 1:  # OR needs no count (the bitmap has the touched keys)
                    c = scratch[k]
                    scratch[k] = 0
                o_bin[pos] = b
                o_p[pos] = k >> (wb + hb)
                o_y[pos] = (k >> wb) & hmask
                o_x[pos] = k & wmask
                if vmode == 1:
                    o_cnt[pos] = 1
                elif vmode == 2:
                    o_cnt[pos] = min(c, 65535)
                else:
                    o_cnt[pos] = c
                max_count = max(max_count, c)
                pos += 1
    return pos, max_count


@jit
def bin_counts_kernel(
    x,
    y,
    p,
    t,
    order,
    t0,
    dt,
    n_bins,
    width,
    height,
    n_pol,
    outs,
    fx=1.0,
    fy=1.0,
    in_w=0,
    in_h=0,
    vmode=0,
    sx=-1,
    sy=-1,
):
    """Count events per ``(bin, p, y, x)``, emitting entries sorted by ``(bin, p, y, x)``.

    Args:
        x, y, p, t: 1-D event fields (t int64 us).
        order: empty for time-sorted input (events ``0..n-1``), else the indices of the events
            inside the bins grouped by bin (from :func:`bin_order_kernel`).
        t0, dt, n_bins: bin ``k`` is ``[t0 + k*dt, t0 + (k+1)*dt)``.
        width, height, n_pol: the sensor; ``n_pol == 1`` maps every event to p = 0.
        outs: ``(bin i4, p u1, y i2, x i2, value)`` arrays, each as long as the events binned;
            value: the count (``vmode`` 0, int32), 1 (``vmode`` 1, OR, uint8) or the count
            saturated at 65535 (``vmode`` 2, SUM, uint16).
        fx, fy, in_w, in_h: spatial factors applied first (tonic ``Downsample``:
            ``x' = int(x * fx)``, float64 product) to events on an ``in_w x in_h`` sensor;
            ``width, height`` are the sizes after it (ignored unless a factor differs from 1).
        sx, sy: ``k >= 0`` when ``fx`` (``fy``) is ``2**-k``: ``x >> k`` instead of the float
            product (the same value: the product is exact and ``x >= 0``); -1 otherwise.

    Returns:
        ``(n_entries, max_count, status, index)`` (``max_count`` is 1 for ``vmode`` 1: OR counts
        nothing). Without ``order`` every event is checked:
        ``status`` 1 = ``t[index] < t[index - 1]`` (not time-sorted, nothing usable was written),
        2 = event ``index`` is off the sensor (or, with ``n_pol == 1``, has another polarity than
        event 0). 0 = done.

    Per bin, a count per key (int32 ``[P * 2**hb * 2**wb]``, not kept for OR) and a bitmap of
    the touched keys with a one-bit-per-word summary; a bin's entries are read off the bitmap in
    key order.
    """
    wb = 0  # bits for x and y: keys are p << (hb + wb) | y << wb | x
    while (1 << wb) < width:
        wb += 1
    hb = 0
    while (1 << hb) < height:
        hb += 1
    size = np.int64(n_pol) << (wb + hb)
    n_words = (size + 63) >> 6
    scratch = np.zeros(size if vmode != 1 else 0, dtype=np.int32)
    bits = np.zeros(n_words, dtype=np.uint64)
    summary = np.zeros((n_words + 63) >> 6, dtype=np.uint64)
    one = np.uint64(1)
    scaled = fx != 1.0 or fy != 1.0
    iw = in_w if scaled else width
    ih = in_h if scaled else height
    use_order = order.shape[0] > 0
    n = order.shape[0] if use_order else t.shape[0]
    t_end = t0 + n_bins * dt
    cur = np.int64(0)
    next_edge = t0 + dt
    pos = 0
    max_count = 0
    prev = t0
    p_first = p[0] if t.shape[0] > 0 else 0
    for j in range(n):
        i = order[j] if use_order else j
        ti = t[i]
        if not use_order:
            if ti < prev:
                return pos, max_count, 1, i
            prev = ti
            if n_pol == 1:
                bad = p[i] != p_first
            else:
                bad = p[i] >= n_pol
            if bad or x[i] < 0 or x[i] >= iw or y[i] < 0 or y[i] >= ih:
                return pos, max_count, 2, i
        if ti >= t_end or ti < t0:
            continue
        if ti >= next_edge:
            pos, mc = _emit(scratch, bits, summary, cur, pos, wb, hb, outs, vmode)
            max_count = max(max_count, mc)
            cur = (ti - t0) // dt
            next_edge = t0 + (cur + 1) * dt
        pp = 0 if n_pol == 1 else np.int64(p[i])
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if scaled:
            if sx >= 0:
                xi >>= sx
            else:
                xi = np.int64(np.float64(xi) * fx)
            if sy >= 0:
                yi >>= sy
            else:
                yi = np.int64(np.float64(yi) * fy)
        k = (((pp << hb) | yi) << wb) | xi
        if vmode != 1:
            scratch[k] += 1
        w = k >> 6
        bits[w] |= one << np.uint64(k & 63)
        summary[w >> 6] |= one << np.uint64(w & 63)
    pos, mc = _emit(scratch, bits, summary, cur, pos, wb, hb, outs, vmode)
    max_count = max(max_count, mc)
    return pos, max_count, 0, -1


@jit
def bin_order_kernel(t, t0, dt, n_bins):
    """Indices of the events inside the bins, grouped by bin (stable counting sort), any order."""
    n = t.shape[0]
    counts = np.zeros(n_bins + 1, dtype=np.int64)
    t_end = t0 + n_bins * dt
    for i in range(n):
        if t0 <= t[i] < t_end:
            counts[(t[i] - t0) // dt + 1] += 1
    for b in range(n_bins):
        counts[b + 1] += counts[b]
    order = np.empty(counts[n_bins], dtype=np.int64)
    for i in range(n):
        if t0 <= t[i] < t_end:
            b = (t[i] - t0) // dt
            order[counts[b]] = i
            counts[b] += 1
    return order


@jit
def slayer_td_kernel(t, p, dt, out_t):
    """slayerPytorch's time bin of every event: ``out_t[i] = k * dt`` with ``k = round(t[i] / dt)``
    rounded half to even (numpy ``np.round``), in exact integer arithmetic.

    Transcribes ``tEvent = np.round(self.t / samplingTime).astype(int)`` of slayerPytorch's
    ``event.toSpikeTensor`` (``src/spikeFileIO.py``) on ``t = 1000 * t_ms``, ``dt = 1000 * Ts``:
    ``t / dt == t_ms / Ts`` exactly, and the float64 quotient is a tie exactly when this one is.

    Returns:
        ``(k_max, p_min)``: the largest bin (-1 when there are no events) and the smallest
        polarity (0 when there are no events).
    """
    k_max = np.int64(-1)
    p_min = 0
    for i in range(t.shape[0]):
        ti = t[i]
        q = ti // dt  # floor division, also for t < 0
        r2 = 2 * (ti - q * dt)
        if r2 > dt or (r2 == dt and (q & 1) == 1):
            q += 1
        out_t[i] = q * dt
        if i == 0 or q > k_max:
            k_max = q
        pi = np.int64(p[i])
        if i == 0 or pi < p_min:
            p_min = pi
    return k_max, p_min


def n_bins_for(t_first: int, t_last: int, dt_us: int, rule: NBinsRule = "tonic") -> int:
    """Number of frames for a sample spanning ``[t_first, t_last]`` (see the module doc)."""
    complete = max((int(t_last) - int(t_first)) // int(dt_us), 0)
    if rule == "tonic":
        return max(complete, 1)
    if rule == "complete":
        return complete
    raise ValueError(f"n_bins_rule must be 'tonic' or 'complete', got {rule!r}")


def _dt(dt_us) -> int:
    dt = float(dt_us)
    if not (dt > 0 and dt == int(dt)):
        raise ValueError(f"dt_us must be a positive whole number of microseconds, got {dt_us!r}")
    return int(dt)


def bin_sparse(
    events: np.ndarray | Mapping[str, np.ndarray],
    sensor_size,
    dt_us: int,
    binning: Binning = "OR",
    n_bins_rule: NBinsRule = "tonic",
    out: tuple[np.ndarray, ...] | None = None,
    spatial_factor: float | tuple[float, float] = 1.0,
    rule: Rule = "tonic_frames",
) -> SparseFrames:
    """Bin events into sparse frames of width ``dt_us`` (tonic ``ToFrame(time_window=dt_us)``).

    Args:
        events: structured events (``EVENT_DTYPE``) or a mapping of 1-D columns ``x, y, t, p``
            of those dtypes, t in us, time-sorted (see module doc).
        sensor_size: ``(W, H, P)``, P in {1, 2}; coordinates are checked against it.
        dt_us: bin width in us.
        binning: ``"OR"`` (u1 ones), ``"SUM"`` (u2 saturating counts) or ``"SUM_NORM"``
            (f4 count / max count of the sample).
        n_bins_rule: ``"tonic"`` (default, equals tonic's frame count) or ``"complete"``.
        out: optional ``(bin i4, p u1, y i2, x i2, value)`` arrays of at least ``len(events)``
            elements each (value of the binning's dtype): the entries are written there (e.g.
            straight into a recording's output buffer) and returned as views of them.
        spatial_factor: bin ``downsample(events, sensor_size, spatial_factor)`` instead (tonic
            ``Downsample`` truncation, :func:`eventpipe.kernels.downsample`), computed on the
            fly; the frames' sensor size is then the downsampled one.
        rule: ``"tonic_frames"`` (default, the above), ``"floor_all"``, ``"floor_zero"``,
            ``"ceil"`` or
            ``"slayer_td"`` (slayerPytorch's ``round(t / dt)`` bins; ``binning`` must be
            ``"OR"``); see the module doc. ``n_bins_rule`` applies to ``tonic_frames`` only.

    Returns:
        :class:`SparseFrames` with entries sorted by ``(bin, p, y, x)``, unique.
    """
    if not isinstance(events, Mapping):
        events = event_array(events)
    w, h, npol = sensor_dims(sensor_size)
    if npol > 2:
        raise ValueError(f"at most 2 polarities are supported, got sensor_size {sensor_size!r}")
    if binning not in VALUE_DTYPES:
        raise ValueError(f"binning must be one of {sorted(VALUE_DTYPES)}, got {binning!r}")
    dt = _dt(dt_us)
    vdt = VALUE_DTYPES[binning]
    t = events["t"]
    n = len(t)
    if out is not None:
        _check_out(out, n, vdt)
    if spatial_factor != 1.0:
        from eventpipe.kernels.downsample import downsample, downsampled_size

        fx, fy = spatial_factors(spatial_factor)
        in_w, in_h = w, h
        w, h, npol = downsampled_size((w, h, npol), (fx, fy))
    else:
        fx = fy = 1.0
        in_w, in_h = w, h
    size = (w, h, npol)
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if rule == "slayer_td" and binning != "OR":
        raise ValueError(f"the slayer_td rule bins OR only, got binning {binning!r}")
    if n == 0:
        nb0 = n_bins_for(0, 0, dt, n_bins_rule) if rule == "tonic_frames" else 1
        return _empty_frames(nb0, size, dt, binning)
    x, y, p = events["x"], events["y"], events["p"]
    if rule == "slayer_td":
        t = np.empty(n, dtype=np.int64)
        k_max, p_min = slayer_td_kernel(events["t"], p, dt, t)
        if p_min > 0:
            p = (p - p.dtype.type(p_min)).astype(p.dtype)
        events = {"x": x, "y": y, "t": t, "p": p}
        t0, nb = 0, max(int(k_max) + 1, 1)
    elif rule == "ceil":
        t = np.maximum(events["t"] - 1, 0)  # (k dt, (k+1) dt] -> floor bins of t - 1
        events = {"x": x, "y": y, "t": t, "p": p}
        t0, nb = 0, int(t.max()) // dt + 1
    elif rule == "floor_all":
        t0 = int(t[0])
        nb = max(int(t[-1]) - t0, 0) // dt + 1
    elif rule == "floor_zero":
        t0, nb = 0, max(int(t[-1]), 0) // dt + 1
    else:
        t0 = int(t[0])
        nb = n_bins_for(t0, int(t[-1]), dt, n_bins_rule)
    if nb > MAX_BINS:
        raise ValueError(
            f"{nb} bins of {dt} us: more than the {MAX_BINS} a frame index (int32) holds "
            f"(time-align the sample or use a wider bin)"
        )
    vmode = VALUE_MODES[binning]
    cnt_dt = np.int32 if vmode == 0 else vdt  # SUM_NORM divides the counts afterwards
    if out is not None:
        outs = (*(a[:n] for a in out[:4]), out[4][:n] if vmode else np.empty(n, np.int32))
    else:
        outs = tuple(np.empty(n, d) for d in (np.int32, np.uint8, np.int16, np.int16, cnt_dt))
    none = np.empty(0, dtype=np.int64)
    sx, sy = _shift(fx), _shift(fy)
    pos, max_count, status, i = bin_counts_kernel(
        x, y, p, t, none, t0, dt, nb, w, h, npol, outs, fx, fy, in_w, in_h, vmode, sx, sy
    )
    if status != 0 and (fx, fy) != (1.0, 1.0):
        # off the sensor or not time-sorted: the unfused path (its checks and errors)
        ev, _ = downsample(as_events(events), (in_w, in_h, npol), (fx, fy))
        return bin_sparse(ev, size, dt, binning, n_bins_rule, out, rule=rule)  # idempotent
    if status == 2:
        if npol == 1 and 0 <= x[i] < w and 0 <= y[i] < h:
            raise ValueError("single-polarity sensor (P=1), but the events have both polarities")
        raise off_sensor_error(events, int(i), size)
    if status == 1:  # not time-sorted: bin by timestamp through a counting sort
        pos, max_count = _count_unsorted(events, t0, dt, nb, size, outs, vmode)
    if out is not None:
        o_bin, o_p, o_y, o_x, o_cnt = (a[:pos] for a in outs)
        value = out[4][:pos]
    else:
        # keep the oversized buffers when they are mostly used (saves a copy), else trim
        o_bin, o_p, o_y, o_x, o_cnt = (
            a[:pos] if 4 * pos >= 3 * n else a[:pos].copy() for a in outs
        )
        value = o_cnt if vmode else np.empty(pos, dtype=vdt)
    if vmode == 0:
        np.divide(o_cnt, np.float32(max(max_count, 1)), out=value, dtype=np.float32)
    return SparseFrames(nb, o_bin, o_p, o_y, o_x, value, size, dt, binning)


def _empty_frames(n_bins: int, size: tuple[int, int, int], dt: int, binning: Binning):
    """The :class:`SparseFrames` of an empty sample (no entries, ``n_bins`` frames)."""
    e = np.empty(0)
    return SparseFrames(
        n_bins,
        e.astype(np.int32),
        e.astype(np.uint8),
        e.astype(np.int16),
        e.astype(np.int16),
        e.astype(VALUE_DTYPES[binning]),
        size,
        dt,
        binning,
    )


def _count_unsorted(events, t0: int, dt: int, nb: int, size, outs, vmode: int) -> tuple[int, int]:
    """Bin events that are not time-sorted (checked first, as the sorted path would); returns
    ``(n_entries, max_count)`` written into ``outs``."""
    w, h, npol = size
    x, y, p, t = events["x"], events["y"], events["p"], events["t"]
    check_bounds(events, size, check_p=npol > 1)
    if npol == 1 and p.min() != p.max():
        raise ValueError("single-polarity sensor (P=1), but the events have both polarities")
    order = bin_order_kernel(t, t0, dt, nb)
    if not order.shape[0]:
        return 0, 0
    res = bin_counts_kernel(
        x, y, p, t, order, t0, dt, nb, w, h, npol, outs, 1.0, 1.0, 0, 0, vmode, -1, -1
    )
    return res[0], res[1]


def _shift(factor: float) -> int:
    """``k`` if ``factor == 2**-k`` (0 <= k < 53), else -1: tonic's ``int(x * factor)`` is then
    ``x >> k`` for every ``x >= 0`` (see :func:`bin_counts_kernel`)."""
    mantissa, exp = math.frexp(factor)
    k = 1 - exp
    return k if mantissa == 0.5 and 0 <= k < 53 else -1


def _check_out(out, n: int, vdt: np.dtype) -> None:
    want = (np.dtype(np.int32), np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.int16), vdt)
    if len(out) != 5:
        raise ValueError("out must be 5 arrays (bin, p, y, x, value)")
    for a, d in zip(out, want, strict=True):
        if a.dtype != d or a.ndim != 1 or len(a) < n or not a.flags.writeable:
            raise ValueError(f"out arrays must be writable 1-D {[str(w) for w in want]} of >= {n}")


def bin_dense(
    events: np.ndarray,
    sensor_size,
    dt_us: int,
    binning: Binning = "SUM",
    n_bins_rule: NBinsRule = "tonic",
    dtype=None,
    rule: Rule = "tonic_frames",
) -> np.ndarray:
    """Dense ``[n_bins, P, H, W]`` frames (tests, interop); same semantics as :func:`bin_sparse`.

    ``binning="SUM"`` gives tonic ``ToFrame(sensor_size, time_window=dt_us)(events)`` exactly (as
    uint16 unless ``dtype`` is given).
    """
    return bin_sparse(events, sensor_size, dt_us, binning, n_bins_rule, rule=rule).dense(
        dtype=dtype
    )
