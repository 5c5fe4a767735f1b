"""eventpipe.runtime.platform: the training commands keep freed memory for reuse (glibc), unless the
user opts out or has set the allocator up already."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = "from eventpipe.runtime.platform import keep_freed_memory; print(keep_freed_memory())"


def _probe(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    base.pop("EVENTPIPE_KEEP_FREED_MEMORY", None)
    r = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**base, "PYTHONPATH": str(REPO), **env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return r.stdout.strip()


def _glibc() -> bool:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt  # noqa: B018
    except (OSError, AttributeError):
        return False
    return sys.platform.startswith("linux")


@pytest.mark.skipif(not _glibc(), reason="glibc only")
def test_applied_by_default_on_glibc():
    assert _probe() == "True"


def test_opt_out_and_user_settings_win():
    assert _probe(EVENTPIPE_KEEP_FREED_MEMORY="0") == "False"
    assert _probe(MALLOC_TRIM_THRESHOLD_="131072") == "False"
    assert _probe(MALLOC_MMAP_THRESHOLD_="65536") == "False"
    assert _probe(LD_PRELOAD="/usr/lib/libjemalloc.so.2") == "False"


@pytest.mark.parametrize("method", ["stbp", "slayer"])
def test_training_commands_apply_it(method, tmp_path):
    """``python -m trainers.<method>`` calls it before the CLI runs (seen through a wrapper
    installed by a sitecustomize, with ``--help`` so nothing trains)."""
    (tmp_path / "sitecustomize.py").write_text(
        "import eventpipe.runtime.platform as m\n"
        "_orig = m.keep_freed_memory\n"
        "def _wrapped():\n"
        "    print('KEEP_FREED_MEMORY_CALLED', flush=True)\n"
        "    return _orig()\n"
        "m.keep_freed_memory = _wrapped\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    r = subprocess.run(
        [sys.executable, "-m", f"trainers.{method}", "--help"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("KEEP_FREED_MEMORY_CALLED"), r.stdout[:200]


def test_graph_is_kept_tells_a_backward_whether_retain_graph_was_asked():
    """The one private torch call a custom backward uses to decide whether it may write over
    a saved tensor; outside a backward pass it answers True (never overwrite)."""
    import torch

    from eventpipe.runtime.platform import graph_is_kept

    seen = []

    class Probe(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            seen.append(graph_is_kept())
            return g * 2

    x = torch.ones(3, requires_grad=True)
    y = Probe.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert seen == [True, False]
    assert graph_is_kept() is True


def test_autocast_state_on_torch_with_and_without_the_device_argument(monkeypatch):
    """torch >= 2.4 takes the device; 2.2 and 2.3 have per-device functions instead."""
    import torch

    from eventpipe.runtime.platform import autocast_state

    assert autocast_state("cpu")[0] is False
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert autocast_state("cpu") == (True, torch.bfloat16)
        real = torch.is_autocast_enabled

        def old_api(*args):  # torch < 2.4: no device argument
            if args:
                raise TypeError("is_autocast_enabled() takes 0 positional arguments")
            return real()

        monkeypatch.setattr(torch, "is_autocast_enabled", old_api)
        assert autocast_state("cpu") == (True, torch.bfloat16)
