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

from collections.abc import Iterable

from eventpipe.datasets.base import DatasetSpec, Fold, published_split_folds
from eventpipe.datasets.lazy import lazy
from eventpipe.datasets.shd.facts import (
    CLASS_NAMES,
    SENSOR_SIZE,
    SPLITS,
    SUBSETS,
    split_of,
    stems_for_subset,
)


def _splits(
    recordings: Iterable[str] | None, protocol: str = "cv", subset: str = "full"
) -> list[Fold]:
    """The published train/test split; ``cv`` draws validation per sample from train."""
    if recordings is None:
        recordings = stems_for_subset(subset)
    return published_split_folds(recordings, protocol, split_of, SPLITS, unit="sample")


DATASET = DatasetSpec(
    name="shd",
    title="SHD",
    sensor_size=SENSOR_SIZE,
    classes=CLASS_NAMES,
    subsets=SUBSETS,
    groups=(),
    raw_layout="shd_train.h5 + shd_test.h5, here or one folder down",
    find_recordings=lazy("eventpipe.datasets.shd.parts", "discover"),
    read_recording=lazy("eventpipe.datasets.shd.parts", "read_recording"),
    max_events=lazy("eventpipe.datasets.shd.parts", "max_events"),
    samples=lazy("eventpipe.datasets.shd.parts", "samples"),
    splits=_splits,
    synthesize=lazy("eventpipe.datasets.shd.synth", "generate_dataset"),
    is_synthetic=lazy("eventpipe.datasets.shd.synth", "is_synthetic"),
    summarize=lazy("eventpipe.datasets.shd.summary", "summarize"),
    render_summary=lazy("eventpipe.datasets.shd.summary", "render"),
    synth_scales=("small", "tiny", "full"),
    recording_names=stems_for_subset,
)

__all__ = ["DATASET"]
