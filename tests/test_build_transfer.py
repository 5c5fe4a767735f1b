"""Build results handed over in shared memory (eventpipe.build.arena): same data, no leftovers."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from eventpipe.build import arena as A
from eventpipe.build import build_cache
from eventpipe.build.stages import TaskPlan, process_recording
from eventpipe.datasets.slanimals.layout import discover
from eventpipe.profile import load_profile
from tests.test_build import TINY_STEMS, _assert_same_data

pytestmark = pytest.mark.filterwarnings("ignore:.*skipped. missing recordings:UserWarning")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    from eventpipe.datasets.slanimals.synth import generate

    out = tmp_path_factory.mktemp("raw")
    generate(out, scale="tiny", seed=0, stems=TINY_STEMS)
    return out


def _files(d: Path) -> list[Path]:
    return sorted(d.glob(f"{A.PREFIX}*"))


def test_shared_arena_pickles_as_a_reference(tmp_path):
    cols = {"a": ("<i8", 100_000), "b": ("u1", 7), "c": ("<f4", 0)}
    ar = A.Arena(cols, str(tmp_path), owner=os.getpid())
    assert ar.shared and len(_files(tmp_path)) == 1
    ar["a"][:] = np.arange(100_000)
    ar["b"][:] = 5
    ar.trim("a", 1234)
    blob = pickle.dumps(ar)
    assert len(blob) < 2000  # the layout, not 800 kB of data
    got = pickle.loads(blob)
    assert _files(tmp_path) == []  # the receiver unlinked it; its mapping keeps the pages
    np.testing.assert_array_equal(got["a"], np.arange(1234))
    np.testing.assert_array_equal(got["b"], np.full(7, 5, np.uint8))
    assert got["c"].dtype == np.float32 and len(got["c"]) == 0
    assert not got["a"].flags.writeable
    # a received arena pickles its arrays (e.g. to send it on)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(got))["a"], np.arange(1234))


def test_arena_in_process_memory_without_room_or_directory(tmp_path, monkeypatch):
    cols = {"a": ("<i2", 1000)}
    assert not A.Arena(cols).shared
    monkeypatch.setattr(A, "_free_bytes", lambda d: 1000)  # less than twice the buffer
    ar = A.Arena(cols, str(tmp_path))
    assert not ar.shared and _files(tmp_path) == []
    ar["a"][:] = 3
    ar.trim("a", 10)
    got = pickle.loads(pickle.dumps(ar))
    np.testing.assert_array_equal(got["a"], np.full(10, 3, np.int16))


def test_recording_result_through_shared_memory_equals_plain(raw, tmp_path):
    profile = load_profile("lascas2024")
    rec = discover(raw, strict=False)[0]
    plain = process_recording(rec, TaskPlan.from_profile(profile))
    task = TaskPlan.from_profile(profile, transfer_dir=str(tmp_path), owner=os.getpid())
    shared = process_recording(rec, task)
    assert shared.arena.shared and not plain.arena.shared
    blob_shared, blob_plain = pickle.dumps(shared), pickle.dumps(plain)
    assert len(blob_shared) < len(blob_plain) / 20
    del shared
    a, b = pickle.loads(blob_plain), pickle.loads(blob_shared)
    assert _files(tmp_path) == []
    for k in ("x", "y", "t", "p"):
        assert a.events[k].dtype == b.events[k].dtype
        np.testing.assert_array_equal(a.events[k], b.events[k])
    assert a.views.keys() == b.views.keys() == profile.views.keys()
    for name in a.views:
        assert a.views[name].keys() == b.views[name].keys()
        for k in a.views[name]:
            assert a.views[name][k].dtype == b.views[name][k].dtype
            np.testing.assert_array_equal(a.views[name][k], b.views[name][k], err_msg=k)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.offsets, b.offsets)


def test_clean_stale_and_owned(tmp_path):
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (tmp_path / f"{A.PREFIX}{dead}-x").write_bytes(b"1")
    (tmp_path / f"{A.PREFIX}{os.getpid()}-y").write_bytes(b"2")
    (tmp_path / "eventpipe-fuzz-abc").write_bytes(b"3")  # not ours: never touched
    removed = A.clean_stale(str(tmp_path))
    assert [p.name for p in removed] == [f"{A.PREFIX}{dead}-x"]
    assert [p.name for p in _files(tmp_path)] == [f"{A.PREFIX}{os.getpid()}-y"]
    A.clean_owned(str(tmp_path))
    assert _files(tmp_path) == [] and (tmp_path / "eventpipe-fuzz-abc").exists()


def test_two_workers_with_and_without_shared_memory_identical(raw, tmp_path, monkeypatch):
    """The pipe (EVENTPIPE_BUILD_SHM=0) and shared memory give the same cache; nothing is left."""
    shm = A.shm_dir()
    with_shm = build_cache("lascas2024", raw, tmp_path / "a.h5", workers=2, allow_missing=True,
                           progress=False)  # fmt: skip
    monkeypatch.setenv(A.SHM_ENV, "0")
    assert A.shm_dir() is None
    piped = build_cache("lascas2024", raw, tmp_path / "b.h5", workers=2, allow_missing=True,
                        progress=False)  # fmt: skip
    _assert_same_data(with_shm.out, piped.out)
    if shm is not None:
        assert list(Path(shm).glob(f"{A.PREFIX}{os.getpid()}-*")) == []


def test_recycled_arena_is_kept_released_and_claimed(tmp_path):
    """recycle=True: the receiver keeps the file; release() renames it ...-free-...; the next
    arena of the same owner takes it over (same inode, its pages exist already)."""
    me = os.getpid()
    cols = {"a": ("<i8", 50_000)}
    ar = A.Arena(cols, str(tmp_path), owner=me, recycle=True)
    ar["a"][:] = 7
    got = pickle.loads(pickle.dumps(ar))
    (kept,) = _files(tmp_path)  # not unlinked: waits for release()
    inode = kept.stat().st_ino
    np.testing.assert_array_equal(got["a"], np.full(50_000, 7))
    del ar
    got.release()
    got.release()  # idempotent
    (free,) = _files(tmp_path)
    assert free.name.startswith(f"{A.PREFIX}{me}-{A.FREE}")
    small = A.Arena({"b": ("u1", 10)}, str(tmp_path), owner=me, recycle=True)
    (claimed,) = _files(tmp_path)
    assert claimed.stat().st_ino == inode and A.FREE not in claimed.name
    assert claimed.stat().st_size >= 50_000 * 8  # never shrunk
    bigger = A.Arena({"c": ("<i8", 200_000)}, str(tmp_path), owner=me, recycle=True)
    assert len(_files(tmp_path)) == 2  # nothing free: a new file
    bigger["c"][:] = 3
    back = pickle.loads(pickle.dumps(bigger))
    np.testing.assert_array_equal(back["c"], np.full(200_000, 3))
    del small, bigger, back
    other = A.Arena({"d": ("u1", 10)}, str(tmp_path), owner=me + 1, recycle=True)
    assert other.shared and len(_files(tmp_path)) == 3  # another owner's files are not taken
    del other
    A.clean_owned(str(tmp_path), owner=me)
    A.clean_owned(str(tmp_path), owner=me + 1)
    assert _files(tmp_path) == []


def test_recycled_file_keeps_its_mapping_in_the_claiming_process(tmp_path):
    """A worker that claims a file it mapped before writes through the same mapping (its page
    tables exist); the receiver still sees exactly what the new task wrote; clean_owned closes
    the kept mappings."""
    me = os.getpid()
    first = A.Arena({"a": ("<i8", 40_000)}, str(tmp_path), owner=me, recycle=True)
    first["a"][:] = 1
    mm = first._mm
    got = pickle.loads(pickle.dumps(first))
    del first
    got.release()
    again = A.Arena({"b": ("<i2", 30_000), "c": ("u1", 7)}, str(tmp_path), owner=me, recycle=True)
    assert again._mm is mm  # kept mapping, same file
    again["b"][:] = np.arange(30_000, dtype=np.int16)
    again["c"][:] = 9
    back = pickle.loads(pickle.dumps(again))
    np.testing.assert_array_equal(back["b"], np.arange(30_000, dtype=np.int16))
    np.testing.assert_array_equal(back["c"], np.full(7, 9, np.uint8))
    del again, back, got
    A.clean_owned(str(tmp_path), owner=me)
    assert A._MAPPED == {} and _files(tmp_path) == []


def test_recycled_file_keeps_its_column_offsets(tmp_path):
    """Equally long columns of a recycled file are laid out by the file's size, not by the
    task's length: a smaller task that reuses the file writes each column where the larger one
    did (the kept mapping's pages), and the receiver still reads exactly what it wrote."""
    me = os.getpid()
    dts = {"x": "<i2", "t": "<i8", "p": "u1"}
    first = A.Arena({k: (d, 50_000) for k, d in dts.items()}, str(tmp_path), owner=me, recycle=True)
    (f,) = _files(tmp_path)
    size = f.stat().st_size
    cap = first.layout["x"][2]
    assert cap >= 50_000 and size >= cap * 11  # capacity rounded up (2**(k/4) grid)
    assert len(first["t"]) == 50_000  # the arrays are as long as asked
    offsets = {k: v[0] for k, v in first.layout.items()}
    got = pickle.loads(pickle.dumps(first))
    del first
    got.release()
    again = A.Arena({k: (d, 30_001) for k, d in dts.items()}, str(tmp_path), owner=me, recycle=True)
    assert {k: v[0] for k, v in again.layout.items()} == offsets
    assert len(again["x"]) == 30_001
    assert _files(tmp_path)[0].stat().st_size == size  # not grown, not shrunk
    again["x"][:3] = [1, 2, 3]
    again["t"][:3] = [4, 5, 6]
    again["p"][:3] = 7
    for k in dts:
        again.trim(k, 3)
    back = pickle.loads(pickle.dumps(again))
    assert back["x"].tolist() == [1, 2, 3] and back["t"].tolist() == [4, 5, 6]
    assert back["p"].tolist() == [7, 7, 7]
    del again, back, got
    # columns of different lengths keep the plain layout
    mixed = A.Arena({"a": ("<i8", 10), "b": ("u1", 20)}, str(tmp_path), owner=me, recycle=True)
    assert mixed.layout["a"] == (0, "<i8", 10) and mixed.layout["b"] == (128, "|u1", 20)
    del mixed
    A.clean_owned(str(tmp_path), owner=me)
    assert _files(tmp_path) == []
