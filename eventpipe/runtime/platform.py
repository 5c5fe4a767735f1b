"""Process-level settings and platform-specific tricks, in one place.

Each function here changes how the process uses the operating system, the C library, the BLAS
or a private framework op. None changes a result; each buys time or memory that was measured on
the machines named in its docstring (the 2-core x86-64 CI-class VMs: Intel Xeon with AMX and
AMD EPYC without). Everything else in eventpipe and the trainers calls these by name instead of
repeating the trick.

==========================  =============================================  ==================
function                     what it buys                                   used by
==========================  =============================================  ==================
single_threaded_blas         no idle OpenBLAS threads in a build            ``eventpipe build``
without_numba_extras         numba skips importing scipy/cffi               ``eventpipe build``
collector_paused             no GC passes over import-time objects          build, workers
freeze_collector_at_exit     no last GC pass over those objects at exit     ``eventpipe build``
populate_pages               one ``madvise`` instead of page faults         build hand-over
keep_freed_memory            glibc keeps freed memory: no page faults       trainers
enable_torch_huge_pages      torch puts large CPU tensors on huge pages     trainers
conv2d_add_                  oneDNN conv with an in-place ``add`` post-op   STBP evaluation
==========================  =============================================  ==================
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import gc
import mmap
import os
import sys
from collections.abc import Iterator
from typing import Any

# --- build: imports and threads ------------------------------------------------------------

#: imported by numba's CPU target when it first initialises, see :func:`without_numba_extras`
NUMBA_EXTRAS = ("scipy", "scipy.linalg.cython_blas", "cffi")


def single_threaded_blas() -> None:
    """No OpenBLAS thread pools in this process (the build does no linear algebra).

    numpy and scipy (which numba imports) each load an OpenBLAS that starts a thread per extra
    core, and each such thread busy-waits ~0.1 s before it sleeps: ~0.1-0.2 CPU-s per build on
    the 2-core CI machine for nothing. The variable is only read when the library loads, so it
    is set before the build imports numpy, and only if the user did not set it.
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@contextlib.contextmanager
def without_numba_extras() -> Iterator[None]:
    """Keep numba from importing scipy and cffi inside the block.

    numba imports ``scipy`` to check its version (~0.015-0.02 CPU-s); when its CPU target first
    initialises (loading the first cached kernel) it imports ``scipy.linalg.cython_blas``, only
    to learn whether ``np.dot`` and friends can call BLAS (that imports all of ``scipy.linalg``:
    ~0.13-0.16 CPU-s of a ~5 CPU-s build on the 2-core CI machine), and ``cffi`` (plus an
    ``FFI()``: ~0.03-0.04 CPU-s) to type cffi functions. No build kernel uses either; numba then
    treats scipy, BLAS and cffi as absent (``np.correlate`` would use a plain loop), and anything
    that imports them explicitly after the block still gets them. A ``None`` entry in
    ``sys.modules`` makes those imports fail at once; it is removed when the block ends. A
    module already imported is left alone.
    """
    blocked = [name for name in NUMBA_EXTRAS if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


@contextlib.contextmanager
def collector_paused(freeze: bool = False) -> Iterator[None]:
    """Run the block with the cyclic garbage collector off; optionally ``gc.freeze()`` after.

    Importing numpy, h5py, numba and loading the kernels creates ~10**5 objects that live until
    the end of the process; collecting while they are created traverses them again and again
    (2 full and ~30 partial collections in a build). ``freeze=True`` then moves them to the
    permanent generation, so later collections skip them, and forked workers do not write to
    (and so copy) their pages during a traversal.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def freeze_collector_at_exit() -> None:
    """Skip the interpreter's last collection over long-lived objects (~0.15-0.2 CPU-s a build).

    atexit functions run before that collection, which skips frozen objects. Registered, not
    called now: a caller in the same process keeps its collector until it exits.
    """
    atexit.register(gc.freeze)


#: ``madvise(MADV_POPULATE_READ)`` (Linux >= 5.14): map a range's existing pages in one call
MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)
_PAGE = mmap.PAGESIZE


def populate_pages(mm: mmap.mmap, off: int, nbytes: int) -> None:
    """Map the pages of ``mm[off:off + nbytes]`` now (they exist: another process wrote them).

    A process that hands these bytes to ``pwrite`` copies from user memory without taking page
    faults: when the copy meets a page that is not mapped yet, it stops short, the kernel zeroes
    the file's new page-cache blocks and retries after faulting the source in (``__memset``
    under ``folio_zero_new_buffers`` in a profile). Populating the used ranges first avoids
    that. Measured (3 x 512 MiB from a tmpfs mapping to ext4 in 128 KiB ``pwrite`` calls, fsync
    + drop-behind every 0.5 s, load ~3): 0.97-1.38 s of kernel time unpopulated, 0.96-1.01 s
    populated. Best effort: older kernels refuse the advice.
    """
    start = off - off % _PAGE
    end = min(off + nbytes, len(mm))
    with contextlib.suppress(OSError, ValueError):
        mm.madvise(MADV_POPULATE_READ, start, end - start)


# --- training: memory ------------------------------------------------------------------------

#: glibc ``mallopt`` parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: allocations below this come from the heap (reused) instead of fresh ``mmap`` pages
MMAP_THRESHOLD = 1 << 30
#: free memory at the top of the heap kept before it is returned (``mallopt`` takes an int)
TRIM_THRESHOLD = (1 << 31) - 1
#: set to ``0`` to keep glibc's defaults
KEEP_FREED_MEMORY_ENV = "EVENTPIPE_KEEP_FREED_MEMORY"


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse; returns whether it was applied.

    A training step allocates the same large tensors again and again. With glibc's defaults
    each allocation above a (dynamic) threshold of at most 32 MiB gets fresh pages from the
    kernel and gives them back when freed, so every step pays a page fault per 4 KiB page
    again: on the 2-core CI VM (Intel Xeon) a 2-epoch STBP run spent ~17% of its time there
    (epoch 33.3 s -> 27.6 s with freed memory kept). This is the behaviour of tcmalloc/jemalloc
    that PyTorch's CPU performance guide recommends. Peak resident memory is unchanged (the
    largest step's); memory is not returned to the system between steps.

    Not applied when ``EVENTPIPE_KEEP_FREED_MEMORY=0``, when the user set glibc's own
    ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (theirs win), when another allocator
    is preloaded (``LD_PRELOAD`` naming jemalloc or tcmalloc), or off Linux/glibc.
    """
    if os.environ.get(KEEP_FREED_MEMORY_ENV, "1") == "0":
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


