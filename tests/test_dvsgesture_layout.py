"""DVS Gesture layout (trials files decide the recordings) and the published split."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eventpipe import datasets
from eventpipe.datasets.dvsgesture.facts import (
    RECORDINGS,
    TEST_RECORDINGS,
    TRAIN_RECORDINGS,
    official_split,
)
from eventpipe.datasets.dvsgesture.layout import discover, scan_layout
from eventpipe.datasets.dvsgesture.synth import generate_dataset
from eventpipe.errors import LayoutError

SPEC = datasets.get("dvsgesture")


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("dg"), "tiny").out_dir


@pytest.fixture
def raw(synth, tmp_path) -> Path:
    out = tmp_path / "raw"
    shutil.copytree(synth, out)
    return out


def test_facts_match_the_trials_files():
    assert (len(RECORDINGS), len(TRAIN_RECORDINGS), len(TEST_RECORDINGS)) == (122, 98, 24)
    assert TRAIN_RECORDINGS[0] == "user01_fluorescent" and TRAIN_RECORDINGS[-1] == "user23_led"
    assert TEST_RECORDINGS[0] == "user24_fluorescent" and TEST_RECORDINGS[-1] == "user29_natural"
    assert "user12_lab" not in RECORDINGS and "user12_led" in RECORDINGS
    assert {r[4:6] for r in TEST_RECORDINGS} == {f"{u}" for u in range(24, 30)}
    assert SPEC.sensor_size == (128, 128, 2) and SPEC.classes[7] == "arm_roll"
    assert SPEC.recording_names("full") == RECORDINGS and "dvsgesture" in datasets.names()


def test_discover_in_archive_folder_or_flat(raw):
    recs = SPEC.find_recordings(raw, "full", True)
    assert [r.stem for r in recs] == ["user01_natural", "user02_lab", "user26_lab"]
    assert [r.split for r in recs] == ["train", "train", "test"]
    assert recs[2].files[2].name == "trials_to_test.txt" and recs[0].index == 4
    flat = [r.stem for r in discover(raw / "DvsGesture")]
    assert flat == [r.stem for r in recs]


@pytest.mark.parametrize("name", ["user02_lab.aedat", "user02_lab_labels.csv"])
def test_missing_file_of_a_trials_line(raw, name):
    (raw / "DvsGesture" / name).unlink()
    with pytest.raises(LayoutError, match=rf"trials_to_train\.txt: line 2: .*{name} is missing"):
        discover(raw)
    with pytest.warns(UserWarning, match="skipped"):
        assert len(discover(raw, strict=False)) == 2


def test_missing_or_bad_trials_files(raw):
    trials = raw / "DvsGesture" / "trials_to_test.txt"
    trials.write_text("user26_lab.aedat\n\nuser99_lab.aedat\n")
    with pytest.raises(LayoutError, match=r"trials_to_test\.txt: line 3: 'user99_lab.aedat'"):
        discover(raw)
    trials.write_text("user01_natural.aedat\n")
    with pytest.raises(LayoutError, match=r"line 1: user01_natural.aedat is listed again"):
        discover(raw)
    trials.unlink()
    with pytest.raises(LayoutError, match=r"trials_to_test\.txt: trials file not found"):
        discover(raw)
    with pytest.raises(LayoutError, match="raw directory not found"):
        discover(raw / "nope")


def test_trials_files_decide_the_split(raw):
    folder = raw / "DvsGesture"
    (folder / "trials_to_train.txt").write_text("user01_natural.aedat\n")
    (folder / "trials_to_test.txt").write_text("user02_lab.aedat\nuser26_lab.aedat\n")
    _, recs, problems = scan_layout(raw)
    assert [r.split for r in recs] == ["train", "test", "test"] and problems == []
    s = SPEC.summarize(raw)
    assert s["problems"] == [f"{folder / 'trials_to_test.txt'}: user02_lab is in the test part; "
                             "the official split puts it in train"]  # fmt: skip


def test_published_split_folds():
    (fold,) = SPEC.splits(None, "cv", "full")
    assert (len(fold.train), len(fold.val), len(fold.test)) == (88, 10, 24)
    assert set(fold.val) <= set(TRAIN_RECORDINGS) and fold.test == TEST_RECORDINGS
    (tt,) = SPEC.splits(["user26_lab", "user01_natural", "user02_lab"], "train-test", "full")
    assert (tt.train, tt.val, tt.test) == (("user01_natural", "user02_lab"), (), ("user26_lab",))
    assert official_split("user23_led") == "train" and official_split("user24_led") == "test"
    with pytest.raises(LayoutError):
        SPEC.splits(["user30_lab"], "cv", "full")
    with pytest.raises(ValueError):
        SPEC.splits(None, "kfold", "full")
