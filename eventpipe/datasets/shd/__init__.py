"""SHD, the Spiking Heidelberg Digits (Cramer et al., 2020): spoken digits 0-9 in English and
German, turned into spikes of 700 cochlea-model channels.

The official release is two HDF5 files, ``shd_train.h5`` (8156 samples) and ``shd_test.h5``
(2264), found in the raw directory or one folder down (:mod:`eventpipe.io.shd` has their
layout). Each file is one build unit (a *recording*, also the Parquet partition): ``train`` and
``test``. One sample per row; 20 classes (``extra/keys``: ``zero`` .. ``nine``, ``null`` ..
``neun``); subject = the row's ``extra/speaker``; no group or lighting.

Events: ``x`` = unit (channel 0..699), ``y = 0``, ``p = 0`` on the sensor ``(700, 1, 1)``,
``t = rint(seconds * 1e6)`` us on the file's clock (each sample from its own 0).

Sample ids are stable whatever subset is built: the row index in ``shd_train.h5``; ``8156 +``
the row index in ``shd_test.h5``. Splits: the published train/test parts; the ``cv`` protocol
draws validation from train per sample, stratified by class
(:class:`~eventpipe.datasets.base.SplitFold`).
"""

from __future__ import annotations

from eventpipe.datasets.base import PublishedSplits
from eventpipe.datasets.lazy import lazy_spec
from eventpipe.datasets.shd.facts import (
    CLASS_NAMES,
    SENSOR_SIZE,
    SPLITS,
    SUBSETS,
    split_of,
    stems_for_subset,
)

DATASET = lazy_spec(
    "eventpipe.datasets.shd",
    "parts",
    name="shd",
    title="SHD",
    sensor_size=SENSOR_SIZE,
    classes=CLASS_NAMES,
    subsets=SUBSETS,
    raw_layout="shd_train.h5 + shd_test.h5, here or one folder down",
    splits=PublishedSplits(stems_for_subset, split_of, SPLITS),
    recording_names=stems_for_subset,
)

__all__ = ["DATASET"]
