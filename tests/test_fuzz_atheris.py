"""The atheris harness (``tests/fuzz/fuzz_readers.py``) runs clean for a bounded number of inputs.

atheris is an optional tool (``pip install atheris``), not a project dependency: the test skips
without it. Slow: ~20000 coverage-guided inputs, ~10-30 s on 2 cores.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
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


def test_atheris_harness_finds_nothing(tmp_path):
    r = _run(tmp_path, "-atheris_runs=20000", "-timeout=10", "-rss_limit_mb=2048")
    tail = (r.stdout + r.stderr)[-4000:]
    assert r.returncode == 0, tail
    assert "Done 20000 runs" in tail or "Done 20000" in tail, tail
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("timeout-*"))


def test_atheris_harness_reports_a_planted_bug(tmp_path, monkeypatch):
    """Sanity: a reader that raises a non-EventpipeError is caught and a crash file written."""
    (tmp_path / "sitecustomize.py").write_text(
        "import eventpipe.io.tags as t\n"
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
