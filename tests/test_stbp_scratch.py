"""ScratchBuffers: views of one reused tensor per name, grown on demand, one set per thread."""

from __future__ import annotations

import copy
import pickle
import threading

import torch

from trainers.stbp.scratch import ScratchBuffers


def test_views_share_memory_and_grow_on_demand():
    ws = ScratchBuffers()
    a = ws.get("x", (4, 5), torch.float32)
    a.fill_(1)
    b = ws.get("x", (2, 3), torch.float32)  # smaller: same memory
    assert b.shape == (2, 3) and b.is_contiguous() and b.data_ptr() == a.data_ptr()
    assert ws.nbytes() == 4 * 5 * 4
    c = ws.get("x", (6, 5), torch.float32)  # larger: new memory
    assert c.shape == (6, 5) and ws.nbytes() == 6 * 5 * 4
    d = ws.get("x", (3,), torch.float64)  # other dtype: replaced
    assert d.dtype == torch.float64 and ws.nbytes() == 3 * 8
    ws.get("y", (1,), torch.float32)
    assert ws.nbytes() == 3 * 8 + 4
    ws.clear()
    assert ws.nbytes() == 0


def test_threads_get_their_own_buffers_and_copies_get_none():
    ws = ScratchBuffers()
    main = ws.get("x", (8,), torch.float32)
    seen = {}

    def worker():
        seen["ptr"] = ws.get("x", (8,), torch.float32).data_ptr()
        seen["bytes"] = ws.nbytes()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["ptr"] != main.data_ptr() and seen["bytes"] == 32
    assert copy.deepcopy(ws).nbytes() == 0
    assert pickle.loads(pickle.dumps(ws)).nbytes() == 0
    assert ws.nbytes() == 32


def test_inference_mode_buffers_are_replaced_outside_inference_mode():
    ws = ScratchBuffers()
    with torch.inference_mode():
        a = ws.get("x", (4,), torch.float32)
        a.fill_(1)
    b = ws.get("x", (4,), torch.float32)
    b.fill_(2)  # would raise on an inference tensor outside inference mode
    assert not b.is_inference()
    with torch.inference_mode():
        assert ws.get("x", (4,), torch.float32).data_ptr() == b.data_ptr()
