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

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eventpipe.datasets.base import DatasetSpec, Fold, SynthResult, published_split_folds
from eventpipe.datasets.nmnist.facts import (
    CLASS_NAMES,
    SENSOR_SIZE,
    STEMS,
    SUBSETS,
    split_of,
    stems_for_subset,
)


def _find(raw_dir: Path, subset: str = "full", strict: bool = True) -> list:
    from eventpipe.datasets.nmnist.layout import discover

    return discover(raw_dir, subset=subset, strict=strict)


def _read(rec: Any, orientation: str = "published", buffer: Any = None) -> Any:
    from eventpipe.datasets.nmnist.samples import read_recording

    return read_recording(rec, orientation=orientation, buffer=buffer)


def _max_events(rec: Any) -> int:
    from eventpipe.datasets.nmnist.samples import max_events

    return max_events(rec)


def _samples(rec: Any, events: Any) -> list:
    from eventpipe.datasets.nmnist.samples import samples

    return samples(rec, events)


def _splits(
    recordings: Iterable[str] | None, protocol: str = "cv", subset: str = "full"
) -> list[Fold]:
    """The published train/test split; ``cv`` draws validation from train per sample
    (stratified by class, :class:`~eventpipe.datasets.base.SplitFold`)."""
    if recordings is None:
        recordings = stems_for_subset(subset)
    return published_split_folds(recordings, protocol, split_of, STEMS, unit="sample")


def _synthesize(out_dir: str | os.PathLike, scale: str = "small", seed: int = 0,
                names: Iterable[str] | None = None, *, force: bool = False,
                workers: int | None = None, progress: bool = False) -> SynthResult:  # fmt: skip
    from eventpipe.datasets.nmnist.synth import generate_dataset

    return generate_dataset(
        out_dir, scale, seed, names, force=force, workers=workers, progress=progress
    )


def _is_synthetic(raw_dir: str | os.PathLike) -> bool:
    from eventpipe.datasets.nmnist.synth import is_synthetic

    return is_synthetic(raw_dir)


def _summarize(raw_dir: str | os.PathLike, subset: str = "full", progress: bool = False) -> dict:
    from eventpipe.datasets.nmnist.summary import summarize

    return summarize(raw_dir, subset=subset, progress=progress)


def _render(summary: dict, console: Any = None) -> None:
    from eventpipe.datasets.nmnist.summary import render

    render(summary, console)


DATASET = DatasetSpec(
    name="nmnist",
    title="N-MNIST",
    sensor_size=SENSOR_SIZE,
    classes=CLASS_NAMES,
    subsets=SUBSETS,
    groups=(),
    raw_layout="Train/<digit>/*.bin + Test/<digit>/*.bin, here or one folder down",
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
    recording_names=stems_for_subset,
)

__all__ = ["DATASET"]
