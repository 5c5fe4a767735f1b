"""Peak memory of one step, measured the same way for every implementation of a benchmark.

Each benchmark variant runs in a process of its own. Before the measured step,
:func:`measure_peak` tells glibc's malloc to give freed memory back to the system and to map
every allocation of 64 KiB or more with its own ``mmap`` (``mallopt(M_MMAP_THRESHOLD)``,
``malloc_trim``), so the resident set follows the live tensors instead of what the allocator
retained from earlier steps; then it resets the kernel's high-water mark (``VmHWM``, through
``/proc/self/clear_refs``) and reads it after the step. The peak is ``VmHWM`` minus the
resident set just before the step (interpreter, libraries, weights and input excluded).

Linux with glibc only; elsewhere the figure is NaN. CUDA: ``torch.cuda.max_memory_allocated``
above the allocation before the step.
"""

from __future__ import annotations

import ctypes
import gc
from pathlib import Path


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def release_freed_memory() -> bool:
    """glibc: return freed heap memory and ``mmap`` every later allocation >= 64 KiB."""
    from eventpipe.runtime.platform import M_MMAP_THRESHOLD

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 65536)
        libc.malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def _reset_high_water_mark() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Context manager: ``peak`` is the most memory (bytes) used inside the block above the
    level at its start (NaN where it cannot be measured).

    >>> with PeakMemory() as mem:
    ...     step()
    >>> mem.peak
    """

    def __init__(self, device: str = "cpu") -> None:
        self.cuda = device.startswith("cuda")
        self.peak = float("nan")
        self._base = 0
        self._ok = False

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            return self
        released = release_freed_memory()
        gc.collect()
        self._base = (_status_kb("VmRSS") or 0) * 1024
        self._ok = released and _reset_high_water_mark()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self.peak = float(torch.cuda.max_memory_allocated() - self._base)
            return
        hwm = _status_kb("VmHWM")
        if hwm and self._ok:
            self.peak = float(hwm * 1024 - self._base)
