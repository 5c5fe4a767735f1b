"""N-MNIST (Orchard et al., 2015): MNIST digits recorded by an ATIS sensor moved in three saccades.

The official archive is ``Train/<digit>/<n>.bin`` (60000 files) + ``Test/<digit>/<n>.bin``
(10000), 5-byte ATIS records on a 34 x 34 sensor (:mod:`eventpipe.io.nmnist`), about 300 ms
per file. One sample per file; classes ``"0"`` .. ``"9"``; the published train/test split.

The build unit (a *recording*, also the Parquet partition) is one digit folder of one part:
``train_0`` .. ``train_9``, ``test_0`` .. ``test_9``; its files, sorted by name, are its
samples. Sample ids are stable whatever subset is built: ``n - 1`` for ``Train/<d>/<n>.bin``,
``60000 + n - 1`` for ``Test/<d>/<n>.bin`` (``00012.bin`` -> 11). Subject 0, no group or
lighting.

Modules: :mod:`.facts` (classes, stems, sample ids), :mod:`.layout` (finding the files),
:mod:`.samples` (reading a folder in one pass, one sample per file), :mod:`.summary`
(``eventpipe summary``), :mod:`.synth` (the synthetic stand-in). :data:`DATASET` is what the
rest of eventpipe sees.
"""

from __future__ import annotations

from eventpipe.datasets.base import PublishedSplits
from eventpipe.datasets.lazy import lazy_spec
from eventpipe.datasets.nmnist.facts import (
    CLASS_NAMES,
    SENSOR_SIZE,
    STEMS,
    SUBSETS,
    split_of,
    stems_for_subset,
)

#: the published train/test split; ``cv`` draws validation from train per sample (stratified
#: by class, :class:`~eventpipe.datasets.base.SplitFold`)
DATASET = lazy_spec(
    "eventpipe.datasets.nmnist",
    "samples",
    "layout",
    name="nmnist",
    title="N-MNIST",
    sensor_size=SENSOR_SIZE,
    classes=CLASS_NAMES,
    subsets=SUBSETS,
    raw_layout="Train/<digit>/*.bin + Test/<digit>/*.bin, here or one folder down",
    splits=PublishedSplits(stems_for_subset, split_of, STEMS),
    recording_names=stems_for_subset,
)

__all__ = ["DATASET"]
