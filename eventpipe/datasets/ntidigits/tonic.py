"""N-TIDIGITS with tonic's label map (``o`` -> 0, ``z`` -> 10): registry name
``ntidigits-tonic``; everything else as :mod:`eventpipe.datasets.ntidigits`."""

from __future__ import annotations

from eventpipe.datasets.ntidigits import make_spec

DATASET = make_spec("ntidigits-tonic", "tonic")

__all__ = ["DATASET"]
