"""Builds under faults: SIGKILL at random points, readers during a rebuild, I/O errors.

Guarantees tested (docs/failures.md):

* a build killed with SIGKILL at any point leaves the previous cache byte-identical (or no cache
  if there was none, or the complete new one if the kill came after the commit), and the next
  run completes and removes the dead build's temporaries;
* a reader opening the cache path while a ``--force`` rebuild runs always gets a complete,
  consistent file (the old one until the commit, then the new one);
* an I/O error (disk full while writing, permission denied at the commit, an ``--out`` under a
  regular file) is one ``error: ...`` line naming the path, exit status 2, no traceback, and the
  previous cache is left intact with no temporary behind.
"""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventpipe.datasets.slanimals.facts import STEMS

ROOT = Path(__file__).resolve().parents[1]
FAULT_STEMS = [STEMS[0], STEMS[25], STEMS[40]]
pytestmark = pytest.mark.filterwarnings("ignore:.*missing recordings:UserWarning")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    from eventpipe.datasets.slanimals.synth import generate

    out = tmp_path_factory.mktemp("raw")
    generate(out, scale="tiny", seed=0, stems=FAULT_STEMS)
    return out


def _hash(name: str) -> str:
    from eventpipe.profile import load_profile

    return load_profile(name).hash


def check_consistent(path: Path) -> str:
    """Open ``path`` with h5py and check it is a complete cache; return its profile_hash."""
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "eventpipe-cache"
        assert str(f.attrs["format_version"]).startswith("1.")
        n = int(f.attrs["n_samples"])
        assert len(f["samples"]) == n
        off = f["events/offsets"][()]
        assert len(off) == n + 1 and off[0] == 0 and np.all(np.diff(off) >= 0)
        assert off[-1] == len(f["events/t"]) == int(f.attrs["n_events"])
        np.testing.assert_array_equal(np.diff(off), f["samples"]["n_events"])
        for name, view in f["views"].items():
            vo = view["offsets"][()]
            assert len(vo) == n + 1 and vo[-1] == len(view["bin"]), name
        return str(f.attrs["profile_hash"])


def _popen_build(raw: Path, out: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    args = [sys.executable, "-m", "eventpipe", "build", "--raw", str(raw), "--out", str(out),
            "--allow-missing", "-q", *extra]  # fmt: skip
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the build and then the pool workers it forked (by pid)."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    proc.kill()
    proc.wait(timeout=30)
    for child in children:
        try:
            child.kill()
            child.wait(timeout=10)
        except psutil.NoSuchProcess:
            pass


# --- SIGKILL at random points -------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_loop_leaves_previous_or_none(raw, tmp_path):
    out = tmp_path / "cache.h5"
    new_hash = _hash("lascas2024")
    rng = random.Random(7)
    outcomes = []
    # iteration 0 starts without a cache; the others kill a --force rebuild of an existing one
    for i, workers in enumerate([1, 2, 1, 2]):
        before = out.read_bytes() if out.exists() else None
        delay = rng.uniform(0.2, 3.0)
        proc = _popen_build(raw, out, "--profile", "lascas2024", "--force", "--workers",
                            str(workers), env={"EVENTPIPE_BUILD_SLOW_S": "0.4"})  # fmt: skip
        try:
            time.sleep(delay)
            finished = proc.poll() is not None
        finally:
            _kill_tree(proc)
        if not out.exists():
            assert before is None, f"iteration {i}: the previous cache vanished"
            outcomes.append("none")
        elif finished and proc.returncode == 0:
            assert check_consistent(out) == new_hash
            outcomes.append("completed")
        elif before is not None and out.read_bytes() == before:
            check_consistent(out)
            outcomes.append("previous")
        else:  # killed after the commit point: the new cache, complete
            assert check_consistent(out) == new_hash, f"iteration {i}: half-written cache"
            outcomes.append("new")
        if i == 0 and not out.exists():  # give the next iterations a previous cache
            proc = _popen_build(raw, out, "--profile", "paper2021", "--workers", "1")
            assert proc.wait(timeout=120) == 0, proc.communicate()
    assert "previous" in outcomes or "none" in outcomes, outcomes  # some kills landed mid-build

    rerun = _popen_build(raw, out, "--profile", "lascas2024", "--workers", "2")
    _, stderr = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, stderr
    assert check_consistent(out) == new_hash
    assert not list(tmp_path.glob("*.tmp-*")) and not list(tmp_path.glob("*.old-*"))
    from eventpipe.cache.parquet import read_meta

    assert read_meta(out.with_suffix(".parquet"))["profile_hash"] == new_hash


# --- readers during a rebuild -------------------------------------------------------------------


@pytest.mark.slow
def test_reader_never_sees_half_written_cache(raw, tmp_path):
    from eventpipe.build import build_cache

    out = tmp_path / "cache.h5"
    build_cache("paper2021", raw, out, workers=1, allow_missing=True, progress=False)
    old_hash, new_hash = _hash("paper2021"), _hash("lascas2024")
    seen: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(check_consistent(out))
            except BaseException as exc:  # reported by the test
                errors.append(exc)
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    proc = _popen_build(raw, out, "--profile", "lascas2024", "--force", "--workers", "2",
                        env={"EVENTPIPE_BUILD_SLOW_S": "0.3"})  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            _kill_tree(proc)
        time.sleep(0.3)  # a few reads of the new file
        stop.set()
        thread.join(timeout=30)
    assert proc.returncode == 0, stderr
    assert not errors, errors[0]
    assert set(seen) == {old_hash, new_hash}
    first_new = seen.index(new_hash)
    assert all(h == new_hash for h in seen[first_new:])  # no going back to the old file
    assert len(seen) > 20


# --- I/O errors ---------------------------------------------------------------------------------


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from eventpipe.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["build", *args])
    cap = capsys.readouterr()
    return int(exc.value.code or 0), cap.out, cap.err


