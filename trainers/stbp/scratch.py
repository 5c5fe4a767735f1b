"""Reusable scratch tensors for a model's no-autograd (evaluation) forward.

Evaluation of SLANIMALSNet at T = 145 writes ~150 MB of intermediate activations per batch
(pooled spikes of both conv layers, membrane potentials). Allocating them afresh for every batch
makes the operating system hand out, and zero, new pages each time: on a 2-core VM these first-touch
page faults cost as much as the LIF kernels themselves. :class:`ScratchBuffers` keeps one flat
tensor per name and hands out views of it, so later batches write into memory that is already
resident.

Rules: a view is valid until the same name is asked for again (callers use each name once per
forward); buffers are per thread (two threads evaluating one model do not share them); they are
dropped by :meth:`ScratchBuffers.clear` and never copied or pickled with the model.
"""

from __future__ import annotations

import math
import threading

import torch


class ScratchBuffers:
    """Named, growable scratch tensors (CPU), one set per thread.

    >>> ws = ScratchBuffers()
    >>> a = ws.get("pool", (2, 3), torch.float32)
    >>> b = ws.get("pool", (3,), torch.float32)  # same memory, new view
    >>> a.data_ptr() == b.data_ptr(), ws.nbytes()
    (True, 24)
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _store(self) -> dict[str, torch.Tensor]:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = {}
        return store

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised contiguous ``shape`` tensor of ``dtype`` backed by buffer ``name``
        (grown, never shrunk, when a larger one or another dtype is asked for; replaced when it
        was made under ``torch.inference_mode`` and is asked for outside it, where such
        tensors cannot be written)."""
        store = self._store()
        numel = math.prod(shape)
        flat = store.get(name)
        stale = flat is not None and flat.is_inference() and not torch.is_inference_mode_enabled()
        if flat is None or stale or flat.dtype != dtype or flat.numel() < numel:
            store.pop(name, None)  # free the old one before allocating the new one
            flat = store[name] = torch.empty(numel, dtype=dtype)
        return flat[:numel].view(shape)

    def nbytes(self) -> int:
        """Bytes held by this thread's buffers."""
        return sum(t.numel() * t.element_size() for t in self._store().values())

    def clear(self) -> None:
        """Drop this thread's buffers (memory goes back to the allocator)."""
        self._store().clear()

    # never copied with the module (deepcopy, pickling, torch.save of the whole model)
    def __deepcopy__(self, memo) -> ScratchBuffers:
        return ScratchBuffers()

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self._local = threading.local()
