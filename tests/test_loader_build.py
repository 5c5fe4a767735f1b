"""End to end on real tiny caches: synth -> build -> CacheDataset / export, against the published
pipeline (tonic read_dvs_128 + tag slices + Downsample/TimeAlignment/ToFrame) on the same files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tonic
import torch

from eventpipe.build import build_cache
from eventpipe.cache.hdf5 import CacheFile
from eventpipe.data import CacheDataset
from eventpipe.datasets.slanimals.splits import published_folds
from eventpipe.datasets.slanimals.synth import generate
from eventpipe.interop.npy import PUBLISHED_DTYPE, export_npy

STEMS_HERE = ["user05_indoor", "user28_imse", "user44_dc", "user21_sunlight"]


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("raw") / "raw", scale="tiny", seed=1, stems=STEMS_HERE)


def _build(raw, out, profile, overrides=()):
    build_cache(
        profile, raw, out, parquet=False, workers=1, progress=False, allow_missing=True,
        overrides=list(overrides),
    )  # fmt: skip
    return out


def tonic_read_dvs_128(path):
    """tonic.io.read_dvs_128 (tonic 1.7's header helper returns 3 values; its reader expects 2)."""
    version, start, _ = tonic.io.read_aedat_header_from_file(str(path))
    rec = tonic.io.get_aer_events_from_file(str(path), version, start)
    a = rec["address"]
    return tonic.io.make_structured_array((a >> 8) & 0x7F, (a >> 1) & 0x7F, rec["timeStamp"], a & 1)


def published_slices(raw, stem):
    """The published slice_data.py, re-implemented: tonic read + tag-row slices."""
    events = tonic_read_dvs_128(raw / "allusers_aedat" / f"{stem}.aedat")
    tags = pd.read_csv(raw / "tags_updated_19_08_2020" / f"{stem}.csv")
    return tonic.slicers.slice_events_at_indices(
        events, list(tags["startTime_ev"]), list(tags["endTime_ev"])
    )


def published_frames(events, dt_ms, n_bins):
    """The published AnimalsDvsSliced frames (fixed crop from 0, zero-padded, OR) as [T,P,H,W]."""
    transform = tonic.transforms.Compose(
        [
            tonic.transforms.Downsample(time_factor=0.001),
            tonic.transforms.TimeAlignment(),
            tonic.transforms.ToFrame(sensor_size=(128, 128, 2), time_window=dt_ms),
        ]
    )
    frames = transform(events)[:n_bins]
    pad = np.zeros((n_bins - len(frames), *frames.shape[1:]), frames.dtype)
    return (np.concatenate([frames, pad]) > 0).astype(np.float32)


@pytest.fixture(scope="module")
def paper_cache(raw, tmp_path_factory):
    return _build(raw, tmp_path_factory.mktemp("paper") / "paper.h5", "paper2021")


def _check_view(raw, cache, view, dt_ms, stems):
    ds = CacheDataset(cache, view, samples=stems)
    frames, _, metas = ds.batch(np.arange(len(ds)))
    k = 0
    for stem in stems:
        for row, ev in enumerate(published_slices(raw, stem)):
            assert metas[k]["recording"] == stem and metas[k]["class_id"] == row
            ref = published_frames(ev, dt_ms, ds.length)
            np.testing.assert_array_equal(frames[k].numpy(), ref, err_msg=f"{stem} {row}")
            k += 1


@pytest.mark.slow
def test_paper2021_tonicframes_slayer_frames_equal_the_published_pipeline(raw, tmp_path):
    """The TonicFrames variant of paper2021's slayer view (the SlayerTD default is checked in
    tests/test_slayer_td.py)."""
    cache = _build(raw, tmp_path / "tf.h5", "paper2021", ["views.slayer.rule=tonic_frames"])
    _check_view(raw, cache, "slayer", 5, STEMS_HERE[:2])


def test_paper2021_frames_equal_the_published_pipeline(raw, paper_cache, tmp_path):
    cache = paper_cache
    _check_view(raw, cache, "stbp", 30, STEMS_HERE[2:3])
    # the exported .npy slices give the same frames through the published code path
    out = tmp_path / "sliced_recordings"
    export_npy(cache, out, recordings=[STEMS_HERE[0]])
    ds = CacheDataset(cache, "stbp", samples=[STEMS_HERE[0]])
    for row in (0, 7, 18):
        ev = np.load(out / f"{STEMS_HERE[0]}_{row:02d}.npy")
        np.testing.assert_array_equal(ds[row][0].numpy(), published_frames(ev, 30, 50))


def test_export_without_floor_is_byte_identical_to_the_published_slices(raw, tmp_path):
    cache = _build(raw, tmp_path / "nofloor.h5", "paper2021", ["events.floor_ms=false"])
    out = tmp_path / "sliced"
    export_npy(cache, out, recordings=STEMS_HERE[1:2])
    for row, ev in enumerate(published_slices(raw, STEMS_HERE[1])):
        mine = np.load(out / f"{STEMS_HERE[1]}_{row:02d}.npy")
        assert mine.dtype == ev.dtype == PUBLISHED_DTYPE
        np.testing.assert_array_equal(mine, ev)


def test_training_loop_over_lascas2024_folds(raw, tmp_path):
    cache = _build(raw, tmp_path / "lascas.h5", "lascas2024")
    with CacheFile(cache) as c:
        assert c.synthetic
        recordings = c.samples["recording"].unique().tolist()
    folds = published_folds(recordings, n_splits=2, val_size=0.25)
    for fold in folds:
        train = CacheDataset.from_fold(cache, "stbp", fold, "train")
        test = CacheDataset.from_fold(cache, "stbp", fold, "test", dtype=torch.uint8)
        assert set(train.meta["recording"]).isdisjoint(test.meta["recording"])
        for x, y, meta in train.loader(batch_size=8):
            assert x.shape[1:] == (17, 2, 128, 128) and x.dtype == torch.float32
            assert y.dtype == torch.int64 and len(meta) == len(y) == x.shape[0]
        x, y, meta = next(iter(test.loader(batch_size=4)))
        assert x.shape == (4, 145, 2, 128, 128) and x.dtype == torch.uint8
        assert [m["crop_start"] for m in meta] == [0, 0, 0, 0]