@pytest.fixture
def previous(raw, tmp_path):
    """A committed paper2021 cache and its bytes."""
    from eventpipe.build import build_cache

    out = tmp_path / "cache.h5"
    build_cache("paper2021", raw, out, workers=1, allow_missing=True, progress=False)
    return out, out.read_bytes()


def _assert_intact(out: Path, before: bytes) -> None:
    assert out.read_bytes() == before
    assert check_consistent(out) == _hash("paper2021")
    assert not list(out.parent.glob("*.tmp-*")), list(out.parent.glob("*.tmp-*"))


def _assert_clear_error(code: int, err: str, path: Path) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("error: ") and str(path) in err, err


def test_disk_full_while_writing(previous, raw, monkeypatch, capsys):
    """ENOSPC from the HDF5 writer after the first recording: clear error, old cache intact."""
    from eventpipe.cache import hdf5

    out, before = previous
    calls = {"n": 0}
    real_append = hdf5.CacheWriter.append

    def append(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_append(self, *args, **kwargs)

    monkeypatch.setattr(hdf5.CacheWriter, "append", append)
    code, _, err = _cli(capsys, "--profile", "lascas2024", "--raw", str(raw), "--out", str(out),
                        "--workers", "1", "--allow-missing", "-q")  # fmt: skip
    assert calls["n"] == 2
    _assert_intact(out, before)
    _assert_clear_error(code, err, out)
    assert "No space left on device" in err


def test_permission_denied_at_commit(previous, raw, monkeypatch, capsys):
    """EACCES from the commit rename (a directory that refuses writes): clear error, intact."""
    out, before = previous
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst) == out:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    code, _, err = _cli(capsys, "--profile", "lascas2024", "--raw", str(raw), "--out", str(out),
                        "--workers", "1", "--allow-missing", "-q")  # fmt: skip
    monkeypatch.undo()
    _assert_intact(out, before)
    _assert_clear_error(code, err, out)


def test_out_under_a_regular_file(raw, tmp_path, capsys):
    """--out a/b.h5 where ``a`` is a file (root ignores chmod, this fails for everyone)."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    out = blocker / "cache.h5"
    code, _, err = _cli(capsys, "--profile", "lascas2024", "--raw", str(raw), "--out", str(out),
                        "--workers", "1", "--allow-missing", "-q")  # fmt: skip
    _assert_clear_error(code, err, out.parent)
    assert blocker.read_text() == "x"
