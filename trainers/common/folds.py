"""Which dataset a source holds, and the folds of the protocol over its recordings.

The folds are the dataset's own (its :class:`~eventpipe.datasets.base.DatasetSpec` ``splits``),
found through the registry by the name the cache was built for: the ``dataset`` key of the
profile stored in the cache's attributes. Caches built before profiles named their dataset are
SL-Animals-DVS caches (:data:`eventpipe.cache.schema.DEFAULT_DATASET`). A source without a cache
(the toy source of the tests) may name its dataset in a ``dataset_name`` attribute.

>>> from trainers.common.toy import ToySource
>>> dataset_name(ToySource(n_per_group=1))
'slanimals'
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from eventpipe import datasets
from eventpipe.cache import schema
from eventpipe.datasets.base import DatasetSpec, Fold
from trainers.common.config import RunConfig
from trainers.common.data import DataSource, recordings_of
from trainers.common.errors import RunError


def dataset_name(source: DataSource) -> str:
    """Registry name of the dataset ``source`` holds (see the module docstring)."""
    name = getattr(source, "dataset_name", None)
    if isinstance(name, str) and name:
        return name
    profile = (getattr(source, "attrs", None) or {}).get("profile")
    if isinstance(profile, str | bytes):
        try:
            profile = json.loads(profile)
        except ValueError:
            profile = None
    return schema.dataset_name(profile if isinstance(profile, dict) else {})


def dataset_spec(source: DataSource) -> DatasetSpec:
    """The registered description of the dataset ``source`` holds.

    Raises:
        UnknownDatasetError: the cache names a dataset this eventpipe does not know.
    """
    return datasets.get(dataset_name(source))


def make_folds(source: DataSource, config: RunConfig) -> list[Fold]:
    """The folds of ``config.protocol`` / ``config.subset`` over the recordings in the source.

    Raises:
        RunError: the dataset's split function refuses these recordings.
    """
    spec = dataset_spec(source)
    try:
        return spec.splits(recordings_of(source.samples), config.protocol, config.subset)
    except ValueError as exc:
        raise RunError(f"{source.path}: cannot split its recordings into folds: {exc}") from exc


def fold_ids(fold: Any, source: DataSource, config: RunConfig) -> dict[str, np.ndarray]:
    """Sample ids (int64) of each part of a fold (train-test: train = all training recordings).

    Raises:
        RunError: a part the protocol needs (train, val for ``cv``, test) has no sample.
    """
    ids = fold.sample_ids(source.samples)
    ids = {k: np.asarray(v, dtype=np.int64) for k, v in ids.items()}
    need = ("train", "test") if config.optimistic else ("train", "val", "test")
    for part in need:
        if len(ids[part]) == 0:
            raise RunError(
                f"{source.path}: fold {fold.index} has no {part} sample "
                f"(recordings {list(fold.part(part))}); the cache holds too few recordings"
            )
    return ids
