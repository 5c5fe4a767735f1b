"""Spike tables (SHD, N-TIDIGITS): per-sample spike times in seconds and channel numbers, turned
into eventpipe's CSR event columns.

A *spike table* is ``n`` samples, each a pair of 1-D arrays of equal length: times (float,
seconds) and channels (integers ``0 .. n_channels - 1``). :func:`spikes_to_columns` turns the
concatenated arrays of all samples into event columns on a 1-D sensor ``(n_channels, 1, 1)``
(tonic's convention)::

    x = channel (int16)    y = 0 (int16)    t = round(seconds * 1e6) (int64 us)    p = 0 (uint8)

plus int64 ``offsets [n + 1]``: sample ``i``'s events are ``[offsets[i], offsets[i + 1])``.

**Seconds -> microseconds.** ``t_us = numpy.rint(float64(t_s) * 1e6)`` (round half to even, in
float64), whatever the stored float width (float16, float32, float64). tonic's ``HSD`` and
``NTIDIGITS18`` assign ``float64(t_s) * 1e6`` to an integer field, which truncates: eventpipe's
time equals tonic's, or tonic's + 1 where the fractional microsecond is >= 0.5 (where float64's
``t_s * 1e6`` lands just below the intended integer, e.g. ``0.000003 * 1e6 = 2.9999999999999996``).
For SHD's float16 times this rule puts every event into the same 5 ms and 10 ms bin as the
published float64 arithmetic ``floor(t_s * 1000 / dt_ms)`` (checked for every float16 value);
with 1 ms bins a few float16 values that lie less than 0.5 us below a millisecond edge
(``float16(0.007) = 0.00699997 s``) land one bin later.

**Order.** Events of a sample keep the file's order when its times never decrease (the real
files are sorted). A sample whose times decrease is stable-sorted by time (events with equal times
keep their file order); :data:`SpikeTable.resorted` counts such samples.

**Checks** (:class:`~eventpipe.errors.FormatError`, one line naming the file, the key and the
sample index): times and channels of different lengths, a NaN, infinite or negative time, a
time above :data:`MAX_SECONDS`, a channel outside ``0 .. n_channels - 1``, a non-numeric dtype.

>>> import numpy as np
>>> table = spikes_to_columns(
...     np.array([0.5, 0.25, 1e-6], np.float64), np.array([3, 1, 699]),
...     np.array([0, 2, 3]), 700, where="f.h5", keys=("times", "units"))
>>> table.columns["t"].tolist(), table.columns["x"].tolist(), table.resorted
([250000, 500000, 1], [1, 3, 699], 1)

The checks and the conversion run in one Numba pass
(:func:`eventpipe.kernels.spikes.spikes_kernel`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eventpipe.errors import FormatError
from eventpipe.io.buffers import Buffer, decode_target

#: the longest sample time accepted (seconds): about 24 hours, far beyond any audio sample,
#: well inside int64 microseconds
MAX_SECONDS = 86_400.0


@dataclass
class SpikeTable:
    """Events of many samples in CSR form.

    Attributes:
        columns: ``x`` (int16 channel), ``y`` (int16, 0), ``t`` (int64 us), ``p`` (uint8, 0),
            all samples one after the other (views of the caller's buffer when given one).
        offsets: int64 ``[n + 1]``; sample ``i`` is ``[offsets[i], offsets[i + 1])``.
        resorted: how many samples had decreasing times and were stable-sorted.
    """

    columns: dict[str, np.ndarray]
    offsets: np.ndarray
    resorted: int = 0


def seconds_to_us(times: np.ndarray) -> np.ndarray:
    """``rint(float64(times) * 1e6)`` as int64 microseconds (see the module docstring)."""
    return np.rint(np.asarray(times, np.float64) * 1e6).astype(np.int64)


def _sample_at(offsets: np.ndarray, event: int) -> int:
    """The sample holding event ``event`` (its index into ``offsets``)."""
    return int(np.searchsorted(offsets, event, side="right")) - 1


def check_dtypes(where: str, key_t: str, t_dtype: np.dtype, key_c: str, c_dtype: np.dtype):
    """FormatError unless times are floats and channels integers."""
    if t_dtype.kind != "f":
        raise FormatError(f"{where}: key {key_t!r} holds {t_dtype}; expected float seconds")
    if c_dtype.kind not in "iu":
        raise FormatError(f"{where}: key {key_c!r} holds {c_dtype}; expected integer channels")


def _value_error(
    status: int,
    e: int,
    t_s: np.ndarray,
    ch: np.ndarray,
    offsets: np.ndarray,
    n_channels: int,
    where: str,
    keys: Sequence[str],
) -> FormatError:
    """The error for spike ``e`` where :func:`~eventpipe.kernels.spikes.spikes_kernel` stopped."""
    from eventpipe.kernels.spikes import BAD_TIME

    s = _sample_at(offsets, e)
    at = f"{where}: key {keys[0] if status == BAD_TIME else keys[1]!r} sample {s} spike "
    if status == BAD_TIME:
        return FormatError(
            f"{at}{e - int(offsets[s])}: time {float(t_s[e])} s; expected a finite time in "
            f"0 .. {MAX_SECONDS:g} s"
        )
    return FormatError(
        f"{at}{e - int(offsets[s])}: channel {int(ch[e])}; expected 0 .. {n_channels - 1}"
    )


def check_lengths(
    t_lengths: np.ndarray, c_lengths: np.ndarray, where: str, keys: Sequence[str]
) -> None:
    """FormatError naming the first sample whose times and channels differ in length."""
    if len(t_lengths) != len(c_lengths):
        raise FormatError(
            f"{where}: key {keys[0]!r} has {len(t_lengths)} samples, key {keys[1]!r} "
            f"{len(c_lengths)}; expected the same number"
        )
    bad = np.flatnonzero(t_lengths != c_lengths)
    if len(bad):
        s = int(bad[0])
        raise FormatError(
            f"{where}: sample {s}: {int(t_lengths[s])} times in {keys[0]!r} but "
            f"{int(c_lengths[s])} channels in {keys[1]!r}; expected equal lengths"
        )


def _stable_sort(t: np.ndarray, x: np.ndarray, offsets: np.ndarray) -> int:
    """Stable-sort each sample's events by time in place; returns how many samples were."""
    drop = np.flatnonzero(t[1:] < t[:-1]) + 1
    drop = drop[~np.isin(drop, offsets)]  # a new sample may start earlier
    if not len(drop):
        return 0
    samples = np.unique(np.searchsorted(offsets, drop, side="right") - 1)
    a, b = int(offsets[samples[0]]), int(offsets[samples[-1] + 1])
    seg = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))[a:b]
    order = np.lexsort((t[a:b], seg)) + a  # lexsort is stable
    t[a:b], x[a:b] = t[order], x[order]
    return len(samples)


