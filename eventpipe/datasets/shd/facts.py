"""SHD facts: classes, sensor, the two published parts, their files, sizes and sample ids.

Sample ids are stable whatever subset is built::

    shd_train.h5 row r:  sample_id = r             (0 .. 8155)
    shd_test.h5  row r:  sample_id = 8156 + r      (8156 .. 10419)

>>> sample_id_base("test"), N_SAMPLES["train"] + N_SAMPLES["test"]
(8156, 10420)
"""

from __future__ import annotations

from eventpipe.datasets.partnames import SPLITS, SUBSETS, split_of, stems_for_subset

#: class names, index = label (the official ``extra/keys``: English 0-9, then German 0-9)
CLASS_NAMES: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "null", "eins", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun",
)  # fmt: skip
#: channels of the SHD cochlea model (``spikes/units`` 0..699)
N_CHANNELS = 700
#: ``(W, H, P)``: 700 channels, tonic's convention for a 1-D sensor
SENSOR_SIZE: tuple[int, int, int] = (N_CHANNELS, 1, 1)
#: file of each part
FILES: dict[str, str] = {"train": "shd_train.h5", "test": "shd_test.h5"}
#: samples per part of the official release
N_SAMPLES: dict[str, int] = {"train": 8156, "test": 2264}
#: speakers (ids 0..11); two of them speak only in the test part
N_SPEAKERS = 12


def sample_id_base(split: str) -> int:
    """The sample id of row 0 of a part (0 for train, 8156 for test)."""
    return 0 if split == "train" else N_SAMPLES["train"]


__all__ = [
    "CLASS_NAMES",
    "FILES",
    "N_CHANNELS",
    "N_SAMPLES",
    "N_SPEAKERS",
    "SENSOR_SIZE",
    "SPLITS",
    "SUBSETS",
    "sample_id_base",
    "split_of",
    "stems_for_subset",
]
