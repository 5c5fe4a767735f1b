"""Numba kernels: the only hot loops of eventpipe, one family per module.

Public wrappers take and return structured event arrays (:data:`eventpipe.events.EVENT_DTYPE`,
t in microseconds); the ``*_kernel``/``*_mask`` functions below them take 1-D field arrays.
The events stage of a build is one :class:`StagePlan` applied by :func:`stage_events` /
:func:`stage_into`; shared wrapper helpers are in :mod:`eventpipe.kernels.common`.
All are pure functions, handle empty input, and follow tonic's semantics where tonic has the
same operation (tonic is the oracle in ``tests/test_kernels_*.py``). Set
``EVENTPIPE_DISABLE_JIT=1`` before import to run the plain-Python versions.
"""

from __future__ import annotations

from eventpipe.kernels.align import floor_ms_us, floor_to_ms, time_align
from eventpipe.kernels.binning import SparseFrames, bin_dense, bin_sparse, n_bins_for
from eventpipe.kernels.crop import crop_start, densify, densify_batch
from eventpipe.kernels.denoise import denoise, denoise_mask
from eventpipe.kernels.downsample import downsample, downsampled_size
from eventpipe.kernels.refractory import refractory, refractory_mask
from eventpipe.kernels.stage import StagePlan, stage_events, stage_into

__all__ = [
    "SparseFrames",
    "StagePlan",
    "bin_dense",
    "bin_sparse",
    "crop_start",
    "denoise",
    "denoise_mask",
    "densify",
    "densify_batch",
    "downsample",
    "downsampled_size",
    "floor_ms_us",
    "floor_to_ms",
    "n_bins_for",
    "refractory",
    "refractory_mask",
    "stage_events",
    "stage_into",
    "time_align",
]
