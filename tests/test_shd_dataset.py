"""SHD end to end: synth -> build (firstspike2023-shd) -> CacheDataset frames [T, 1, 1, 700]
equal to the published binning, show as a raster plot, summary --json, the split, and a bad
file through the CLI (one error line, exit 2, no cache)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from eventpipe import datasets
from eventpipe.io.shd import KEYS_EXAMPLE, write_shd


def published_shd(t_s: np.ndarray, units: np.ndarray, dt_ms=10, n_bins=100) -> np.ndarray:
    """FS_coding's SHD tensor [700, T] in float64: bin floor(t * 1000 / dt) of the file's
    times in seconds, from t = 0 (not the first event), the first ``n_bins`` bins, counts."""
    k = np.floor(t_s.astype(np.float64) * 1000.0 / dt_ms).astype(np.int64)
    keep = k < n_bins
    out = np.zeros((700, n_bins))
    np.add.at(out, (units[keep].astype(np.int64), k[keep]), 1)
    return out


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "eventpipe", *args], capture_output=True, text=True, timeout=120
    )


def test_synth_build_load_and_summary(tmp_path):
    from eventpipe.build.flow import build_cache
    from eventpipe.data import CacheDataset

    spec = datasets.get("shd")
    raw = tmp_path / "raw"
    res = spec.synthesize(raw, "tiny", 0, None, force=False, workers=1)
    assert spec.synthesize(raw, "tiny", 0, None, force=False, workers=1).written is False
    out = tmp_path / "shd.h5"
    build_cache(
        "firstspike2023-shd",
        raw_dir=raw,
        out=out,
        parquet=False,
        workers=1,
        executor="inprocess",
        progress=False,
    )
    import h5py

    ds = CacheDataset(out, "firstspike")
    frames, label, meta = ds[len(ds) - 1]
    assert tuple(frames.shape) == (100, 1, 1, 700) and meta["sample_id"] == 8156 + 19
    assert meta["synthetic"] and meta["class_name"] == spec.classes[label]
    for i in range(len(ds)):  # every sample equals the published tensor
        frames, label, meta = ds[i]
        split = meta["split"]
        row = meta["sample_id"] - (8156 if split == "test" else 0)
        with h5py.File(raw / f"shd_{split}.h5") as f:
            want = published_shd(f["spikes/times"][row], f["spikes/units"][row])
            assert label == int(f["labels"][row])
        np.testing.assert_array_equal(frames[:, 0, 0, :].numpy().T, want)
    tc = CacheDataset(out, "firstspike", layout="TC")
    assert tuple(tc[0][0].shape) == (100, 700)
    shown = _run("show", str(out), "--sample", "3", "--out", str(tmp_path / "r.png"))
    assert shown.returncode == 0 and "raster plot" in shown.stdout, shown.stderr
    assert (tmp_path / "r.png").stat().st_size > 1000
    done = _run("summary", "--dataset", "shd", "--raw", str(raw), "--json")
    s = json.loads(done.stdout)
    totals = res.manifest["totals"]
    assert s["synthetic"] and (s["samples"], s["events"]) == (60, totals["events"])
    assert s["splits"]["test"]["samples"] == 20 and s["problems"] == []
    fold = spec.splits(None, "cv", "full")[0]
    ids = fold.sample_ids(ds.meta)
    assert len(ids["val"]) == 20 * round(0.1 * 2) and len(ids["test"]) == 20


def test_bad_file_cli_one_error_line_no_cache(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("shd_train.h5", "shd_test.h5"):
        write_shd(raw / name, [np.array([0.1, 0.2])], [np.array([3, 700])], [1], [0], KEYS_EXAMPLE)
    out = tmp_path / "c.h5"
    done = _run(
        "build",
        "--profile",
        "firstspike2023-shd",
        "--raw",
        str(raw),
        "--out",
        str(out),
        "--no-parquet",
        "--workers",
        "1",
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "shd_t" in lines[0] and "'spikes/units' sample 0 spike 1: channel 700" in lines[0]
    assert not out.exists()
