"""Finding, reading and cutting the two N-TIDIGITS parts (both in ``n-tidigits.hdf5``).

The file is looked for in the raw directory, else one folder down. A part (``train`` /
``test``) is one build unit; :func:`read_recording` reads its single-digit samples (rows whose
key ends in one digit character) with :func:`eventpipe.io.ntidigits.read_part` into the columns
``x`` (address), ``y = 0``, ``t`` (us, the file's clock), ``p = 0`` plus per-sample offsets,
labels (through the dataset's label map), subjects, groups and sample ids. Multi-digit rows are
not samples of this dataset (their sample ids are left unused).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from eventpipe.datasets import spiketables as st
from eventpipe.datasets.ntidigits.facts import (
    CLASS_NAMES,
    FILE,
    GENDERS,
    LABEL_MAPS,
    parse_key,
    sample_id_base,
    speaker_number,
    stems_for_subset,
)

HINT = "python -m eventpipe synth --dataset ntidigits --out {}"


def discover(
    raw_dir: str | os.PathLike, subset: str = "full", strict: bool = True
) -> list[st.PartFile]:
    """The parts of ``subset`` (both live in ``n-tidigits.hdf5``).

    Raises:
        LayoutError: the file is missing (here and one folder down); ``strict`` has no
            effect, as one file holds both parts.
    """
    path = st.find_file(raw_dir, FILE, "N-TIDIGITS", HINT.format(raw_dir))
    return [st.PartFile(stem, path) for stem in stems_for_subset(subset)]


def max_events(rec: st.PartFile) -> int:
    """An upper bound on a part's spikes: the file size (a spike takes >= 2 bytes on file)."""
    return os.path.getsize(rec.path) // 2 + 1


def single_rows(keys: tuple[str, ...], where: str) -> tuple[np.ndarray, list[tuple]]:
    """Row indices and parsed keys of the single-digit samples."""
    rows, parsed = [], []
    for r, key in enumerate(keys):
        p = parse_key(key, where, r)
        if len(p[3]) == 1:
            rows.append(r)
            parsed.append(p)
    return np.asarray(rows, np.int64), parsed


def read_with_map(rec: st.PartFile, label_map: str, buffer: Any = None) -> dict:
    """Read a part's single-digit samples with the label map ``label_map``."""
    from eventpipe.io.ntidigits import read_labels, read_part

    keys = read_labels(rec.path, rec.split)
    rows, parsed = single_rows(keys, f"{rec.path}: {rec.split}_labels")
    table = read_part(rec.path, rec.split, rows.tolist(), buffer=buffer)
    m = LABEL_MAPS[label_map]
    return {
        **table.columns,
        st.OFFSETS_KEY: table.offsets,
        st.IDS_KEY: sample_id_base(rec.split) + rows,
        st.LABELS_KEY: np.array([m[p[3]] for p in parsed], np.int64),
        st.SUBJECTS_KEY: np.array([speaker_number(p[1]) for p in parsed], np.int64),
        st.GROUPS_KEY: [GENDERS.get(p[0], p[0][:2].upper()) for p in parsed],
    }


def _check(orientation: str) -> None:
    if orientation != "published":
        raise ValueError(f"orientation {orientation!r}: N-TIDIGITS has one; 'published'")


def read_firstspike(rec: st.PartFile, orientation: str = "published", buffer: Any = None) -> dict:
    """:func:`read_with_map` with the ``firstspike`` map (dataset ``ntidigits``)."""
    _check(orientation)
    return read_with_map(rec, "firstspike", buffer)


def read_tonic(rec: st.PartFile, orientation: str = "published", buffer: Any = None) -> dict:
    """:func:`read_with_map` with the ``tonic`` map (dataset ``ntidigits-tonic``)."""
    _check(orientation)
    return read_with_map(rec, "tonic", buffer)


def samples_firstspike(rec: st.PartFile, events: Any) -> list:
    """One ``(SampleMeta, events)`` per single-digit row, ``firstspike`` classes."""
    if not (isinstance(events, dict) and st.OFFSETS_KEY in events):
        events = read_firstspike(rec)
    return st.cut_samples(rec, events, CLASS_NAMES["firstspike"])


def samples_tonic(rec: st.PartFile, events: Any) -> list:
    """One ``(SampleMeta, events)`` per single-digit row, ``tonic`` classes."""
    if not (isinstance(events, dict) and st.OFFSETS_KEY in events):
        events = read_tonic(rec)
    return st.cut_samples(rec, events, CLASS_NAMES["tonic"])


__all__ = [
    "discover",
    "max_events",
    "read_firstspike",
    "read_tonic",
    "read_with_map",
    "samples_firstspike",
    "samples_tonic",
    "single_rows",
]
