"""The plain-Python path (``EVENTPIPE_DISABLE_JIT=1``) gives the same results as the Numba path."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from eventpipe.events import make_events

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import importlib
    import sys

    import numpy as np

    from eventpipe.runtime import jit as _jit

    dn = importlib.import_module("eventpipe.kernels.denoise")

    assert _jit.DISABLED, "EVENTPIPE_DISABLE_JIT was not honoured"
    assert not hasattr(dn.denoise_mask_kernel, "py_func")  # a plain function, not a dispatcher
    ev = np.load(sys.argv[1])["ev"]
    np.savez(sys.argv[2], **run(ev))
    """
)

RUN = textwrap.dedent(
    """
    def _stage(ev, size):
        import numpy as np
        from eventpipe.kernels.stage import StagePlan, stage_into

        cols = tuple(np.empty(len(ev), d) for d in (np.int16, np.int16, np.int64, np.uint8))
        n = stage_into(ev, StagePlan(size, denoise_us=2000, floor_ms=True), cols)
        return np.stack([cols[2][:n], cols[0][:n].astype(np.int64)], axis=1)

    def run(ev):
        import numpy as np
        import eventpipe.kernels as K

        size = (16, 12, 2)
        sf = K.bin_sparse(ev, size, 3000, "SUM_NORM")
        sf_or = K.bin_sparse(ev[::-1].copy(), size, 2000, "OR")  # unsorted path
        offsets = np.array([0, len(sf_or) // 2, len(sf_or)], np.int64)
        out = np.empty((3, 7, 2, 12, 16), np.uint8)
        K.densify_batch(offsets, sf_or.bin, sf_or.p, sf_or.y, sf_or.x, sf_or.value,
                        [1, 0, 1], [0, 2, 5], 7, size, out, parallel=True)
        return {
            "denoise": K.denoise(ev, size, 2000)["t"],
            "refractory": K.refractory(ev, size, 500)["t"],
            "down_x": K.downsample(ev, size, (0.3, 0.5), 0.001)[0]["x"],
            "down_t": K.downsample(ev, size, (0.3, 0.5), 0.001)[0]["t"],
            "floor": K.floor_ms_us(K.time_align(ev, "first"), int(ev["t"][0]))["t"],
            "stage_t": _stage(ev, size)[:, 0],
            "stage_x": _stage(ev, size)[:, 1],
            "bin_down": K.bin_sparse(ev, size, 1000, "SUM", spatial_factor=0.3).value,
            "bin": sf.bin, "p": sf.p, "y": sf.y, "x": sf.x, "value": sf.value,
            "dense": sf.dense(2, 9),
            "batch": out,
        }
    """
)


def test_plain_python_path_agrees(tmp_path):
    rng = np.random.default_rng(11)
    n = 3000
    ev = make_events(
        rng.integers(0, 16, n),
        rng.integers(0, 12, n),
        np.sort(rng.integers(10**9, 10**9 + 60_000, n)),
        rng.integers(0, 2, n),
    )
    np.savez(tmp_path / "in.npz", ev=ev)
    script = tmp_path / "nojit.py"
    script.write_text(RUN + SCRIPT)
    env = {**os.environ, "EVENTPIPE_DISABLE_JIT": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    plain = np.load(tmp_path / "out.npz")
    ns: dict = {}
    exec(RUN, ns)
    jitted = ns["run"](ev)
    assert set(plain.files) == set(jitted)
    for k, v in jitted.items():
        np.testing.assert_array_equal(plain[k], v, err_msg=k)
        assert plain[k].dtype == v.dtype, k
    assert len(jitted["denoise"]) not in (0, n) and len(jitted["refractory"]) not in (0, n)
    assert jitted["batch"].any() and len(jitted["value"]) > 0
