"""DVSPlane (Afshar et al., Frontiers in Neuroscience 2019): model airplanes dropped past an ATIS.

Four model airplanes (F117, Mig31, Su24, Su35) dropped free-hand close to an ATIS sensor
(304 x 240), 200 drops each. The archive holds one MATLAB file per drop, ``<class>_<n>.mat``
(``n = 1..200``), with a struct ``TD``: ``x``, ``y`` (1-based), ``p`` (-1 / 1), ``ts`` (us),
MAT v5/v7 or v7.3 (:mod:`eventpipe.io.matlab_td`). One sample per file; the class is the
file-name prefix; the published split (first-spike coding, lsying009/FS_coding) trains on
``n = 1..160`` and tests on ``n = 161..200`` of every class.

Recordings are the files (stem ``F117_12``). Sample ids are stable whatever subset is built:
``class_id * 200 + n - 1`` (``F117_1`` -> 0, ``Mig31_1`` -> 200, ``Su35_200`` -> 799), with
``class_id`` the index in ``("F117", "Mig31", "Su24", "Su35")``. Subject 0, no group or
lighting.

Modules: :mod:`.facts` (classes, names, split, sample ids), :mod:`.layout` (finding the
files), :mod:`.samples` (reading a file, its one sample), :mod:`.summary` (``eventpipe
summary``), :mod:`.synth` (the synthetic stand-in). :data:`DATASET` is what the rest of
eventpipe sees.
"""

from __future__ import annotations

from eventpipe.datasets.base import PublishedSplits
from eventpipe.datasets.dvsplane.facts import (
    CLASS_NAMES,
    SENSOR_SIZE,
    STEMS,
    SUBSETS,
    split_of,
    stems_for_subset,
)
from eventpipe.datasets.lazy import lazy_spec

#: the published train/test split (n <= 160 / n > 160); ``cv`` draws validation from the
#: training samples per class (one sample per recording, so validation recordings are whole
#: drops)
DATASET = lazy_spec(
    "eventpipe.datasets.dvsplane",
    "samples",
    "layout",
    name="dvsplane",
    title="DVSPlane",
    sensor_size=SENSOR_SIZE,
    classes=CLASS_NAMES,
    subsets=SUBSETS,
    raw_layout="<class>_<n>.mat (F117, Mig31, Su24, Su35; n = 1..200), here or one folder down",
    splits=PublishedSplits(stems_for_subset, split_of, STEMS),
    recording_names=stems_for_subset,
)

__all__ = ["DATASET"]
