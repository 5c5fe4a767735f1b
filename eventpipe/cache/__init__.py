"""Caches: the on-disk schema, the HDF5 writer/reader and the Parquet dataset.

>>> from eventpipe.cache import CacheFile     # doctest: +SKIP
"""

from __future__ import annotations

from eventpipe.cache.hdf5 import CacheFile, CacheView, CacheWriter, write_cache
from eventpipe.cache.schema import FORMAT, FORMAT_VERSION

__all__ = ["FORMAT", "FORMAT_VERSION", "CacheFile", "CacheView", "CacheWriter", "write_cache"]
