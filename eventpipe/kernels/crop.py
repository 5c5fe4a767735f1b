"""Temporal crops of sparse frames and densification to ``[T, P, H, W]`` (the loader's hot path).

A view stores, per sample, entries ``(bin, p, y, x, value)`` sorted by ``(bin, p, y, x)`` (see
:mod:`eventpipe.kernels.binning`), concatenated over samples with CSR ``offsets``. A crop is a
window of ``length`` bins starting at bin ``start``: entries with ``start <= bin < start + length``
land in frame ``bin - start``; frames past the end of the sample stay zero (zero padding).

The kernels find the window by binary search on the sorted ``bin`` array, so they touch only the
entries inside it, and write each output frame exactly once: the frame is zeroed, then its entries
are scattered while it is still in cache. They release the GIL (threads can share a batch);
:func:`densify_batch` can also spread samples over Numba's threads (``parallel=True``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from eventpipe.kernels.common import sensor_dims
from eventpipe.runtime.jit import jit

try:  # numba.prange is plain ``range`` when the JIT is off
    from numba import prange
except ImportError:  # pragma: no cover
    prange = range


def crop_start(
    n_bins: int,
    length: int,
    mode: Literal["random", "fixed"] = "fixed",
    rng: np.random.Generator | None = None,
) -> int:
    """First bin of a crop of ``length`` bins from a sample of ``n_bins`` bins.

    Args:
        n_bins: bins in the sample. length: bins in the crop.
        mode: ``"fixed"`` -> 0 (zero-padded at the end when the sample is shorter);
            ``"random"`` -> uniform integer in ``[0, max(0, n_bins - length)]`` drawn from ``rng``.
        rng: the generator to draw from (required for ``"random"``, so crops are reproducible).

    >>> crop_start(100, 17, "random", np.random.default_rng(0)) in range(84)
    True
    """
    if length < 0 or n_bins < 0:
        raise ValueError(f"n_bins and length must be >= 0, got {n_bins}, {length}")
    if mode == "fixed":
        return 0
    if mode == "random":
        if rng is None:
            raise ValueError("crop_start(mode='random') needs an rng (np.random.Generator)")
        return int(rng.integers(0, max(0, int(n_bins) - int(length)), endpoint=True))
    raise ValueError(f"crop mode must be 'random' or 'fixed', got {mode!r}")


@jit
def lower_bound(a, lo, hi, v):
    """First index ``i`` in ``[lo, hi)`` with ``a[i] >= v`` (``a`` sorted there), else ``hi``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@jit
def densify_rows(bins, p, y, x, value, lo, hi, start, length, height, width, out2):
    """Write entries ``[lo, hi)`` with ``start <= bin < start+length`` into ``out2[length, P*H*W]``.

    Every row of ``out2`` is zeroed first (one pass over the output).
    """
    hw = height * width
    i = lower_bound(bins, lo, hi, start)
    for f in range(length):
        row = out2[f]
        row[:] = 0
        b = start + f
        while i < hi and bins[i] == b:
            row[np.int64(p[i]) * hw + np.int64(y[i]) * width + np.int64(x[i])] = value[i]
            i += 1


@jit
def densify_batch_serial(offsets, bins, p, y, x, value, sample_indices, starts, length, h, w, out3):
    """``out3[j] = densify(sample sample_indices[j] from starts[j])`` for every j, one thread."""
    for j in range(sample_indices.shape[0]):
        s = sample_indices[j]
        densify_rows(
            bins, p, y, x, value, offsets[s], offsets[s + 1], starts[j], length, h, w, out3[j]
        )


@jit(parallel=True)
def densify_batch_parallel(
    offsets, bins, p, y, x, value, sample_indices, starts, length, h, w, out3
):
    """Same as :func:`densify_batch_serial`, samples spread over Numba's threads."""
    for j in prange(sample_indices.shape[0]):
        s = sample_indices[j]
        densify_rows(
            bins, p, y, x, value, offsets[s], offsets[s + 1], starts[j], length, h, w, out3[j]
        )


