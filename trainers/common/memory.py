"""Process-wide memory settings for the training commands (``python -m trainers.<method>``).

A training step allocates the same large tensors again and again. With glibc's defaults each
allocation above a (dynamic) threshold of at most 32 MiB gets fresh pages from the kernel and
gives them back when freed, so every step pays a page fault per 4 KiB page again: on the 2-core
CI VM a 2-epoch STBP run spent ~17% of its time there (epoch 33.3 s -> 27.6 s with freed memory
kept). :func:`keep_freed_memory` makes malloc keep freed memory for reuse, the behaviour of
tcmalloc/jemalloc that PyTorch's CPU performance guide recommends. The peak resident memory is
unchanged (it is the largest step's); memory is not returned to the system between steps.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc ``mallopt`` parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: allocations below this come from the heap (reused) instead of fresh ``mmap`` pages
MMAP_THRESHOLD = 1 << 30
#: free memory at the top of the heap kept before it is returned (``mallopt`` takes an int)
TRIM_THRESHOLD = (1 << 31) - 1
#: set to ``0`` to keep glibc's defaults
ENV = "EVENTPIPE_KEEP_FREED_MEMORY"


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse; returns whether it was applied.

    Not applied when ``EVENTPIPE_KEEP_FREED_MEMORY=0``, when the user set glibc's own
    ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (theirs win), when another allocator
    is preloaded (``LD_PRELOAD`` naming jemalloc or tcmalloc), or off Linux/glibc.
    """
    if os.environ.get(ENV, "1") == "0":
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    preload = os.environ.get("LD_PRELOAD", "")
    if "jemalloc" in preload or "tcmalloc" in preload:
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
