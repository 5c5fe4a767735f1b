"""Bin many samples of one recording in one call: CSR events in, CSR sparse frames out.

:func:`bin_csr` gives, for every sample ``i`` of ``events[offsets[i]:offsets[i + 1]]``, exactly
what :func:`eventpipe.kernels.binning.bin_sparse` gives for that sample alone (same entries,
same ``n_bins``), written one sample after the other into the caller's output arrays. It loops
over the samples inside one Numba kernel, so a recording of thousands of small samples (N-MNIST's
digit folders, SHD's files) costs no Python call per sample: the per-sample path spent about
100 us of Python per sample around a kernel of a few us.

It covers the common case: rules ``tonic_frames`` (tonic's frame count), ``floor_all``,
``floor_zero`` and ``ceil``, binnings ``OR`` and ``SUM``, time-sorted samples on the sensor. For
anything else (``slayer_td``, ``SUM_NORM``, a sample out of order or off the sensor, too many
bins) it returns ``None`` and the caller bins sample by sample, which also raises the precise
error. ``tests/test_kernels_binning_csr.py`` checks it against ``bin_sparse`` per sample.
"""

from __future__ import annotations

import numpy as np

from eventpipe.kernels.binning import MAX_BINS, VALUE_MODES, _shift, bin_counts_kernel
from eventpipe.kernels.common import sensor_dims, spatial_factors
from eventpipe.kernels.downsample import downsampled_size
from eventpipe.runtime.jit import jit

#: rule codes of :func:`bin_csr_kernel`
RULE_CODES = {"tonic_frames": 0, "floor_all": 1, "floor_zero": 2, "ceil": 3}


@jit
def _sample_bins(t, rule, dt):
    """``(t0, n_bins, t_binned)`` of one sample's times by rule code (see the module doc)."""
    n = t.shape[0]
    if n == 0:
        return 0, 1, t
    if rule == 0:  # tonic_frames: complete bins from the first event, at least one
        return t[0], max((t[n - 1] - t[0]) // dt, 1), t
    if rule == 1:  # floor_all: every event kept
        return t[0], max(t[n - 1] - t[0], 0) // dt + 1, t
    if rule == 2:  # floor_zero: from t = 0 of the clock
        return 0, max(t[n - 1], 0) // dt + 1, t
    tt = np.maximum(t - 1, 0)  # ceil: (k dt, (k+1) dt] as floor bins of t - 1, t = 0 in bin 0
    return 0, tt.max() // dt + 1, tt


@jit
def bin_csr_kernel(x, y, p, t, offsets, rule, dt, geometry, vmode, outs, out_offsets, n_bins):
    """Bin every sample of a CSR event set (see :func:`bin_csr`).

    Args:
        x, y, p, t: event columns (t int64 us); offsets: int64 ``[n + 1]``.
        rule: :data:`RULE_CODES`; dt: bin width (us).
        geometry: ``(w, h, n_pol, in_w, in_h, fx, fy, sx, sy)`` as ``bin_counts_kernel`` takes.
        vmode: 1 (OR) or 2 (SUM). outs: ``(bin, p, y, x, value)`` output arrays.
        out_offsets: int64 ``[n + 1]`` output, sample ``i``'s entries; n_bins: int32 ``[n]``.

    Returns:
        ``-1`` when every sample is binned, else the sample that needs the per-sample path.
    """
    w, h, n_pol, in_w, in_h, fx, fy, sx, sy = geometry
    none = np.empty(0, dtype=np.int64)
    pos = 0
    out_offsets[0] = 0
    for i in range(offsets.shape[0] - 1):
        a, b = offsets[i], offsets[i + 1]
        t0, nb, ts = _sample_bins(t[a:b], rule, dt)
        if nb > MAX_BINS:
            return i
        if b > a:
            sl = (outs[0][pos:], outs[1][pos:], outs[2][pos:], outs[3][pos:], outs[4][pos:])
            m, _mc, status, _j = bin_counts_kernel(
                x[a:b], y[a:b], p[a:b], ts, none, t0, dt, nb, w, h, n_pol, sl,
                fx, fy, in_w, in_h, vmode, sx, sy,
            )  # fmt: skip
            if status != 0:
                return i
            pos += m
        out_offsets[i + 1] = pos
        n_bins[i] = nb
    return -1


def bin_csr(
    events: dict[str, np.ndarray],
    offsets: np.ndarray,
    sensor_size,
    dt_us: int,
    binning: str,
    rule: str,
    spatial_factor: float = 1.0,
    out: tuple[np.ndarray, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Sparse frames of every sample of a recording, or ``None`` (bin sample by sample).

    Args:
        events: columns ``x, y, t, p`` of all samples (t in us, each sample time-sorted).
        offsets: int64 ``[n + 1]`` sample boundaries.
        sensor_size, dt_us, binning, rule, spatial_factor: as
            :func:`eventpipe.kernels.binning.bin_sparse`.
        out: ``(bin i4, p u1, y i2, x i2, value)`` arrays of at least ``offsets[-1]`` entries
            (value of the binning's dtype); allocated when None.

    Returns:
        ``(entry_offsets int64 [n + 1], n_bins int32 [n])``, the entries in ``out``; ``None``
        for a case this path does not cover (the module docstring), with ``out`` partly written.
    """
    if rule not in RULE_CODES or binning not in ("OR", "SUM"):
        return None
    w, h, npol = sensor_dims(sensor_size)
    if npol > 2:
        return None
    fx, fy = spatial_factors(spatial_factor)
    in_w, in_h = w, h
    if (fx, fy) != (1.0, 1.0):
        w, h, _ = downsampled_size((w, h, npol), (fx, fy))
    n_total = int(offsets[-1])
    if out is None:
        out = tuple(np.empty(n_total, d) for d in ("i4", "u1", "i2", "i2", _value_dtype(binning)))
    n = len(offsets) - 1
    out_offsets, n_bins = np.zeros(n + 1, np.int64), np.zeros(n, np.int32)
    geometry = (w, h, npol, in_w, in_h, fx, fy, _shift(fx), _shift(fy))
    x, y, p, t = (np.ascontiguousarray(events[k]) for k in ("x", "y", "p", "t"))
    failed = bin_csr_kernel(
        x, y, p, t, np.asarray(offsets, np.int64),
        RULE_CODES[rule], int(dt_us), geometry, VALUE_MODES[binning], tuple(out),
        out_offsets, n_bins,
    )  # fmt: skip
    return None if failed >= 0 else (out_offsets, n_bins)


def _value_dtype(binning: str) -> str:
    return "u1" if binning == "OR" else "<u2"


__all__ = ["RULE_CODES", "bin_csr", "bin_csr_kernel"]
