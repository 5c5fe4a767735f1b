"""N-TIDIGITS facts: the single-digit classes and the two label maps, the sensor, the file, the
sizes, sample keys and sample ids.

A sample key is ``"<gender>-<speaker>-<take>-<digits>"`` (``"man-im-a-7557"``); eventpipe keeps
the single-digit samples (11 classes, as first-spike coding does). Two label maps:

- ``firstspike`` (dataset ``ntidigits``, the default, lsying009/FS_coding): ``z`` -> 0,
  ``1`` .. ``9`` -> 1 .. 9, ``o`` -> 10 (class names ``zero`` .. ``nine``, ``oh``);
- ``tonic`` (dataset ``ntidigits-tonic``, tonic's ``NTIDIGITS18.class_map``): ``o`` -> 0,
  ``1`` .. ``9`` -> 1 .. 9, ``z`` -> 10 (class names ``oh``, ``one`` .. ``nine``, ``zero``).

Sample ids are stable whatever subset is built: the row index in ``train_labels``; ``8623 +``
the row index in ``test_labels`` (8623 = the published train rows, all digit counts).
Subject = the speaker code as a number (``a`` = 1 .. ``z`` = 26, two letters: ``27 * first +
second``; ``"im"`` -> 256); group = ``M`` (man) or ``W`` (woman).

>>> parse_key("man-im-a-7557", "f.h5", 3)
('man', 'im', 'a', '7557')
>>> LABEL_MAPS["firstspike"]["o"], LABEL_MAPS["tonic"]["o"], speaker_number("im")
(10, 0, 256)
"""

from __future__ import annotations

from eventpipe.datasets.partnames import SPLITS, SUBSETS, split_of, stems_for_subset
from eventpipe.errors import TagError

FILE = "n-tidigits.hdf5"
#: channels of the silicon cochlea (one ear; addresses 0..63)
N_CHANNELS = 64
SENSOR_SIZE: tuple[int, int, int] = (N_CHANNELS, 1, 1)
_WORDS = {
    "z": "zero",
    "o": "oh",
    **{
        str(d): w
        for d, w in enumerate(
            ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
        )
        if d
    },
}
#: label map name -> {digit character: class id}
LABEL_MAPS: dict[str, dict[str, int]] = {
    "firstspike": {"z": 0, **{str(d): d for d in range(1, 10)}, "o": 10},
    "tonic": {"o": 0, **{str(d): d for d in range(1, 10)}, "z": 10},
}
#: label map name -> class names (index = class id)
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    name: tuple(_WORDS[c] for c, _ in sorted(m.items(), key=lambda kv: kv[1]))
    for name, m in LABEL_MAPS.items()
}
#: rows (all digit counts) of each published part
N_ROWS: dict[str, int] = {"train": 8623, "test": 8700}
#: single-digit rows of each published part
N_SINGLE: dict[str, int] = {"train": 2464, "test": 2486}
GENDERS = {"man": "M", "woman": "W"}


def sample_id_base(split: str) -> int:
    """The sample id of row 0 of a part (0 for train, 8623 for test)."""
    return 0 if split == "train" else N_ROWS["train"]


def parse_key(key: str, where: str, row: int) -> tuple[str, str, str, str]:
    """``(gender, speaker, take, digits)`` of a sample key; TagError naming the row otherwise."""
    parts = key.split("-")
    ok = len(parts) == 4 and all(parts) and set(parts[3]) <= set(LABEL_MAPS["firstspike"])
    if not ok:
        raise TagError(
            f"{where}: row {row}: sample key {key!r}; expected <gender>-<speaker>-<take>-"
            "<digits> with digits from 1-9, z, o (e.g. man-im-a-7557)"
        )
    return parts[0], parts[1], parts[2], parts[3]


def speaker_number(code: str) -> int:
    """The subject number of a speaker code (letters a..z -> 1..26, base 27); 0 if not
    letters."""
    if not code.isalpha() or not code.isascii() or len(code) > 2:
        return 0
    n = 0
    for ch in code.lower():
        n = 27 * n + ord(ch) - ord("a") + 1
    return n


__all__ = [
    "CLASS_NAMES",
    "FILE",
    "GENDERS",
    "LABEL_MAPS",
    "N_CHANNELS",
    "N_ROWS",
    "N_SINGLE",
    "SENSOR_SIZE",
    "SPLITS",
    "SUBSETS",
    "parse_key",
    "sample_id_base",
    "speaker_number",
    "split_of",
    "stems_for_subset",
]
