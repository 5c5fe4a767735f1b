"""N-TIDIGITS18 (Anumula et al., 2018): TIDIGITS spoken digit strings played to a 64-channel
silicon cochlea; eventpipe keeps the single-digit samples (11 classes), as first-spike coding
(seed 003) does.

The official release is one HDF5 file, ``n-tidigits.hdf5`` (raw directory or one folder
down; layout in :mod:`eventpipe.io.ntidigits`). Its two parts are the build units (recordings,
also Parquet partitions): ``train`` and ``test``. Events: ``x`` = address (0..63), ``y = 0``,
``p = 0`` on the sensor ``(64, 1, 1)``, ``t = rint(seconds * 1e6)`` us on the file's clock.

Two registry names, one per label map (:mod:`.facts`): ``ntidigits`` (first-spike coding's map,
``z`` -> 0, ``o`` -> 10, the default) and ``ntidigits-tonic`` (tonic's, ``o`` -> 0, ``z`` ->
10). Sample ids: the row in ``train_labels``; ``8623 +`` the row in ``test_labels``. Subject =
the speaker code as a number, group = ``M`` / ``W``. Splits: the published parts; ``cv`` draws
validation per sample from train, stratified by class.
"""

from __future__ import annotations

from eventpipe.datasets.base import DatasetSpec, PublishedSplits
from eventpipe.datasets.lazy import lazy, lazy_spec
from eventpipe.datasets.ntidigits.facts import (
    CLASS_NAMES,
    SENSOR_SIZE,
    SPLITS,
    SUBSETS,
    split_of,
    stems_for_subset,
)

_PACKAGE = "eventpipe.datasets.ntidigits"


def make_spec(name: str, label_map: str) -> DatasetSpec:
    """The DatasetSpec of N-TIDIGITS with one label map (``firstspike`` or ``tonic``)."""
    return lazy_spec(
        _PACKAGE,
        "parts",
        name=name,
        title="N-TIDIGITS18",
        sensor_size=SENSOR_SIZE,
        classes=CLASS_NAMES[label_map],
        subsets=SUBSETS,
        raw_layout="n-tidigits.hdf5, here or one folder down",
        read_recording=lazy(f"{_PACKAGE}.parts", f"read_{label_map}"),
        samples=lazy(f"{_PACKAGE}.parts", f"samples_{label_map}"),
        splits=PublishedSplits(stems_for_subset, split_of, SPLITS),
        summarize=lazy(f"{_PACKAGE}.summary", f"summarize_{label_map}"),
        recording_names=stems_for_subset,
    )


DATASET = make_spec("ntidigits", "firstspike")

__all__ = ["DATASET", "make_spec"]
