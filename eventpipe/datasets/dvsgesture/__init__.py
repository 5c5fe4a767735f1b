"""DVS128 Gesture (Amir et al., CVPR 2017): 122 DVS128 recordings of 29 users, 11 gestures.

The official archive ``DvsGesture.tar.gz`` unpacks to ``DvsGesture/`` holding
``userNN_<lighting>.aedat`` (AEDAT 3.1, polarity packets), ``userNN_<lighting>_labels.csv``
(``class,startTime_usec,endTime_usec``) and ``trials_to_train.txt`` / ``trials_to_test.txt``
(users 1-23 train, 24-29 test). eventpipe reads those original files: one sample per label row,
the events with ``start <= t < end`` on the recording's microsecond clock.

Sample ids: ``RECORDINGS.index(stem) * 32 + row`` (``row``: 0-based data row of the labels CSV;
:data:`~eventpipe.datasets.dvsgesture.facts.RECORDINGS` is the official list in trials-file
order), the same whichever recordings a cache holds.

Modules: :mod:`.facts` (recordings, classes, users, lightings), :mod:`.layout` (the archive
folder and trials files), :mod:`.labels` (label CSVs), :mod:`.slicing` (reading and cutting a
recording), :mod:`.splits` (the published split), :mod:`.summary` (``eventpipe summary``),
:mod:`.synth` (the synthetic stand-in). :data:`DATASET` is what the rest of eventpipe sees.
"""

from __future__ import annotations

from eventpipe.datasets.dvsgesture.facts import (
    CLASS_NAMES,
    SENSOR_SIZE,
    SUBSETS,
    recordings_for_subset,
)
from eventpipe.datasets.lazy import lazy, lazy_spec

_PACKAGE = "eventpipe.datasets.dvsgesture"

DATASET = lazy_spec(
    _PACKAGE,
    "slicing",
    "layout",
    name="dvsgesture",
    title="DVS128 Gesture",
    sensor_size=SENSOR_SIZE,
    classes=CLASS_NAMES,
    subsets=SUBSETS,
    raw_layout="DvsGesture/ (*.aedat, *_labels.csv, trials_to_*.txt) or that folder itself",
    samples=lazy(f"{_PACKAGE}.slicing", "slice_recording"),
    splits=lazy(f"{_PACKAGE}.splits", "official_folds"),
    recording_names=recordings_for_subset,
)

__all__ = ["DATASET"]
