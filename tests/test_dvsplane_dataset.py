"""DVSPlane: facts, sample ids, layout discovery and its errors, the published split, samples
and the synthetic stand-in (deterministic, both MAT layouts, protective)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from eventpipe import datasets
from eventpipe.datasets.dvsplane.facts import STEMS, parse_stem, sample_id, split_of
from eventpipe.datasets.dvsplane.layout import discover
from eventpipe.datasets.dvsplane.synth import generate_dataset, ground_truth, is_synthetic
from eventpipe.errors import LayoutError
from eventpipe.io.matlab_td import mat_version, read_td_mat, write_td_mat

SPEC = datasets.get("dvsplane")


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("plane") / "raw", scale="tiny").out_dir


def test_registry_facts_and_sample_ids():
    assert "dvsplane" in datasets.names() and SPEC.sensor_size == (304, 240, 2)
    assert SPEC.classes == ("F117", "Mig31", "Su24", "Su35")
    assert len(STEMS) == 800 and len(SPEC.recording_names("train")) == 640
    assert len(SPEC.recording_names("test")) == 160
    assert [sample_id(s) for s in ("F117_1", "Mig31_1", "Su35_200")] == [0, 200, 799]
    assert sorted(sample_id(s) for s in STEMS) == list(range(800))
    assert (split_of("Su24_160"), split_of("Su24_161")) == ("train", "test")
    for bad in ("F117_0", "F117_201", "F117_01", "B52_1"):
        with pytest.raises(LayoutError, match="not a DVSPlane recording name"):
            parse_stem(bad)


def test_synthetic_files_recordings_and_samples(raw):
    recs = SPEC.find_recordings(raw, "full", True)
    assert [r.stem for r in recs][:4] == ["F117_1", "F117_2", "F117_3", "F117_161"]
    assert len(recs) == 16 and is_synthetic(raw)
    versions = {r.stem: mat_version(r.path) for r in recs}
    assert versions["F117_1"] == "7.3" and versions["F117_2"] == "5"
    rec = recs[5]  # Mig31_2
    events = SPEC.read_recording(rec, "published", None)
    np.testing.assert_array_equal(events, ground_truth(rec.stem, "tiny", 0))
    ((meta, sample),) = SPEC.samples(rec, events)
    assert (meta.sample_id, meta.class_name, meta.split) == (201, "Mig31", "train")
    assert meta.n_events == len(sample) and meta.t_start_us == events["t"][0]
    assert SPEC.max_events(recs[0]) == len(read_td_mat(recs[0].path))  # v7.3: exact
    assert SPEC.max_events(rec) == 0  # v5: the reader allocates


def test_layout_one_level_down_missing_and_bad_names(raw, tmp_path):
    real = tmp_path / "real" / "dvsplane"
    real.mkdir(parents=True)
    for name in ("F117_1.mat", "Su35_161.mat"):
        shutil.copy(raw / name, real / name)
    (real / "F117_007.mat").write_bytes(b"x")
    with pytest.raises(LayoutError, match=r"missing 798 file\(s\): F117_2\.mat") as err:
        discover(tmp_path / "real")
    assert "F117_007.mat: file name is not" in str(err.value)
    with pytest.warns(UserWarning, match="skipped"):
        recs = discover(tmp_path / "real", strict=False)
    assert [r.stem for r in recs] == ["F117_1", "Su35_161"]
    with pytest.warns(UserWarning) as caught:
        test_part = discover(tmp_path / "real", "test", strict=False)
    assert any("missing 159 file" in str(w.message) for w in caught)
    assert [r.stem for r in test_part] == ["Su35_161"]
    with pytest.raises(LayoutError, match=r"no DVSPlane \.mat files"):
        discover(tmp_path)
    with pytest.raises(LayoutError, match="raw directory not found"):
        discover(tmp_path / "nope")


def test_published_split_with_per_class_validation():
    (fold,) = SPEC.splits(None, "cv", "full")
    assert len(fold.train) == 640 and len(fold.test) == 160
    assert all(split_of(s) == "test" for s in fold.test)
    table = pd.DataFrame(
        {
            "recording": STEMS,
            "sample_id": [sample_id(s) for s in STEMS],
            "class_id": [sample_id(s) // 200 for s in STEMS],
        }
    )
    parts = fold.sample_ids(table)
    assert [len(parts[p]) for p in ("train", "val", "test")] == [576, 64, 160]
    assert np.bincount(parts["val"] // 200).tolist() == [16] * 4  # stratified by class
    (tt,) = SPEC.splits(["Su24_161", "F117_3", "F117_1"], "train-test", "full")
    assert tt.train == ("F117_1", "F117_3") and tt.test == ("Su24_161",) and tt.val == ()


def test_synth_is_deterministic_idempotent_and_protective(raw, tmp_path):
    again = generate_dataset(raw, scale="tiny")
    assert again.written is False
    other = generate_dataset(tmp_path / "o", scale="tiny", names=["Su35_2"])
    assert (
        read_td_mat(other.out_dir / "Su35_2.mat").tobytes()
        == read_td_mat(raw / "Su35_2.mat").tobytes()
    )
    with pytest.raises(LayoutError, match="other settings"):
        generate_dataset(tmp_path / "o", scale="tiny", seed=3, names=["Su35_2"])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    write_td_mat(foreign / "F117_1.mat", ground_truth("F117_1", "tiny"))
    with pytest.raises(LayoutError, match="refusing"):
        generate_dataset(foreign, scale="tiny", force=True)
    with pytest.raises(ValueError, match="unknown scale"):
        generate_dataset(tmp_path / "s", scale="huge")


def test_synthetic_classes_differ_in_shape():
    """The four outlines give different mean event footprints (a learnable signal)."""
    area = []
    for stem in ("F117_2", "Mig31_2", "Su24_2", "Su35_2"):
        ev = ground_truth(stem, "small")
        area.append(len(np.unique(ev["x"].astype(np.int64) * 240 + ev["y"])))
    assert len(set(area)) == 4
