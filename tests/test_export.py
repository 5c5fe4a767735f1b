"""export: the published <recording>_<NN>.npy slices, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from eventpipe.cache.hdf5 import CacheFile
from eventpipe.datasets.slanimals.facts import STEMS
from eventpipe.errors import CacheError
from eventpipe.interop.npy import MANIFEST, PUBLISHED_DTYPE, export_npy, slice_name
from tests.test_loader_fixture import write_fixture_cache

STEMS_HERE = ("user03_indoor", "user33_imse")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return write_fixture_cache(
        tmp_path_factory.mktemp("export") / "cache.h5", stems=STEMS_HERE, views={}
    )


def list_sliced_files(raw_file_list):
    """What the published STBP/SLAYER ``list_sliced_files`` computes (re-implemented here)."""
    return [f"{f}_{str(i).zfill(2)}.npy" for f in raw_file_list for i in range(19)]


def test_npy_slices_are_what_the_published_dataset_loads(cache, tmp_path):
    out = tmp_path / "sliced_recordings"
    paths = export_npy(cache, out)
    names = list_sliced_files(STEMS_HERE)
    assert [p.name for p in paths] == names
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, MANIFEST])
    with CacheFile(cache) as c:
        table = c.samples
        for index, name in enumerate(names):  # AnimalsDvsSliced.__getitem__(index)
            events = np.load(out / name)
            assert events.dtype == PUBLISHED_DTYPE  # tonic.io.read_dvs_128's dtype
            row = index  # the fixture's rows are in sample-id order, like the names
            stem = STEMS_HERE[index // 19]
            assert table["sample_id"][row] == STEMS.index(stem) * 19 + index % 19
            ours = c.events(row)
            assert index % 19 == table["class_id"][row]  # the published label rule holds
            np.testing.assert_array_equal(events["t"], ours["t"] + table["t_start_us"][row])
            np.testing.assert_array_equal(events["x"], ours["x"])
            np.testing.assert_array_equal(events["y"], ours["y"])
            np.testing.assert_array_equal(events["p"], ours["p"].astype(bool))
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["synthetic"] is True and manifest["n_files"] == 38


def test_relative_time_uint8_and_recording_filter(cache, tmp_path):
    paths = export_npy(
        cache, tmp_path, recordings=["user33_imse"], absolute_time=False, published_dtype=False
    )
    assert [p.name for p in paths] == [slice_name("user33_imse", i) for i in range(19)]
    ev = np.load(paths[5])
    assert ev.dtype["p"] == np.uint8 and ev["t"][0] == 0
    with CacheFile(cache) as c:
        np.testing.assert_array_equal(ev, c.events(19 + 5))
    with pytest.raises(CacheError, match="user59_dc"):
        export_npy(cache, tmp_path, recordings=["user59_dc"])


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "eventpipe", *args], capture_output=True, text=True, cwd=cwd
    )


def test_cli_export_npy_and_parquet(cache, tmp_path):
    res = _cli("export", "--cache", str(cache), "--format", "npy", "--out", "sl", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "38 slices" in res.stdout and "SYNTHETIC" in res.stdout
    assert (tmp_path / "sl" / "user03_indoor_18.npy").exists()
    res = _cli("export", "--cache", str(cache), "--format", "parquet", "--out", "pq", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "pq" / "samples.parquet").exists()
    res = _cli("export", "--cache", "missing.h5", "--out", "x", cwd=tmp_path)
    assert res.returncode == 2 and "missing.h5" in res.stderr
