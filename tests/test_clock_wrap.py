"""Recordings whose 32-bit device clock wraps (``WRAP_STEMS`` of the synthetic generator).

eventpipe unwraps AEDAT 2.0 timestamps (correct); the published pipeline (tonic
``read_dvs_128``) keeps the raw 32-bit values. The published millisecond floor then differs
after a wrap (2**32 mod 1000 = 296 us): samples from the wrap on have events in other bins, and
the sample that straddles the wrap collapses to a single frame in the published pipeline.
``events.clock: wrap32`` reproduces the published clock exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import tonic

from eventpipe.build import build_cache
from eventpipe.data import CacheDataset
from eventpipe.datasets.slanimals.synth import WRAP_STEMS, generate
from eventpipe.io.aedat2 import read_aedat2, wrap32_timestamps
from eventpipe.profile import load_profile
from tests.test_loader_build import published_frames, published_slices, tonic_read_dvs_128

STEM = WRAP_STEMS[0]


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("wrap") / "raw", scale="tiny", seed=3, stems=[STEM])


@pytest.fixture(scope="module")
def slices(raw):
    return published_slices(raw, STEM)


def _straddle(slices) -> int:
    """Row of the sample whose raw (published) timestamps step back across the wrap."""
    rows = [i for i, ev in enumerate(slices) if (np.diff(ev["t"].astype(np.int64)) < 0).any()]
    assert len(rows) == 1, rows
    return rows[0]


def _matches(raw, tmp_path, slices, clock: str) -> list[bool]:
    out = tmp_path / f"{clock}.h5"
    build_cache("paper2021", raw, out, parquet=False, workers=1, progress=False,
                allow_missing=True, overrides=[f"events.clock={clock}"])  # fmt: skip
    ds = CacheDataset(out, "stbp")
    return [np.array_equal(ds[i][0].numpy(), published_frames(ev, 30, 50)) for i, ev in
            enumerate(slices)]  # fmt: skip


def test_wrap32_is_the_published_clock(raw):
    path = raw / "allusers_aedat" / f"{STEM}.aedat"
    t = read_aedat2(path)["t"]
    assert (np.diff(t) >= 0).all() and t[-1] > 2**32  # unwrapped past the wrap
    published = tonic_read_dvs_128(path)["t"].astype(np.int64)
    np.testing.assert_array_equal(wrap32_timestamps(t), published)
    assert (np.diff(published) < 0).sum() == 1


def test_unwrap_moves_events_between_bins_after_the_wrap(raw, tmp_path, slices):
    k = _straddle(slices)
    same = _matches(raw, tmp_path, slices, "unwrap")
    assert all(same[:k])  # before the wrap the clocks agree
    assert not same[k] and not all(same[k + 1 :])


def test_wrap32_reproduces_the_published_frames(raw, tmp_path, slices):
    assert all(_matches(raw, tmp_path, slices, "wrap32"))
    # the straddling sample is one frame in the published pipeline, and in the wrap32 cache
    k = _straddle(slices)
    ev = slices[k]
    frames = tonic.transforms.Compose(
        [
            tonic.transforms.Downsample(time_factor=0.001),
            tonic.transforms.TimeAlignment(),
            tonic.transforms.ToFrame(sensor_size=(128, 128, 2), time_window=30),
        ]
    )(ev)
    assert len(frames) == 1
    ds = CacheDataset(tmp_path / "wrap32.h5", "stbp")
    assert ds[k][2]["n_bins"] == 1


def test_clock_default_keeps_the_hash():
    base = load_profile("lascas2024")
    assert load_profile("lascas2024", ["events.clock=unwrap"]).hash == base.hash
    wrapped = load_profile("lascas2024", ["events.clock=wrap32"])
    assert wrapped.hash != base.hash and '"clock":"wrap32"' in wrapped.canonical_json()
