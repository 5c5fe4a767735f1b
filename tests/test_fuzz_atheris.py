"""The atheris harness (``tests/fuzz/fuzz_readers.py``) runs clean for a bounded number of inputs.

atheris is an optional tool (``pip install atheris``), not a project dependency: the test skips
without it. Slow: ~20000 coverage-guided inputs, ~10-30 s on 2 cores.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent / "fuzz" / "fuzz_readers.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("atheris") is None, reason="atheris not installed (optional)"
    ),
]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HARNESS), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # libFuzzer writes crash-* files into the working directory
    )


def _dead_pid() -> int:
    from eventpipe.build.arena import pid_alive

    return next(p for p in range(4_000_000, 4_100_000) if not pid_alive(p))


def test_atheris_harness_finds_nothing(tmp_path):
    # scratch folder of an earlier run killed by libFuzzer's exit (no atexit): removed at start
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    stale = base / f"eventpipe-fuzz-{_dead_pid()}-abc123"
    stale.mkdir()
    (stale / "input").write_bytes(b"x")
    r = _run(tmp_path, "-atheris_runs=20000", "-timeout=10", "-rss_limit_mb=2048")
    tail = (r.stdout + r.stderr)[-4000:]
    assert r.returncode == 0, tail
    assert "Done 20000 runs" in tail or "Done 20000" in tail, tail
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("timeout-*"))
    assert not stale.exists()


def test_atheris_harness_reports_a_planted_bug(tmp_path, monkeypatch):
    """Sanity: a reader that raises a non-EventpipeError is caught and a crash file written."""
    (tmp_path / "sitecustomize.py").write_text(
        "import eventpipe.datasets.slanimals.tags as t\n"
        "def _boom(path, *a, **k):\n"
        "    raise KeyError('planted')\n"
        "t.read_tags = _boom\n"
        "import eventpipe.io as io\n"
        "io.read_tags = _boom\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    r = _run(tmp_path, "-atheris_runs=2000")
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "planted" in out and "--- reproducer ---" in out
    assert list(tmp_path.glob("crash-*"))