def enable_torch_huge_pages() -> None:
    """Ask PyTorch to put large CPU tensors on transparent huge pages (``THP_MEM_ALLOC_ENABLE``).

    Fewer page faults per training step: fresh large allocations measured 3-4x cheaper on the
    2-core CI VM (Intel Xeon). Read when torch is imported, so call it before; a value the user
    set wins.
    """
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")


# --- training: a private oneDNN op -----------------------------------------------------------


def conv2d_add_(out: Any, x: Any, weight: Any, bias: Any) -> Any:
    """``out += conv2d(x, weight, bias)`` (stride 1, no padding), in place, no autograd.

    ``x`` ``[N, C_in, H, W]`` and ``out`` ``[N, C_out, H-2, W-2]`` channels-last float32 torch
    tensors on CPU. oneDNN adds ``out`` to its float32 accumulator, so the result rounds exactly
    like ``conv2d(x) + out`` without a temporary for the convolution's output (STBP evaluation:
    ~140 MB instead of 12 MB per conv2 output and step at batch 8, T=145). This is the private
    op ``torch.ops.mkldnn._convolution_pointwise_.binary`` that inductor uses for conv + add
    fusion on CPU. Only call it where :func:`conv2d_add_available` is true.
    """
    import torch

    torch.ops.mkldnn._convolution_pointwise_.binary(
        out, x, weight, bias, [0, 0], [1, 1], [1, 1], 1, "add", None, None, [], None
    )
    return out


@functools.cache
def conv2d_add_available() -> bool:
    """Whether :func:`conv2d_add_` runs here and gives exactly ``conv2d(x) + out``.

    Checked once per process on a small input. False where the op is missing (torch without
    oneDNN) or differs in any bit.
    """
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 5, (2, 3, 7, 6), generator=gen).float().div(4)
    x = x.contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(5, 3, 3, 3, generator=gen), torch.randn(5, generator=gen)
    out = torch.randn(2, 5, 5, 4, generator=gen).contiguous(memory_format=torch.channels_last)
    want = F.conv2d(x, w, b) + out
    try:
        with torch.no_grad():
            conv2d_add_(out, x, w, b)
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return torch.equal(out, want)


# --- training: autocast state across torch versions ------------------------------------------


def autocast_state(device_type: str) -> tuple[bool, Any]:
    """``(enabled, dtype)`` of ``torch.autocast`` for ``device_type`` now, on any torch >= 2.2.

    torch 2.4 added the device argument to ``torch.is_autocast_enabled`` and
    ``torch.get_autocast_dtype``; earlier releases have per-device functions instead (and
    raise ``TypeError`` for the argument).
    """
    import torch

    try:
        return torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)
    except TypeError:  # torch < 2.4
        if device_type == "cpu":
            return torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
        return torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()


# --- training: whether this backward pass keeps the graph ------------------------------------


def graph_is_kept() -> bool:
    """Inside a custom ``backward``: whether the running backward pass was asked to keep the
    graph (``retain_graph=True``), i.e. whether saved tensors may be read again.

    A backward that writes its gradient over a saved activation (TSSL-BP's conv layers: no
    second tensor of that size) must not do so when the graph is kept. This reads the private
    ``torch._C._autograd._get_current_graph_task_keep_graph``, which PyTorch's own
    ``aot_autograd`` uses for the same decision; where it is missing, True (never overwrite).
    """
    import torch

    get = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    if get is None:
        return True
    try:
        return bool(get())
    except RuntimeError:  # not inside a backward pass
        return True
