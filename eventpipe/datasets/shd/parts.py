"""Finding, reading and cutting the two SHD parts (``shd_train.h5``, ``shd_test.h5``).

The files are looked for in the raw directory, else one folder down (``SHD/shd_train.h5``). A
part is read whole (:func:`eventpipe.io.shd.read_shd`: bulk, no Python loop per sample) into the
columns ``x`` (unit), ``y = 0``, ``t`` (us), ``p = 0`` plus the per-sample offsets, labels,
speakers and sample ids; :func:`samples` cuts them into one sample per row, with the file's own
clock (``t`` from the sample's start as recorded, not re-zeroed), subject = ``extra/speaker``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from eventpipe.datasets import spiketables as st
from eventpipe.datasets.shd.facts import CLASS_NAMES, FILES, sample_id_base, stems_for_subset
from eventpipe.errors import LayoutError

HINT = "python -m eventpipe synth --dataset shd --out {}"


def discover(
    raw_dir: str | os.PathLike, subset: str = "full", strict: bool = True
) -> list[st.PartFile]:
    """The parts of ``subset`` present in ``raw_dir`` (train first).

    Raises:
        LayoutError: a missing file (strict), or no part at all.
    """
    found, problems = [], []
    for stem in stems_for_subset(subset):
        try:
            found.append(
                st.PartFile(stem, st.find_file(raw_dir, FILES[stem], "SHD", HINT.format(raw_dir)))
            )
        except LayoutError as exc:
            problems.append(exc)
    if problems and (strict or not found):
        raise problems[0]
    for exc in problems:
        warnings.warn(f"skipped: {exc}", UserWarning, stacklevel=2)
    return found


def max_events(rec: st.PartFile) -> int:
    """An upper bound on the part's spikes (from the file size, without reading them)."""
    from eventpipe.io.shd import max_spikes

    return max_spikes(rec.path)


def read_recording(rec: st.PartFile, orientation: str = "published", buffer: Any = None) -> dict:
    """Read a whole part: columns ``x, y, t, p`` (views of ``buffer`` when given) and the
    per-sample keys of :mod:`eventpipe.datasets.spiketables`."""
    from eventpipe.io.shd import read_shd

    if orientation != "published":
        raise ValueError(f"orientation {orientation!r}: SHD has one orientation; 'published'")
    table, meta = read_shd(rec.path, buffer=buffer)
    n = len(meta.labels)
    return {
        **table.columns,
        st.OFFSETS_KEY: table.offsets,
        st.IDS_KEY: sample_id_base(rec.split) + np.arange(n, dtype=np.int64),
        st.LABELS_KEY: meta.labels,
        st.SUBJECTS_KEY: meta.speakers,
    }


def samples(rec: st.PartFile, events: Any) -> list:
    """One ``(SampleMeta, events)`` per row of the part, in file order."""
    if not (isinstance(events, dict) and st.OFFSETS_KEY in events):
        events = read_recording(rec)
    return st.cut_samples(rec, events, CLASS_NAMES)


__all__ = ["discover", "max_events", "read_recording", "samples"]
