"""DVSPlane end to end, as a user runs it: synth (tiny) -> build with firstspike2023-dvsplane ->
CacheDataset frames equal to the published binning; summary totals; bad .mat files through the
CLI (one ``error:`` line naming the file, exit 2, no cache)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy.io import savemat

from eventpipe.data import CacheDataset
from eventpipe.io.matlab_td import read_td_mat
from tests.test_kernels_clip import clip_reference

PROFILE = "firstspike2023-dvsplane"
#: 16 small files: in-process, no Parquet
FAST = ("--workers", "1", "--no-parquet")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eventpipe", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("plane_flow")
    raw, cache = root / "raw", root / "cache.h5"
    r = run("synth", "--dataset", "dvsplane", "--out", str(raw), "--scale", "tiny")
    assert r.returncode == 0, r.stderr
    assert "SYNTHETIC" in r.stdout
    r = run("build", "--profile", PROFILE, "--raw", str(raw), "--out", str(cache), *FAST)
    assert r.returncode == 0, r.stderr
    assert "SYNTHETIC" in r.stdout + r.stderr
    return raw, cache


def published_frames(x, y, t, p, T=135, dt=2000.0, ds=4):
    """first-spike coding's DVSPlane tensor ``[2, 60 (y), 76 (x), T]`` of one recording, in
    float64, from the published arithmetic: 0-based x, y and 0/1 polarity (its conversion),
    ``time -= time[0]``, the events with ``0 <= time < T * dt`` (its slice), then chunk ``i``
    counts the events with ``t0 + i * dt <= time < t0 + (i + 1) * dt``, ``t0`` = the first
    event's time, at ``(p, y // ds, x // ds)``, after the conversion's activity clip
    (``clip_reference``). The published int8 tensor equals this below 128 events per cell and
    bin."""
    start, stop = clip_reference(t)
    x, y, t, p = x[start:stop], y[start:stop], t[start:stop], p[start:stop]
    time = t.astype(np.float64) - float(t[0])
    keep = (time >= 0) & (time < T * dt)
    time, x, y, p = time[keep], x[keep], y[keep], p[keep]
    out = np.zeros((2, 240 // ds, 304 // ds, T), dtype=np.float64)
    t0 = time[0]
    for i in range(T):
        sel = (time >= t0 + i * dt) & (time < t0 + (i + 1) * dt)
        np.add.at(out, (p[sel].astype(int), y[sel] // ds, x[sel] // ds, i), 1.0)
    return out


def test_frames_equal_the_published_binning(built):
    raw, cache = built
    ds = CacheDataset(cache, "firstspike")
    assert len(ds) == 16 and set(ds.meta["split"]) == {"train", "test"}
    for i in range(len(ds)):
        frames, label, meta = ds[i]
        assert tuple(frames.shape) == (135, 2, 60, 76) and 0 <= label < 4
        ev = read_td_mat(raw / f"{meta['recording']}.mat")
        want = published_frames(ev["x"], ev["y"], ev["t"], ev["p"])
        np.testing.assert_array_equal(frames.numpy().astype(np.float64).transpose(1, 2, 3, 0), want)


def test_summary_json_totals(built):
    raw, _cache = built
    r = run("summary", "--dataset", "dvsplane", "--raw", str(raw), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    totals = json.loads((raw / "manifest.json").read_text())["totals"]
    assert s["synthetic"] is True and s["problems"] == []
    assert (s["samples"], s["events"]) == (totals["samples"], totals["events"]) == (16, s["events"])
    assert s["splits"]["train"]["samples"] == 12 and s["splits"]["test"]["samples"] == 4
    assert s["splits"]["test"]["events"] == totals["splits"]["test"]["events"]
    assert s["mat_versions"] == {"5": 8, "7.3": 8}


def test_bad_mat_is_one_error_line(built, tmp_path):
    """A .mat without TD (the other bad values: tests/test_dvsplane_io.py, same error path)."""
    raw, _cache = built
    copy = tmp_path / "raw"
    shutil.copytree(raw, copy)
    target = copy / "Su24_2.mat"
    savemat(target, {"events": np.ones((3, 1))})
    expect = "no variable 'TD'"
    out = tmp_path / "c.h5"
    r = run("build", "--profile", PROFILE, "--raw", str(copy), "--out", str(out), *FAST)
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(target) in errors[0] and expect in errors[0]
    assert "Traceback" not in r.stderr and not out.exists()
