"""SL-Animals-DVS (Vasudevan et al., 2021): 59 DVS128 recordings, 19 signed animals each.

The official archive is ``allusers_aedat/*.aedat`` (AEDAT 2.0) + ``tags_updated_19_08_2020/*.csv``
(event-index tags); the published training repositories use ``recordings/`` + ``tags/``. One
sample per tag row, 1121 in all; four recording groups S1-S4 (lighting); the published 4-fold
cross-validation over recordings.

Modules: :mod:`.facts` (stems, groups, classes), :mod:`.layout` (finding the files),
:mod:`.tags` (the tag CSVs), :mod:`.slicing` (recordings -> samples), :mod:`.splits` (the
published folds), :mod:`.summary` (``eventpipe summary``), :mod:`.synth` (the synthetic
stand-in). :data:`DATASET` is what the rest of eventpipe sees.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from eventpipe.datasets.base import Fold, SynthResult
from eventpipe.datasets.lazy import lazy, lazy_spec
from eventpipe.datasets.slanimals.facts import (
    CLASS_NAMES,
    GROUPS,
    SENSOR_SIZE,
    SUBSETS,
    stems_for_subset,
)


def _read(rec: Any, orientation: str = "published", buffer: Any = None) -> Any:
    from eventpipe.io import read_events

    return read_events(rec.aedat, orientation=orientation, buffer=buffer)


def _max_events(rec: Any) -> int:
    return rec.aedat.stat().st_size // 8  # AEDAT 2.0 records are 8 bytes: an upper bound


def _synthesize(out_dir: str | os.PathLike, scale: str = "small", seed: int = 0,
                names: Iterable[str] | None = None, *, force: bool = False,
                workers: int | None = None, progress: bool = False) -> SynthResult:  # fmt: skip
    """``synth.generate_dataset``, whose ``stems`` are the spec's ``names``."""
    from eventpipe.datasets.slanimals.synth import generate_dataset

    return generate_dataset(
        out_dir, scale, seed, names, force=force, workers=workers, progress=progress
    )


def _splits(
    recordings: Iterable[str] | None, protocol: str = "cv", subset: str = "full"
) -> list[Fold]:
    from eventpipe.datasets.slanimals.splits import published_folds, train_test_folds

    if protocol == "cv":
        return published_folds(recordings, subset=subset)
    if protocol == "train-test":
        return train_test_folds(recordings, subset=subset)
    raise ValueError(f"unknown protocol {protocol!r}; expected cv or train-test")


_PACKAGE = "eventpipe.datasets.slanimals"

DATASET = lazy_spec(
    _PACKAGE,
    "slicing",
    "layout",
    name="slanimals",
    title="SL-Animals-DVS",
    sensor_size=SENSOR_SIZE,
    classes=CLASS_NAMES,
    subsets=SUBSETS,
    groups=tuple(GROUPS),
    raw_layout="allusers_aedat/ + tags_updated_19_08_2020/, or recordings/ + tags/",
    read_recording=_read,
    max_events=_max_events,
    samples=lazy(f"{_PACKAGE}.slicing", "slice_recording"),
    splits=_splits,
    synthesize=_synthesize,
    recording_names=stems_for_subset,
)

__all__ = ["DATASET"]
