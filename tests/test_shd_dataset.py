"""SHD end to end: synth -> build -> CacheDataset frames [T, 1, 1, 700], summary --json, the
split, and a bad file through the CLI (one error line, exit 2, no cache)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from eventpipe import datasets
from eventpipe.io.shd import KEYS_EXAMPLE, write_shd

PROFILE = """name: shd-e2e
dataset: shd
events: {time_align: false, rezero: false}
views:
  frames: {dt_us: 10000, binning: SUM, rule: floor_all,
           train_crop: {mode: fixed, bins: 100}, test_crop: {mode: fixed, bins: 100}}
"""


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
    (tmp_path / "p.yaml").write_text(PROFILE)
    out = tmp_path / "shd.h5"
    build_cache(
        str(tmp_path / "p.yaml"),
        raw_dir=raw,
        out=out,
        parquet=False,
        workers=1,
        executor="inprocess",
        progress=False,
    )
    ds = CacheDataset(out, "frames")
    frames, label, meta = ds[len(ds) - 1]
    assert tuple(frames.shape) == (100, 1, 1, 700) and meta["sample_id"] == 8156 + 19
    assert int(frames.sum()) == meta["n_events"] and meta["synthetic"]
    assert meta["class_name"] == spec.classes[label]
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
    (tmp_path / "p.yaml").write_text(PROFILE)
    out = tmp_path / "c.h5"
    done = _run(
        "build",
        "--profile",
        str(tmp_path / "p.yaml"),
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