def _check_out_dtype(out_dtype: np.dtype, value_dtype: np.dtype) -> None:
    if out_dtype == np.uint8 and value_dtype != np.uint8:
        raise ValueError(
            f"uint8 output only holds OR views (uint8 values); got values of dtype {value_dtype}"
        )


def densify(
    bin,
    p,
    y,
    x,
    value,
    start: int,
    length: int,
    sensor_size,
    out: np.ndarray | None = None,
    dtype=np.float32,
) -> np.ndarray:
    """Dense frames ``[length, P, H, W]`` of one sample's sparse entries from bin ``start``.

    Args:
        bin, p, y, x, value: the sample's entries, sorted by ``bin`` (``SparseFrames`` order).
        start: first bin of the crop (may exceed the sample: all-zero output).
        length: frames in the output; bins past the sample's end are zero.
        sensor_size: ``(W, H, P)``.
        out: optional C-contiguous ``[length, P, H, W]`` array to fill (every element is written).
        dtype: output dtype when ``out`` is None (float32 or uint8 for OR views, ...).

    Returns:
        ``out`` (or a new array), ``[length, P, H, W]``.
    """
    w, h, npol = sensor_dims(sensor_size)
    shape = (int(length), npol, h, w)
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif out.shape != shape or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous with shape {shape}, got {out.shape}")
    value = np.asarray(value)
    _check_out_dtype(out.dtype, value.dtype)
    bins = np.asarray(bin)
    densify_rows(
        bins,
        np.asarray(p),
        np.asarray(y),
        np.asarray(x),
        value,
        0,
        bins.shape[0],
        int(start),
        int(length),
        h,
        w,
        out.reshape(shape[0], npol * h * w),
    )
    return out


def densify_batch(
    offsets,
    bin,
    p,
    y,
    x,
    value,
    sample_indices,
    starts,
    length: int,
    sensor_size,
    out: np.ndarray,
    parallel: bool = False,
) -> np.ndarray:
    """Crop and densify a batch of samples of a CSR view into a preallocated ``[N, T, P, H, W]``.

    Args:
        offsets: int64 ``[n_samples + 1]``; sample ``s`` owns entries ``offsets[s]:offsets[s+1]``.
        bin, p, y, x, value: the view's concatenated entries (sorted by bin within each sample).
        sample_indices: int ``[N]`` rows of the view to load (any order, repeats allowed).
        starts: int ``[N]`` first bin of each crop (from :func:`crop_start`).
        length: frames per sample ``T``.
        sensor_size: ``(W, H, P)``.
        out: C-contiguous ``[N, T, P, H, W]`` uint8 (OR views) or float32; fully overwritten.
        parallel: spread samples over Numba's threads (``prange``) instead of one thread.

    Returns:
        ``out``.
    """
    w, h, npol = sensor_dims(sensor_size)
    sample_indices = np.asarray(sample_indices, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    n = sample_indices.shape[0]
    shape = (n, int(length), npol, h, w)
    if out.shape != shape or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous with shape {shape}, got {out.shape}")
    if starts.shape != (n,):
        raise ValueError(f"starts must have shape ({n},), got {starts.shape}")
    offsets = np.asarray(offsets, dtype=np.int64)
    if n and (sample_indices.min() < 0 or sample_indices.max() >= offsets.shape[0] - 1):
        raise ValueError(f"sample_indices out of range [0, {offsets.shape[0] - 1})")
    value = np.asarray(value)
    _check_out_dtype(out.dtype, value.dtype)
    kernel = densify_batch_parallel if parallel else densify_batch_serial
    kernel(
        offsets,
        np.asarray(bin),
        np.asarray(p),
        np.asarray(y),
        np.asarray(x),
        value,
        sample_indices,
        starts,
        int(length),
        h,
        w,
        out.reshape(n, int(length), npol * h * w),
    )
    return out
