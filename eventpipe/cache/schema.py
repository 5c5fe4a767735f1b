"""The on-disk cache schema (HDF5 and Parquet), in one place.

Readers and writers import their names, dtypes and version from here. Bump
:data:`FORMAT_VERSION` on any incompatible change; readers refuse other major versions.

HDF5 file (``data/cache.h5``)::

    /                      attrs: format="eventpipe-cache", format_version, profile (JSON;
                                  its "dataset" names the dataset, see dataset_name),
                                  profile_hash, sensor_size [W,H,P], time_unit="us",
                                  layout="TPHW", created_by, created_at, source (JSON digest),
                                  synthetic (bool), synthetic_manifest (JSON or ""),
                                  profile_name, profile_resolved (JSON, ``auto`` crops replaced),
                                  raw_dir, subset, orientation, n_recordings, n_samples,
                                  n_events, n_raw_events, dataset (registry name)
    /samples               compound dataset, one row per sample, dtype SAMPLES_DTYPE
    /events/x,y,t,p        concatenated events of all samples (t re-zeroed per sample, us)
    /events/offsets        int64 [n_samples + 1]; sample i = rows offsets[i]:offsets[i+1]
    /views/<name>/bin,p,y,x,value   sparse frames, concatenated over samples, sorted by
                                    (bin, p, y, x) within a sample
    /views/<name>/offsets  int64 [n_samples + 1] (CSR over samples)
    /views/<name>/n_bins   int32 [n_samples]: complete bins of each sample
                           attrs: dt_us, n_bins_rule, binning (OR|SUM|SUM_NORM), sensor_size,
                                  spatial_factor, train_crop (bins), train_crop_mode,
                                  train_crop_auto, test_crop (bins), test_crop_mode,
                                  test_crop_auto, layout="TPHW", time_floor_ms (bool),
                                  rule (tonic_frames|slayer_td), value_scale (float)

Parquet dataset (``data/cache.parquet/``)::

    samples.parquet                          the /samples table (strings as UTF-8)
    events/recording=<stem>/part-0.parquet   columns sample_id, x, y, t, p; row groups of
                                             whole samples; zstd
    _eventpipe.json                          the HDF5 root attributes
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

FORMAT = "eventpipe-cache"
#: major.minor; readers accept equal major.
FORMAT_VERSION = "1.1"
LAYOUT = "TPHW"
TIME_UNIT = "us"

#: One row of /samples. Strings are fixed-length ASCII in HDF5 (decode with .astype(str)).
#: ``split`` is the dataset's published part of the sample (``train`` / ``test``; empty for a
#: dataset split by cross-validation, SL-Animals). Format 1.1 added ``split`` and widened
#: ``class_name`` from S16 to S32; 1.0 files read with ``split`` empty.
SAMPLES_DTYPE = np.dtype(
    [
        ("sample_id", "<i4"),
        ("recording", "S32"),
        ("subject", "<i2"),
        ("group", "S2"),
        ("lighting", "S16"),
        ("class_id", "<i2"),
        ("class_name", "S32"),
        ("t_start_us", "<i8"),
        ("t_end_us", "<i8"),
        ("n_events", "<i8"),
        ("split", "S8"),
        ("event_offset", "<i8"),
    ]
)
SAMPLES_COLUMNS: tuple[str, ...] = SAMPLES_DTYPE.names  # type: ignore[assignment]

#: per-field on-disk dtypes of /events and of a view's sparse entries
EVENT_FIELDS = {"x": "<i2", "y": "<i2", "t": "<i8", "p": "u1"}
VIEW_FIELDS = {"bin": "<i4", "p": "u1", "y": "<i2", "x": "<i2"}
#: value dtype per binning mode
VIEW_VALUE_DTYPES = {"OR": "u1", "SUM": "<u2", "SUM_NORM": "<f4"}
BINNINGS = tuple(VIEW_VALUE_DTYPES)

#: the dataset of a cache whose profile names none (caches built before profiles named theirs)
DEFAULT_DATASET = "slanimals"


def dataset_name(profile: Mapping[str, Any]) -> str:
    """The registry name of the dataset a cache was built from.

    Args:
        profile: the cache's ``profile`` attribute, parsed (``CacheFile.profile``).

    Returns:
        ``profile["dataset"]``, or :data:`DEFAULT_DATASET` when the profile has no such key.
        Look the dataset up with :func:`eventpipe.datasets.get`.

    >>> dataset_name({"name": "paper2021"})
    'slanimals'
    """
    return str(profile.get("dataset") or DEFAULT_DATASET)
