"""The N-MNIST dataset package: layout, sample ids, reading a folder, samples, splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eventpipe import datasets
from eventpipe.datasets.nmnist.facts import STEMS, sample_id
from eventpipe.datasets.nmnist.layout import discover, find_root
from eventpipe.errors import LayoutError
from eventpipe.events import EVENT_DTYPE, make_events
from eventpipe.io.nmnist import write_nmnist

SPEC = datasets.get("nmnist")


def _write(path: Path, n: int, t0: int = 0) -> None:
    ev = make_events(np.arange(n) % 34, np.arange(n) % 7, t0 + np.arange(n) * 10, np.arange(n) % 2)
    write_nmnist(path, ev)


@pytest.fixture()
def raw(tmp_path) -> Path:
    """A tiny archive: Train/3 holds 00012.bin and 00002.bin; other folders one file each."""
    for part in ("Train", "Test"):
        for d in range(10):
            _write(tmp_path / part / str(d) / f"{d + 20:05d}.bin", 3 + d)
    _write(tmp_path / "Train" / "3" / "00012.bin", 5, t0=7)
    _write(tmp_path / "Train" / "3" / "00002.bin", 2, t0=1)
    (tmp_path / "README.txt").write_text("ignored")
    return tmp_path


def test_registry_and_facts():
    assert "nmnist" in datasets.names()
    assert SPEC.sensor_size == (34, 34, 2) and SPEC.classes == tuple("0123456789")
    assert SPEC.recording_names("test") == tuple(f"test_{d}" for d in range(10))
    assert (sample_id("train", 12), sample_id("test", 1), sample_id("test", 10000)) == (
        11,
        60000,
        69999,
    )


def test_recordings_files_and_sample_ids(raw):
    recs = SPEC.find_recordings(raw, "full", True)
    assert [r.stem for r in recs] == list(STEMS)
    r3 = recs[3]
    assert (r3.stem, r3.split, r3.class_id) == ("train_3", "train", 3)
    assert [f.name for f in r3.files] == ["00002.bin", "00012.bin", "00023.bin"]
    assert r3.sample_ids == (1, 11, 22)
    assert recs[10].sample_ids == (60000 + 20 - 1,)
    assert SPEC.max_events(r3) == 2 + 5 + 6
    assert [r.stem for r in SPEC.find_recordings(raw, "test", True)] == list(STEMS[10:])


@pytest.mark.parametrize("sub", ["NMNIST", "N-MNIST"])
@pytest.mark.parametrize("case", [str.lower, str.title])
def test_layout_one_level_down_and_any_case(raw, tmp_path_factory, sub, case):
    top = tmp_path_factory.mktemp("top")
    for part in ("Train", "Test"):
        shutil.copytree(raw / part, top / sub / case(part))
    root, parts = find_root(top)
    assert root == top / sub and set(parts) == {"train", "test"}
    assert len(discover(top)) == 20


def test_layout_errors(raw, tmp_path):
    with pytest.raises(LayoutError, match="no Train/ or Test/ folder"):
        discover(tmp_path / "Train" / "0")
    shutil.rmtree(raw / "Test")
    with pytest.raises(LayoutError, match=r"missing Test/ folder"):
        discover(raw)
    assert len(discover(raw, subset="train")) == 10
    with pytest.warns(UserWarning, match="missing Test/"):
        assert len(discover(raw, strict=False)) == 10


def test_bad_file_names_and_duplicate_ids(raw):
    _write(raw / "Train" / "4" / "abc.bin", 1)
    with pytest.raises(LayoutError, match=r"Train/4/abc\.bin: file name is not a sample number"):
        discover(raw)
    (raw / "Train" / "4" / "abc.bin").unlink()
    _write(raw / "Train" / "5" / "00012.bin", 1)  # 00012.bin is also in Train/3
    with pytest.raises(LayoutError, match=r"Train/5/00012\.bin: duplicate sample id 11"):
        discover(raw)
    with pytest.warns(UserWarning, match="duplicate"):
        recs = discover(raw, strict=False)
    assert [f.name for f in recs[5].files] == ["00025.bin"]


def test_read_recording_and_samples_with_and_without_buffer(raw):
    rec = SPEC.find_recordings(raw, "full", True)[3]
    n_max = SPEC.max_events(rec)
    buffer = {k: np.zeros(n_max, EVENT_DTYPE[k]) for k in ("x", "y", "t", "p")}
    events = SPEC.read_recording(rec, "published", buffer)
    assert np.shares_memory(events["t"], buffer["t"])
    assert events["file_offsets"].tolist() == [0, 2, 7, 13]
    out = SPEC.samples(rec, events)
    metas = [m for m, _ in out]
    assert [m.sample_id for m in metas] == [1, 11, 22]
    assert [m.n_events for m in metas] == [2, 5, 6]
    m = metas[1]
    assert (m.t_start_us, m.t_end_us, m.class_name, m.split, m.recording) == (
        7,
        47,
        "3",
        "train",
        "train_3",
    )
    assert (m.subject, m.group, m.lighting) == (0, "", "")
    assert out[1][1]["t"].tolist() == [7, 17, 27, 37, 47]
    plain = SPEC.read_recording(rec)
    structured = make_events(plain["x"], plain["y"], plain["t"], plain["p"])
    again = SPEC.samples(rec, structured)  # offsets read again from the files
    assert [a[0] for a in again] == metas
    with pytest.raises(ValueError, match="one orientation"):
        SPEC.read_recording(rec, "jaer")
    # a worker reads folder after folder into the same buffers: each read equals a fresh one
    for other in SPEC.find_recordings(raw, "full", True)[:4]:
        size = max(n_max, SPEC.max_events(other))
        cols = {k: np.zeros(size, EVENT_DTYPE[k]) for k in ("x", "y", "t", "p")}
        got, fresh = SPEC.read_recording(other, "published", cols), SPEC.read_recording(other)
        assert all(np.array_equal(got[k], fresh[k]) for k in fresh)


def test_splits_published_train_test_with_sample_validation():
    (fold,) = SPEC.splits(None, "cv", "full")
    assert fold.train == fold.val == STEMS[:10] and fold.test == STEMS[10:]
    ids = np.arange(200)
    table = pd.DataFrame(
        {"sample_id": np.r_[ids, 60000 + ids[:50]], "class_id": np.r_[ids % 10, ids[:50] % 10]}
    )
    table["recording"] = [f"train_{c}" for c in table["class_id"][:200]] + [
        f"test_{c}" for c in table["class_id"][200:]
    ]
    parts = fold.sample_ids(table)
    assert len(parts["val"]) == 20 and len(parts["train"]) == 180 and len(parts["test"]) == 50
    assert not set(parts["val"]) & set(parts["train"])
    (tt,) = SPEC.splits(["test_1", "train_0"], "train-test", "full")
    assert (tt.train, tt.val, tt.test) == (("train_0",), (), ("test_1",))
