"""Reuse recipes (docs/loading.md): tonic, time-first and time-last layouts,
and the Parquet dataset read by pandas, dask, polars and duckdb without eventpipe."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import tonic
import torch
from torch.utils.data import DataLoader

from eventpipe.cache.hdf5 import CacheFile
from eventpipe.cache.parquet import export_parquet
from eventpipe.data import CacheDataset, collate
from eventpipe.datasets.slanimals.facts import CLASS_NAMES
from eventpipe.interop.frameworks import TonicDataset, from_nchwt, from_tnchw, to_nchwt, to_tnchw
from eventpipe.interop.published import from_published, to_published
from tests.test_loader_fixture import write_fixture_cache
from tests.test_published_orientation import _published_tonic_frames

STEMS_HERE = ("user02_indoor", "user30_imse")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return write_fixture_cache(
        tmp_path_factory.mktemp("interop") / "cache.h5", stems=STEMS_HERE, rows_per_recording=6
    )


def test_cache_events_go_straight_into_tonic_transforms(cache):
    ds = CacheDataset(cache, "stbp")
    with CacheFile(cache) as c:
        for row in (0, 7):
            events = c.events(row)  # docs/loading.md recipe
            frames = tonic.transforms.ToFrame(sensor_size=c.sensor_size, time_window=30_000)(events)
            denoised = tonic.transforms.Denoise(filter_time=10_000)(events)
            n = min(len(frames), ds.length)
            ours = ds[row][0].numpy()
            np.testing.assert_array_equal(ours[:n], (frames[:n] > 0).astype(np.float32))
            assert not ours[n:].any()
            assert denoised.dtype == events.dtype and len(denoised) <= len(events)
            assert np.isin(denoised["t"], events["t"]).all()
    # the same from plain h5py, without eventpipe's reader (docs/loading.md recipe)
    with h5py.File(cache, "r") as f:
        off = f["events/offsets"][:]
        a, b = off[7], off[8]
        ev = np.empty(b - a, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "u1")])
        for k in ("x", "y", "t", "p"):
            ev[k] = f["events"][k][a:b]
    frames2 = tonic.transforms.ToFrame(sensor_size=(128, 128, 2), time_window=30_000)(ev)
    np.testing.assert_array_equal(frames2, frames)


def test_tonic_style_dataset(cache):
    ds = TonicDataset(cache)
    assert len(ds) == 12 and ds.sensor_size == (128, 128, 2)
    assert ds.classes == list(CLASS_NAMES) and ds.ordering == "xytp"
    events, target = ds[8]
    assert target == 2 and events.dtype.names == ("x", "y", "t", "p")
    with CacheFile(cache) as c:
        np.testing.assert_array_equal(events, c.events(8))
    to_frame = tonic.transforms.ToFrame(sensor_size=ds.sensor_size, time_window=30_000)
    tds = TonicDataset(cache, transform=to_frame, target_transform=lambda y: y + 100)
    frames, target = tds[8]
    assert target == 102 and frames.ndim == 4 and frames.shape[1:] == (2, 128, 128)
    joint = TonicDataset(cache, transforms=lambda e, y: (len(e), CLASS_NAMES[y]))
    assert joint[8] == (len(events), "camel")
    sub = TonicDataset(cache, samples=["user30_imse"])
    assert len(sub) == 6 and sub.targets == list(range(6))
    ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._h5 is None and len(clone[3][0]) == len(ds[3][0])
    # tonic's padding collation + a torch DataLoader, as in tonic's tutorials
    tds = TonicDataset(cache, transform=tonic.transforms.Compose([to_frame, torch.tensor]))
    dl = DataLoader(tds, batch_size=4, collate_fn=tonic.collation.PadTensors(batch_first=True))
    x, y = next(iter(dl))
    assert x.shape[0] == 4 and x.shape[2:] == (2, 128, 128) and y.tolist() == [0, 1, 2, 3]
    assert "SYNTHETIC" in repr(ds)


def test_time_first_and_time_last_layouts_are_views(cache):
    frames, _, _ = CacheDataset(cache, "stbp", train=True).batch([0, 1, 2])
    assert frames.shape == (3, 17, 2, 128, 128)
    tn = to_tnchw(frames)  # spikingjelly multi-step, snntorch, norse
    assert tn.shape == (17, 3, 2, 128, 128) and tn.data_ptr() == frames.data_ptr()
    assert torch.equal(tn, frames.transpose(0, 1))
    for t in range(tn.shape[0]):  # the snntorch/norse loop: for step in range(T): net(x[step])
        assert torch.equal(tn[t], frames[:, t])
    lava = to_nchwt(frames)  # lava-dl / slayerPytorch NCHWT
    assert lava.shape == (3, 2, 128, 128, 17) and lava.data_ptr() == frames.data_ptr()
    assert torch.equal(lava, frames.permute(0, 2, 3, 4, 1))
    assert torch.equal(lava[1, 0, 5, 7, 3], frames[1, 3, 0, 5, 7])
    assert torch.equal(from_tnchw(tn), frames) and torch.equal(from_nchwt(lava), frames)
    assert lava.contiguous().is_contiguous()
    npf = frames.numpy()
    assert to_tnchw(npf).shape == (17, 3, 2, 128, 128)
    assert to_nchwt(npf).shape == (3, 2, 128, 128, 17)
    assert np.shares_memory(to_nchwt(npf), npf)
    np.testing.assert_array_equal(from_nchwt(to_nchwt(npf)), npf)
    with pytest.raises(ValueError, match="5-D"):
        to_tnchw(frames[0])
    # item path + collate gives the same layout
    f2, _, _ = collate(CacheDataset(cache, "stbp", train=True)[i] for i in range(3))
    assert torch.equal(to_tnchw(f2), tn)


# The docs/loading.md recipe, run in a fresh interpreter that never imports eventpipe.
PARQUET_RECIPE = """
import sys, json
import pandas as pd
import dask.dataframe as dd
import polars as pl
import duckdb

