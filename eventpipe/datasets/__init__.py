"""The datasets eventpipe reads, one subpackage each, found by name.

>>> from eventpipe import datasets
>>> datasets.names()
('slanimals', 'nmnist', 'dvsgesture', 'dvsplane', 'shd', 'ntidigits', 'ntidigits-tonic')
>>> datasets.get("slanimals").sensor_size
(128, 128, 2)

A dataset's subpackage builds a :class:`~eventpipe.datasets.base.DatasetSpec` named
``DATASET``; :data:`_PACKAGES` maps registry names to those subpackages, imported on first use
(so ``python -m eventpipe --help`` imports no dataset).
"""

from __future__ import annotations

import importlib

from eventpipe.datasets.base import DatasetSpec, Fold, Recording, SampleMeta, SynthResult
from eventpipe.errors import EventpipeError

#: registry name -> subpackage that defines ``DATASET``; the first entry is the default
_PACKAGES: dict[str, str] = {
    "slanimals": "eventpipe.datasets.slanimals",
    "nmnist": "eventpipe.datasets.nmnist",
    "dvsgesture": "eventpipe.datasets.dvsgesture",
    "dvsplane": "eventpipe.datasets.dvsplane",
    "shd": "eventpipe.datasets.shd",
    "ntidigits": "eventpipe.datasets.ntidigits",
    "ntidigits-tonic": "eventpipe.datasets.ntidigits.tonic",
}

DEFAULT = next(iter(_PACKAGES))


class UnknownDatasetError(EventpipeError):
    """A dataset name that is not registered."""


def names() -> tuple[str, ...]:
    """Registered dataset names, the default first."""
    return tuple(_PACKAGES)


def get(name: str = DEFAULT) -> DatasetSpec:
    """The description of dataset ``name``.

    Raises:
        UnknownDatasetError: ``name`` is not registered (the message lists the names).
    """
    try:
        module = _PACKAGES[name]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; expected one of {', '.join(_PACKAGES)}"
        ) from None
    return importlib.import_module(module).DATASET


__all__ = [
    "DEFAULT",
    "DatasetSpec",
    "Fold",
    "Recording",
    "SampleMeta",
    "SynthResult",
    "UnknownDatasetError",
    "get",
    "names",
]
