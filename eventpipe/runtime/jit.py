"""One switch for the JIT.

All Numba kernels are compiled through :func:`jit`. Setting the environment variable
``EVENTPIPE_DISABLE_JIT=1`` (before import) runs the plain-Python versions instead, so tests can
compare both paths and tracebacks stay readable.
"""

from __future__ import annotations

import os

import numba

DISABLED = os.environ.get("EVENTPIPE_DISABLE_JIT", "") not in ("", "0")


def jit(fn=None, **options):
    """``numba.njit(cache=True, nogil=True, **options)`` unless the JIT is disabled."""
    opts = {"cache": True, "nogil": True, **options}

    def wrap(f):
        return f if DISABLED else numba.njit(**opts)(f)

    return wrap(fn) if fn is not None else wrap