def spikes_to_columns(
    t_s: np.ndarray,
    channels: np.ndarray,
    offsets: np.ndarray,
    n_channels: int,
    *,
    where: str,
    keys: Sequence[str],
    buffer: Buffer = None,
) -> SpikeTable:
    """Checked CSR event columns from the concatenated spikes of all samples.

    Args:
        t_s: ``[n_events]`` float times in seconds, sample after sample.
        channels: ``[n_events]`` integer channels.
        offsets: int64 ``[n_samples + 1]`` sample boundaries into both.
        n_channels: channels of the sensor (700 for SHD, 64 for N-TIDIGITS).
        where: the file, for errors. keys: the two keys (times, channels), for errors.
        buffer: columns ``x, y, t, p`` (or an EVENT_DTYPE array) of at least ``n_events``
            to write into; None allocates.

    Returns:
        :class:`SpikeTable`.

    Raises:
        FormatError: as the module docstring lists.
    """
    from eventpipe.kernels.spikes import OK, spikes_kernel

    if len(t_s) != len(channels) or int(offsets[-1]) != len(t_s):
        raise FormatError(f"{where}: {len(t_s)} times and {len(channels)} channels disagree")
    if t_s.dtype == np.float16:  # no float16 arithmetic in Numba; float32 holds it exactly
        t_s = t_s.astype(np.float32)
    n = len(t_s)
    out = decode_target(buffer, n)
    t, x = out["t"], out["x"]
    offsets = np.asarray(offsets, dtype=np.int64)
    status, e, unsorted = spikes_kernel(
        t_s, channels, offsets, n_channels, MAX_SECONDS, x, out["y"], t, out["p"]
    )
    if status != OK:
        raise _value_error(status, int(e), t_s, channels, offsets, n_channels, where, keys)
    resorted = _stable_sort(t, x, offsets) if unsorted else 0
    return SpikeTable({k: out[k][:n] for k in ("x", "y", "t", "p")}, offsets, resorted)


def object_rows(rows: Sequence[np.ndarray], dtype) -> np.ndarray:
    """A 1-D object array of the rows as ``dtype`` arrays (what h5py writes to a vlen dataset;
    a plain ``numpy.array`` would stack rows of equal length into 2-D)."""
    out = np.empty(len(rows), object)
    for i, r in enumerate(rows):
        out[i] = np.asarray(r, dtype)
    return out


__all__ = [
    "MAX_SECONDS",
    "SpikeTable",
    "check_dtypes",
    "check_lengths",
    "object_rows",
    "seconds_to_us",
    "spikes_to_columns",
]