root = sys.argv[1]
samples = pd.read_parquet(f"{root}/samples.parquet")
ev42 = pd.read_parquet(f"{root}/events", filters=[("sample_id", "==", 42)])
ddf = dd.read_parquet(f"{root}/events")
per_sample = ddf.groupby("sample_id").size().compute()
lf = pl.scan_parquet(f"{root}/events/*/*.parquet", hive_partitioning=True)
pl_counts = lf.group_by("recording").agg(pl.len().alias("n")).collect()
db = duckdb.sql(
    f"select sample_id, count(*) as n, max(t) as t_last "
    f"from read_parquet('{root}/events/*/*.parquet', hive_partitioning=true) "
    f"group by sample_id order by sample_id"
).fetchall()

assert "eventpipe" not in sys.modules
print(json.dumps({
    "samples_cols": list(samples.columns),
    "n_samples": len(samples),
    "ev42_cols": sorted(ev42.columns),
    "ev42": ev42[["x", "y", "t", "p"]].to_numpy().tolist(),
    "dask_counts": {int(k): int(v) for k, v in per_sample.items()},
    "polars_counts": dict(zip(pl_counts["recording"].to_list(), pl_counts["n"].to_list())),
    "duckdb": [[int(a), int(b), int(c)] for a, b, c in db],
}))
"""


def test_interop_axis_orders_against_the_published_tensors(cache):
    """docs/loading.md, "Axis order of the published tensors": each interop layout, built from
    the same events as the published STBP/SLAYER-TonicFrames tensor, by its exact permutation."""
    ds = CacheDataset(cache, "stbp")
    rows = [0, 3, 7]
    frames, _, _ = ds.batch(rows)  # [N, T, P, y, x]
    with CacheFile(cache) as c:  # the published Dataset on the same events, stacked by a loader
        pub = torch.from_numpy(
            np.stack([_published_tonic_frames(c.events(r), 30, ds.length) for r in rows])
        ).float()  # [N, P, x, y, T]
    assert torch.equal(pub, frames.permute(0, 2, 4, 3, 1))
    assert torch.equal(to_published(frames, "stbp"), pub)
    assert torch.equal(from_published(pub, "stbp"), frames)
    # to_nchwt (lava-dl, slayerPytorch) is [N, P, y, x, T]: SlayerTD's order, and the spatial
    # transpose of the published STBP / TonicFrames tensor
    lava = to_nchwt(frames)
    assert torch.equal(lava, to_published(frames, "slayer-slayertd"))
    assert torch.equal(lava.transpose(2, 3), pub) and not torch.equal(lava, pub)
    # to_tnchw is [T, N, P, y, x]
    assert torch.equal(to_tnchw(frames).permute(1, 2, 4, 3, 0), pub)
    # TonicDataset + tonic's ToFrame gives eventpipe's own [T, P, y, x] (the identity)
    to_frame = tonic.transforms.ToFrame(sensor_size=(128, 128, 2), time_window=30_000)
    tds = TonicDataset(cache, transform=to_frame)
    for k, r in enumerate(rows):
        f = tds[r][0]
        n = min(len(f), ds.length)
        np.testing.assert_array_equal((f[:n] > 0).astype(np.float32), frames[k, :n].numpy())


def test_parquet_readers_without_eventpipe(cache, tmp_path):
    root = export_parquet(cache, tmp_path / "cache.parquet")
    script = tmp_path / "recipe.py"
    script.write_text(textwrap.dedent(PARQUET_RECIPE))
    res = subprocess.run(
        [sys.executable, "-I", str(script), str(root)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    with CacheFile(cache) as c:
        table = c.samples
        sid = table["sample_id"].tolist()
        n_events = dict(zip(sid, table["n_events"].tolist()))
        row42 = sid.index(42)  # user02_indoor row 4
        ev42 = c.events(row42)
        last_t = {s: int(c.events(i)["t"][-1]) for i, s in enumerate(sid)}
    assert out["n_samples"] == len(sid)
    assert {"sample_id", "recording", "class_id", "n_events"} <= set(out["samples_cols"])
    assert {"x", "y", "t", "p", "sample_id"} <= set(out["ev42_cols"])
    assert out["ev42"] == np.stack([ev42[k].astype(np.int64) for k in "xytp"], 1).tolist()
    assert {int(k): v for k, v in out["dask_counts"].items()} == n_events
    assert out["polars_counts"] == {
        s: sum(n for i, n in n_events.items() if i // 19 == idx)
        for s, idx in (("user02_indoor", 2), ("user30_imse", 29))
    }
    assert out["duckdb"] == [[s, n_events[s], last_t[s]] for s in sorted(sid)]
