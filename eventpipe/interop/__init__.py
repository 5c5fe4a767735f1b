"""Using a cache elsewhere: tonic datasets, other frameworks' layouts, published ``.npy`` slices.

- :mod:`eventpipe.interop.frameworks`: :class:`TonicDataset` and the layout views
  ``to_tnchw`` / ``to_nchwt`` (and back) for spikingjelly, snntorch, norse and lava-dl.
- :mod:`eventpipe.interop.npy`: :func:`export_npy`, the published repositories' per-sample files.
"""

from __future__ import annotations

from eventpipe.interop.frameworks import (
    TonicDataset,
    from_nchwt,
    from_tnchw,
    to_nchwt,
    to_tnchw,
)
from eventpipe.interop.npy import export_npy

__all__ = ["TonicDataset", "export_npy", "from_nchwt", "from_tnchw", "to_nchwt", "to_tnchw"]
