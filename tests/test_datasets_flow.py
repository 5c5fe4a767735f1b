"""N-MNIST and DVS Gesture end to end, as a user runs them: ``synth`` -> ``build`` with the
published-preprocessing profile -> ``summary``, ``inspect``, ``show``, ``export`` -> the
existing loader, and the published split with its validation draw."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventpipe import datasets
from eventpipe.data import CacheDataset

CASES = {
    "nmnist": ("tsslbp2020", "tsslbp", (30, 2, 34, 34), 10),
    "dvsgesture": ("firstspike2023-dvsgesture", "firstspike", (160, 2, 32, 32), 10),
}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eventpipe", *args], capture_output=True, text=True, timeout=300
    )


#: DVS Gesture's run is slow-marked (its reader, slicing, synth CLI and preprocessing are in the
#: default run through test_dvsgesture_*.py and test_published_preprocessing.py)
@pytest.fixture(
    scope="module", params=["nmnist", pytest.param("dvsgesture", marks=pytest.mark.slow)]
)
def built(request, tmp_path_factory) -> tuple[str, Path, Path]:
    name = request.param
    root = tmp_path_factory.mktemp(name)
    raw, cache = root / "raw", root / "cache.h5"
    r = run("synth", "--dataset", name, "--out", str(raw), "--scale", "tiny")
    assert r.returncode == 0, r.stderr
    assert "SYNTHETIC" in r.stdout
    r = run("build", "--profile", CASES[name][0], "--raw", str(raw), "--out", str(cache))
    assert r.returncode == 0, r.stderr
    assert "SYNTHETIC" in r.stdout + r.stderr
    return name, raw, cache


def test_cache_names_its_dataset_and_split(built):
    name, _raw, cache = built
    with h5py.File(cache, "r") as f:
        assert f.attrs["dataset"] == name and f.attrs["format_version"] == "1.1"
        assert f.attrs["synthetic"]
        splits = set(f["samples"]["split"].astype(str))
        classes = set(f["samples"]["class_id"].tolist())
    assert splits == {"train", "test"}
    assert max(classes) < CASES[name][3]  # dvsgesture: "other_gestures" (id 10) dropped


def test_loader_yields_the_published_shape(built):
    name, _raw, cache = built
    _profile, view, shape, n_classes = CASES[name]
    ds = CacheDataset(cache, view)
    frames, label, meta = ds[0]
    assert tuple(frames.shape) == shape and 0 <= label < n_classes
    assert meta["split"] in ("train", "test")
    recordings = sorted(set(ds.meta["recording"]))  # a tiny synthetic set: some recordings
    fold = datasets.get(name).splits(recordings, "cv", "full")[0]
    parts = {p: CacheDataset.from_fold(cache, view, fold, p) for p in ("train", "test")}
    assert len(parts["train"]) and len(parts["test"])
    ids = {p: set(d.sample_ids.tolist()) for p, d in parts.items()}
    assert not ids["train"] & ids["test"]


def test_summary_inspect_show_export(built, tmp_path):
    name, raw, cache = built
    r = run("summary", "--dataset", name, "--raw", str(raw), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["synthetic"] is True and s["samples"] > 0 and s["events"] > 0
    assert set(s["splits"]) == {"train", "test"}
    assert sum(v["samples"] for v in s["splits"].values()) == s["samples"]
    r = run("inspect", str(cache))
    assert r.returncode == 0 and "SYNTHETIC" in r.stdout, r.stderr
    with h5py.File(cache, "r") as f:
        sid = int(f["samples"]["sample_id"][0])
    r = run("show", str(cache), "--sample", str(sid), "--out", str(tmp_path / "s.gif"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s.gif").stat().st_size > 0
    r = run("export", "--cache", str(cache), "--out", str(tmp_path / "npy"))
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "npy").glob("*.npy"))) > 0
    one = np.load(next((tmp_path / "npy").glob("*.npy")))
    assert set(one.dtype.names) == {"x", "y", "t", "p"}
