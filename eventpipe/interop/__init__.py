"""Using a cache elsewhere: tonic datasets, other frameworks' layouts, published ``.npy`` slices.

- :mod:`eventpipe.interop.frameworks`: :class:`TonicDataset` and the layout views
  ``to_tnchw`` / ``to_nchwt`` (and back) for spikingjelly, snntorch, norse and lava-dl.
- :mod:`eventpipe.interop.npy`: :func:`export_npy`, the published repositories' per-sample files.
- :mod:`eventpipe.interop.published`: the axis orders of the published ``Dataset`` tensors and
  ``to_published`` / ``from_published``.

The names below are imported on first use, so importing one submodule (e.g. ``published``, which
the checkpoint converter needs) does not load the others.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "TonicDataset": "frameworks",
    "from_nchwt": "frameworks",
    "from_tnchw": "frameworks",
    "to_nchwt": "frameworks",
    "to_tnchw": "frameworks",
    "export_npy": "npy",
    "from_published": "published",
    "to_published": "published",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_HOME)
