"""Functions of a dataset's modules that import those modules only when first called.

A dataset package's ``__init__`` builds its :class:`~eventpipe.datasets.base.DatasetSpec` from
functions of its submodules; importing those submodules there would make every command (even
``python -m eventpipe --help``) import numpy, rich and the readers of every dataset::

    summarize=lazy("eventpipe.datasets.nmnist.summary", "summarize")
"""

from __future__ import annotations

import importlib
from typing import Any


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


__all__ = ["lazy"]
