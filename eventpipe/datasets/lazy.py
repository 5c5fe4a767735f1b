"""Functions of a dataset's modules that import those modules only when first called.

A dataset package's ``__init__`` builds its :class:`~eventpipe.datasets.base.DatasetSpec` from
functions of its submodules; importing those submodules there would make every command (even
``python -m eventpipe --help``) import numpy, rich and the readers of every dataset::

    summarize=lazy("eventpipe.datasets.nmnist.summary", "summarize")

:func:`lazy_spec` builds a whole spec from a package's usual module and function names.
"""

from __future__ import annotations

import importlib
from typing import Any

from eventpipe.datasets.base import DatasetSpec


class lazy:
    """A callable that imports ``module`` when called and calls its ``name`` with the same args.

    An instance pickles by its two names (process pools can take it), like a module function.
    """

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(self.module), self.name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"lazy({self.module!r}, {self.name!r})"


def lazy_spec(package: str, reader: str, layout: str | None = None, **fields: Any) -> DatasetSpec:
    """A DatasetSpec whose functions are the usual ones of ``package``, imported when called.

    ``find_recordings`` is ``<package>.<layout>.discover`` (``layout`` None: ``reader``);
    ``read_recording``, ``max_events`` and ``samples`` are those names in
    ``<package>.<reader>``; ``synthesize`` and ``is_synthetic`` are ``generate_dataset`` and
    ``is_synthetic`` of ``<package>.synth``; ``summarize`` and ``render_summary`` are
    ``summarize`` and ``render`` of ``<package>.summary``. No groups; synthetic scales
    ``small``, ``tiny``, ``full``. ``fields`` gives the other fields and overrides any of these.
    """
    read, synth, summary = f"{package}.{reader}", f"{package}.synth", f"{package}.summary"
    usual: dict[str, Any] = {
        "groups": (),
        "find_recordings": lazy(f"{package}.{layout or reader}", "discover"),
        "read_recording": lazy(read, "read_recording"),
        "max_events": lazy(read, "max_events"),
        "samples": lazy(read, "samples"),
        "synthesize": lazy(synth, "generate_dataset"),
        "is_synthetic": lazy(synth, "is_synthetic"),
        "summarize": lazy(summary, "summarize"),
        "render_summary": lazy(summary, "render"),
        "synth_scales": ("small", "tiny", "full"),
    }
    return DatasetSpec(**{**usual, **fields})


__all__ = ["lazy", "lazy_spec"]
