"""DVS128 Gesture (Amir et al., CVPR 2017): 122 DVS128 recordings of 29 users, 11 gestures.

The official archive ``DvsGesture.tar.gz`` unpacks to ``DvsGesture/`` holding
``userNN_<lighting>.aedat`` (AEDAT 3.1, polarity packets), ``userNN_<lighting>_labels.csv``
(``class,startTime_usec,endTime_usec``) and ``trials_to_train.txt`` / ``trials_to_test.txt``
(users 1-23 train, 24-29 test). eventpipe reads those original files: one sample per label row,
the events with ``start <= t < end`` on the recording's microsecond clock.

Sample ids: ``RECORDINGS.index(stem) * 32 + row`` (``row``: 0-based data row of the labels CSV;
:data:`~eventpipe.datasets.dvsgesture.facts.RECORDINGS` is the official list in trials-file
order), the same whichever recordings a cache holds.

Modules: :mod:`.facts` (recordings, classes, users, lightings), :mod:`.layout` (the archive
folder and trials files), :mod:`.labels` (label CSVs), :mod:`.slicing` (reading and cutting a
recording), :mod:`.splits` (the published split), :mod:`.summary` (``eventpipe summary``),
:mod:`.synth` (the synthetic stand-in). :data:`DATASET` is what the rest of eventpipe sees.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eventpipe.datasets.base import DatasetSpec, Fold, SynthResult
from eventpipe.datasets.dvsgesture.facts import (
    CLASS_NAMES,
    SENSOR_SIZE,
    SUBSETS,
    recordings_for_subset,
)


def _find(raw_dir: Path, subset: str = "full", strict: bool = True) -> list:
    from eventpipe.datasets.dvsgesture.layout import discover

    return discover(raw_dir, subset=subset, strict=strict)


def _read(rec: Any, orientation: str = "published", buffer: Any = None) -> Any:
    from eventpipe.datasets.dvsgesture.slicing import read_recording

    return read_recording(rec, orientation, buffer)


def _max_events(rec: Any) -> int:
    from eventpipe.datasets.dvsgesture.slicing import max_events

    return max_events(rec)


def _samples(rec: Any, events: Any) -> list:
    from eventpipe.datasets.dvsgesture.slicing import slice_recording

    return slice_recording(rec, events)


def _splits(
    recordings: Iterable[str] | None, protocol: str = "cv", subset: str = "full"
) -> list[Fold]:
    from eventpipe.datasets.dvsgesture.splits import official_folds

    return official_folds(recordings, protocol, subset)


def _synthesize(out_dir: str | os.PathLike, scale: str = "small", seed: int = 0,
                names: Iterable[str] | None = None, *, force: bool = False,
                workers: int | None = None, progress: bool = False) -> SynthResult:  # fmt: skip
    from eventpipe.datasets.dvsgesture.synth import generate_dataset

    return generate_dataset(
        out_dir, scale, seed, names, force=force, workers=workers, progress=progress
    )


def _is_synthetic(raw_dir: str | os.PathLike) -> bool:
    from eventpipe.datasets.dvsgesture.synth import is_synthetic

    return is_synthetic(raw_dir)


def _summarize(raw_dir: str | os.PathLike, subset: str = "full", progress: bool = False) -> dict:
    from eventpipe.datasets.dvsgesture.summary import summarize

    return summarize(raw_dir, subset=subset, progress=progress)


def _render(summary: dict, console: Any = None) -> None:
    from eventpipe.datasets.dvsgesture.summary import render

    render(summary, console)


DATASET = DatasetSpec(
    name="dvsgesture",
    title="DVS128 Gesture",
    sensor_size=SENSOR_SIZE,
    classes=CLASS_NAMES,
    subsets=SUBSETS,
    groups=(),
    raw_layout="DvsGesture/ (*.aedat, *_labels.csv, trials_to_*.txt) or that folder itself",
    find_recordings=_find,
    read_recording=_read,
    max_events=_max_events,
    samples=_samples,
    splits=_splits,
    synthesize=_synthesize,
    is_synthetic=_is_synthetic,
    summarize=_summarize,
    render_summary=_render,
    synth_scales=("small", "tiny", "full"),
    recording_names=recordings_for_subset,
)

__all__ = ["DATASET"]
