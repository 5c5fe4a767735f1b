"""inspect_cache / render on hand-made caches (REAL and SYNTHETIC labels, stats, Parquet status)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console

from eventpipe.cache.hdf5 import write_cache
from eventpipe.cache.parquet import export_parquet
from eventpipe.cache.schema import SAMPLES_DTYPE
from eventpipe.datasets.slanimals.facts import CLASS_NAMES
from eventpipe.events import make_events
from eventpipe.report.inspect import default_parquet_path, inspect_cache, render


def _cache(path, synthetic: bool):
    # two recordings (S3 and S1), 19 samples each, sample i has i+1 events over (i+1) ms
    stems = [("user00_indoor", "S3", "neon", 0), ("user25_imse", "S1", "daylight", 24)]
    rows = np.zeros(38, dtype=SAMPLES_DTYPE)
    counts = []
    for k, (stem, group, light, idx) in enumerate(stems):
        sl = slice(19 * k, 19 * (k + 1))
        rows["sample_id"][sl] = idx * 19 + np.arange(19)
        rows["recording"][sl] = stem.encode()
        rows["group"][sl] = group.encode()
        rows["lighting"][sl] = light.encode()
        rows["class_id"][sl] = np.arange(19)
        rows["class_name"][sl] = [c.encode() for c in CLASS_NAMES]
        rows["t_start_us"][sl] = 5_000_000 + np.arange(19) * 100_000
        rows["t_end_us"][sl] = rows["t_start_us"][sl] + (np.arange(19) + 1) * 1000
        counts += list(range(1, 20))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n = int(offsets[-1])
    ev = make_events(np.zeros(n), np.zeros(n), np.zeros(n, np.int64), np.zeros(n))
    m = np.arange(38) % 3  # view entries per sample
    voff = np.concatenate([[0], np.cumsum(m)])
    z = np.zeros(int(voff[-1]))
    view = {"bin": z, "p": z, "y": z, "x": z, "value": z.astype(np.uint8), "offsets": voff,
            "n_bins": np.arange(38) + 1}  # fmt: skip
    vattrs = {"binning": "OR", "dt_us": 30_000, "sensor_size": [128, 128, 2], "layout": "TPHW",
              "time_floor_ms": True, "train_crop": 17, "train_crop_mode": "random",
              "train_crop_auto": False, "test_crop": 145, "test_crop_mode": "fixed",
              "test_crop_auto": True}  # fmt: skip
    attrs = {
        "profile": json.dumps({"name": "lascas2024", "description": "d"}),
        "profile_hash": "ab" * 32,
        "synthetic": synthetic,
        "sensor_size": [128, 128, 2],
        "source": json.dumps({"digest": "cd" * 32, "files": [], "n_files": 4}),
        "created_by": "eventpipe 0.1.0",
        "subset": "full",
    }
    return write_cache(path, rows, ev, offsets, {"stbp": view}, attrs, {"stbp": vattrs})


@pytest.mark.parametrize("synthetic", [True, False])
def test_inspect_dict(tmp_path, synthetic):
    path = _cache(tmp_path / "c.h5", synthetic)
    info = inspect_cache(path)
    assert info["data"] == ("SYNTHETIC" if synthetic else "REAL")
    assert info["synthetic"] is synthetic
    assert info["profile"] == {"name": "lascas2024", "hash": "ab" * 32,
                               "short_hash": "ab" * 8, "description": "d"}  # fmt: skip
    assert info["n_samples"] == 38 and info["n_recordings"] == 2
    assert info["counts"]["group"] == {"S1": 19, "S3": 19}
    assert info["counts"]["recordings_per_group"] == {"S1": 1, "S3": 1}
    assert list(info["counts"]["class"]) == list(CLASS_NAMES)
    assert set(info["counts"]["class"].values()) == {2}
    s = info["sample_length_ms"]
    lengths = np.tile(np.arange(1, 20), 2).astype(float)
    assert (s["min"], s["max"]) == (1.0, 19.0)
    assert s["mean"] == pytest.approx(lengths.mean()) and s["std"] == pytest.approx(lengths.std())
    assert info["events"]["total"] == 2 * sum(range(1, 20))
    v = info["views"]["stbp"]
    assert v["nonzero"] == sum(np.arange(38) % 3) and v["n_bins"]["max"] == 38
    assert v["train_crop"] == {"mode": "random", "bins": 17, "auto": False, "ms": 510.0}
    assert v["test_crop"] == {"mode": "fixed", "bins": 145, "auto": True, "ms": 4350.0}
    assert v["time_floor_ms"] is True and v["sensor_size"] == [128, 128, 2]
    assert info["files"]["parquet"]["status"] == "missing"
    json.dumps(info)  # JSON-compatible


def test_parquet_status(tmp_path):
    path = _cache(tmp_path / "c.h5", True)
    assert default_parquet_path(path) == tmp_path / "c.parquet"
    export_parquet(path, tmp_path / "c.parquet")
    info = inspect_cache(path)
    assert info["files"]["parquet"]["status"] == "ok" and info["files"]["parquet"]["bytes"] > 0
    meta = tmp_path / "c.parquet" / "_eventpipe.json"
    data = json.loads(meta.read_text())
    data["profile_hash"] = "00" * 32
    meta.write_text(json.dumps(data))
    assert inspect_cache(path)["files"]["parquet"]["status"] == "stale"


@pytest.mark.parametrize("synthetic", [True, False])
def test_render_labels(tmp_path, synthetic):
    info = inspect_cache(_cache(tmp_path / "c.h5", synthetic))
    buf = io.StringIO()
    render(info, Console(file=buf, width=140, color_system=None))
    text = buf.getvalue()
    label = "SYNTHETIC" if synthetic else "REAL"
    assert label in text.splitlines()[1]  # first line inside the panel
    assert ("SYNTHETIC" in text) is synthetic
    assert "lascas2024" in text and "abababababababab" in text
    for word in ("S1", "S3", "butterfly", "random 17 (510 ms)", "fixed 145 (4350 ms, auto)"):
        assert word in text, word
